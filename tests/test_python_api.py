"""The Python API: keyword arguments in, a run out; the same validation as the CLI; and the
README's Python quick start, run as written (with a tiny budget)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import diamond_marl as dm
from diamond_marl.api import PPOConfig, make_breaker, overrides_from
from diamond_marl.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY = {"env": "xor:n=2,k=2", "num_envs": 8, "eval_episodes": 8, "seeds": 2}
TINY_NET = {"hidden": 16, "heads": 2, "blocks": 1}


def test_keywords_become_the_clis_overrides():
    assert overrides_from({"algo": "mappo", "net": {"hidden": 32}, "steps": 1000}) == {
        "algo": "mappo",
        "net.hidden": 32,
        "steps": 1000,
    }
    flat = overrides_from({"breaker": "noise,schedule=cosine", "breaker_options": {"end": 0}})
    assert flat == {"breaker": "noise", "breaker.schedule": "cosine", "breaker.end": 0}
    typed = overrides_from({"breaker": make_breaker("rank", eval_rank=False)})
    assert typed["breaker"] == "rank" and typed["breaker.eval_rank"] is False
    ppo = overrides_from({"ppo": PPOConfig(epochs=3)})
    assert ppo["ppo.epochs"] == 3 and ppo["ppo.clip_eps"] == PPOConfig().clip_eps


@pytest.mark.parametrize(
    "options, named",
    [
        ({"algo": "mapo"}, "mapo"),
        ({"steps": 1e400}, "steps"),
        ({"net": {"hiden": 8}}, "net.hiden"),
        ({"net": 8}, "net=8"),
        ({"breaker": "noise,schedule=sometimes"}, "sometimes"),
        ({"breaker": "rank", "breaker_options": {"eval_rank": "maybe"}}, "breaker.eval_rank"),
    ],
)
def test_bad_keywords_raise_a_config_error_naming_them(tmp_path, options, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        dm.train(out=str(tmp_path / "run"), **options)
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_train_then_evaluate_a_run(tmp_path):
    run = dm.train(
        algo="mappo",
        breaker="noise,schedule=adaptive",
        steps=512,
        ppo={"rollout_len": 4},
        net=TINY_NET,
        out=str(tmp_path / "run"),
        progress=False,
        **TINY,
    )
    assert run.finished and len(run.summary["seeds"]) == 2
    assert run.config.breaker == "noise" and run.config.ppo.rollout_len == 4
    saved = yaml.safe_load((run.path / "config.yaml").read_text())
    # the breaker section is recorded resolved: every option, the run's horizon filled in
    assert saved["breaker_args"]["schedule"] == "adaptive"
    assert saved["breaker_args"]["horizon"] == run.summary["env_steps"]
    assert "noise_scale" in set(run.metrics.metric)
    again = dm.load(run.path).eval(episodes=8)
    assert set(again["executions"]) == {"greedy", "sampled"}
    with pytest.raises(ConfigError, match="already holds a run"):
        dm.train(algo="mappo", out=str(run.path), **TINY)


def test_the_readme_python_quick_start_runs(tmp_path, monkeypatch):
    """The README's first Python block, with the budget cut down to seconds."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block and "dm.train(" in block[1], "README.md has no Python quick start"
    code = block[1]
    code = re.sub(r'env="[^"]+"', 'env="xor:n=2,k=2"', code, count=1)
    code = re.sub(r"steps=[\d_]+", "steps=256", code)
    code = re.sub(r"seeds=\d+", "seeds=1, num_envs=8, eval_episodes=4, net=TINY_NET", code)
    code = re.sub(r'eval\(env="[^"]+"\)', 'eval(env="xor:n=2,k=2", episodes=4)', code)
    monkeypatch.chdir(tmp_path)
    namespace = {"TINY_NET": TINY_NET}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    assert "run" in namespace and namespace["run"].finished
