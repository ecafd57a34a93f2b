"""Peer dropout, the paper's ablation of the rank form: private masks instead of shared ones.

Each agent hides each peer token independently with probability ``p``, from its own private
draws. Like the rank form it changes which peers an agent attends to; unlike it, the draws
are not broadcast, so the agents share no order and the masks are not consistent with each
other. The paper (arXiv 2605.06825) reports 0% wins with it where the rank mask wins.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import chex

import diamond_marl.networks.draws as draws
from diamond_marl.envs.types import EntityKind
from diamond_marl.errors import ConfigError
from diamond_marl.networks.breakers.base import DrawContext, KeyedConfig
from diamond_marl.networks.inputs import AgentObs


@dataclasses.dataclass(frozen=True)
class DropoutConfig(KeyedConfig):
    """Private peer dropout: agent i hides each peer token with probability ``p``."""

    name: ClassVar[str] = "dropout"
    p: float = 0.5
    """Probability that an agent hides a given peer token at a step."""
    eval_dropout: bool = True
    """Drop peers at evaluation too; False lets every agent see every peer (no key)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"dropout: p={self.p}; allowed: 0 <= p <= 1")

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_dropout

    def restrict(
        self, obs: AgentObs, key_mask: chex.Array, ctx: DrawContext
    ) -> tuple[AgentObs, chex.Array]:
        if not self.needs_key(ctx.mode):
            return obs, key_mask
        keys = ctx.keys(self.name, "dropout draws")  # (..., N)
        u = draws.uniform(draws.stream(keys, draws.DROPOUT), (obs.num_entities,))  # (..., N, E)
        is_peer = obs.entity_kind == EntityKind.PEER  # (..., N, E)
        key_mask = key_mask & (~is_peer | (u >= self.p))
        ctx.report["peers_seen"] = (key_mask & is_peer).sum(-1)  # (..., N)
        return obs, key_mask
