"""Critics: value functions that never see the breakers' draws.

They take no key. ``EntityCritic`` (IPPO-style, per agent from its own entity view) is the
agent network with breaker ``none`` and a value head; with ``team`` it also reads the team's
mean embedding (centralised, at any team size: the fleet critic). ``StateCritic``
(MAPPO-style, centralised) reads the global state, whose size grows with the team. Mixers
(``networks.mixers``) are the critics of value decomposition and take no key either.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import flax.linen as nn

from diamond_marl.errors import allowed
from diamond_marl.networks.breakers import NoneConfig
from diamond_marl.networks.dense import Dense
from diamond_marl.networks.inputs import AgentObs
from diamond_marl.networks.network import AgentNetwork, NetOut, NetworkConfig

CRITICS = ("entity", "state", "team")


@dataclasses.dataclass(frozen=True)
class EntityCritic:
    """Per-agent value from the agent's own entity tokens: ``apply(params, obs, carry)``."""

    config: NetworkConfig = NetworkConfig(outputs=("value",))

    @property
    def network(self) -> AgentNetwork:
        cfg = dataclasses.replace(self.config, outputs=("value",))
        return AgentNetwork(cfg, NoneConfig(), ())

    def init(self, key: chex.PRNGKey, obs: AgentObs) -> dict[str, Any]:
        return self.network.init(key, obs)

    def apply(
        self, params: dict[str, Any], obs: AgentObs, carry: chex.Array | None = None
    ) -> NetOut:
        """``out.value (..., N)``; deterministic, no key."""
        return self.network.apply(params, obs, None, 0, "eval", carry)


class StateCritic(nn.Module):
    """Centralised value ``(..., S) -> (...)`` from the global state."""

    hidden: int = 64
    """Hidden width of the two-layer MLP."""
    layernorm: bool = False
    """LayerNorm on the input and before each ReLU: a state whose features differ in scale
    (SMAX: positions up to 32 beside fractions in [0, 1]) enters at unit scale, without a
    running statistic."""

    @nn.compact
    def __call__(self, state: chex.Array) -> chex.Array:
        norm = nn.LayerNorm if self.layernorm else (lambda name: lambda x: x)
        h = norm(name="ln_in")(state)  # (..., S)
        h = nn.relu(norm(name="ln0")(Dense(self.hidden, name="dense0")(h)))  # (..., hidden)
        h = nn.relu(norm(name="ln1")(Dense(self.hidden, name="dense1")(h)))  # (..., hidden)
        return Dense(1, name="out")(h)[..., 0]  # (...)


def make_critic(
    kind: str, config: NetworkConfig | None = None, layernorm: bool = False
) -> EntityCritic | StateCritic:
    """``"entity"`` (agent network, no breaker), ``"team"`` (the same, its value head also
    reading the team's mean embedding) or ``"state"`` (MLP on the global state; ``layernorm``:
    see ``StateCritic``; the entity critics' torso has its own LayerNorms)."""
    if kind in ("entity", "team"):
        config = config or NetworkConfig(outputs=("value",))
        return EntityCritic(dataclasses.replace(config, team_value=kind == "team"))
    if kind == "state":
        return StateCritic((config or NetworkConfig()).value_hidden, layernorm)
    raise allowed(kind, "critic", CRITICS)
