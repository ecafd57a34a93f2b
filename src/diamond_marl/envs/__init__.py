"""Environments behind one API (see ``types``): registry, adapters, diagnostic games, wrappers."""

from diamond_marl.envs.base import Env
from diamond_marl.envs.registry import list_envs, make, parse_name
from diamond_marl.envs.types import NUM_ENTITY_KINDS, EntityKind, EnvSpec, TimeStep

__all__ = [
    "Env",
    "EnvSpec",
    "EntityKind",
    "NUM_ENTITY_KINDS",
    "TimeStep",
    "list_envs",
    "make",
    "parse_name",
]
