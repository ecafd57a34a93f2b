"""Raw host batches as the library's ``TimeStep`` (main side, JAX).

``host_spec(info, name)`` is the ``EnvSpec`` of a pool's env; ``to_timestep(info, raw)`` turns
a raw batch (``pool`` module docstring) into a batched ``TimeStep``: every field gets a
leading (B,) axis, ``extras`` holds ``won``, ``episode_return`` and ``episode_length`` (B,)
each. It is pure ``jnp`` with ``info`` static, so ``jax.jit(to_timestep, static_argnums=0)``
(or ``timestep_fn(info)``) compiles it once per shape. Two tokenisations (``info.tokens``):

- ``flat``: ``tokens.chunk_tokens`` on the (N, O) observation: E = ceil(O / chunk) tokens
  of F = chunk + E features; a chunk inside an agent's zero padding is masked out.
- ``grid`` (an egocentric (C, H, W) view): one token per cell, E = H * W, F = C + 2:
  [the cell's C channel values, row offset, column offset], the offsets measured from the
  centre cell (H // 2, W // 2) and divided by H // 2 and W // 2 (so within [-1, 1]). Token 0
  is the centre cell, kind SELF; the other cells follow in row-major order, kind TASK (PEER
  where the env names an agent there). With
  ``cells=K`` only the K non-empty cells nearest the centre follow it (nearest first, ties in
  row-major order; masked and zero where fewer are non-empty): E = K + 1, and the torso's
  attention costs (K + 1)^2 per agent instead of (H W)^2.

For either, token 0 names the agent itself in ``entity_agent``. A grid cell where the env
names the agent standing there (``raw["view_agents"]``) is a PEER token naming it, so the
rank mask can hide lower-ranked peers' cells; every other token is TASK with -1. An absent
agent (``raw["alive"]`` False) keeps only its SELF token in ``entity_mask``. The flat
``obs`` is the view flattened (C * H * W for a grid). ``alive`` itself is not in the
``TimeStep``: read ``raw["alive"]`` (B, N) to mask absent agents' losses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.host.pool import HostInfo
from diamond_marl.envs.tokens import DEFAULT_CHUNK, chunk_shape, chunk_tokens
from diamond_marl.envs.types import EntityKind, EnvSpec, TimeStep
from diamond_marl.errors import ConfigError


def token_shape(info: HostInfo, chunk: int = DEFAULT_CHUNK) -> tuple[int, int]:
    """(E, F) of the entity tokens of ``info``'s env."""
    if info.tokens == "grid":
        c, h, w = info.obs_shape
        return (min(info.cells + 1, h * w) if info.cells else h * w), c + 2
    return chunk_shape(info.obs_shape[0], chunk)


def host_spec(
    info: HostInfo, name: str, chunk: int = DEFAULT_CHUNK, team_reward: bool = False
) -> EnvSpec:
    """The ``EnvSpec`` of a pool's env; ``team_reward`` as the name's key says (the pool's
    ``episode_return`` follows it). Raises
    ``ConfigError`` when the episode limit is unknown (give ``steps=T`` in the name)."""
    if info.max_steps < 1:
        raise ConfigError(
            f"{name}: the env does not say its episode limit (no max_cycles, max_steps, ...); "
            "allowed: steps=<T> in the name"
        )
    e, f = token_shape(info, chunk)
    return EnvSpec(
        name=name,
        num_agents=info.num_agents,
        num_actions=info.num_actions,
        obs_dim=math.prod(info.obs_shape),
        num_entities=e,
        entity_dim=f,
        state_dim=info.state_dim,
        max_steps=info.max_steps,
        action_entity=(-1,) * info.num_actions,
        success_metric=info.success_metric,
        team_reward=team_reward,
        description=f"PettingZoo {info.env_type} stepped on the host ({info.tokens} tokens)",
    )


