"""Base class of every environment: ``reset(key)`` and ``step(state, actions)``, pure and jittable.

Randomness an environment needs after ``reset`` lives in its state (as in Jumanji), so ``step``
takes no key. Subclasses set ``self.spec`` and implement ``reset`` and ``step``; wrappers
(``envs.wrappers``) add auto-reset, episode metrics and agent-ID inputs on top.
"""

from __future__ import annotations

import abc
from typing import Any

import chex

from diamond_marl.envs.types import EnvSpec, TimeStep


class Env(abc.ABC):
    """A cooperative multi-agent environment with agent-stacked arrays."""

    spec: EnvSpec

    @abc.abstractmethod
    def reset(self, key: chex.PRNGKey) -> tuple[Any, TimeStep]:
        """Start an episode: returns (state, first timestep with zero reward)."""

    @abc.abstractmethod
    def step(self, state: Any, actions: chex.Array) -> tuple[Any, TimeStep]:
        """Advance one joint step; ``actions`` is int32 (N,)."""

    @property
    def num_agents(self) -> int:
        return self.spec.num_agents

    @property
    def unwrapped(self) -> Env:
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name})"
