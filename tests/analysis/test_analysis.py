"""Replay, adversarial evaluation, pictures and the CLI on one small trained rank team.

A module fixture trains MAPPO with the rank breaker on role:n=4,k=4,t=10 (one seed, a tiny
network, about 15 s); every test reuses it and its compiled recorder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import train
from diamond_marl.algos.saved_run import load_run
from diamond_marl.analysis.adversarial import evaluate_attacks, parse_attack
from diamond_marl.analysis.replay import replay
from diamond_marl.analysis.rollout import Recorder
from diamond_marl.cli import main
from diamond_marl.errors import ConfigError

ROLE = "role:n=4,k=4,t=10"

# one xdist worker runs this module, so its module fixture (the trained team) is built once
pytestmark = pytest.mark.xdist_group("test_analysis")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "rank"
    cfg = resolve(
        {
            "algo": "mappo",
            "env": ROLE,
            "breaker": "rank",
            "seeds": "1",
            "steps": "20000",
            "net.hidden": "16",
            "net.heads": "2",
            "net.blocks": "1",
            "chunks": "2",
            "eval_episodes": "8",
            "out": str(out),
        }
    )
    summary = train(cfg, progress=False)
    # the tests below are about a team that learned roles: 1/N of the reward is the trap,
    # 6.8 the private-dice value; a rank team beyond that has learned to use the order
    assert summary["return"] >= 7.5, summary
    run = load_run(out)
    return run, Recorder(run)


def test_policy_acts_like_the_algorithm(trained):
    run, recorder = trained
    rec = recorder.record(range(4), reference=True)
    np.testing.assert_array_equal(rec["action"], rec["reference_action"])
    assert rec["probs"].shape == (1, 4, 10, 4, 4)
    np.testing.assert_allclose(rec["probs"].sum(-1), 1.0, rtol=1e-5)
    m = rec.metrics()
    assert 0 < m["snd"] <= 1 and 0 < m["js"] <= 1 and 0 < m["role_entropy"] <= 1


def test_replay_is_identical_every_time_and_keys_change_roles(trained, tmp_path):
    run, recorder = trained
    a = replay(run, 5, recorder=recorder, out=tmp_path)
    b = replay(run, 5, recorder=recorder, out=tmp_path)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.draws["rank"], b.draws["rank"])
    assert a.table() == b.table() and a.timeline.exists()
    other = replay(run, 6, recorder=recorder, out=tmp_path)
    assert not np.array_equal(a.draws["rank"], other.draws["rank"])
    # a different broadcast order gives the rank team a different role assignment
    assert not np.array_equal(a.actions, other.actions)


def test_adversarial_attacks_drop_the_score_and_zero_strength_changes_nothing(trained):
    run, recorder = trained
    attacks = ["random:0", "rank_first", "rank_last", "random", "noise:5"]
    res = evaluate_attacks(run, attacks, episodes=32, recorder=recorder)
    rows = {r["attack"]: r for r in res["attacks"]}
    assert rows["random:0"]["per_seed"][0]["return"] == res["honest"]["per_seed"][0]["return"]
    assert rows["random:0"]["drop_return"] == 0.0 and rows["random:0"]["drop_won"] == 0.0
    assert not rows["noise:5"]["applies"] and "noise" in rows["noise:5"]["reason"]
    drops = [rows[a]["drop_return"] for a in ("rank_first", "rank_last", "random")]
    assert max(drops) > 0.2, res


def test_parse_attack_rejects_bad_input():
    assert parse_attack("noise:2.5").strength == 2.5
    for bad in ("teleport", "random:2", "noise:x", "rank_first:1", "noise:-1"):
        with pytest.raises(ConfigError):
            parse_attack(bad)


def test_analyze_and_replay_commands(trained, tmp_path, capsys):
    run, _ = trained
    out = tmp_path / "analysis"
    code = main(
        [
            "analyze",
            str(run.run_dir),
            "--episodes",
            "4",
            "--pictures",
            "1",
            "--out",
            str(out),
            "--attacks",
            "rank_last,random",
            "--transfer",
            "role:n=3,k=4,t=10",
            "role:n=5,k=5,t=10",
        ]
    )
    assert code == 0
    for name in ("metrics.json", "timeline-key0.png", "attention-key0.png", "noise.png"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"snd", "js", "role_entropy", "role_persistence", "per_seed"} <= set(metrics)
    moved = json.loads((out / "transfer.json").read_text())
    status = {r["env"]: r["status"] for r in moved["rows"]}
    assert status["role:n=3,k=4,t=10"] == "ok"
    assert status["role:n=5,k=5,t=10"].startswith("cannot run:")
    index = (out / "index.md").read_text()
    assert "adversarial.json" in index and "| rank_last |" in index and "cannot run" in index
    capsys.readouterr()
    assert main(["replay", str(run.run_dir), "--episode-key", "2", "--out", str(tmp_path)]) == 0
    first = capsys.readouterr().out
    assert main(["replay", str(run.run_dir), "--episode-key", "2", "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == first and "agent 3" in first


def test_bad_input_exits_with_one_line(trained, tmp_path, capsys):
    run, _ = trained
    cases = [
        ["analyze", str(tmp_path)],  # not a run directory
        ["analyze", str(run.run_dir), "--attacks", "teleport"],
        ["replay", str(run.run_dir), "--episode-key", "0", "--seed-index", "3"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("diamond-marl: error:"), err


def test_policy_samples_like_the_algorithm_for_q_learning(tmp_path):
    """The stochastic-execution baseline with QMIX: the recorder samples epsilon-greedy at
    ``q.eps_finish`` as the algorithm's own evaluation does (not softmax over Q)."""
    out = tmp_path / "qmix-sampled"
    overrides = {
        "algo": "qmix", "env": "xor:n=2,k=2", "breaker": "sampled", "seeds": "1",
        "steps": "256", "num_envs": "4", "net.hidden": "8", "net.heads": "2",
        "net.blocks": "1", "q.learning_starts": "32", "q.buffer_episodes": "32",
        "q.batch_episodes": "4", "q.eps_finish": "0.5", "eval_episodes": "4", "out": str(out),
    }  # fmt: skip
    train(resolve(overrides), progress=False)
    rec = Recorder(load_run(out)).record(range(64), reference=True)
    np.testing.assert_array_equal(rec["action"], rec["reference_action"])
    probs = rec["probs"][0, :, 0]  # (episodes, N, A): epsilon 0.5 over 2 actions
    np.testing.assert_allclose(np.sort(probs, -1), np.broadcast_to([0.25, 0.75], probs.shape))
