"""Value-decomposition mixers: ``Q_tot = mix(Q_1..Q_N, state)``; QMIX and VDN differ only here.

Both are flax modules with the same call, ``mixer.apply(params, agent_qs, state)`` with
``agent_qs (..., N)`` (each agent's Q of its chosen action) and ``state (..., S)`` (the
global state) -> ``(...)``. Mixers take no key: the breakers' draws never reach them.

QMIX (Rashid et al. 2018): hypernetworks of the state give the mixing weights, made
non-negative with ``abs`` so ``Q_tot`` is monotone in every ``Q_i``; biases come from
hypernetworks too, the hidden layer uses ELU and the final bias is a state-value MLP.

Initialisation starts honest: the state-dependent biases (``hyper_b1`` and the state value's
output) start at zero and the weight hypernetworks small enough that ``dQ_tot/dQ_i`` is about
1 (as VDN's sum), so with agent Qs near 0 (the Q head's small init) ``Q_tot`` starts near 0,
within the scale of the returns, whatever the scale of the state features. With flax's
default init it started 10-70 above any return on smax:3m and rware and kept most of that
offset for a whole run (docs/results/learning-core.md).
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax.numpy as jnp

from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.dense import Dense

MIXERS = ("vdn", "qmix")


class VDN(nn.Module):
    """``Q_tot = sum_i Q_i`` (no parameters; ``state`` is ignored)."""

    @nn.compact
    def __call__(self, agent_qs: chex.Array, state: chex.Array | None = None) -> chex.Array:
        return agent_qs.sum(axis=-1)  # (...)


class QMix(nn.Module):
    """The QMIX monotonic mixing network."""

    embed_dim: int = 32
    """Width of the mixing layer."""
    hypernet_hidden: int = 64
    """Hidden width of the hypernetworks giving the weights."""
    init_scale: float = 0.3
    """Std multiplier of the weight hypernetworks' output layers at init (1 = flax's default
    LeCun normal). The gain ``dQ_tot/dQ_i`` at init is about ``0.32 embed_dim init_scale^2``
    (|w| has mean ~0.56 init_scale per layer): ~0.9 at 0.3 for 32 units; at 1 it is ~10, so
    unit agent Qs gave a Q_tot std of ~12 over states, far above SMAX's returns (<= 2)."""

    @nn.compact
    def __call__(self, agent_qs: chex.Array, state: chex.Array) -> chex.Array:
        n = agent_qs.shape[-1]
        e = self.embed_dim
        # A constant input feature: with an all-zero state (e.g. a one-step game) the
        # hypernetworks would output |0| = 0 weights, and abs has zero gradient there.
        state = jnp.concatenate([state, jnp.ones(state.shape[:-1] + (1,), state.dtype)], -1)
        # Raw global states mix scales (SMAX: absolute positions up to 32 beside fractions);
        # fed as they are, the hypernetworks' |weights| grew until Q_tot diverged on smax:3m.
        state = nn.LayerNorm(name="state_norm")(state)  # (..., S + 1)

        def hyper(out: int, name: str) -> chex.Array:
            h = nn.relu(Dense(self.hypernet_hidden, name=f"{name}_hidden")(state))
            init = nn.initializers.variance_scaling(
                self.init_scale**2, "fan_in", "truncated_normal"
            )  # at 1: lecun_normal, flax's default
            return Dense(out, kernel_init=init, name=name)(h)  # (..., out)

        w1 = jnp.abs(hyper(n * e, "hyper_w1")).reshape(state.shape[:-1] + (n, e))  # (..., N, e)
        zeros = nn.initializers.zeros
        b1 = Dense(e, kernel_init=zeros, name="hyper_b1")(state)  # (..., e), 0 at init
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", agent_qs, w1) + b1)  # (..., e)
        w2 = jnp.abs(hyper(e, "hyper_w2"))  # (..., e)
        v_hidden = nn.relu(Dense(e, name="v_hidden")(state))  # (..., e)
        v = Dense(1, kernel_init=zeros, name="v_out")(v_hidden)  # (..., 1), 0 at init
        return (hidden * w2).sum(-1) + v[..., 0]  # (...)


def make_mixer(name: str, **kwargs: float) -> nn.Module:
    """``"vdn"`` or ``"qmix"`` (with ``embed_dim`` / ``hypernet_hidden`` / ``init_scale``)."""
    if name not in MIXERS:
        raise allowed(name, "mixer", MIXERS)
    known = ("embed_dim", "hypernet_hidden", "init_scale") if name == "qmix" else ()
    for key in kwargs:
        if key not in known:
            raise ConfigError(
                f"mixer {name!r} has no option {key!r}; allowed: {', '.join(known) or 'none'}"
            )
    return QMix(**kwargs) if name == "qmix" else VDN()
