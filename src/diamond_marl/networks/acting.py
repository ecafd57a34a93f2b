"""Turning scores into actions, with the breaker's execution-time rule.

``select_actions`` is the one place where the ``sampled`` breaker acts (its network is the
plain ``none`` network): at evaluation it samples where every other breaker takes the
arg-max. During training the algorithm's own exploration applies: sampling from policy
logits, or epsilon-greedy over Q-values when ``epsilon`` is given.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from diamond_marl.errors import allowed
from diamond_marl.networks.breakers import BreakerConfig, SampledConfig
from diamond_marl.networks.heads import mask_logits

MODES = ("train", "eval")


def select_actions(
    key: chex.PRNGKey | None,
    scores: chex.Array,
    breaker: BreakerConfig,
    mode: str,
    *,
    action_mask: chex.Array | None = None,
    epsilon: chex.Numeric | None = None,
) -> chex.Array:
    """Actions ``(...)`` int32 from ``scores (..., A)`` (policy logits or Q-values).

    - train, ``epsilon`` None: sample from ``softmax(scores)`` (policy gradient).
    - train, ``epsilon`` given: epsilon-greedy over the available actions (Q-learning).
    - eval: arg-max, except ``sampled`` with ``eval_sample``: sample from
      ``softmax(scores / temperature)``. Arg-max needs no key (``key`` may be None).

    ``action_mask (..., A)`` masks the scores first (policy logits come masked already).
    """
    if mode not in MODES:
        raise allowed(mode, "acting mode", MODES)
    if action_mask is not None:
        scores = mask_logits(scores, action_mask)
    greedy = jnp.argmax(scores, axis=-1).astype(jnp.int32)  # (...)
    if mode == "eval":
        if isinstance(breaker, SampledConfig) and breaker.eval_sample:
            return jax.random.categorical(key, scores / breaker.temperature).astype(jnp.int32)
        return greedy
    if epsilon is None:
        return jax.random.categorical(key, scores).astype(jnp.int32)
    explore_key, pick_key = jax.random.split(key)
    available = scores > jnp.finfo(scores.dtype).min  # (..., A)
    uniform = jnp.where(available, 0.0, jnp.finfo(scores.dtype).min)  # (..., A)
    random_action = jax.random.categorical(pick_key, uniform).astype(jnp.int32)  # (...)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon  # (...)
    return jnp.where(explore, random_action, greedy)
