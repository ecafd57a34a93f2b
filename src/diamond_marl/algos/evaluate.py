"""Evaluation in execution mode, shared by every algorithm.

``episodes`` environments run side by side for ``max_steps`` steps; each contributes its
first episode (return, length, won). The policy is given as ``act(params, ts, step_key,
episode_key, execution) -> actions (N,)`` for one environment: ``step_key`` changes every
step, ``episode_key`` is fixed for the episode (for breakers that roll their dice once per
episode). Both executions (``greedy`` and ``sampled``, see ``networks.acting``) play the same
episodes: the same reset keys and breaker keys, so their difference is the execution alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import EpisodeMetrics
from diamond_marl.networks.acting import EXECUTIONS

Act = Callable[[Any, TimeStep, chex.PRNGKey, chex.PRNGKey, str], chex.Array]


def make_evaluate_all(env: Env, act: Act, episodes: int) -> Callable[[Any, chex.PRNGKey], dict]:
    """``evaluate(params, key) -> {execution: {"return", "won", "length", "finished"}}`` for
    both executions, on the same episodes (same key)."""
    evals = {
        ex: make_evaluate(env, functools.partial(act, execution=ex), episodes) for ex in EXECUTIONS
    }

    def evaluate(params: Any, key: chex.PRNGKey) -> dict[str, dict[str, chex.Array]]:
        return {ex: ev(params, key) for ex, ev in evals.items()}

    return evaluate


def make_evaluate(env: Env, act: Act, episodes: int) -> Callable[[Any, chex.PRNGKey], dict]:
    """Build ``evaluate(params, key) -> {"return", "won", "length"}`` (means over episodes)
    for one execution (``act`` takes four arguments here)."""
    wrapped = EpisodeMetrics(env)  # no auto-reset: an environment stops at its first episode
    horizon = env.spec.max_steps

    def evaluate(params: Any, key: chex.PRNGKey) -> dict[str, chex.Array]:
        reset_key, episode_key, run_key = jax.random.split(key, 3)
        state, ts = jax.vmap(wrapped.reset)(jax.random.split(reset_key, episodes))
        episode_keys = jax.random.split(episode_key, episodes)
        zeros = jnp.zeros((episodes,))
        init = (state, ts, jnp.zeros((episodes,), bool), zeros, zeros, zeros)

        def body(carry, step_key):
            state, ts, finished, ret, won, length = carry
            keys = jax.random.split(step_key, episodes)
            actions = jax.vmap(act, in_axes=(None, 0, 0, 0))(params, ts, keys, episode_keys)
            new_state, new_ts = jax.vmap(wrapped.step)(state, actions)
            ends = new_ts.done & ~finished
            ret = jnp.where(ends, new_ts.extras["episode_return"], ret)
            won = jnp.where(ends, new_ts.extras["won"], won)
            length = jnp.where(ends, new_ts.extras["episode_length"], length)
            # finished environments keep their last state (their steps are ignored)
            keep = lambda new, old: jnp.where(  # noqa: E731
                finished.reshape((-1,) + (1,) * (new.ndim - 1)), old, new
            )
            state = jax.tree.map(keep, new_state, state)
            ts = jax.tree.map(keep, new_ts, ts)
            return (state, ts, finished | ends, ret, won, length), None

        (_, _, finished, ret, won, length), _ = jax.lax.scan(
            body, init, jax.random.split(run_key, horizon)
        )
        return {
            "return": ret.mean(),
            "won": won.mean(),
            "length": length.mean(),
            "finished": finished.mean(),
        }

    return evaluate
