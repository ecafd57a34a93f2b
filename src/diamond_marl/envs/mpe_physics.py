"""The physics of ``mpe:spread`` (jaxmarl's MPE), vectorised over agent pairs, in two forms
with one set of formulas: over every pair (in row blocks, ``sensing.in_blocks``) and over the
candidates of a cell list (``grid``: with ``radius=R``, linear in N).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from diamond_marl.envs.grid import pairs
from diamond_marl.envs.sensing import in_blocks

# jaxmarl's MPE constants (environments/mpe/default_params.py, simple.py, simple_spread.py)
AGENT_RADIUS = 0.15
ACCEL = 5.0
DAMPING = 0.25
CONTACT_FORCE = 100.0
CONTACT_MARGIN = 1e-3
DT = 0.1
COVER_DISTANCE = 0.1  # a landmark is covered when an agent centre is this close
# beyond this centre distance the soft contact force is exactly 0 in float32
# (100 x softplus(-(d - 0.3) / 0.001) x 0.001 underflows from d = 0.397 on)
CONTACT_REACH = 0.4


# Physics ---------------------------------------------------------------------------------


def action_force(actions: chex.Array) -> chex.Array:
    """jaxmarl's discrete action decoding: int (N,) -> force (N, 2); 1/2 move -x/+x, 3/4 -y/+y."""
    axis = jnp.where(actions <= 2, 0, 1)  # (N,)
    sign = jnp.where(actions % 2 == 0, 1.0, -1.0) * (actions != 0)  # (N,)
    return jax.nn.one_hot(axis, 2) * sign[:, None] * ACCEL  # (N, 2)


def _delta_dist(block: chex.Array, pos: chex.Array) -> tuple[chex.Array, chex.Array]:
    """``delta[i, j] = block[i] - pos[j]`` (B, N, 2) and its length (B, N)."""
    delta = block[:, None, :] - pos[None, :, :]  # (B, N, 2)
    return delta, jnp.sqrt(jnp.sum(jnp.square(delta), axis=-1))  # (B, N)


def _push(delta: chex.Array, dist: chex.Array, apart: chex.Array) -> chex.Array:
    """Soft contact force summed over the last pair axis: ``delta`` (..., Q, 2) from each
    other agent to the agent, ``dist`` (..., Q), ``apart`` (..., Q) the pairs that push."""
    dist_min = jnp.float32(AGENT_RADIUS) + jnp.float32(AGENT_RADIUS)
    penetration = jnp.logaddexp(0.0, -(dist - dist_min) / CONTACT_MARGIN) * CONTACT_MARGIN
    safe = jnp.where(apart, dist, 1.0)
    force = CONTACT_FORCE * delta / safe[..., None] * penetration[..., None]  # (..., Q, 2)
    return jnp.sum(jnp.where(apart[..., None], force, 0.0), axis=-2)


def _overlapping(dist: chex.Array, other: chex.Array) -> chex.Array:
    dist_min = jnp.float32(AGENT_RADIUS) + jnp.float32(AGENT_RADIUS)
    return jnp.sum((dist < dist_min) & other, axis=-1)


def contact_force(pos: chex.Array, cand: chex.Array | None = None) -> chex.Array:
    """Soft contact force on each agent from every other agent, (N, 2) -> (N, 2). ``cand``
    (N, Q): only these agents (a cell list's, all within ``CONTACT_REACH``) are summed."""
    if cand is not None:
        rel, dist, real = pairs(pos, pos, cand)
        return _push(-rel, dist, real & (dist > 0))

    def rows(block: chex.Array, _ids: chex.Array) -> chex.Array:
        delta, dist = _delta_dist(block, pos)
        # dist > 0 excludes i == j (and agents at one point: no direction to push in)
        return _push(delta, dist, dist > 0)  # (B, 2)

    return in_blocks(rows, pos)


def world_step(
    pos: chex.Array, vel: chex.Array, actions: chex.Array, cand: chex.Array | None = None
) -> tuple[chex.Array, chex.Array]:
    """One physics step of the agents: (N, 2) positions and velocities, int (N,) actions."""
    force = contact_force(pos, cand) + action_force(actions)  # (N, 2)
    return pos + vel * DT, vel * (1 - DAMPING) + force * DT


def overlaps(pos: chex.Array, cand: chex.Array | None = None) -> chex.Array:
    """(N,) number of other agents each agent overlaps (jaxmarl's ``is_collision``)."""
    if cand is not None:
        _, dist, real = pairs(pos, pos, cand)
        return _overlapping(dist, real & (cand != jnp.arange(pos.shape[0])[:, None]))

    def rows(block: chex.Array, ids: chex.Array) -> chex.Array:
        _, dist = _delta_dist(block, pos)
        return _overlapping(dist, ids[:, None] != jnp.arange(pos.shape[0]))  # (B,)

    return in_blocks(rows, pos)


def nearest_agent(
    agent_pos: chex.Array, landmark_pos: chex.Array, cand: chex.Array | None = None,
    reach: float = jnp.inf,
) -> chex.Array:  # fmt: skip
    """(M,) distance from each landmark to its nearest agent. ``cand`` (M, Q): only these
    agents, and the distance is at most ``reach`` (the radius of the cell list)."""
    if cand is not None:
        _, dist, real = pairs(landmark_pos, agent_pos, cand)
        return jnp.minimum(jnp.min(jnp.where(real, dist, jnp.inf), axis=1), reach)

    def rows(block: chex.Array, _ids: chex.Array) -> chex.Array:
        d = agent_pos[None, :, :] - block[:, None, :]  # (B, N, 2)
        return jnp.min(jnp.linalg.norm(d, axis=-1), axis=1)  # (B,)

    return in_blocks(rows, landmark_pos)


def covered(gaps: chex.Array) -> chex.Array:
    """() share of landmarks whose nearest agent (``gaps (M,)``) is within ``COVER_DISTANCE``."""
    return jnp.mean((gaps < COVER_DISTANCE).astype(jnp.float32))
