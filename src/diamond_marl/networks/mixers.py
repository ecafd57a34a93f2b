"""Value-decomposition mixers: ``Q_tot = mix(Q_1..Q_N, state)``; QMIX and VDN differ only here.

Both are flax modules with the same call, ``mixer.apply(params, agent_qs, state)`` with
``agent_qs (..., N)`` (each agent's Q of its chosen action) and ``state (..., S)`` (the
global state) -> ``(...)``. Mixers take no key: the breakers' draws never reach them.

QMIX (Rashid et al. 2018): hypernetworks of the state give the mixing weights, made
non-negative with ``abs`` so ``Q_tot`` is monotone in every ``Q_i``; biases come from
hypernetworks too, the hidden layer uses ELU and the final bias is a state-value MLP.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax.numpy as jnp

from diamond_marl.errors import ConfigError, allowed

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
    init_scale: float = 1.0
    """Std multiplier of the weight hypernetworks' output layers at init (1 = flax's default
    LeCun normal). ``Q_tot`` at init scales about as its square: at 1 its std over states is
    ~12 for unit agent Qs, far above SMAX's returns (<= 2); 0.3 gives ~1.5."""

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
            h = nn.relu(nn.Dense(self.hypernet_hidden, name=f"{name}_hidden")(state))
            init = nn.initializers.variance_scaling(
                self.init_scale**2, "fan_in", "truncated_normal"
            )  # at 1: lecun_normal, flax's default
            return nn.Dense(out, kernel_init=init, name=name)(h)  # (..., out)

        w1 = jnp.abs(hyper(n * e, "hyper_w1")).reshape(state.shape[:-1] + (n, e))  # (..., N, e)
        b1 = nn.Dense(e, name="hyper_b1")(state)  # (..., e)
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", agent_qs, w1) + b1)  # (..., e)
        w2 = jnp.abs(hyper(e, "hyper_w2"))  # (..., e)
        v = nn.Dense(1, name="v_out")(nn.relu(nn.Dense(e, name="v_hidden")(state)))  # (..., 1)
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
