"""``pz:`` names: a PettingZoo ParallelEnv factory written as an environment name.

``pz:<module>[:<callable>],key=value,...`` stands for ``module.callable(**kwargs)`` (callable
``parallel_env`` by default), e.g. ``pz:mpe2.simple_spread_v3,N=3,max_cycles=25,
continuous_actions=False`` or ``pz:diamond_marl.envs.host.toy:parallel_env,agents=3``. Values
read as int, float, bool (``true``/``false``), else as a string.

Seven keys are the host's own and are not passed to the callable:
- ``success=a.b``: ``extras["won"]`` is the mean over agents of ``infos[agent]["a"]["b"]`` on
  an episode's final step; ``success=terminated``: the share of agents that terminated during
  the episode (pogema, where an agent terminates on reaching its target: the share of agents
  that reached it, POGEMA's ISR; ``metrics.ISR`` itself is only in agent 0's final infos, which
  PettingZoo drops when agent 0 arrived early);
- ``success_metric=``: what that value measures, one of ``env_names.SUCCESS_METRICS``
  (default ``success_rate`` when ``success`` is given);
- ``steps=T``: episodes are cut (truncated) after T steps, and T is the spec's ``max_steps``
  (without it the env's own ``max_cycles``/``max_steps``/... attribute, if any);
- ``layout=auto|chw|hwc``: how a 3-D observation is laid out (auto: (H, W, C) when the last
  axis is shorter than both others, else (C, H, W));
- ``team_reward=true``: every agent gets the team's reward, so an episode's return sums the
  mean over agents per step; default false: rewards are the agents' own, and the return sums
  them over agents (the JAX environments' convention);
- ``cells=K``: a grid view becomes its centre (SELF) and the K non-empty cells nearest it
  (masked where fewer), not one token per cell: E = K + 1 instead of H x W;
- ``python=PATH``: the workers run under this interpreter (e.g. a venv holding the env's own
  dependencies, which may clash with the library's pins); default: this process's.

Parsing only: the module is imported by the worker processes (``worker.build_env``), which
may run another Python where it is installed; an unknown module or callable is reported
there, as a one-line ``ConfigError`` from the pool.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diamond_marl import env_names
from diamond_marl.envs.registry import int_param
from diamond_marl.errors import ConfigError, allowed

FAMILY = "pz"
DEFAULT_CALLABLE = "parallel_env"
HOST_KEYS = ("success", "success_metric", "steps", "layout", "python", "team_reward", "cells")
LAYOUTS = ("auto", "chw", "hwc")
EXAMPLE = "e.g. 'pz:mpe2.simple_spread_v3,N=3' or 'pz:diamond_marl.envs.host.toy:parallel_env'"


@dataclasses.dataclass(frozen=True)
class FactorySpec:
    """What a worker needs to build one env: picklable, hashable, plain values only."""

    module: str
    callable: str = DEFAULT_CALLABLE
    kwargs: tuple[tuple[str, Any], ...] = ()  # (key, int | float | bool | str) pairs, in order
    success: str | None = None  # key path into the final step's infos, e.g. "metrics.ISR"
    success_metric: str | None = None  # one of env_names.SUCCESS_METRICS when success is set
    steps: int | None = None  # episode limit the adapter enforces
    layout: str = "auto"  # 3-D observations: "auto", "chw" or "hwc"
    python: str | None = None  # the workers' interpreter (None: the main process's)
    team_reward: bool = False  # the return sums the mean over agents (else the sum)
    cells: int | None = None  # grid views: tokens for the K non-empty cells nearest the centre

    def to_wire(self) -> dict[str, Any]:
        """The spec as plain values for a worker under any Python."""
        return {
            "module": self.module,
            "callable": self.callable,
            "kwargs": [[k, v] for k, v in self.kwargs],
            "success": self.success,
            "steps": self.steps,
            "layout": self.layout,
            "team_reward": self.team_reward,
        }

    @property
    def name(self) -> str:
        """The canonical ``pz:`` name of this spec."""
        items = [f"{self.module}:{self.callable}"]
        items += [f"{k}={_show(v)}" for k, v in self.kwargs]
        host = {"success": self.success, "success_metric": self.success_metric}
        host |= {"steps": self.steps, "layout": None if self.layout == "auto" else self.layout}
        host["python"] = self.python
        host["team_reward"] = "true" if self.team_reward else None
        host["cells"] = self.cells
        items += [f"{k}={v}" for k, v in host.items() if v is not None]
        return f"{FAMILY}:" + ",".join(items)


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_value(text: str) -> int | float | bool | str:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"`` -> True, anything else stays a string."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def is_pz_name(name: object) -> bool:
    return isinstance(name, str) and name.strip().startswith(FAMILY + ":")


def parse_pz_name(name: str) -> FactorySpec:
    """The ``FactorySpec`` a ``pz:`` name stands for; one-line ``ConfigError`` if malformed."""
    family, variant, params = env_names.parse_name(name, [FAMILY])
    if family != FAMILY:
        raise allowed(family, "host environment family", [FAMILY])
    if not variant:
        raise ConfigError(f"{name!r} names no module; allowed: 'pz:<module>[:<callable>],...'")
    module, _, fn = variant.partition(":")
    fn = fn or DEFAULT_CALLABLE
    if not all(part.isidentifier() for part in module.split(".")) or not fn.isidentifier():
        raise ConfigError(
            f"{name!r}: {variant!r} is not a module path with an optional ':callable'; {EXAMPLE}"
        )
    success = params.get("success")
    metric = params.get("success_metric")
    if metric is not None and success is None:
        raise ConfigError(f"{name!r}: success_metric={metric} needs success=<info key path>")
    if success is not None:
        metric = metric or "success_rate"
        if metric not in env_names.SUCCESS_METRICS:
            raise allowed(metric, "success_metric", env_names.SUCCESS_METRICS)
        if not all(part.strip() for part in success.split(".")):
            raise ConfigError(f"{name!r}: success={success!r}; allowed: a key path like a.b")
    layout = params.get("layout", "auto")
    if layout not in LAYOUTS:
        raise allowed(layout, "layout", LAYOUTS)
    steps = int_param(params, "steps", 0, 1, name) or None  # 0: not given
    kwargs = tuple((k, parse_value(v)) for k, v in params.items() if k not in HOST_KEYS)
    team = params.get("team_reward", "false").lower()
    if team not in ("true", "false"):
        raise allowed(team, "team_reward", ("true", "false"))
    python = params.get("python")
    cells = int_param(params, "cells", 0, 1, name) if "cells" in params else None
    return FactorySpec(
        module, fn, kwargs, success, metric, steps, layout, python, team == "true", cells
    )
