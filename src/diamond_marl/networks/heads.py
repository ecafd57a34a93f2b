"""Output heads on the agent's own representation: action scores (policy or Q) and value.

Actions that refer to an entity (``action_entity[a] = e``, e.g. SMAX "attack enemy e") are
scored from token e's output, ``<W_q g, W_k h_e> / sqrt(d)`` with ``g`` the agent's own
vector, so the head has no weight per target and runs on maps with other unit counts. The
other actions get one Dense output each, in the order they appear.
"""

from __future__ import annotations

import math

import chex
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from diamond_marl.networks.dense import Dense


def mask_logits(logits: chex.Array, action_mask: chex.Array) -> chex.Array:
    """Unavailable actions get the dtype's minimum, so softmax gives them zero, argmax never."""
    return jnp.where(action_mask, logits, jnp.finfo(logits.dtype).min)


class ActionHead(nn.Module):
    """Scores ``(..., A)`` from the self vector and the token outputs."""

    action_entity: tuple[int, ...]  # (A,) token index per action, -1 for plain actions
    key_features: int = 32
    init_scale: float = 1.0
    """Std multiplier of the score layers at init (the plain actions' Dense and the query
    projection): 1 = flax's LeCun normal; a Q head starts near 0 with a small value."""

    @nn.compact
    def __call__(self, own: chex.Array, tokens: chex.Array) -> chex.Array:
        """``own (..., D)``, ``tokens (..., E, D)`` -> ``(..., A)``."""
        table = np.asarray(self.action_entity, np.int32)
        plain = np.flatnonzero(table < 0)
        targeted = np.flatnonzero(table >= 0)
        num_actions = len(table)
        out = jnp.zeros(own.shape[:-1] + (num_actions,), own.dtype)  # (..., A)
        init = nn.initializers.variance_scaling(self.init_scale**2, "fan_in", "truncated_normal")
        if len(plain):
            scores = Dense(len(plain), kernel_init=init, name="plain")(own)  # (..., A_plain)
            out = out.at[..., plain].set(scores)
        if len(targeted):
            if table.max() >= tokens.shape[-2]:
                raise ValueError(
                    f"action_entity refers to token {table.max()}, only {tokens.shape[-2]} tokens"
                )
            q = Dense(self.key_features, kernel_init=init, name="query")(own)  # (..., d)
            k = Dense(self.key_features, name="key")(tokens)  # (..., E, d)
            per_token = jnp.einsum("...d,...ed->...e", q, k) / math.sqrt(self.key_features)
            bias = self.param("target_bias", nn.initializers.zeros, ())
            out = out.at[..., targeted].set(per_token[..., table[targeted]] + bias)  # (..., A)
        return out


class ValueHead(nn.Module):
    """A scalar per agent from its own vector: ``(..., D) -> (...)``."""

    hidden: int = 64

    @nn.compact
    def __call__(self, own: chex.Array) -> chex.Array:
        h = nn.relu(Dense(self.hidden, name="hidden")(own))  # (..., hidden)
        return Dense(1, name="out")(h)[..., 0]  # (...)
