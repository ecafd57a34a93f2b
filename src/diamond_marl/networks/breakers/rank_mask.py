"""Diamond Attention's rank form (the paper's mechanism): a broadcast rank mask.

Every step each agent draws ``r_i ~ U[0, 1)`` and broadcasts it. Agent i hides from its
agent-to-agent attention every peer j with ``r_j < r_i``; tokens that stand for no agent
(enemies, tasks, its own token) stay visible. The draws are shared, so the masks are
consistent: the agents agree on one random order, and the lowest-ranked agent sees every
peer while the highest sees none.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import chex
import jax.numpy as jnp

import diamond_marl.networks.draws as draws
from diamond_marl.envs.types import EntityKind
from diamond_marl.networks.breakers.base import DrawContext, KeyedConfig
from diamond_marl.networks.inputs import AgentObs, append_self_features


def rank_visible(rank: chex.Array, entity_agent: chex.Array) -> chex.Array:
    """The rank form's mask: may agent i attend to token e? ``(..., N, E)`` bool.

    ``rank (..., N)`` holds every agent's broadcast draw ``r``. Token e of agent i standing
    for peer j (``entity_agent[i, e] = j``) is hidden when ``r_j < r_i``; tokens standing for
    no agent (enemies, tasks, dice) and the agent's own token stay visible.
    """
    n = rank.shape[-1]
    own = rank[..., :, None]  # (..., N, 1) r_i
    peer_idx = jnp.clip(entity_agent, 0, n - 1)  # (..., N, E)
    peer = jnp.take_along_axis(
        jnp.broadcast_to(rank[..., None, :], rank.shape[:-1] + (n, n)), peer_idx, axis=-1
    )  # (..., N, E) r_j of the agent each token stands for
    return (entity_agent < 0) | (peer >= own)


@dataclasses.dataclass(frozen=True)
class RankConfig(KeyedConfig):
    """Rank form: peers with a lower broadcast draw are masked from agent-to-agent attention."""

    name: ClassVar[str] = "rank"
    broadcasts_rank: ClassVar[bool] = True
    eval_rank: bool = True
    """Draw and mask at evaluation too; False lets every agent see every peer (no key)."""
    count_feature: bool = False
    """Append the number of visible peers to the self token (softmax attention over
    identical peer tokens barely tells one visible peer from two; see docs/results)."""

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_rank

    @property
    def rank_at_eval(self) -> bool:
        return self.eval_rank

    def restrict(
        self, obs: AgentObs, key_mask: chex.Array, ctx: DrawContext
    ) -> tuple[AgentObs, chex.Array]:
        if ctx.mode == "train" or self.eval_rank:
            rank = self.ranks(ctx)  # (..., N)
            ctx.report["rank"] = rank
            key_mask = key_mask & rank_visible(rank, obs.entity_agent)  # (..., N, E)
        if self.count_feature:
            peers = key_mask & (obs.entity_kind == EntityKind.PEER)  # (..., N, E)
            obs = append_self_features(obs, peers.sum(-1, keepdims=True))  # F + 1
        return obs, key_mask

    def ranks(self, ctx: DrawContext) -> chex.Array:
        """Every agent's broadcast draw ``(..., N)``: fixed by the caller where given (NaN
        entries of ``ctx.fixed.rank`` keep the agent's own draw), else from its key."""
        fixed = ctx.fixed.rank
        if fixed is not None and ctx.agent_keys is None:
            return fixed
        own = draws.uniform(draws.stream(ctx.keys(self.name, "rank draws"), draws.RANK))
        return own if fixed is None else jnp.where(jnp.isnan(fixed), own, fixed)
