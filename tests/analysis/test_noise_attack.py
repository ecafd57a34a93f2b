"""The noise attack on a tiny noise-breaker network: gain 1 is the honest team, gain 8 is not."""

from __future__ import annotations

import numpy as np

from diamond_marl.algos import checkpoint
from diamond_marl.algos.config import resolve, to_dict
from diamond_marl.algos.runner import build_program
from diamond_marl.algos.saved_run import load_run
from diamond_marl.algos.store import RunStore
from diamond_marl.analysis.adversarial import evaluate_attacks
from diamond_marl.analysis.rollout import Recorder, Tamper


def test_noise_gain_one_is_honest_and_larger_gain_changes_agent_zero(tmp_path):
    cfg = resolve(
        {
            "algo": "mappo",
            "env": "role:n=3,k=3,t=4",
            "breaker": "noise",
            "breaker.eval_noise": "true",
            "breaker.schedule": "constant",
            "seeds": "1",
            "steps": "256",
            "num_envs": "8",
            "ppo.rollout_len": "4",
            "net.hidden": "8",
            "net.heads": "2",
            "net.blocks": "1",
            "chunks": "1",
            "eval_episodes": "4",
            "out": str(tmp_path / "noise"),
        }
    )
    # an untrained checkpoint is enough for the attack's mechanics (no training compile)
    program = build_program(cfg)
    RunStore(tmp_path / "noise", {}).write_config(to_dict(cfg))
    state = program.init(program.seed_keys)
    checkpoint.save(tmp_path / "noise" / "checkpoints", state, {"chunk": 0, "env_steps": 0})
    run = load_run(tmp_path / "noise")
    recorder = Recorder(run)
    res = evaluate_attacks(run, ["noise:1", "rank_first"], episodes=8, recorder=recorder)
    rows = {r["attack"]: r for r in res["attacks"]}
    assert rows["noise:1"]["per_seed"] == [
        {**res["honest"]["per_seed"][0], "drop_return": 0.0, "drop_won": 0.0}
    ]
    assert not rows["rank_first"]["applies"]
    honest = recorder.record(range(8))
    loud = recorder.record(range(8), Tamper(noise_gain0=50.0))
    np.testing.assert_allclose(loud["noise_scale"][..., 0], 50 * honest["noise_scale"][..., 0])
    np.testing.assert_array_equal(loud["noise_scale"][..., 1:], honest["noise_scale"][..., 1:])
    assert not np.allclose(loud["probs"][..., 0, :], honest["probs"][..., 0, :])
