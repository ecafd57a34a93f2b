"""Networks: entity-attention agent networks with symmetry breakers, critics and mixers.

Start at ``network`` (``make_network``, ``AgentNetwork.apply``), ``breakers``
(``make_breaker``; one module per breaker: ``rank_mask`` holds the paper's form,
``logit_noise`` the write-up's) and ``acting`` (``Actor``, through which every algorithm
acts, and ``select_actions``); docs/breakers.md explains each breaker and when to use it.
"""

from diamond_marl.networks.acting import Actor, select_actions
from diamond_marl.networks.breakers import (
    BREAKERS,
    AgentIdConfig,
    BreakerConfig,
    DiceConfig,
    DropoutConfig,
    NoiseConfig,
    NoiseRankConfig,
    NoneConfig,
    RandomInputConfig,
    RankConfig,
    SampledConfig,
    breaker_key,
    make_breaker,
    parse_breaker,
)
from diamond_marl.networks.breakers.rank_mask import rank_visible
from diamond_marl.networks.critics import EntityCritic, StateCritic, make_critic
from diamond_marl.networks.draws import Draws
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import AgentObs, from_timestep
from diamond_marl.networks.mixers import MIXERS, VDN, QMix, make_mixer
from diamond_marl.networks.network import (
    AgentNetwork,
    NetOut,
    NetworkConfig,
    make_network,
    reset_carry,
)
from diamond_marl.networks.schedules import action_diversity, adapt_sigma, schedule_value

__all__ = [
    "BREAKERS",
    "Actor",
    "MIXERS",
    "AgentIdConfig",
    "AgentNetwork",
    "AgentObs",
    "BreakerConfig",
    "DiceConfig",
    "Draws",
    "DropoutConfig",
    "EntityCritic",
    "NetOut",
    "NetworkConfig",
    "NoiseConfig",
    "NoiseRankConfig",
    "NoneConfig",
    "QMix",
    "RandomInputConfig",
    "RankConfig",
    "SampledConfig",
    "StateCritic",
    "VDN",
    "action_diversity",
    "adapt_sigma",
    "breaker_key",
    "from_timestep",
    "make_breaker",
    "make_critic",
    "make_mixer",
    "make_network",
    "mask_logits",
    "parse_breaker",
    "rank_visible",
    "reset_carry",
    "schedule_value",
    "select_actions",
]
