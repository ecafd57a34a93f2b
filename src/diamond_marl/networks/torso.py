"""The entity-attention torso of one agent: embed tokens, pre-LN transformer blocks.

It is written for a single agent's token set ``(E, F)`` and broadcasts over any leading dims,
which is exactly ``vmap`` over the agent axis with shared parameters. Nothing depends on E or
on the number of agents, so the same parameters run with other team sizes and maps; the
only order-dependent fact is that token 0 is the agent itself (pooled by the heads).
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from diamond_marl.envs.types import NUM_ENTITY_KINDS
from diamond_marl.networks.attention import EntityAttention
from diamond_marl.networks.breakers import NoiseConfig
from diamond_marl.networks.dense import Dense


class KindEmbed(nn.Module):
    """A separate affine map per entity kind, done as one Dense over ``onehot(kind) x f``."""

    features: int

    @nn.compact
    def __call__(self, entities: chex.Array, kinds: chex.Array) -> chex.Array:
        """``entities (..., E, F)``, ``kinds (..., E)`` -> ``(..., E, D)``."""
        onehot = jax.nn.one_hot(kinds, NUM_ENTITY_KINDS, dtype=entities.dtype)  # (..., E, K)
        outer = onehot[..., :, None] * entities[..., None, :]  # (..., E, K, F)
        flat = outer.reshape(entities.shape[:-1] + (-1,))  # (..., E, K*F)
        x = jnp.concatenate([flat, onehot], axis=-1)  # (..., E, K*F + K): per-kind bias
        return Dense(self.features, use_bias=False, name="dense")(x)  # (..., E, D)


class Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(LN x)``, then ``x + MLP(LN x)``."""

    features: int
    heads: int
    mlp_ratio: int = 2
    noise: NoiseConfig | None = None

    @nn.compact
    def __call__(
        self,
        x: chex.Array,
        key_mask: chex.Array,
        eps: chex.Array | None = None,
        scale: chex.Array | None = None,
    ) -> chex.Array:
        """``x (..., E, D)`` -> ``(..., E, D)``."""
        h = nn.LayerNorm(name="ln_attn")(x)
        x = x + EntityAttention(self.features, self.heads, self.noise, name="attn")(
            h, key_mask, eps, scale
        )  # (..., E, D)
        h = nn.LayerNorm(name="ln_mlp")(x)
        h = nn.gelu(Dense(self.mlp_ratio * self.features, name="mlp_in")(h))  # (..., E, mD)
        return x + Dense(self.features, name="mlp_out")(h)  # (..., E, D)


class EntityTorso(nn.Module):
    """Kind embedding, ``blocks`` transformer blocks and a final LayerNorm over all tokens."""

    features: int = 64
    heads: int = 4
    blocks: int = 2
    mlp_ratio: int = 2
    noise: NoiseConfig | None = None

    @nn.compact
    def __call__(
        self,
        entities: chex.Array,
        kinds: chex.Array,
        key_mask: chex.Array,
        eps: chex.Array | None = None,
        scale: chex.Array | None = None,
    ) -> chex.Array:
        """Token outputs ``(..., E, D)``.

        ``key_mask (..., E)``: which tokens may be attended to (present and, in the rank form,
        not hidden); token 0 must be True. ``eps`` is ``(..., H, E, E)`` (shared by every
        layer) or ``(..., L, H, E, E)`` (one per layer); ``scale (...)`` multiplies sigma.
        """
        x = KindEmbed(self.features, name="embed")(entities, kinds)  # (..., E, D)
        per_layer = eps is not None and eps.ndim == x.ndim + 2
        for layer in range(self.blocks):
            eps_l = eps[..., layer, :, :, :] if per_layer else eps  # (..., H, E, E)
            x = Block(self.features, self.heads, self.mlp_ratio, self.noise, name=f"block{layer}")(
                x, key_mask, eps_l, scale
            )
        return nn.LayerNorm(name="ln_out")(x)  # (..., E, D)
