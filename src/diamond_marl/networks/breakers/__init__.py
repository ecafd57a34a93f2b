"""Symmetry breakers: one switch, the same for every algorithm and environment.

``make_breaker(name, **overrides)`` (or ``parse_breaker("noise,schedule=cosine")`` for the
CLI) returns a frozen config; the network, the acting rule and the run call its hooks
(``base.BreakerConfig``). Each breaker lives in a module named for what it holds:

============ ================= ===================================== ===========================
breaker      module            what changes                          at evaluation (``eval``)
============ ================= ===================================== ===========================
none         ``baselines``     nothing (the symmetry trap)           deterministic, no key
agent_id     ``baselines``     one-hot agent index on the self token deterministic, no key
random_input ``baselines``     private U[0,1) scalar on the self     drawn (``eval_random``)
                               token
sampled      ``baselines``     network as ``none``; actions sampled  sampled (``eval_sample``)
noise        ``logit_noise``   Gaussian noise on attention logits    off unless ``eval_noise``
rank         ``rank_mask``     broadcast U[0,1) draws mask peers     drawn (``eval_rank``)
noise+rank   ``noise_rank``    both of the above                     as each of them
dice         ``dice_token``    a random DICE token per agent         drawn (``eval_dice``)
dropout      ``peer_dropout``  each agent hides each peer with       drawn (``eval_dropout``)
                               probability p, privately
============ ================= ===================================== ===========================

The names and modules are listed once, in ``diamond_marl.breaker_names.REGISTRY``.
Randomness always comes from the ``key`` given to ``apply``: the same key gives the same
output. Agent i's draws come from ``fold_in(key, i)`` (shared draws from ``key`` itself). To
re-roll once per episode instead of every step, pass a key stored per episode; the
``resample`` field records which one a config wants and ``breaker_key`` picks it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import typing
from typing import Any

import chex

from diamond_marl.breaker_names import BREAKERS, REGISTRY
from diamond_marl.errors import ConfigError, allowed
from diamond_marl.networks.breakers.base import BreakerConfig, DrawContext, KeyedConfig
from diamond_marl.networks.breakers.baselines import (
    AgentIdConfig,
    NoneConfig,
    RandomInputConfig,
    SampledConfig,
)
from diamond_marl.networks.breakers.dice_token import DiceConfig
from diamond_marl.networks.breakers.logit_noise import NoiseConfig
from diamond_marl.networks.breakers.noise_rank import NoiseRankConfig
from diamond_marl.networks.breakers.peer_dropout import DropoutConfig
from diamond_marl.networks.breakers.rank_mask import RankConfig, rank_visible
from diamond_marl.options import coerce

__all__ = [
    "BREAKERS",
    "AgentIdConfig",
    "BreakerConfig",
    "DiceConfig",
    "DrawContext",
    "DropoutConfig",
    "KeyedConfig",
    "NoiseConfig",
    "NoiseRankConfig",
    "NoneConfig",
    "RandomInputConfig",
    "RankConfig",
    "SampledConfig",
    "as_breaker",
    "breaker_key",
    "breaker_options",
    "config_class",
    "make_breaker",
    "parse_breaker",
    "rank_visible",
]


@functools.cache
def config_class(name: str) -> type[BreakerConfig]:
    """The config class registered as ``name`` (imported from its module)."""
    if name not in REGISTRY:
        raise allowed(name, "breaker", BREAKERS)
    entry = REGISTRY[name]
    module = importlib.import_module(f"{__name__}.{entry.module}")
    cls = getattr(module, entry.config)
    if cls.name != name:
        raise RuntimeError(f"breaker registry: {entry} is named {cls.name!r}, not {name!r}")
    return cls


def make_breaker(name: str, **overrides: Any) -> BreakerConfig:
    """The config for breaker ``name`` with field ``overrides`` (typed by ``options.coerce``,
    the coercer of every other option too)."""
    cls = config_class(name)
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in overrides:
        if key not in fields:
            raise ConfigError(
                f"breaker {name!r} has no option {key!r}; allowed: {', '.join(fields) or 'none'}"
            )
    return cls(**{k: coerce(v, hints[k], f"breaker.{k}") for k, v in overrides.items()})


def breaker_options(breaker: BreakerConfig) -> dict[str, Any]:
    """Every option of ``breaker``, resolved: ``make_breaker(breaker.name, **options)`` builds
    it again."""
    return {f.name: getattr(breaker, f.name) for f in dataclasses.fields(breaker)}


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
