"""A sequence replay buffer in plain JAX arrays (a ring over fixed-length trajectory windows).

Each item is a window of consecutive steps of one environment (a whole episode when the
window is as long as the episode limit). Being a pytree of arrays, it is vmapped over seeds
with the rest of the training state and saved whole in checkpoints.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Buffer:
    data: Any  # pytree, every leaf (capacity, ...)
    position: chex.Array  # () int32, next slot to write
    size: chex.Array  # () int32, filled slots


def init(example: Any, capacity: int) -> Buffer:
    """An empty buffer holding ``capacity`` items shaped like ``example`` (one item)."""
    data = jax.tree.map(
        lambda x: jnp.zeros((capacity, *jnp.shape(x)), jnp.asarray(x).dtype), example
    )
    return Buffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buffer: Buffer, items: Any) -> Buffer:
    """Insert a batch of items (leading dim B) at the ring position."""
    capacity = jax.tree.leaves(buffer.data)[0].shape[0]
    batch = jax.tree.leaves(items)[0].shape[0]
    idx = (buffer.position + jnp.arange(batch)) % capacity  # (B,)
    data = jax.tree.map(lambda d, x: d.at[idx].set(x), buffer.data, items)
    return Buffer(
        data,
        (buffer.position + batch) % capacity,
        jnp.minimum(buffer.size + batch, capacity),
    )


def sample(buffer: Buffer, key: chex.PRNGKey, batch: int) -> Any:
    """Uniform sample (with replacement) of ``batch`` items among the filled slots."""
    idx = jax.random.randint(key, (batch,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda d: d[idx], buffer.data)
