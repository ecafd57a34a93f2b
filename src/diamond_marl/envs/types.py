"""The one environment API: a static ``EnvSpec``, a ``TimeStep`` of agent-stacked arrays.

Every environment (SMAX, RobotWarehouse, any jaxmarl env, our diagnostic games) returns the
same ``TimeStep`` structure, so networks and algorithms never branch on the environment.

Conventions (N agents, E entity tokens, F features per token, A actions, S state size):
- token 0 of every agent's entity list is the agent itself (kind ``SELF``);
- ``entity_agent[i, e]`` is the agent index that token ``e`` of agent ``i`` stands for
  (``i`` for its self token, ``j`` for a peer token of agent ``j``, -1 for anything else),
  so a value broadcast by agent ``j`` (Diamond Attention's rank draw) finds its token;
- ``EnvSpec.action_entity[a]`` is the token an action refers to (SMAX attack target), or -1;
- ``terminated`` (the task ended by its rules) and ``truncated`` (time limit) are kept apart.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import chex
import jax.numpy as jnp
from flax import struct

from diamond_marl.env_names import SUCCESS_METRICS


class EntityKind(enum.IntEnum):
    """What an entity token stands for; networks embed each kind with its own weights."""

    SELF = 0  # the observing agent
    PEER = 1  # another agent of the team (ally, robot, peer)
    ENEMY = 2  # an opponent unit
    TASK = 3  # a task object: shelf, landmark, role, action choice
    DICE = 4  # a random token added by the dice breaker (never produced by an environment)
    CHUNK = 5  # a slice of a flat observation (generic fallback tokenisation)


NUM_ENTITY_KINDS = len(EntityKind)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static facts about an environment; hashable, so it can be a jit static argument."""

    name: str  # canonical registry name, e.g. "smax:3m" or "xor:n=2,k=2"
    num_agents: int  # N
    num_actions: int  # A (discrete, per agent)
    obs_dim: int  # O, flat per-agent observation
    num_entities: int  # E, entity tokens per agent (padded; see entity_mask)
    entity_dim: int  # F, features per entity token
    state_dim: int  # S, global state for centralised critics and mixers
    max_steps: int  # episode limit in env steps (truncation, or the game's horizon)
    action_entity: tuple[int, ...]  # (A,) token index each action refers to, -1 if none
    # what extras["won"] measures: "win_rate", "success_rate" (1.0 on a won final step),
    # "coverage" (a fraction in [0, 1] on the final step), or None
    success_metric: str | None = None
    team_reward: bool = True  # reward is one team reward replicated to every agent
    description: str = ""

    def __post_init__(self) -> None:
        if self.success_metric is not None and self.success_metric not in SUCCESS_METRICS:
            raise ValueError(
                f"success_metric {self.success_metric!r}; allowed: None, "
                + ", ".join(SUCCESS_METRICS)
            )
        if len(self.action_entity) != self.num_actions:
            raise ValueError(
                f"action_entity has {len(self.action_entity)} entries, expected {self.num_actions}"
            )


@struct.dataclass
class TimeStep:
    """What every environment returns after ``reset`` and ``step``; all arrays agent-stacked."""

    obs: chex.Array  # (N, O) float32 flat observation
    entities: chex.Array  # (N, E, F) float32 entity tokens
    entity_mask: chex.Array  # (N, E) bool, True where the token is present / observed
    entity_kind: chex.Array  # (N, E) int32, an EntityKind per token
    entity_agent: chex.Array  # (N, E) int32, agent index a token stands for, -1 otherwise
    action_mask: chex.Array  # (N, A) bool, True where the action is available
    state: chex.Array  # (S,) float32 global state
    reward: chex.Array  # (N,) float32
    terminated: chex.Array  # () bool, episode ended by the task's rules
    truncated: chex.Array  # () bool, episode cut by the time limit
    extras: dict[str, Any]  # scalars; always "won" (float in [0, 1], non-zero only on a final step)

    @property
    def done(self) -> chex.Array:
        """() bool, the episode is over either way."""
        return jnp.logical_or(self.terminated, self.truncated)
