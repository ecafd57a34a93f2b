"""The trap itself and the usual fixes: no breaker, agent IDs, a random input, and
stochastic execution."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

import diamond_marl.networks.draws as draws
from diamond_marl.errors import ConfigError
from diamond_marl.networks.breakers.base import (
    BreakerConfig,
    DrawContext,
    KeyedConfig,
    positive,
)
from diamond_marl.networks.inputs import AgentObs, append_self_features


@dataclasses.dataclass(frozen=True)
class NoneConfig(BreakerConfig):
    """No breaker: shared weights and identical inputs give identical outputs."""

    name: ClassVar[str] = "none"


@dataclasses.dataclass(frozen=True)
class AgentIdConfig(BreakerConfig):
    """One-hot agent index appended to the self token (and to ``obs``)."""

    name: ClassVar[str] = "agent_id"
    max_agents: int = 8
    """Length of the one-hot: the largest team the network can run with."""

    def __post_init__(self) -> None:
        if self.max_agents < 1:
            raise ConfigError(f"agent_id: max_agents={self.max_agents}; allowed: >= 1")

    @classmethod
    def run_options(cls, options: dict[str, Any], env_steps: int, num_agents: int) -> dict:
        return {"max_agents": num_agents} | options  # the run's team size, unless given

    def check_team(self, num_agents: int, env: str) -> None:
        if num_agents > self.max_agents:
            raise ConfigError(
                f"agent_id breaker was built for at most max_agents={self.max_agents} agents, "
                f"got {num_agents} ({env}); allowed: N <= {self.max_agents} (agent IDs fix "
                "the team size)"
            )

    def add_inputs(self, obs: AgentObs, ctx: DrawContext) -> AgentObs:
        n = obs.num_agents
        self.check_team(n, "these inputs")
        onehot = jax.nn.one_hot(jnp.arange(n), self.max_agents)  # (N, M)
        return append_self_features(obs, jnp.broadcast_to(onehot, obs.batch_shape + onehot.shape))


@dataclasses.dataclass(frozen=True)
class RandomInputConfig(KeyedConfig):
    """A private random scalar U[0,1) appended to the self token."""

    name: ClassVar[str] = "random_input"
    eval_random: bool = True
    """Draw the scalar at evaluation too; False feeds the constant 0.5 (no key needed)."""

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_random

    def add_inputs(self, obs: AgentObs, ctx: DrawContext) -> AgentObs:
        if not self.needs_key(ctx.mode):
            r = jnp.full(obs.batch_shape + (obs.num_agents, 1), 0.5)  # (..., N, 1)
        else:
            keys = ctx.keys(self.name, "input draws")
            r = draws.uniform(draws.stream(keys, draws.RANDOM_INPUT), (1,))  # (..., N, 1)
            ctx.report["random_input"] = r[..., 0]
        return append_self_features(obs, r)


@dataclasses.dataclass(frozen=True)
class SampledConfig(BreakerConfig):
    """Stochastic execution: the network is ``none``; actions are sampled at evaluation."""

    name: ClassVar[str] = "sampled"
    eval_sample: bool = True
    """Sample actions at evaluation (False: arg-max, i.e. the ``none`` baseline)."""
    temperature: float = 1.0
    """Softmax temperature for sampling policy logits at evaluation (Q-learning samples
    epsilon-greedy at ``q.eps_finish`` instead, as its sampled execution does)."""

    def __post_init__(self) -> None:
        positive(self.name, "temperature", self.temperature)

    @property
    def execution(self) -> str:
        return "sampled" if self.eval_sample else "greedy"
