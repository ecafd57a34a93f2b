"""QMIX starts honest: at initialisation the mixed Q lies within the scale of the returns on
every headline environment and seed, whatever the scale of the state features.

With flax's default initialisation the mixed Q of smax:3m and rware:tiny-4ag started 10-70
above any achievable return (max |Q_tot| 44-161 over random-play states) and kept most of
that offset for a whole run. The bound below (0.5: SMAX returns are at most ~2, one RWARE
delivery is 1) fails on that initialisation; the gain check keeps the mixer from passing by
ignoring the agents.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl import setup_jax
from diamond_marl.algos.common import build_setup
from diamond_marl.algos.config import resolve
from diamond_marl.algos.qlearning import make_q_modules
from diamond_marl.envs.check import make_rollout
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import from_timestep

setup_jax()  # the XLA flag the library needs, before JAX computes anything

SEEDS = 5
ENVS, STEPS = 8, 12  # random-play states per seed: ENVS x STEPS


def initial_mix(env_name: str, state_gains: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """|Q_tot| of the greedy joint action and dQ_tot/dQ_i, at initialisation, over random-play
    states of ``env_name`` scaled by each gain: ``(gains, seeds, states)`` and
    ``(gains, seeds, states, N)``."""
    setup = build_setup(resolve({"algo": "qmix", "env": env_name, "seeds": str(SEEDS)}))
    net, mixer = make_q_modules(setup)
    play = make_rollout(setup.env, ENVS, STEPS)  # random valid actions, auto-reset

    def one(seed_key, state_gain):
        net_key, mix_key, play_key = jax.random.split(seed_key, 3)
        traj = play(play_key)  # (T, B, ...)
        obs = from_timestep(traj)
        agent = net.init(net_key, jax.tree.map(lambda x: x[0], obs))
        states = traj.state * state_gain  # (T, B, S)
        params = mixer.init(mix_key, jnp.zeros((obs.num_agents,)), states[0, 0])
        q = net.apply(agent, obs, None, 0, "eval").q  # (T, B, N, A)
        greedy = jnp.max(mask_logits(q, obs.action_mask), -1)  # (T, B, N)
        q_tot = mixer.apply(params, greedy, states)  # (T, B)
        grad = jax.grad(lambda g: mixer.apply(params, g, states).sum())(greedy)  # (T, B, N)
        return jnp.abs(q_tot).reshape(-1), grad.reshape(-1, obs.num_agents)

    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(SEEDS)])
    per_gain = jax.vmap(jax.vmap(one, in_axes=(0, None)), in_axes=(None, 0))
    q_abs, grad = jax.jit(per_gain)(keys, jnp.asarray(state_gains))
    return np.asarray(q_abs), np.asarray(grad)


@pytest.mark.parametrize("env_name", ["smax:3m", "smax:5m_vs_6m", "rware:tiny-4ag"])
def test_initial_mixed_q_is_within_the_return_scale(env_name):
    gains = (1.0, 100.0)  # the state's scale must not matter (the mixer normalises it)
    q_abs, grad = initial_mix(env_name, gains)
    assert q_abs.max() < 0.5, (env_name, q_abs.max(axis=2))
    # the agents' Qs reach Q_tot about as in VDN's sum (gain ~1, never 0 or 10+)
    mean_gain = grad.mean(axis=(2, 3))  # (gains, seeds)
    assert np.all((mean_gain > 0.3) & (mean_gain < 3.0)), (env_name, mean_gain)
