"""Symmetry breakers: one switch, the same for every algorithm and environment.

``make_breaker(name, **overrides)`` (or ``parse_breaker("noise,schedule=cosine")`` for the
CLI) returns a frozen config; ``make_network`` reads it. What each does, and at evaluation:

============ ======================================= =========================================
breaker      what changes                            at evaluation (``mode="eval"``)
============ ======================================= =========================================
none         nothing (the symmetry trap)             deterministic, no key needed
agent_id     one-hot agent index on the self token   deterministic, no key needed
random_input private U[0,1) scalar on the self token drawn from the key (``eval_random``)
sampled      network as ``none``; actions sampled    ``select_actions`` samples (``eval_sample``)
noise        Gaussian noise on attention logits      off unless ``eval_noise``
rank         broadcast U[0,1) draws mask peers       drawn from the key (``eval_rank``)
noise+rank   both of the above                       as each of them
dice         a random DICE token per agent           drawn from the key (``eval_dice``)
============ ======================================= =========================================

Randomness always comes from the ``key`` given to ``apply``: the same key gives the same
output. Agent i's draws come from ``fold_in(key, i)`` (shared draws from ``key`` itself). To
re-roll once per episode instead of every step, pass a key stored per episode; the
``resample`` field records which one a config wants and ``breaker_key`` picks it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import chex

from diamond_marl.breaker_names import BREAKERS
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.schedules import SCHEDULES

RESAMPLE = ("step", "episode")


def _choice(value: str, what: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise allowed(value, what, choices)


@dataclasses.dataclass(frozen=True)
class BreakerConfig:
    """Base of every breaker config; ``name`` is the registry name."""

    name: ClassVar[str] = "none"
    random: ClassVar[bool] = False  # True when the network itself consumes random draws

    def needs_key(self, mode: str) -> bool:
        """Whether ``apply`` in ``mode`` reads the key (False: the key may be None)."""
        return False


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


@dataclasses.dataclass(frozen=True)
class _Keyed(BreakerConfig):
    """Breakers whose network reads random draws from the key."""

    random: ClassVar[bool] = True
    resample: str = "step"
    """Which key the algorithm passes: a fresh one every 'step' or one per 'episode'."""

    def __post_init__(self) -> None:
        _choice(self.resample, f"{self.name} resample", RESAMPLE)


@dataclasses.dataclass(frozen=True)
class RandomInputConfig(_Keyed):
    """A private random scalar U[0,1) appended to the self token."""

    name: ClassVar[str] = "random_input"
    eval_random: bool = True
    """Draw the scalar at evaluation too; False feeds the constant 0.5 (no key needed)."""

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_random


@dataclasses.dataclass(frozen=True)
class SampledConfig(BreakerConfig):
    """Stochastic execution: the network is ``none``; ``select_actions`` samples at eval."""

    name: ClassVar[str] = "sampled"
    eval_sample: bool = True
    """Sample actions at evaluation (False: arg-max, i.e. the ``none`` baseline)."""
    temperature: float = 1.0
    """Softmax temperature for sampling policy logits at evaluation (Q-learning samples
    epsilon-greedy at ``q.eps_finish`` instead, as its sampled execution does)."""

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"sampled: temperature={self.temperature}; allowed: > 0")


@dataclasses.dataclass(frozen=True)
class RankConfig(_Keyed):
    """Rank form: peers with a lower broadcast draw are masked from agent-to-agent attention."""

    name: ClassVar[str] = "rank"
    eval_rank: bool = True
    """Draw and mask at evaluation too; False lets every agent see every peer (no key)."""
    count_feature: bool = False
    """Append the number of visible peers to the self token (softmax attention over
    identical peer tokens barely tells one visible peer from two; see docs/results)."""

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_rank


@dataclasses.dataclass(frozen=True)
class NoiseConfig(_Keyed):
    """Noise form: ``logits + exp(log_sigma) * scale(step) * eps_i`` in every attention layer."""

    name: ClassVar[str] = "noise"
    init_sigma: float = 1.0
    """Initial ``exp(log_sigma)`` (per head, per layer)."""
    learn_sigma: bool = True
    """Let the loss's gradient train ``log_sigma`` (False: it stays at ``init_sigma``)."""
    per_head: bool = True
    """One ``log_sigma`` per head (False: one per layer)."""
    per_layer_dice: bool = False
    """Fresh ``eps_i`` for every layer (False: one draw per forward reused by all layers)."""
    schedule: str = "linear"
    """Scale schedule: constant, linear, exponential, cosine or adaptive."""
    start: float = 1.0
    """Scale at step 0 (and the initial scale in adaptive mode)."""
    end: float = 0.1
    """Scale at and after ``horizon``."""
    horizon: int = 1_000_000
    """Steps (as counted by the algorithm's ``step``) to go from ``start`` to ``end``."""
    target_diversity: float = 0.3
    """Adaptive mode: wanted mean pairwise TV distance between agents' policies."""
    adapt_rate: float = 0.5
    """Adaptive mode: log-scale change per unit of diversity error per update."""
    eval_noise: bool = False
    """Keep the noise at evaluation (False: deterministic evaluation, no key needed)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _choice(self.schedule, "noise schedule", SCHEDULES)
        if not self.init_sigma > 0 or not math.isfinite(self.init_sigma):
            raise ConfigError(f"{self.name}: init_sigma={self.init_sigma}; allowed: > 0")
        if self.start < 0 or self.end < 0:
            raise ConfigError(f"{self.name}: start/end must be >= 0, got {self.start}/{self.end}")
        if self.schedule == "exponential" and (self.start <= 0 or self.end <= 0):
            raise ConfigError(f"{self.name}: exponential schedule needs start > 0 and end > 0")
        if self.horizon < 1:
            raise ConfigError(f"{self.name}: horizon={self.horizon}; allowed: >= 1")

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_noise


@dataclasses.dataclass(frozen=True)
class NoiseRankConfig(NoiseConfig, RankConfig):
    """Both forms at once: noisy logits and the rank mask (fields of both)."""

    name: ClassVar[str] = "noise+rank"

    def needs_key(self, mode: str) -> bool:
        return mode == "train" or self.eval_noise or self.eval_rank


@dataclasses.dataclass(frozen=True)
class DiceConfig(_Keyed):
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


_CONFIGS: dict[str, type[BreakerConfig]] = {
    c.name: c
    for c in (
        NoneConfig,
        AgentIdConfig,
        RandomInputConfig,
        SampledConfig,
        NoiseConfig,
        RankConfig,
        NoiseRankConfig,
        DiceConfig,
    )
}


def _convert(value: Any, type_name: str, where: str) -> Any:
    if not isinstance(value, str) or type_name == "str":
        return value
    try:
        if type_name == "bool":
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
    except ValueError:
        raise ConfigError(f"{where}={value!r} is not a valid {type_name}")
    return value


def make_breaker(name: str, **overrides: Any) -> BreakerConfig:
    """The config for breaker ``name`` with field ``overrides`` (strings are converted)."""
    if name not in _CONFIGS:
        raise allowed(name, "breaker", BREAKERS)
    cls = _CONFIGS[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in overrides:
        if key not in fields:
            raise ConfigError(
                f"breaker {name!r} has no option {key!r}; allowed: {', '.join(fields) or 'none'}"
            )
    kwargs = {k: _convert(v, str(fields[k].type), f"{name}.{k}") for k, v in overrides.items()}
    return cls(**kwargs)


def parse_breaker(text: str) -> BreakerConfig:
    """Parse ``"name[,key=value...]"``, e.g. ``"noise,schedule=cosine,eval_noise=true"``."""
    name, *items = [p.strip() for p in text.split(",")]
    overrides: dict[str, str] = {}
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad breaker option {item!r} in {text!r}; expected key=value")
        overrides[key.strip()] = value.strip()
    return make_breaker(name, **overrides)


def as_breaker(breaker: str | BreakerConfig) -> BreakerConfig:
    """Accept a config or its string form."""
    return parse_breaker(breaker) if isinstance(breaker, str) else breaker


def breaker_key(
    breaker: BreakerConfig, episode_key: chex.PRNGKey, step_key: chex.PRNGKey
) -> chex.PRNGKey:
    """The key to pass to ``apply``: the episode's key if the config re-rolls per episode."""
    return episode_key if getattr(breaker, "resample", "step") == "episode" else step_key
