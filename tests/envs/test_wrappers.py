"""Auto-reset and episode-metrics wrappers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs import make
from diamond_marl.envs.wrappers import AutoReset, EpisodeMetrics, wrap_for_training


def _play(env, actions_seq, key=0):
    state, ts = env.reset(jax.random.PRNGKey(key))
    out = []
    for a in actions_seq:
        state, ts = env.step(state, jnp.asarray(a))
        out.append(ts)
    return out


def test_episode_metrics_and_auto_reset_on_the_role_game():
    env = wrap_for_training(make("role:n=2,k=2,t=3"))
    seq = [[0, 0], [0, 1], [1, 0], [1, 1], [0, 1], [0, 1], [0, 0]]
    steps = _play(env, seq)
    returns = [float(ts.extras["episode_return"]) for ts in steps]
    lengths = [int(ts.extras["episode_length"]) for ts in steps]
    done = [bool(ts.done) for ts in steps]
    assert lengths == [1, 2, 3, 1, 2, 3, 1]
    assert done == [False, False, True, False, False, True, False]
    np.testing.assert_allclose(returns, [0.5, 1.5, 2.5, 0.5, 1.5, 2.5, 0.5])
    # the step that ends an episode shows the next episode's first observation
    assert np.all(np.asarray(steps[2].obs) == 0)
    assert float(steps[5].extras["won"]) == 1.0 and float(steps[2].extras["won"]) == 1.0


def test_auto_reset_draws_a_new_key_per_episode():
    env = AutoReset(make("xor:n=2,k=2"))
    state, _ = env.reset(jax.random.PRNGKey(0))
    keys = []
    for _ in range(3):
        state, _ = env.step(state, jnp.array([0, 1]))
        keys.append(tuple(np.asarray(jax.random.key_data(state.key)).ravel()))
    assert len(set(keys)) == 3


def test_metrics_count_a_shared_reward_once():
    env = EpisodeMetrics(make("xor:n=2,k=2"))
    assert env.spec.team_reward
    _, ts = env.step(env.reset(jax.random.PRNGKey(0))[0], jnp.array([0, 1]))
    assert float(ts.extras["episode_return"]) == 1.0  # shared reward counted once
