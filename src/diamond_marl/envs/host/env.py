"""``pz:`` names in the registry: ``make("pz:...")`` gives a ``HostEnv``, whose ``spec`` is the
one every other environment has, built from what one worker reports about the env.

A ``HostEnv`` does not step inside JAX: its ``reset`` and ``step`` raise. Its ``pool(...)``
starts the worker processes that step its copies on the host; ``diamond-marl train`` runs
``pz:`` names through the host loop (``algos.host_loop``), which also evaluates. Building
one costs a worker's start and one env (about a second); the facts are cached per name.
"""

from __future__ import annotations

import functools
from typing import Any

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.host.names import FAMILY, FactorySpec, parse_pz_name
from diamond_marl.envs.host.pool import HostInfo, HostPool
from diamond_marl.envs.host.tokenise import host_spec
from diamond_marl.errors import ConfigError


@functools.cache
def host_info(factory: FactorySpec) -> HostInfo:
    """What one worker reports about the env (agents, actions, views, state, limit)."""
    with HostPool(factory, num_envs=1, workers=1) as pool:
        return pool.info()


class HostEnv(Env):
    """A PettingZoo ParallelEnv by name: a spec and a way to start its worker pool."""

    def __init__(self, factory: FactorySpec) -> None:
        self.factory = factory
        self.info = host_info(factory)
        self.spec = host_spec(self.info, factory.name, team_reward=factory.team_reward)

    def pool(self, num_envs: int, workers: int, seed: int) -> HostPool:
        """``num_envs`` copies in ``workers`` processes (at most ``num_envs``), seeded."""
        workers = max(1, min(workers, num_envs))
        while num_envs % workers:  # every worker holds the same number of copies
            workers -= 1
        return HostPool(self.factory, num_envs, workers, seed)

    def _refuse(self, *_: Any) -> Any:
        raise ConfigError(
            f"{self.spec.name} steps on the host, in worker processes, not inside JAX; "
            "allowed: diamond-marl train (the host loop, which also evaluates) or "
            "HostEnv.pool(...)"
        )

    reset = step = _refuse


def _build(variant: str | None, params: dict[str, str]) -> HostEnv:
    name = f"{FAMILY}:{variant or ''}" + "".join(f",{k}={v}" for k, v in params.items())
    return HostEnv(parse_pz_name(name))


registry.register(
    FAMILY,
    _build,
    listed=(),
    summary=(
        "any PettingZoo ParallelEnv, stepped on the host: 'pz:<module>[:<callable>],key=value' "
        "calls module.callable(**kwargs); host keys steps=, success=, success_metric=, "
        "team_reward=, layout=, cells=, python= (docs/host-envs.md)"
    ),
)
