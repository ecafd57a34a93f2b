"""A cell list: a fleet's pairwise work in time linear in N, for sensing within a radius.

The square ``[low, low + side x cell]^2`` is cut into ``side x side`` cells, and each step
every point is filed in its cell (``Grid.table``; a point outside the square is filed in the
nearest edge cell). Everything within ``cell`` of an origin then lies in the 3 x 3 cells
around the origin's own, so a query looks at ``9 x capacity`` candidates (``Grid.candidates``)
instead of all M points. Shapes are static: a cell holds at most ``capacity`` points, and a
point beyond that is dropped from this step's table; ``Grid.table`` counts them, and a step
with none dropped gives every query's exact answer.

Candidates come in window order (the 3 x 3 cells, each cell's points by ascending index), so
sums over them (contact forces) can differ from an all-pairs sum in their last bits, and two
points at exactly the same distance in different cells are ordered by cell. Points at one
spot share a cell and keep index order, so agents at one point still see the same tokens.
"""

from __future__ import annotations

import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np

_WINDOW = np.asarray([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)], np.int32)  # (9, 2)


@dataclasses.dataclass(frozen=True)
class Grid:
    low: float  # lower corner of the covered square, on both axes
    cell: float  # side of a cell: the farthest reach of a query
    side: int  # cells per side
    capacity: int  # points one cell holds

    @classmethod
    def covering(cls, half: float, cell: float, per_area: float) -> Grid:
        """Cells of side ``cell`` over ``[-half, half]^2``, for points spread at ``per_area``
        points per unit area: a cell holds its mean count twice over, plus 8."""
        side = max(1, math.ceil(2 * half / cell))
        capacity = math.ceil(2 * per_area * cell * cell) + 8
        return cls(low=-half, cell=cell, side=side, capacity=capacity)

    def cells(self, points: chex.Array) -> chex.Array:
        """(M, 2) cell coordinates of ``points`` (M, 2), clipped into the grid."""
        at = jnp.floor((points - self.low) / self.cell).astype(jnp.int32)
        return jnp.clip(at, 0, self.side - 1)

    def table(self, points: chex.Array) -> tuple[chex.Array, chex.Array]:
        """The points filed by cell: (side^2, capacity) indices, ``M`` where a slot is empty,
        and () how many points did not fit (0: every query is exact)."""
        m, c = points.shape[0], self.cells(points)
        ids = c[:, 0] * self.side + c[:, 1]  # (M,)
        order = jnp.argsort(ids, stable=True)  # points by cell, ascending index within one
        counts = jnp.zeros((self.side * self.side,), jnp.int32).at[ids].add(1)
        start = jnp.cumsum(counts) - counts  # where each cell's points begin in ``order``
        slot = jnp.arange(self.capacity, dtype=jnp.int32)
        pick = jnp.clip(start[:, None] + slot, 0, m - 1)  # (S, C)
        filed = jnp.where(slot < counts[:, None], order[pick].astype(jnp.int32), m)
        return filed, jnp.sum(jnp.maximum(counts - self.capacity, 0))

    def candidates(self, origins: chex.Array, filed: chex.Array, m: int) -> chex.Array:
        """(N, 9 x capacity) indices of the points filed in the 3 x 3 cells around each origin
        (``m``, the number of points, for empty slots): every point within ``cell`` of it, if
        none were dropped."""
        around = self.cells(origins)[:, None, :] + _WINDOW  # (N, 9, 2)
        inside = jnp.all((around >= 0) & (around < self.side), axis=-1)  # (N, 9)
        at = jnp.clip(around, 0, self.side - 1)
        rows = filed[at[..., 0] * self.side + at[..., 1]]  # (N, 9, C)
        return jnp.where(inside[..., None], rows, m).reshape(origins.shape[0], -1)


def pairs(
    origins: chex.Array, points: chex.Array, cand: chex.Array
) -> tuple[chex.Array, chex.Array, chex.Array]:
    """For candidates ``cand`` (N, Q) of ``points`` (M, 2): ``points[cand] - origins`` (N, Q, 2),
    its length (N, Q), and (N, Q) whether the slot holds a point."""
    real = cand < points.shape[0]
    rel = points[jnp.minimum(cand, points.shape[0] - 1)] - origins[:, None, :]  # (N, Q, 2)
    return rel, jnp.sqrt(jnp.sum(jnp.square(rel), axis=-1)), real


def nearest_within(
    origins: chex.Array, points: chex.Array, cand: chex.Array, k: int, radius: float,
    exclude_self: bool = False,
) -> tuple[chex.Array, chex.Array, chex.Array]:  # fmt: skip
    """The ``k`` points nearest each origin among its candidates, within ``radius`` (at most
    the grid's cell), nearest first: indices (N, k) (-1 where fewer are in range), positions
    relative to the origin (N, k, 2) (0 there) and (N, k) whether each slot holds a point."""
    rel, dist, real = pairs(origins, points, cand)
    d2 = jnp.sum(jnp.square(rel), axis=-1)  # the ranking ``sensing.nearest`` uses
    ok = real & (dist <= radius)
    if exclude_self:
        ok &= cand != jnp.arange(origins.shape[0], dtype=cand.dtype)[:, None]
    _, at = jax.lax.top_k(-jnp.where(ok, d2, jnp.inf), k)  # (N, k), nearest first
    seen = jnp.take_along_axis(ok, at, axis=1)
    idx = jnp.where(seen, jnp.take_along_axis(cand, at, axis=1), -1)
    rel = jnp.where(seen[..., None], jnp.take_along_axis(rel, at[..., None], axis=1), 0.0)
    return idx.astype(jnp.int32), rel, seen
