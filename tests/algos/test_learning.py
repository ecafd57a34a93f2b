"""Learning happened: scores an untrained or broken agent cannot reach, on CI-sized budgets.

Each run trains two seeds in one vmapped program with a small network and checks the final
evaluation (10x the evaluation episodes, execution mode).
"""

from __future__ import annotations

import pytest

from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import train

SMALL = {"seeds": "2", "net.hidden": "32", "net.blocks": "1", "chunks": "3"}
Q_FAST = {"q.eps_anneal_steps": "2000", "q.learning_starts": "100"}


def _train(tmp_path, name, **overrides):
    cfg = resolve({**SMALL, "out": str(tmp_path / name), **overrides})
    return train(cfg, progress=False)


def _per_seed(summary, key="success_rate"):
    return [s[key] for s in summary["seeds"]]


@pytest.mark.slow
@pytest.mark.parametrize(
    "algo,extra", [("mappo", {"steps": "3000"}), ("qmix", {"steps": "4000", **Q_FAST})]
)
def test_xor_rank_breaks_the_trap(tmp_path, algo, extra):
    s = _train(tmp_path, algo, algo=algo, env="xor:n=2,k=2", breaker="rank", **extra)
    assert min(_per_seed(s)) >= 0.95, s["seeds"]


@pytest.mark.parametrize(
    "algo,extra", [("mappo", {"steps": "1000"}), ("qmix", {"steps": "1000", **Q_FAST})]
)
def test_xor_without_a_breaker_stays_in_the_trap(tmp_path, algo, extra):
    # identical agents, identical (zero) observations, greedy execution: the closed form is 0
    s = _train(tmp_path, algo, algo=algo, env="xor:n=2,k=2", breaker="none", **extra)
    assert max(_per_seed(s)) == 0.0, s["seeds"]


@pytest.mark.slow
def test_xor_private_random_input_stays_below_the_private_dice_ceiling(tmp_path):
    # a private random scalar can at best reach N!/N^N = 0.5 (plus sampling error)
    s = _train(
        tmp_path, "ri", algo="mappo", env="xor:n=2,k=2", breaker="random_input", steps="3000"
    )
    assert max(_per_seed(s)) <= 0.6, s["seeds"]
