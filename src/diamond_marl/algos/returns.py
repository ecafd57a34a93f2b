"""Return estimators as reverse ``lax.scan``s over time (leading axis T), any trailing dims.

Convention: at step t the agent sees obs_t with value v_t, acts, receives r_t, and
``done_t`` says the episode ended with that step (no bootstrap beyond it).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def gae(
    rewards: chex.Array,  # (T, ...)
    values: chex.Array,  # (T, ...) v(obs_t)
    dones: chex.Array,  # (T, ...) bool
    last_value: chex.Array,  # (...) v(obs_T), bootstrap after the last step
    gamma: float,
    lam: float,
) -> tuple[chex.Array, chex.Array]:
    """Generalised advantage estimation: returns (advantages, value targets), both (T, ...)."""
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)  # (T, ...)
    not_done = 1.0 - dones.astype(values.dtype)
    deltas = rewards + gamma * next_values * not_done - values

    def body(acc, x):
        delta, nd = x
        acc = delta + gamma * lam * nd * acc
        return acc, acc

    _, adv = jax.lax.scan(body, jnp.zeros_like(last_value), (deltas, not_done), reverse=True)
    return adv, adv + values


def td_lambda(
    rewards: chex.Array,  # (T, ...)
    next_values: chex.Array,  # (T, ...) bootstrap value of obs_{t+1}
    dones: chex.Array,  # (T, ...) bool
    gamma: float,
    lam: float,
) -> chex.Array:
    """TD(lambda) targets G_t = r_t + gamma (1 - d_t) [(1 - lam) V_{t+1} + lam G_{t+1}],
    with G_{T-1} bootstrapped on V_T. ``lam = 0`` gives one-step TD targets."""
    not_done = 1.0 - dones.astype(next_values.dtype)

    def body(g_next, x):
        r, v_next, nd = x
        g = r + gamma * nd * ((1.0 - lam) * v_next + lam * g_next)
        return g, g

    _, targets = jax.lax.scan(body, next_values[-1], (rewards, next_values, not_done), reverse=True)
    return targets
