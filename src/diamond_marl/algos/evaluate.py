"""Evaluation in execution mode, shared by every algorithm.

``episodes`` environments run side by side for ``max_steps`` steps; each contributes its
first episode (return, length, won). The policy is given as ``act(params, ts, step_key,
episode_key, carry, execution) -> (actions (N,), carry)`` for one environment
(``Algorithm.act``): ``step_key`` changes every step, ``episode_key`` is fixed for the
episode (for breakers that roll their dice once per episode), ``carry`` is the agents'
memory, from ``start(ts)`` at the episode's start (``Algorithm.start_carry``). Both
executions (``greedy`` and ``sampled``, see ``networks.acting``) play the same episodes: the
same reset keys and breaker keys, so their difference is the execution alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import EpisodeMetrics
from diamond_marl.networks.acting import EXECUTIONS

Act = Callable[..., tuple[chex.Array, Any]]
Start = Callable[[TimeStep], Any]


def make_evaluate_all(
    env: Env, act: Act, start: Start, episodes: int
) -> Callable[[Any, chex.PRNGKey], dict]:
    """``evaluate(params, key) -> {execution: {"return", "won", "length", "finished"}}`` for
    both executions, on the same episodes (same key)."""
    evals = {
        ex: make_evaluate(env, functools.partial(act, execution=ex), start, episodes)
        for ex in EXECUTIONS
    }

    def evaluate(params: Any, key: chex.PRNGKey) -> dict[str, dict[str, chex.Array]]:
        return {ex: ev(params, key) for ex, ev in evals.items()}

    return evaluate


class Episode(NamedTuple):
    """One environment's first episode as it runs: its state and, once it ends, its totals."""

    state: Any  # the EpisodeMetrics state; frozen once the episode has finished
    ts: TimeStep
    finished: chex.Array  # () bool
    ret: chex.Array  # () the episode's return, set when it ends
    won: chex.Array  # () won / success, set when it ends
    length: chex.Array  # () steps, set when it ends


def start_episode(wrapped: EpisodeMetrics, reset_key: chex.PRNGKey) -> Episode:
    """Reset one environment (wrapped in ``EpisodeMetrics``, no auto-reset)."""
    state, ts = wrapped.reset(reset_key)
    zero = jnp.zeros(())
    return Episode(state, ts, jnp.zeros((), bool), zero, zero, zero)


def advance(wrapped: EpisodeMetrics, ep: Episode, action: chex.Array) -> tuple[Episode, TimeStep]:
    """One step of one environment; a finished one keeps its last state (its steps are
    ignored). Also returns the step's own timestep (its reward, before freezing)."""
    new_state, new_ts = wrapped.step(ep.state, action)
    ends = new_ts.done & ~ep.finished
    extras = new_ts.extras
    ret = jnp.where(ends, extras["episode_return"], ep.ret)
    won = jnp.where(ends, extras["won"], ep.won)
    length = jnp.where(ends, extras["episode_length"], ep.length)
    keep = lambda new, old: jnp.where(ep.finished, old, new)  # noqa: E731
    state = jax.tree.map(keep, new_state, ep.state)
    ts = jax.tree.map(keep, new_ts, ep.ts)
    return Episode(state, ts, ep.finished | ends, ret, won, length), new_ts


def make_evaluate(
    env: Env, act: Act, start: Start, episodes: int
) -> Callable[[Any, chex.PRNGKey], dict]:
    """Build ``evaluate(params, key) -> {"return", "won", "length"}`` (means over episodes)
    for one execution (``act`` takes five arguments here)."""
    wrapped = EpisodeMetrics(env)  # no auto-reset: an environment stops at its first episode
    horizon = env.spec.max_steps
    step_all = jax.vmap(lambda ep, action: advance(wrapped, ep, action)[0])

    def evaluate(params: Any, key: chex.PRNGKey) -> dict[str, chex.Array]:
        reset_key, episode_key, run_key = jax.random.split(key, 3)
        reset_all = jax.vmap(lambda k: start_episode(wrapped, k))
        init = reset_all(jax.random.split(reset_key, episodes))
        episode_keys = jax.random.split(episode_key, episodes)
        memory = start(init.ts)  # (episodes, N, D) or None

        def body(carry: tuple, step_key):
            ep, memory = carry
            keys = jax.random.split(step_key, episodes)
            actions, memory = jax.vmap(act, in_axes=(None, 0, 0, 0, 0))(
                params, ep.ts, keys, episode_keys, memory
            )
            return (step_all(ep, actions), memory), None

        (ep, _), _ = jax.lax.scan(body, (init, memory), jax.random.split(run_key, horizon))
        return {
            "return": ep.ret.mean(),
            "won": ep.won.mean(),
            "length": ep.length.mean(),
            "finished": ep.finished.mean(),
        }

    return evaluate
