"""Local sensing: each agent sees only its K nearest entities of a kind, so its token count is
fixed whatever the team size (``mpe:spread,...,sense=K``).

``nearest`` finds them with one pairwise squared-distance matrix and ``lax.top_k``: O(N M)
memory and time per step for N sensing agents and M candidates (N^2 for peers), vectorised,
with no Python loop over agents. Ties (entities at the same distance) go to the lower index,
so two agents at one point with the same surroundings see exactly the same tokens.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def nearest(
    origins: chex.Array, points: chex.Array, k: int, exclude_self: bool = False
) -> tuple[chex.Array, chex.Array]:
    """The ``k`` points nearest to each origin, nearest first: their indices ``(N, k)`` int32
    and positions relative to the origin ``(N, k, 2)``. ``origins (N, 2)``, ``points (M, 2)``;
    ``exclude_self``: origins and points are the same set, and i is not its own neighbour."""
    rel = points[None, :, :] - origins[:, None, :]  # (N, M, 2)
    d2 = jnp.sum(jnp.square(rel), axis=-1)  # (N, M)
    if exclude_self:
        d2 = jnp.where(jnp.eye(origins.shape[0], dtype=bool), jnp.inf, d2)
    _, idx = jax.lax.top_k(-d2, k)  # (N, k), nearest first, ties to the lower index
    return idx.astype(jnp.int32), jnp.take_along_axis(rel, idx[..., None], axis=1)
