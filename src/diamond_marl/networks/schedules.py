"""How much logit noise: annealing schedules and the adaptive alternative.

The noise form multiplies the learned ``exp(log_sigma)`` by a scale. Either a fixed schedule
gives the scale from the step counter the algorithm passes (``schedule_value``), or, in
``adaptive`` mode, the scale is the breaker's own state, which the algorithm carries and moves
between updates toward a target level of behavioural difference between agents::

    state = breaker.init_state()                                  # the scale, at ``start``
    div = action_diversity(probs)                                 # (..., N, A) -> ()
    state = breaker.update_state(state, Signals(env_steps, div))  # adapt_sigma below
    out = net.apply(params, obs, key, step, "train", state=state)

Documented values, with ``f = min(step / horizon, 1)``:

========== ============================================= ===========================
kind       scale(step)                                   at f = 0 / 0.5 / 1
========== ============================================= ===========================
constant   start                                         start / start / start
linear     start + (end - start) f                       start / (start+end)/2 / end
exponential start (end / start) ** f                     start / sqrt(start end) / end
cosine     end + (start - end) (1 + cos(pi f)) / 2       start / (start+end)/2 / end
adaptive   start until the algorithm passes its own scale
========== ============================================= ===========================
"""

from __future__ import annotations

import chex
import jax.numpy as jnp

SCHEDULES = ("constant", "linear", "exponential", "cosine", "adaptive")


def schedule_value(
    kind: str, start: float, end: float, horizon: int, step: chex.Numeric
) -> chex.Array:
    """The noise multiplier at ``step`` (a traced scalar is fine); see the module table."""
    frac = jnp.clip(jnp.asarray(step, jnp.float32) / max(float(horizon), 1.0), 0.0, 1.0)
    if kind in ("constant", "adaptive"):
        return jnp.asarray(start, jnp.float32)
    if kind == "linear":
        return start + (end - start) * frac
    if kind == "exponential":
        return start * (end / start) ** frac
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    from diamond_marl.errors import allowed

    raise allowed(kind, "noise schedule", SCHEDULES)


def adapt_sigma(
    scale: chex.Numeric,
    measured_diversity: chex.Numeric,
    target: float,
    rate: float,
    min_scale: float = 1e-3,
    max_scale: float = 10.0,
) -> chex.Array:
    """One multiplicative step of the adaptive noise scale; pure and jittable.

    ``scale * exp(rate * (target - measured))``, clipped to ``[min_scale, max_scale]``: more
    noise while agents behave more alike than ``target``, less once they differ enough.
    """
    new = jnp.asarray(scale, jnp.float32) * jnp.exp(rate * (target - measured_diversity))
    return jnp.clip(new, min_scale, max_scale)


def action_diversity(probs: chex.Array) -> chex.Array:
    """Mean pairwise total-variation distance between agents' action distributions.

    ``probs (..., N, A)`` (rows sum to one) -> scalar in [0, 1], averaged over the leading
    dims: 0 when every agent acts alike, 1 when their supports are disjoint.
    """
    n = probs.shape[-2]
    if n < 2:
        return jnp.zeros((), probs.dtype)
    diff = probs[..., :, None, :] - probs[..., None, :, :]  # (..., N, N, A)
    tv = 0.5 * jnp.abs(diff).sum(-1)  # (..., N, N), zero on the diagonal
    return tv.sum((-1, -2)).mean() / (n * (n - 1))
