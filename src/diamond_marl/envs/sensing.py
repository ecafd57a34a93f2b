"""Local sensing and the pairwise work behind it, in row blocks so that memory grows linearly
in the team size (``mpe:spread,...,sense=K``).

``nearest`` gives each origin its K nearest points of a kind, so an agent's token count is
fixed whatever the team size. It uses one row of squared distances per origin and
``lax.top_k``: ties (points at the same distance) go to the lower index, so two agents at one
point with the same surroundings see exactly the same tokens.

``in_blocks`` runs any such row-wise function over blocks of ``BLOCK`` origins with
``lax.map``: the work is still N x M pairs per step (every origin against every point), but
only ``BLOCK x M`` of it is held at once, so memory grows as N, not N^2. Up to ``BLOCK``
origins there is one block and the graph is the function itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

from diamond_marl.errors import ConfigError

BLOCK = 1024  # origins per block: 1024 x 10,000 pairs of float32 pairs is 80 MB
# XLA's temporaries per (origin, point) pair of a block pass, as measured on mpe:spread
# (196 MB for a step at N = 10,000: 1,024 x 10,000 pairs)
PAIR_BYTES = 20


def check_fits(name: str, origins: int, points: int, extra_bytes: int = 0) -> None:
    """Refuse, before anything is allocated, an environment whose step would hold more than
    half of this machine's memory: its pairwise pass (``origins`` x ``points`` in blocks) and
    ``extra_bytes`` more (e.g. its tokens). One environment; vmapped ones multiply it."""
    need = min(origins, BLOCK) * points * PAIR_BYTES + extra_bytes
    have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if need > have // 2:
        raise ConfigError(
            f"{name}: one step of the environment alone would hold about {need / 2**30:.1f} GB "
            f"({min(origins, BLOCK):,} x {points:,} pair distances and its tokens); this "
            f"machine has {have / 2**30:.1f} GB; allowed: a smaller team (or sense=K)"
        )


def in_blocks(fn: Callable[[chex.Array, chex.Array], Any], origins: chex.Array) -> Any:
    """``fn(origins_block (B, 2), ids (B,))`` for blocks of ``origins (N, 2)``, outputs joined
    along their first axis, (N, ...) each. ``ids`` are the origins' indices in 0..N-1."""
    n = origins.shape[0]
    if n <= BLOCK:
        return fn(origins, jnp.arange(n, dtype=jnp.int32))
    pad = -n % BLOCK
    blocks = jnp.pad(origins, ((0, pad), (0, 0))).reshape(-1, BLOCK, origins.shape[1])
    ids = jnp.arange(n + pad, dtype=jnp.int32).reshape(-1, BLOCK)
    out = jax.lax.map(lambda a: fn(*a), (blocks, ids))
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:])[:n], out)


def nearest(
    origins: chex.Array, points: chex.Array, k: int, exclude_self: bool = False
) -> tuple[chex.Array, chex.Array]:
    """The ``k`` points nearest to each origin, nearest first: their indices ``(N, k)`` int32
    and positions relative to the origin ``(N, k, 2)``. ``origins (N, 2)``, ``points (M, 2)``;
    ``exclude_self``: origins and points are the same set, and i is not its own neighbour."""

    def rows(block: chex.Array, ids: chex.Array) -> tuple[chex.Array, chex.Array]:
        rel = points[None, :, :] - block[:, None, :]  # (B, M, 2)
        d2 = jnp.sum(jnp.square(rel), axis=-1)  # (B, M)
        if exclude_self:
            d2 = jnp.where(ids[:, None] == jnp.arange(points.shape[0]), jnp.inf, d2)
        _, idx = jax.lax.top_k(-d2, k)  # (B, k), nearest first, ties to the lower index
        return idx.astype(jnp.int32), jnp.take_along_axis(rel, idx[..., None], axis=1)

    return in_blocks(rows, origins)
