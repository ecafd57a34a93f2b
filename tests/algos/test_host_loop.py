"""The host loop: MAPPO on a PettingZoo env stepped in worker processes learns, logs both
executions, checkpoints, resumes, and stops cleanly when a worker fails."""

from __future__ import annotations

import json
import multiprocessing

import numpy as np
import pandas as pd
import pytest

from diamond_marl.algos import checkpoint
from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import train
from diamond_marl.envs.host import HostEnvError
from diamond_marl.errors import ConfigError

# all agents picking the same action pays each 1 per step (a team reward: the return sums the
# mean over agents); no agent leaves, so a coordinated team earns 8 per episode, and uniform
# random play about 1.4 (all agree on 1/9 of the steps, or 1/4 where one action is masked)
TOY = "pz:diamond_marl.envs.host.toy:parallel_env,agents=3,leave=0,team_reward=true"
SMALL = {
    "algo": "mappo",
    "env": TOY,
    "breaker": "rank",
    "seeds": 2,
    "num_envs": 4,
    "steps": 3072,
    "eval_episodes": 4,
    "ppo.rollout_len": 16,
    "net.hidden": 16,
    "net.blocks": 1,
    "chunks": 3,
}


def _children() -> list:
    psutil = pytest.importorskip("psutil")
    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("host") / "run"
    summary = train(resolve({**SMALL, "out": str(out)}), progress=False)
    return out, summary


def test_mappo_learns_to_coordinate_on_the_host(trained):
    out, summary = trained
    assert summary["env_steps"] >= 3072 and summary["episodes_per_seed"] == 40
    greedy = summary["executions"]["greedy"]["return"]
    assert greedy >= 6.0, summary["executions"]  # random play earns about 1.4
    assert not _children()  # every worker is gone


def test_host_run_logs_what_a_jax_run_logs(trained):
    out, _ = trained
    metrics = pd.read_csv(out / "metrics.csv")
    names = set(metrics["metric"])
    for name in ("eval_return_greedy", "eval_return_sampled", "loss", "entropy", "approx_kl"):
        assert name in names
    assert sorted(metrics["seed"].unique()) == [0, 1]
    assert checkpoint.has_policy(out / "checkpoints")
    assert json.loads((out / "summary.json").read_text())["env"] == TOY


def test_resume_continues_from_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    cfg = resolve({**SMALL, "out": str(out), "steps": 2048, "chunks": 2})
    part = train(cfg, progress=False, stop_after_chunks=1)
    assert part["interrupted"] and part["chunk"] == 0
    summary = train(resume=out, progress=False)
    assert summary["env_steps"] == checkpoint.read_meta(out / "checkpoints", "policy")["env_steps"]
    assert summary["env_steps"] >= 2048
    metrics = pd.read_csv(out / "metrics.csv")
    rows = metrics[(metrics["metric"] == "eval_return_greedy") & (metrics["seed"] == 0)]
    assert len(rows) >= 2 and rows["step"].is_unique  # one row per chunk, none twice
    assert np.isfinite(summary["executions"]["sampled"]["return"])


def test_a_worker_that_fails_stops_the_run_and_leaves_no_process(tmp_path):
    out = tmp_path / "run"
    cfg = resolve({**SMALL, "env": TOY + ",crash_at=5", "out": str(out)})
    with pytest.raises(HostEnvError, match="crash"):
        train(cfg, progress=False)
    assert not _children() and not multiprocessing.active_children()
    assert not (out / "summary.json").exists()


def test_q_learning_is_refused_on_host_envs():
    with pytest.raises(ConfigError, match="algo|algorithm"):
        resolve({**SMALL, "algo": "qmix"})


def test_eval_replays_a_host_policy_on_its_env_and_on_another(trained):
    from diamond_marl.api import evaluate

    out, summary = trained
    again = evaluate(out, episodes=8)
    assert again["episodes_per_seed"] == 8 and again["trained_on"] == TOY
    assert again["executions"]["greedy"]["return"] >= 6.0  # the learnt policy, not a new one
    longer = TOY + ",horizon=12"  # 12-step episodes: up to 12 for a coordinated team
    other = evaluate(out, env=longer, episodes=4)
    assert other["env"] != TOY and other["executions"]["greedy"]["return"] >= 9.0
    assert len(list((out / "eval").glob("*.json"))) == 2
    with pytest.raises(ConfigError, match="reads 10 features per entity token"):
        evaluate(out, env=TOY.replace("agents=3", "agents=4"))  # its flat view is longer
    assert not _children()
    with pytest.raises(ConfigError, match="allowed for eval: 'pz:' names"):
        evaluate(out, env="xor:n=2,k=2")
