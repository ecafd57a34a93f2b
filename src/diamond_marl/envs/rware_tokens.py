"""RobotWarehouse's entity tokens: every object once, then each robot's view of them.

Objects are the N robots, the R requested shelves (in queue order) and the two goals; each
gets one row of features (``object_table``). A robot's tokens are rows of that table chosen
by a source index (N, E) and placed relative to the robot (``gather``):

- global (the default): SELF, the N - 1 peers ascending, the R shelves, the 2 goals
  (E = N + R + 2); relative positions are divided by the layout's size;
- ``sense=K`` (``sensed_source``): SELF, the min(K, N - 1) nearest peers, the min(K, R)
  nearest requested shelves, nearest first, and the 2 goals (E fixed whatever N and the
  layout are); relative positions are in units of ``REL_SCALE`` cells, so a policy meets
  the same numbers for the same neighbourhood on any layout.

Features (F = 14): 0-1 position / layout size, 2-3 relative position, 4-7 heading (robots),
8 carrying (robot) or carried (shelf), 9 carrying a requested shelf (robot) or requested
(shelf), 10 on a highway, 11 is a shelf, 12 is a goal, 13 within the robot's 3 x 3 window.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp

from diamond_marl.envs.rware_rules import SHELF_LAYER
from diamond_marl.envs.sensing import nearest

ENTITY_DIM = 14
SENSOR_RANGE = 1  # 3 x 3 view, as in the original
REL_SCALE = 10.0  # cells per unit of a sensed token's relative position


def object_table(
    env_state: Any, highways: chex.Array, goals: chex.Array
) -> tuple[chex.Array, chex.Array, chex.Array, chex.Array]:
    """Every object once, robots then requested shelves then goals: positions (N + R + 2, 2)
    in (row, col) cells, features (N + R + 2, F) without the positional ones, the robots'
    positions (N, 2) and the requested shelves' carried flags (R,)."""
    agents, shelves = env_state.agents, env_state.shelves
    n, r = agents.position.x.shape[0], env_state.request_queue.shape[0]
    robot_pos = jnp.stack([agents.position.x, agents.position.y], -1)  # (N, 2)
    queue = env_state.request_queue  # (R,) shelf indices
    shelf_pos = jnp.stack([shelves.position.x[queue], shelves.position.y[queue]], -1)  # (R, 2)
    carrying = (agents.is_carrying > 0).astype(jnp.float32)  # (N,)
    shelf_here = env_state.grid[SHELF_LAYER, robot_pos[:, 0], robot_pos[:, 1]]  # (N,)
    requested = shelves.is_requested[jnp.maximum(shelf_here - 1, 0)] > 0  # (N,)
    carrying_req = carrying * ((shelf_here > 0) & requested)  # (N,)
    same_cell = jnp.all(shelf_pos[:, None, :] == robot_pos[None, :, :], -1)  # (R, N)
    carried = jnp.any(same_cell & (carrying[None, :] > 0), axis=1).astype(jnp.float32)  # (R,)

    pos = jnp.concatenate([robot_pos, shelf_pos, goals], axis=0)  # (K, 2), K = N + R + 2
    base = jnp.zeros((n + r + 2, ENTITY_DIM), jnp.float32)
    base = base.at[:n, 4:8].set(jax.nn.one_hot(agents.direction, 4))
    base = base.at[:, 8].set(jnp.concatenate([carrying, carried, jnp.zeros(2)]))
    base = base.at[:, 9].set(jnp.concatenate([carrying_req, jnp.ones(r), jnp.zeros(2)]))
    base = base.at[:, 10].set(highways[pos[:, 0], pos[:, 1]].astype(jnp.float32))
    base = base.at[n : n + r, 11].set(1.0)
    base = base.at[n + r :, 12].set(1.0)
    return pos, base, robot_pos, carried


def gather(
    pos: chex.Array,
    base: chex.Array,
    robot_pos: chex.Array,
    source: chex.Array,
    scale: chex.Array,
    rel_scale: chex.Array,
) -> chex.Array:
    """Each robot's tokens (N, E, F): rows ``source`` (N, E) of the object table, placed
    relative to the robot. ``scale`` (2,) is the layout's size, ``rel_scale`` the unit of
    relative positions."""
    tok_pos = pos[source]  # (N, E, 2)
    rel = tok_pos - robot_pos[:, None, :]  # (N, E, 2) cells from the observer
    entities = base[source]  # (N, E, F)
    entities = entities.at[..., 0:2].set(tok_pos / scale)
    entities = entities.at[..., 2:4].set(rel / rel_scale)
    near = jnp.max(jnp.abs(rel), axis=-1) <= SENSOR_RANGE  # (N, E)
    return entities.at[..., 13].set(near.astype(jnp.float32))


def sensed_source(
    robot_pos: chex.Array, shelf_pos: chex.Array, peers: int, shelves: int
) -> tuple[chex.Array, chex.Array]:
    """``sense=K``: each robot's source rows (N, 1 + peers + shelves + 2) into the object
    table, [self, nearest peers, nearest requested shelves, goals], and the robot each token
    names (N, E) (-1: not a robot). Distances are Euclidean in cells; ties go to the lower
    index, so two robots with the same surroundings see the same tokens."""
    n, r = robot_pos.shape[0], shelf_pos.shape[0]
    here = robot_pos.astype(jnp.float32)
    me = jnp.arange(n, dtype=jnp.int32)[:, None]  # (N, 1)
    parts, named = [me], [me]
    if peers:
        peer_idx, _ = nearest(here, here, peers, exclude_self=True)  # (N, peers)
        parts.append(peer_idx)
        named.append(peer_idx)
    shelf_idx, _ = nearest(here, shelf_pos.astype(jnp.float32), shelves)  # (N, shelves)
    goal_idx = jnp.broadcast_to(jnp.arange(n + r, n + r + 2, dtype=jnp.int32), (n, 2))
    parts += [n + shelf_idx, goal_idx]
    named.append(jnp.full((n, shelves + 2), -1, jnp.int32))
    return jnp.concatenate(parts, axis=1), jnp.concatenate(named, axis=1)
