"""Q-learning's update split into microbatches is the same update (``q.microbatches``)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from diamond_marl.algos.common import build_setup
from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import make_algorithm

# a multi-step game, so windows hold several steps and TD(lambda) spans them
BASE = {
    "env": "role:n=3,k=3,t=4",
    "seeds": "1",
    "num_envs": "4",
    "net.hidden": "16",
    "net.heads": "2",
    "net.blocks": "1",
    "q.batch_episodes": "4",
    "q.buffer_episodes": "8",
    "q.learning_starts": "0",
    "q.updates_per_rollout": "2",
    "q.td_lambda": "0.6",
}


def close(a, b):
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=1e-6)


def two_updates(algo: str, microbatches: int):
    """Initial parameters, then state and stats after two updates (2 gradient steps each)."""
    cfg = resolve({**BASE, "algo": algo, "q.microbatches": str(microbatches)})
    algorithm = make_algorithm(build_setup(cfg))
    state = algorithm.init(jax.random.PRNGKey(0))
    update = jax.jit(algorithm.update)
    first, _ = update(state, None)
    return state.params, *update(first, None)


@pytest.mark.parametrize("algo", ["qmix", "iql"])
def test_microbatches_give_the_same_update(algo):
    # four microbatches of one episode each against the whole batch of four: one compile
    # each (a middle split, k = 2, would add a third and test nothing new)
    init, state, stats = two_updates(algo, 1)
    _, state_k, stats_k = two_updates(algo, 4)
    jax.tree.map(close, state.params, state_k.params)
    for name in ("loss", "q_taken", "td_abs", "grad_norm"):
        close(stats[name], stats_k[name])
    # the updates moved the parameters (the comparison is not between two inits)
    moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), state.params, init)
    assert max(jax.tree.leaves(moved)) > 1e-4
