"""Where the breakers' randomness comes from: per-env, per-agent keys and the draws.

``key`` given to the network is either one key (split over the leading batch dims by
``fold_in(key, flat_index)``) or an array of keys with exactly the batch shape (one per env,
e.g. stored per episode). Agent i of an env uses ``fold_in(env_key, i)``, and each purpose
its own stream of that, so the rank draw, the logit noise, the dice token and the dropout
masks never share bits. Shared (broadcast) draws come from the env key itself.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

# One stream per purpose, folded into an agent's (or env's) key.
RANK, NOISE, DICE, RANDOM_INPUT, DROPOUT = 1, 2, 3, 4, 5


class Draws(NamedTuple):
    """Per-agent random quantities a caller may fix instead of drawing them from the key.

    Adversarial evaluation, for example, forces one agent's rank draw to 0 or 1, or scales
    one agent's noise up; tests fix the draws to check equivariance.
    """

    rank: chex.Array | None = None  # (..., N) broadcast U[0, 1) rank draws; NaN: own draw
    noise_gain: chex.Array | None = None  # (..., N) multiplier on agent i's sigma (default 1)


def typed_key(key: chex.PRNGKey) -> chex.PRNGKey:
    """Accept both new-style typed keys and raw ``uint32[..., 2]`` keys."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.wrap_key_data(key)


def env_keys(key: chex.PRNGKey, batch_shape: tuple[int, ...]) -> chex.PRNGKey:
    """One key per env: ``(...)``; from a single key or passed through if already batched."""
    key = typed_key(key)
    if key.shape == batch_shape:
        return key
    if key.shape != ():
        raise ValueError(f"key has batch shape {key.shape}; expected () or {batch_shape}")
    if not batch_shape:
        return key
    flat = jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(math.prod(batch_shape)))
    return flat.reshape(batch_shape)


def _fold(keys: chex.PRNGKey, data: chex.Array) -> chex.PRNGKey:
    """Elementwise ``fold_in`` of same-shaped ``keys`` and int ``data``."""
    flat = jax.vmap(jax.random.fold_in)(keys.reshape(-1), data.reshape(-1).astype(jnp.uint32))
    return flat.reshape(keys.shape)


def agent_keys(keys: chex.PRNGKey, num_agents: int) -> chex.PRNGKey:
    """``(...)`` env keys -> ``(..., N)`` agent keys ``fold_in(env_key, i)``."""
    shape = keys.shape + (num_agents,)
    tiled = jnp.broadcast_to(keys[..., None], shape)
    return _fold(tiled, jnp.broadcast_to(jnp.arange(num_agents), shape))


def stream(keys: chex.PRNGKey, purpose: int) -> chex.PRNGKey:
    """The sub-key for one purpose (``RANK``, ``NOISE``, ...), same shape as ``keys``."""
    return _fold(keys, jnp.full(keys.shape, purpose))


def uniform(keys: chex.PRNGKey, shape: tuple[int, ...] = ()) -> chex.Array:
    """One U[0,1) array of ``shape`` per key: ``keys.shape + shape``."""
    out = jax.vmap(lambda k: jax.random.uniform(k, shape))(keys.reshape(-1))
    return out.reshape(keys.shape + shape)


def normal(keys: chex.PRNGKey, shape: tuple[int, ...]) -> chex.Array:
    """One exact N(0,1) float32 array of ``shape`` per key: ``keys.shape + shape``."""
    out = jax.vmap(lambda k: jax.random.normal(k, shape))(keys.reshape(-1))
    return out.reshape(keys.shape + shape)


# Taylor coefficients in y^2, highest power first, for cos y and sin y / y.
_COS = tuple((-1) ** k / math.factorial(2 * k) for k in range(6, -1, -1))
_SIN = tuple((-1) ** k / math.factorial(2 * k + 1) for k in range(5, -1, -1))


def fast_normal(keys: chex.PRNGKey, shape: tuple[int, ...]) -> chex.Array:
    """Approximately N(0,1) float32 ``keys.shape + shape``, several times cheaper than ``normal``.

    Box-Muller from one 32-bit threefry word per pair of normals: 16 bits give the radius
    ``sqrt(-2 log u)``, 15 bits an angle ``y`` in (-pi/2, pi/2) and 1 bit the side of the
    circle, with ``cos y`` and ``sin y`` as short polynomials (error < 1e-7) instead of
    XLA's costly sin/cos. Departures from a Gaussian are a 2^-16 grid and tails cut at
    4.85 sigma, irrelevant for logit noise, which draws ``H E^2`` numbers per agent and
    forward and would otherwise dominate the breaker's cost.
    """
    size = math.prod(shape)
    half = (size + 1) // 2

    def one(key: chex.PRNGKey) -> chex.Array:
        words = jax.random.bits(key, (half,), jnp.uint32)  # (half,)
        u = ((words >> 16).astype(jnp.float32) + 0.5) * (1.0 / 65536)  # (0, 1)
        radius = jnp.sqrt(-2.0 * jnp.log(u))  # (half,)
        low = words & 0xFFFF
        side = jnp.where((low & 1) == 1, 1.0, -1.0)  # (half,)
        y = ((low >> 1).astype(jnp.float32) + 0.5) * (math.pi / 32768) - math.pi / 2
        y2 = y * y
        # Taylor series to y^12 / y^11: truncation error below 1e-7 on |y| <= pi/2.
        cos = jnp.polyval(jnp.asarray(_COS, jnp.float32), y2)  # (half,)
        sin = y * jnp.polyval(jnp.asarray(_SIN, jnp.float32), y2)  # (half,)
        pairs = jnp.concatenate([radius * side * cos, radius * sin])  # (2 half,)
        return pairs[:size].reshape(shape)

    out = jax.vmap(one)(keys.reshape(-1))
    return out.reshape(keys.shape + shape)
