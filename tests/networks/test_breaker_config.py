"""The breaker switch: names, typed frozen configs, overrides and their errors."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from diamond_marl.errors import ConfigError
from diamond_marl.networks import BREAKERS, NoiseRankConfig, make_breaker, parse_breaker
from diamond_marl.networks import breakers as mod

EXPECTED = (
    "none", "agent_id", "random_input", "sampled", "noise", "rank", "noise+rank", "dice", "dropout",
)  # fmt: skip


def test_every_documented_breaker_exists():
    assert set(BREAKERS) == set(EXPECTED)
    for name in EXPECTED:
        cfg = make_breaker(name)
        assert cfg.name == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.__setattr__("x", 1)


def test_unknown_breaker_names_the_value_and_lists_allowed():
    with pytest.raises(ConfigError) as err:
        make_breaker("diamond")
    msg = str(err.value)
    assert "'diamond'" in msg
    for name in EXPECTED:
        assert name in msg


def test_unknown_option_lists_the_options():
    with pytest.raises(ConfigError, match="no option 'sigma'.*init_sigma"):
        make_breaker("noise", sigma=2.0)


def test_bad_values_are_config_errors():
    with pytest.raises(ConfigError, match="schedule 'sine'.*cosine"):
        make_breaker("noise", schedule="sine")
    with pytest.raises(ConfigError, match="resample"):
        make_breaker("rank", resample="never")
    with pytest.raises(ConfigError, match="not a valid bool"):
        make_breaker("noise", eval_noise="maybe")
    with pytest.raises(ConfigError, match="exponential"):
        make_breaker("noise", schedule="exponential", end=0.0)
    with pytest.raises(ConfigError):
        make_breaker("noise", init_sigma=0.0)


def test_string_overrides_are_converted_to_field_types():
    cfg = parse_breaker("noise, schedule=cosine, eval_noise=true, horizon=500, start=2.5")
    assert (cfg.schedule, cfg.eval_noise, cfg.horizon, cfg.start) == ("cosine", True, 500, 2.5)
    assert parse_breaker("agent_id,max_agents=4").max_agents == 4
    with pytest.raises(ConfigError, match="key=value"):
        parse_breaker("noise,cosine")


def test_noise_plus_rank_has_the_fields_of_both():
    cfg = make_breaker("noise+rank", eval_rank=False, init_sigma=0.5)
    assert isinstance(cfg, NoiseRankConfig)
    assert (cfg.eval_rank, cfg.init_sigma, cfg.eval_noise) == (False, 0.5, False)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_field_has_a_type_default_and_docstring(name):
    cls = type(make_breaker(name))
    source = "".join(
        inspect.getsource(c) for c in cls.__mro__ if c.__module__.startswith(mod.__name__)
    )
    for f in dataclasses.fields(cls):
        assert f.default is not dataclasses.MISSING, f.name
        assert f.type in ("int", "float", "bool", "str"), f.name
        line = next(ln for ln in source.splitlines() if ln.strip().startswith(f"{f.name}:"))
        after = source.split(line, 1)[1].lstrip()
        assert after.startswith('"""'), f"{name}.{f.name} has no docstring"


def test_eval_behaviour_is_an_explicit_switch():
    """Every breaker that draws randomness says whether it still does at evaluation."""
    for name, field in [
        ("noise", "eval_noise"),
        ("rank", "eval_rank"),
        ("dice", "eval_dice"),
        ("random_input", "eval_random"),
        ("sampled", "eval_sample"),
    ]:
        assert hasattr(make_breaker(name), field)
    assert make_breaker("noise").needs_key("eval") is False
    assert make_breaker("noise", eval_noise=True).needs_key("eval") is True
    assert make_breaker("rank").needs_key("eval") is True
    assert make_breaker("none").needs_key("train") is False
