"""The dice token: an extra random token per agent, so randomness reaches the value vectors.

Logit noise only re-weights the value vectors of an agent's tokens, so it cannot separate
agents whose tokens are all identical; a token of random features can.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp

import diamond_marl.networks.draws as draws
from diamond_marl.envs.types import EntityKind
from diamond_marl.networks.breakers.base import DrawContext, KeyedConfig
from diamond_marl.networks.inputs import AgentObs, append_token


@dataclasses.dataclass(frozen=True)
class DiceConfig(KeyedConfig):
    """A random token of kind DICE per agent: randomness that reaches the value vectors."""

    name: ClassVar[str] = "dice"
    shared: bool = False
    """One token broadcast to all agents of an env (False: private, from ``fold_in(key, i)``)."""
    scale: float = 1.0
    """Standard deviation of the token's N(0, scale^2) features."""
    eval_dice: bool = True
    """Draw the token at evaluation too; False feeds a zero token (no key needed)."""

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_dice

    def add_inputs(self, obs: AgentObs, ctx: DrawContext) -> AgentObs:
        n, f = obs.num_agents, obs.entities.shape[-1]
        if not self.needs_key(ctx.mode):
            token = jnp.zeros(obs.batch_shape + (n, f))  # (..., N, F)
        elif self.shared:
            ctx.keys(self.name, "input draws")
            shared = draws.normal(draws.stream(ctx.env_keys, draws.DICE), (f,))  # (..., F)
            token = jnp.broadcast_to(shared[..., None, :], obs.batch_shape + (n, f))
        else:
            keys = ctx.keys(self.name, "input draws")
            token = draws.normal(draws.stream(keys, draws.DICE), (f,))  # (..., N, F)
        if self.needs_key(ctx.mode):
            ctx.report["dice_norm"] = self.scale * jnp.linalg.norm(token, axis=-1)
        return append_token(obs, self.scale * token, EntityKind.DICE)
