"""examples/custom_env.py: a user's own environment, registered, trained and evaluated by name."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from diamond_marl.bench.suite import check_env_name
from diamond_marl.env_names import ENV_MODULES_VAR
from diamond_marl.envs import EntityKind, make, registry
from diamond_marl.envs.check import check_timestep, random_actions
from diamond_marl.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "custom_env.py"


def _env(**extra: str) -> dict[str, str]:
    """The environment of a child process: our sources first, plus ``extra``."""
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


@pytest.fixture(scope="module")
def example():
    """The example module, imported here; its family is removed again afterwards so the
    other tests see only the shipped families."""
    spec = importlib.util.spec_from_file_location("custom_env", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    registry._FAMILIES.pop("gather", None)


def test_both_ways_in_fill_a_valid_timestep(example):
    for name in ("gather:n=3", "gather:n=4,size=5,flat=1"):
        env = make(name)
        state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
        step = jax.jit(env.step)
        for t in range(env.spec.max_steps):
            assert check_timestep(env, ts) == [] and not ts.done
            state, ts = step(state, random_actions(jax.random.PRNGKey(t), ts.action_mask))
        assert check_timestep(env, ts) == [] and ts.done
    entity, flat = make("gather:n=3").spec, make("gather:n=4,flat=1").spec
    assert (entity.num_entities, entity.entity_dim) == (3, 1)  # self + 2 peers, F = 1
    assert (flat.num_entities, flat.entity_dim) == (1, 8 + 1)  # one chunk of 3 values
    _, ts = jax.jit(make("gather:n=4,flat=1").reset)(jax.random.PRNGKey(1))
    assert list(np.asarray(ts.entity_kind[:, 0])) == [EntityKind.SELF] * 4
    np.testing.assert_allclose(ts.entities[:, 0, :3], ts.obs, rtol=1e-6)  # the obs, chunked


def test_bad_parameters_of_a_user_family_say_what_is_allowed(example):
    with pytest.raises(ConfigError, match="n=1 is impossible; allowed: n >= 2"):
        make("gather:n=1")
    with pytest.raises(ConfigError, match="unknown parameter"):
        make("gather:n=3,width=4")
    with pytest.raises(ValueError, match="ships"):
        registry.register("mpe", example.build, (), "")  # a shipped family stays


def test_a_module_that_cannot_be_imported_is_a_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "diamond_marl.cli", "envs"],
        env=_env(**{ENV_MODULES_VAR: "no_such_module_here"}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"diamond-marl: error: ${ENV_MODULES_VAR} names module 'no_such_module_here', which "
        "cannot be imported (No module named 'no_such_module_here'); allowed: importable "
        "module names, comma-separated"
    ]


def test_suites_accept_a_user_family_only_when_env_modules_are_set(monkeypatch):
    monkeypatch.delenv(ENV_MODULES_VAR, raising=False)
    with pytest.raises(ConfigError, match="unknown environment family 'gather'"):
        check_env_name("gather:n=3")
    monkeypatch.setenv(ENV_MODULES_VAR, "custom_env")
    check_env_name("gather:n=3")  # left to the preflight, which imports the module


@pytest.mark.slow
def test_the_example_trains_from_the_docs_and_runs_at_another_team_size(tmp_path):
    run = tmp_path / "gather"
    # As docs/custom-env.md says: run the file; it registers its family and trains by name.
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--steps", "12000", "--out", str(run)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env"] == "gather:n=3,size=8" and summary["breaker"] == "rank"
    # an untrained team meets in ~3% of episodes (random starts that coincide)
    assert summary["success_rate"] > 0.5, summary
    # The CLI, in a fresh process, finds the family through the variable and runs the
    # trained policy with five agents.
    cli = _env(**{ENV_MODULES_VAR: "custom_env"})
    cli["PYTHONPATH"] = os.pathsep.join([str(EXAMPLE.parent), cli["PYTHONPATH"]])
    proc = subprocess.run(
        [sys.executable, "-m", "diamond_marl.cli", "eval", str(run), "env=gather:n=5"],
        env=cli,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["env"] == "gather:n=5,size=8" and result["trained_on"] == "gather:n=3"
    assert (run / "eval" / "gather-n5_size8.json").exists()
