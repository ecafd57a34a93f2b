"""The original RobotWarehouse rules (``rware`` 2.0.0, ``Warehouse.step``) in JAX.

``rware:*`` names with ``collisions=resolve`` (the default) step with ``original_step``; it
works on Jumanji's ``State`` (grid, agents, shelves, request queue, key), so observations,
entity tokens and the delivery bookkeeping are shared with ``collisions=terminate``, which
steps with Jumanji's own ``RobotWarehouse.step``. What the original decides, and how it
differs from Jumanji's rules (docs/rware.md):

- Robots move simultaneously; conflicting forward moves are cancelled (``resolve_moves``) and
  the episode never ends early.
- A loaded robot may not move into a cell holding a shelf, unless a loaded robot stands there
  (it may be moving away: the graph rule then decides). Jumanji masks both.
- A noop does nothing; "toggle load" picks up the shelf under an empty robot and puts a
  carried shelf down off the aisles. Jumanji also unloads on a noop off the aisles.
- No action is ever unavailable: the original has no action mask (an impossible move is just
  cancelled), so the mask is all True.
- Deliveries, rewards and the request queue: a requested shelf on a goal cell after the moves
  is delivered (+1) and replaced by a uniformly random shelf not in the queue, goal by goal
  (Jumanji's ``_update_reward_and_request_queue`` does exactly this, with its own RNG).
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np

NOOP, FORWARD, LEFT, RIGHT, TOGGLE_LOAD = range(5)  # the original's and Jumanji's order
SHELF_LAYER, ROBOT_LAYER = 0, 1  # Jumanji's grid channels: shelf, robot ids (1-based, 0: none)
_STEP = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], np.int32)  # (4, 2) move per direction
_TURN = np.array([0, 0, -1, 1, 0], np.int32)  # (5,) direction change per action


def resolve_moves(start: chex.Array, target: chex.Array, width: int) -> chex.Array:
    """Which robots' forward moves succeed under the original RWARE collision rule.

    ``start``, ``target``: (N, 2) int cells (row, col); ``target == start`` for a robot that
    does not move. Returns (N,) bool, True for a robot whose move goes ahead.

    The original builds a graph with one edge start -> target per robot and, per weakly
    connected component: if it has a cycle, the robots on the cycle move when it is 3 robots or
    longer (a rotation), nobody moves for a 2-cycle (a swap through each other), and a
    stationary robot (a self-loop) blocks everyone queued behind it; otherwise (a tree that ends
    in a free cell) the robots on the longest chain ending in that free cell move and every
    other branch waits. Among equally long chains the original takes whichever networkx visits
    first (an artefact of its node order); here the lowest robot index wins.
    """
    n = start.shape[0]
    idx = jnp.arange(n)
    s = start[:, 0] * width + start[:, 1]  # (N,) cell ids
    t = target[:, 0] * width + target[:, 1]  # (N,)
    moving = s != t  # (N,)
    into = t[:, None] == s[None, :]  # (N, N) robot i heads for robot j's cell (j == i: stays)
    succ = jnp.where(into.any(1), jnp.argmax(into, axis=1), -1)  # (N,) -1: a free cell

    def follow(k: int, carry: tuple[chex.Array, ...]) -> tuple[chex.Array, ...]:
        cur, on_cycle, cycle_len = carry
        nxt = jnp.where(cur >= 0, succ[jnp.maximum(cur, 0)], -1)  # (N,) succ^(k+1)
        back = (nxt == idx) & ~on_cycle
        return nxt, on_cycle | back, jnp.where(back, k + 1, cycle_len)

    init = (idx, jnp.zeros(n, bool), jnp.zeros(n, jnp.int32))
    end, on_cycle, cycle_len = jax.lax.fori_loop(0, n, follow, init)
    to_free_cell = end < 0  # (N,) the chain from i ends in a free cell (a tree component)

    # Longest chain of robots queued behind each robot (networkx's dag_longest_path distance).
    behind = (succ[:, None] == idx[None, :]) & moving[:, None]  # (N, N) k queues into i's cell

    def height(_: int, h: chex.Array) -> chex.Array:
        return jnp.max(jnp.where(behind, h[:, None] + 1, 0), axis=0)  # (N,)

    h = jax.lax.fori_loop(0, n, height, jnp.zeros(n, jnp.int32))
    # Among robots heading for the same cell, the one with the longest queue (then lowest index).
    rival = (t[:, None] == t[None, :]) & moving[:, None] & moving[None, :] & (idx[:, None] != idx)
    beats = (h[:, None] > h[None, :]) | ((h[:, None] == h[None, :]) & (idx[:, None] < idx))
    best = moving & jnp.all(~rival | beats, axis=1)  # (N,)

    def chain(_: int, on: chex.Array) -> chex.Array:
        return best & ((succ < 0) | on[jnp.maximum(succ, 0)])  # (N,)

    on_path = jax.lax.fori_loop(0, n, chain, best & (succ < 0))
    rotation = on_cycle & (cycle_len >= 3)
    return moving & ((to_free_cell & on_path) | rotation)


def original_step(
    jenv: Any, env_state: Any, actions: chex.Array, highways: chex.Array
) -> tuple[Any, chex.Array, chex.Array]:
    """One step of the original game on Jumanji's state.

    ``jenv``: the Jumanji ``RobotWarehouse`` the state belongs to (its delivery routine and
    observations are reused); ``actions`` (N,) int32; ``highways`` (H, W) bool. Returns the
    next state (action mask all True), Jumanji's ``agents_view`` (N, 66) and the team reward
    (deliveries this step).
    """
    h, w = highways.shape
    agents, shelves, grid = env_state.agents, env_state.shelves, env_state.grid
    shelf_grid, robot_grid = grid[SHELF_LAYER], grid[ROBOT_LAYER]  # (H, W) each
    n = actions.shape[0]
    pos = jnp.stack([agents.position.x, agents.position.y], axis=-1)  # (N, 2) (row, col)
    carrying = agents.is_carrying > 0  # (N,)
    ahead = pos + jnp.asarray(_STEP)[agents.direction]  # (N, 2)
    ahead = jnp.clip(ahead, 0, jnp.asarray([h - 1, w - 1]))  # (N, 2) walls stop a robot

    # A loaded robot cannot enter a shelf's cell, unless a loaded robot stands there.
    there = robot_grid[ahead[:, 0], ahead[:, 1]]  # (N,) 1-based robot id, 0: none
    loaded_there = (there > 0) & carrying[jnp.maximum(there - 1, 0)]  # (N,)
    blocked = carrying & (shelf_grid[ahead[:, 0], ahead[:, 1]] > 0) & ~loaded_there  # (N,)
    target = jnp.where(((actions == FORWARD) & ~blocked)[:, None], ahead, pos)  # (N, 2)
    moved = resolve_moves(pos, target, w)  # (N,)
    new_pos = jnp.where(moved[:, None], target, pos)  # (N, 2)

    # Carried shelves travel with their robots (cells freed first, then filled).
    haul = moved & carrying  # (N,)
    shelf_id = shelf_grid[pos[:, 0], pos[:, 1]]  # (N,) 1-based, 0: none
    shelf_grid = shelf_grid.at[jnp.where(haul, pos[:, 0], h), pos[:, 1]].set(0, mode="drop")
    shelf_grid = shelf_grid.at[jnp.where(haul, new_pos[:, 0], h), new_pos[:, 1]].set(
        shelf_id, mode="drop"
    )  # (H, W)
    slot = jnp.where(haul, shelf_id - 1, shelves.position.x.shape[0])  # (N,) out of range: none
    shelves = shelves._replace(
        position=shelves.position._replace(
            x=shelves.position.x.at[slot].set(new_pos[:, 0], mode="drop"),
            y=shelves.position.y.at[slot].set(new_pos[:, 1], mode="drop"),
        )
    )
    robot_grid = (
        jnp.zeros((h, w), grid.dtype)
        .at[new_pos[:, 0], new_pos[:, 1]]
        .set(jnp.arange(1, n + 1, dtype=grid.dtype))
    )  # (H, W)
    grid = jnp.stack([shelf_grid, robot_grid])  # (2, H, W)

    # Turns, then "toggle load": pick up the shelf underneath, or put it down off the aisles.
    direction = (agents.direction + jnp.asarray(_TURN)[actions]) % 4  # (N,)
    toggle = actions == TOGGLE_LOAD  # (N,) a toggling robot did not move
    load = toggle & ~carrying & (shelf_grid[pos[:, 0], pos[:, 1]] > 0)  # (N,)
    unload = toggle & carrying & ~highways[pos[:, 0], pos[:, 1]]  # (N,)
    is_carrying = (carrying | load) & ~unload  # (N,)
    agents = agents._replace(
        position=agents.position._replace(
            x=new_pos[:, 0].astype(agents.position.x.dtype),
            y=new_pos[:, 1].astype(agents.position.y.dtype),
        ),
        direction=direction.astype(agents.direction.dtype),
        is_carrying=is_carrying.astype(agents.is_carrying.dtype),
    )

    # Deliveries and the request queue, goal by goal (left, right), as in the original.
    def deliver(carry: tuple, goal: chex.Array) -> tuple[tuple, None]:
        return jenv._update_reward_and_request_queue(*carry[:3], grid, carry[3], goal), None

    init = (env_state.key, jnp.zeros((), jnp.float32), env_state.request_queue, shelves)
    (key, reward, queue, shelves), _ = jax.lax.scan(deliver, init, jenv.goals)
    view = jenv._make_observations(grid, agents, shelves)  # (N, 66)
    env_state = env_state.replace(
        grid=grid,
        agents=agents,
        shelves=shelves,
        request_queue=queue,
        step_count=env_state.step_count + 1,
        action_mask=jnp.ones_like(env_state.action_mask),
        key=key,
    )
    return env_state, view, reward
