"""What every network reads: ``AgentObs``, the per-agent slice of a ``TimeStep``.

All fields are agent-stacked with optional extra leading batch dims ``...`` (envs, time):
``entities (..., N, E, F)``, ``entity_mask``/``entity_kind``/``entity_agent (..., N, E)``,
``action_mask (..., N, A)``, ``obs (..., N, O)``. Build one with ``from_timestep``; the
helpers below are how breakers add inputs (feature columns on the self token, extra tokens)
without the torso knowing about breakers.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax.numpy as jnp

from diamond_marl.envs.types import EntityKind, TimeStep


class AgentObs(NamedTuple):
    """Per-agent network input, batched over agents ``(..., N, ...)``."""

    obs: chex.Array  # (..., N, O) float flat observation
    entities: chex.Array  # (..., N, E, F) float entity tokens, token 0 = the agent itself
    entity_mask: chex.Array  # (..., N, E) bool, True where a token is present
    entity_kind: chex.Array  # (..., N, E) int32 EntityKind
    entity_agent: chex.Array  # (..., N, E) int32 agent a token stands for, -1 otherwise
    action_mask: chex.Array  # (..., N, A) bool, True where an action is available

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading dims before the agent axis."""
        return tuple(self.entities.shape[:-3])

    @property
    def num_agents(self) -> int:
        return int(self.entities.shape[-3])

    @property
    def num_entities(self) -> int:
        return int(self.entities.shape[-2])


def from_timestep(ts: TimeStep) -> AgentObs:
    """Take the network inputs out of a (possibly batched) ``TimeStep``."""
    return AgentObs(
        obs=ts.obs,
        entities=ts.entities,
        entity_mask=ts.entity_mask,
        entity_kind=ts.entity_kind,
        entity_agent=ts.entity_agent,
        action_mask=ts.action_mask,
    )


def append_self_features(obs: AgentObs, feats: chex.Array) -> AgentObs:
    """Append ``feats (..., N, K)`` as K new columns: on the self token (0), zeros elsewhere.

    The same columns are appended to ``obs`` so a flat-observation network sees them too.
    """
    e = obs.num_entities
    feats = feats.astype(obs.entities.dtype)
    is_self = (jnp.arange(e) == 0)[:, None]  # (E, 1)
    cols = jnp.where(is_self, feats[..., None, :], 0.0)  # (..., N, E, K)
    entities = jnp.concatenate([obs.entities, cols], axis=-1)  # (..., N, E, F + K)
    flat = jnp.concatenate([obs.obs, feats.astype(obs.obs.dtype)], axis=-1)  # (..., N, O + K)
    return obs._replace(entities=entities, obs=flat)


def append_token(obs: AgentObs, token: chex.Array, kind: EntityKind) -> AgentObs:
    """Append one always-present token ``(..., N, F)`` of ``kind`` (standing for no agent)."""
    entities = jnp.concatenate(
        [obs.entities, token.astype(obs.entities.dtype)[..., None, :]], axis=-2
    )  # (..., N, E + 1, F)
    ones = jnp.ones(obs.entity_mask.shape[:-1] + (1,), bool)  # (..., N, 1)
    return obs._replace(
        entities=entities,
        entity_mask=jnp.concatenate([obs.entity_mask, ones], axis=-1),
        entity_kind=jnp.concatenate(
            [obs.entity_kind, jnp.full(ones.shape, int(kind), jnp.int32)], axis=-1
        ),
        entity_agent=jnp.concatenate(
            [obs.entity_agent, jnp.full(ones.shape, -1, jnp.int32)], axis=-1
        ),
    )