def _grid_tables(info: HostInfo) -> tuple[np.ndarray, np.ndarray]:
    """Cell order (centre first, then row-major) and each cell's (row, col) offset feature."""
    _, h, w = info.obs_shape
    rows, cols = np.divmod(np.arange(h * w), w)
    centre = (h // 2) * w + w // 2
    order = np.asarray([centre] + [k for k in range(h * w) if k != centre])
    offsets = np.stack(
        [(rows - h // 2) / max(h // 2, 1), (cols - w // 2) / max(w // 2, 1)], axis=-1
    ).astype(np.float32)
    return order, offsets[order]


def _grid_tokens(info: HostInfo, obs: jax.Array, named: Any) -> dict[str, jax.Array]:
    b, n, c, h, w = obs.shape
    order, offsets = _grid_tables(info)
    cells = obs.reshape(b, n, c, h * w).swapaxes(-1, -2)[:, :, order]  # (B, N, E, C)
    where = jnp.broadcast_to(jnp.asarray(offsets), (b, n, h * w, 2))
    agent = jnp.full((b, n, h * w), -1, jnp.int32)
    if named is not None:  # (B, N, H, W): who stands in each cell
        agent = jnp.asarray(named, jnp.int32).reshape(b, n, h * w)[:, :, order]
    agent = agent.at[:, :, 0].set(jnp.arange(n, dtype=jnp.int32))  # the centre is oneself
    kinds = jnp.where(agent >= 0, int(EntityKind.PEER), int(EntityKind.TASK))
    kinds = kinds.at[:, :, 0].set(int(EntityKind.SELF))
    entities = jnp.concatenate([cells, where], axis=-1)  # (B, N, H W, F)
    mask = jnp.ones((b, n, h * w), bool)
    e = token_shape(info)[0]
    if e < h * w:  # ``cells=K``: the centre, then the K non-empty cells nearest it
        dist = np.linalg.norm(offsets[1:], axis=-1)  # static, in row-major order
        filled = jnp.any(cells[:, :, 1:] != 0, axis=-1)  # (B, N, H W - 1)
        _, pick = jax.lax.top_k(jnp.where(filled, -dist, -jnp.inf), e - 1)  # nearest first
        seen = jnp.take_along_axis(filled, pick, axis=-1)
        near = jnp.take_along_axis(entities[:, :, 1:], pick[..., None], axis=2)
        entities = jnp.concatenate([entities[:, :, :1], near * seen[..., None]], axis=2)
        mask = jnp.concatenate([mask[:, :, :1], seen], axis=-1)
        who = jnp.where(seen, jnp.take_along_axis(agent[:, :, 1:], pick, axis=-1), -1)
        agent = jnp.concatenate([agent[:, :, :1], who], axis=-1)
        kind = jnp.where(who >= 0, int(EntityKind.PEER), int(EntityKind.TASK))
        kinds = jnp.concatenate([kinds[:, :, :1], kind.astype(kinds.dtype)], axis=-1)
    return {
        "entities": entities,
        "entity_mask": mask,
        "entity_kind": kinds.astype(jnp.int32),
        "entity_agent": agent,
    }


def to_timestep(info: HostInfo, raw: Mapping[str, Any], chunk: int = DEFAULT_CHUNK) -> TimeStep:
    """A batched ``TimeStep`` (B, ...) from a raw batch; costs O(B * N * E * F)."""
    obs = jnp.asarray(raw["obs"], jnp.float32)
    b, n = obs.shape[:2]
    flat = obs.reshape(b, n, -1)
    if info.tokens == "grid":
        fields = _grid_tokens(info, obs, raw.get("view_agents"))
    else:
        sizes = np.asarray(info.obs_sizes)
        fields = jax.vmap(lambda o: chunk_tokens(o, chunk, sizes))(flat)
    e = fields["entity_mask"].shape[-1]
    alive = jnp.asarray(raw["alive"], bool)
    keep = alive[..., None] | (jnp.arange(e) == 0)  # absent agents: SELF token only
    fields["entity_mask"] = fields["entity_mask"] & keep
    return TimeStep(
        obs=flat,
        **fields,
        action_mask=jnp.asarray(raw["action_mask"], bool),
        state=jnp.asarray(raw["state"], jnp.float32),
        reward=jnp.asarray(raw["reward"], jnp.float32),
        terminated=jnp.asarray(raw["terminated"], bool),
        truncated=jnp.asarray(raw["truncated"], bool),
        extras={
            "won": jnp.asarray(raw["won"], jnp.float32),
            "episode_return": jnp.asarray(raw["episode_return"], jnp.float32),
            "episode_length": jnp.asarray(raw["episode_length"], jnp.int32),
        },
    )


def timestep_fn(info: HostInfo, chunk: int = DEFAULT_CHUNK) -> Callable[..., TimeStep]:
    """``to_timestep`` jitted for ``info``: raw batch (numpy arrays) -> ``TimeStep``."""
    return jax.jit(functools.partial(to_timestep, info, chunk=chunk))
