"""Multi-head self-attention over entity tokens, vanilla or with Diamond logit noise.

With noise, head h of agent i computes

    attn = softmax(where(mask, q k^T / sqrt(d) + exp(log_sigma_h) * scale_i * eps_i, -inf))

in one fused expression. ``eps_i (..., H, E, E)`` and ``scale_i (...)`` (schedule x gain)
come from outside (``dice``); ``log_sigma`` is this layer's parameter, so the noise is
reparameterised and the loss's gradient reaches it. Note that the noise only re-weights the
value vectors: if all of an agent's tokens are identical, every weighting gives the same
output. The key mask (entity mask and rank mask) is built once per forward and shared by
every layer.
"""

from __future__ import annotations

import math

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from diamond_marl.networks.breakers import NoiseConfig
from diamond_marl.networks.dense import Dense


class EntityAttention(nn.Module):
    """Masked multi-head self-attention; adds logit noise when ``eps`` is given."""

    features: int
    heads: int
    noise: NoiseConfig | None = None  # builds this layer's log_sigma when given

    @nn.compact
    def __call__(
        self,
        x: chex.Array,
        key_mask: chex.Array,
        eps: chex.Array | None = None,
        scale: chex.Array | None = None,
    ) -> chex.Array:
        """``x (..., E, D)``, ``key_mask (..., E)`` bool -> ``(..., E, D)``.

        ``eps (..., H, E, E)`` and ``scale (...)`` switch the noise on; the ``log_sigma``
        parameter exists whenever the layer was built with ``noise`` (so train and eval
        share parameters), but is only read when ``eps`` is given.
        """
        d = self.features // self.heads
        qkv = Dense(3 * self.features, use_bias=False, name="qkv")(x)  # (..., E, 3D)
        qkv = qkv.reshape(x.shape[:-1] + (3, self.heads, d))  # (..., E, 3, H, d)
        q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]  # (..., E, H, d)
        logits = jnp.einsum("...qhd,...khd->...hqk", q, k) / math.sqrt(d)  # (..., H, E, E)
        sigma = None
        if self.noise is not None:
            sigma = self._sigma(self.noise)  # (H,) or (1,)
        if eps is not None:
            if sigma is None:
                raise ValueError("eps given to an attention layer built without noise")
            gain = sigma[:, None, None] * scale[..., None, None, None]  # (..., H, 1, 1)
            logits = logits + gain * eps.astype(logits.dtype)  # (..., H, E, E)
        big_neg = jnp.finfo(logits.dtype).min
        logits = jnp.where(key_mask[..., None, None, :], logits, big_neg)  # (..., H, E, E)
        weights = jax.nn.softmax(logits, axis=-1)  # (..., H, E, E)
        # kept only when applied with mutable=["intermediates"] (AgentNetwork.attention)
        self.sow("intermediates", "attention", weights)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v)  # (..., E, H, d)
        out = out.reshape(x.shape[:-1] + (self.features,))  # (..., E, D)
        return Dense(self.features, name="out")(out)  # (..., E, D)

    def _sigma(self, cfg: NoiseConfig) -> chex.Array:
        size = self.heads if cfg.per_head else 1
        init = nn.initializers.constant(math.log(cfg.init_sigma))
        log_sigma = self.param("log_sigma", init, (size,))  # (H,) or (1,)
        if not cfg.learn_sigma:
            log_sigma = jax.lax.stop_gradient(log_sigma)
        return jnp.exp(log_sigma)
