"""Turning scores into actions, with the breaker's execution-time rule.

``select_actions`` is the one place where the ``sampled`` breaker acts (its network is the
plain ``none`` network): at evaluation it samples where every other breaker takes the
arg-max. During training the algorithm's own exploration applies: sampling from policy
logits, or epsilon-greedy over Q-values when ``epsilon`` is given.

Evaluation has two *executions*, recorded side by side for every breaker: ``greedy`` (the
arg-max) and ``sampled`` (the policy's own distribution: ``softmax(logits / temperature)``
for a policy, epsilon-greedy at the final exploration rate for Q-values). A breaker's own
execution, the one its tables use, is ``sampled`` for the ``sampled`` breaker (stochastic
execution as a baseline) and ``greedy`` for every other one.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from diamond_marl.errors import allowed
from diamond_marl.networks.breakers import BreakerConfig, SampledConfig
from diamond_marl.networks.heads import mask_logits

MODES = ("train", "eval")
EXECUTIONS = ("greedy", "sampled")


def own_execution(breaker: BreakerConfig) -> str:
    """The execution a breaker is evaluated with in tables: ``sampled`` only for stochastic
    execution (the ``sampled`` breaker with ``eval_sample``), ``greedy`` otherwise."""
    return "sampled" if isinstance(breaker, SampledConfig) and breaker.eval_sample else "greedy"


def _temperature(breaker: BreakerConfig) -> float:
    return breaker.temperature if isinstance(breaker, SampledConfig) else 1.0


def sampled_probs(
    scores: chex.Array, breaker: BreakerConfig, epsilon: chex.Numeric | None = None
) -> chex.Array:
    """The distribution ``select_actions`` samples from in the ``sampled`` execution,
    ``(..., A)``: ``softmax(scores / temperature)``, or epsilon-greedy over the available
    actions (scores above the dtype's minimum) when ``epsilon`` is given."""
    if epsilon is None:
        return jax.nn.softmax(scores / _temperature(breaker), axis=-1)
    available = scores > jnp.finfo(scores.dtype).min  # (..., A)
    uniform = available / available.sum(-1, keepdims=True)  # (..., A)
    greedy = jax.nn.one_hot(jnp.argmax(scores, -1), scores.shape[-1])  # (..., A)
    return (1.0 - epsilon) * greedy + epsilon * uniform


def select_actions(
    key: chex.PRNGKey | None,
    scores: chex.Array,
    breaker: BreakerConfig,
    mode: str,
    *,
    action_mask: chex.Array | None = None,
    epsilon: chex.Numeric | None = None,
    execution: str | None = None,
) -> chex.Array:
    """Actions ``(...)`` int32 from ``scores (..., A)`` (policy logits or Q-values).

    - train, ``epsilon`` None: sample from ``softmax(scores)`` (policy gradient).
    - train, ``epsilon`` given: epsilon-greedy over the available actions (Q-learning).
    - eval, ``execution`` greedy: arg-max (needs no key; ``key`` may be None).
    - eval, ``execution`` sampled: ``softmax(scores / temperature)`` for policy logits
      (``epsilon`` None; the ``sampled`` breaker's temperature, else 1), epsilon-greedy with
      ``epsilon`` for Q-values.
    - eval, ``execution`` None: the breaker's own (``own_execution``).

    ``action_mask (..., A)`` masks the scores first (policy logits come masked already).
    """
    if mode not in MODES:
        raise allowed(mode, "acting mode", MODES)
    if action_mask is not None:
        scores = mask_logits(scores, action_mask)
    greedy = jnp.argmax(scores, axis=-1).astype(jnp.int32)  # (...)
    if mode == "eval":
        execution = execution or own_execution(breaker)
        if execution not in EXECUTIONS:
            raise allowed(execution, "execution", EXECUTIONS)
        if execution == "greedy":
            return greedy
        if epsilon is None:
            return jax.random.categorical(key, scores / _temperature(breaker)).astype(jnp.int32)
    elif epsilon is None:
        return jax.random.categorical(key, scores).astype(jnp.int32)
    explore_key, pick_key = jax.random.split(key)
    available = scores > jnp.finfo(scores.dtype).min  # (..., A)
    uniform = jnp.where(available, 0.0, jnp.finfo(scores.dtype).min)  # (..., A)
    random_action = jax.random.categorical(pick_key, uniform).astype(jnp.int32)  # (...)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon  # (...)
    return jnp.where(explore, random_action, greedy)
