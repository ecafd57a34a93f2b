"""Building entity tokens: the static token tables of a team, and flat observations as tokens.

Two ways to give a network its ``TimeStep.entities`` (see ``types`` for the conventions):

- **Entity tokens** (the way to a policy that runs at other team sizes): token 0 the agent
  itself, tokens 1..N-1 its peers in ascending agent order, then the task's other objects.
  ``team_tables(n, others)`` returns the static ``entity_agent`` and ``entity_kind`` tables of
  that layout, and ``peer_index(n)`` which agent each peer token stands for.
- **Chunks of a flat observation** (the generic fallback, no entity structure needed):
  ``chunk_tokens(obs, chunk)`` cuts ``obs (N, O)`` into ceil(O / chunk) tokens of ``chunk``
  values plus a one-hot chunk position. F = chunk + E grows with O, so a policy trained on such
  tokens runs only where O is the same. ``flat_timestep`` fills a whole ``TimeStep`` this way.

Tables are numpy arrays: building an environment stays cheap and never leaks tracers.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.types import EntityKind, TimeStep

DEFAULT_CHUNK = 8  # values per chunk token


def peer_index(n: int) -> np.ndarray:
    """(N, N-1) int32: row i lists the other agents in ascending order (agent i's peers)."""
    return np.asarray([[j for j in range(n) if j != i] for i in range(n)], np.int32).reshape(
        n, n - 1
    )


def team_tables(
    n: int, others: int, other_kind: EntityKind = EntityKind.TASK
) -> tuple[np.ndarray, np.ndarray]:
    """``(entity_agent, entity_kind)``, both (N, N + others) int32, for tokens laid out as
    [self, N-1 peers ascending, ``others`` tokens of ``other_kind``]."""
    agent = np.full((n, n + others), -1, np.int32)
    agent[:, 0] = np.arange(n)
    agent[:, 1:n] = peer_index(n)
    kinds = [EntityKind.SELF] + [EntityKind.PEER] * (n - 1) + [other_kind] * others
    return agent, np.broadcast_to(np.asarray(kinds, np.int32), (n, n + others)).copy()


def chunk_shape(obs_dim: int, chunk: int = DEFAULT_CHUNK) -> tuple[int, int]:
    """(E, F) of the chunk tokens of an ``obs_dim``-wide observation: E = ceil(O / chunk),
    F = chunk + E."""
    e = -(-obs_dim // chunk)
    return e, chunk + e


def chunk_tokens(
    obs: chex.Array, chunk: int = DEFAULT_CHUNK, sizes: np.ndarray | None = None
) -> dict[str, chex.Array]:
    """Entity fields of ``obs (N, O)`` cut into chunks: token e = [obs[:, e*C:(e+1)*C] (zero-
    padded), one-hot(e)]. Token 0 is the SELF token; the rest are CHUNK tokens standing for no
    agent. ``sizes`` (N,) are the agents' true observation lengths when ``obs`` is zero-padded
    to a common O: a chunk wholly inside the padding is masked out."""
    n, o = obs.shape
    e, _ = chunk_shape(o, chunk)
    chunks = jnp.pad(obs, ((0, 0), (0, e * chunk - o))).reshape(n, e, chunk)  # (N, E, C)
    position = jnp.broadcast_to(jnp.eye(e, dtype=obs.dtype), (n, e, e))  # (N, E, E)
    sizes = np.full(n, o) if sizes is None else np.asarray(sizes)
    agent = np.full((n, e), -1, np.int32)
    agent[:, 0] = np.arange(n)
    kinds = np.full((n, e), int(EntityKind.CHUNK), np.int32)
    kinds[:, 0] = EntityKind.SELF
    return {
        "entities": jnp.concatenate([chunks, position], axis=-1),  # (N, E, C + E)
        "entity_mask": jnp.asarray(np.arange(e)[None] * chunk < sizes[:, None]),  # (N, E)
        "entity_kind": jnp.asarray(kinds),  # (N, E)
        "entity_agent": jnp.asarray(agent),  # (N, E)
    }


def flat_timestep(
    obs: chex.Array,
    state: chex.Array,
    reward: chex.Array,
    terminated: chex.Array,
    truncated: chex.Array,
    won: chex.Array | float = 0.0,
    action_mask: chex.Array | None = None,
    num_actions: int | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> TimeStep:
    """A whole ``TimeStep`` from a flat observation ``obs (N, O)``, tokenised by chunks.

    ``action_mask (N, A)`` defaults to every one of ``num_actions`` actions available.
    """
    n = obs.shape[0]
    if action_mask is None:
        if num_actions is None:
            raise ValueError("flat_timestep needs action_mask or num_actions")
        action_mask = jnp.ones((n, num_actions), bool)
    return TimeStep(
        obs=obs.astype(jnp.float32),
        **chunk_tokens(obs.astype(jnp.float32), chunk),
        action_mask=action_mask,
        state=state.astype(jnp.float32),
        reward=jnp.broadcast_to(reward, (n,)).astype(jnp.float32),
        terminated=jnp.asarray(terminated, bool),
        truncated=jnp.asarray(truncated, bool),
        extras={"won": jnp.asarray(won, jnp.float32)},
    )
