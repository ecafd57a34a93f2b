"""The Python API: train, load and evaluate runs with keyword arguments.

    import diamond_marl as dm
    run = dm.train(algo="mappo", env="smax:3m", breaker="rank", steps=200_000, seeds=3)
    run.summary                        # the final evaluation, as in summary.json
    run.eval(env="smax:5m_vs_6m")      # the same policy on another map (zero-shot)
    run.metrics                        # metrics.csv as a pandas DataFrame

Keywords are the CLI's ``key=value`` options. A section (``net``, ``ppo``, ``q``) may be a
dict or its dataclass (``dm.api.PPOConfig(epochs=4)``: every field of it is taken). The
breaker is a name, a name with options (``"noise,schedule=cosine"``), a breaker config
(``dm.api.make_breaker("noise", schedule="cosine")``), or a name with ``breaker_options``.
Everything goes through the same ``resolve`` and validation as the CLI: a bad value raises
``ConfigError`` naming it and what is allowed.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Any

from diamond_marl.algos.config import (
    NetConfig,
    PPOConfig,
    QConfig,
    TrainConfig,
    from_dict,
    resolve,
)
from diamond_marl.algos.store import RunStore
from diamond_marl.errors import ConfigError
from diamond_marl.networks.breakers import BreakerConfig, breaker_options, make_breaker

__all__ = [
    "NetConfig",
    "PPOConfig",
    "QConfig",
    "TrainConfig",
    "TrainedRun",
    "evaluate",
    "load",
    "make_breaker",
    "overrides_from",
    "train",
]

_SECTIONS = ("net", "ppo", "q")


@dataclasses.dataclass
class TrainedRun:
    """A run directory and what it holds: config, summary, metrics; ``eval`` re-evaluates."""

    path: Path

    @cached_property
    def config(self) -> TrainConfig:
        return from_dict(RunStore(self.path, {}).read_config())

    @property
    def finished(self) -> bool:
        return RunStore(self.path, {}).finished

    @property
    def summary(self) -> dict[str, Any]:
        """The final evaluation per seed and on average (``summary.json``)."""
        if not self.finished:
            raise ConfigError(f"{self.path} has not finished training (no summary.json)")
        return RunStore(self.path, {}).read_summary()

    @property
    def metrics(self) -> Any:
        """Every logged metric, long format (env, algo, breaker, seed, step, metric, value)."""
        import pandas as pd

        return pd.read_csv(self.path / "metrics.csv")

    def eval(self, env: str | None = None, episodes: int | None = None) -> dict[str, Any]:
        """Evaluate the policy again, on its own environment or ``env`` (another map or team
        size); greedy and sampled, as the final evaluation. Also written to
        ``eval/<env>.json``."""
        from diamond_marl.algos.saved_run import evaluate_run

        return evaluate_run(self.path, env, episodes)


def overrides_from(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword options -> the flat ``key=value`` overrides ``resolve`` takes."""
    out: dict[str, Any] = {}
    options = dict(options)
    breaker = options.pop("breaker", None)
    extra = options.pop("breaker_options", None) or {}
    if not isinstance(extra, dict):
        raise ConfigError(f"breaker_options={extra!r} must be a dict of breaker options")
    if isinstance(breaker, BreakerConfig):
        out["breaker"] = breaker.name
        extra = breaker_options(breaker) | extra
    elif breaker is not None:
        name, *items = [p.strip() for p in str(breaker).split(",")]
        out["breaker"] = name
        for item in filter(None, items):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"bad breaker option {item!r} in {breaker!r}; expected key=value")
            out[f"breaker.{key.strip()}"] = value.strip()
    out |= {f"breaker.{k}": v for k, v in extra.items()}
    for key, value in options.items():
        if key in _SECTIONS and dataclasses.is_dataclass(value):
            value = dataclasses.asdict(value)
        if key in _SECTIONS and isinstance(value, dict):
            out |= {f"{key}.{k}": v for k, v in value.items()}
        elif key in _SECTIONS:
            raise ConfigError(f"{key}={value!r} must be a dict or a {key} config dataclass")
        else:
            out[key] = value
    return out


def train(*, resume: str | Path | None = None, progress: bool = True, **options: Any) -> TrainedRun:
    """Train a run (all seeds at once) and return it; ``resume=RUN_DIR`` continues an
    interrupted one. ``out`` names the run directory (default ``runs/<algo>-<env>-<breaker>``);
    it must not hold another run."""
    from diamond_marl.algos.runner import default_out
    from diamond_marl.algos.runner import train as run_training

    if resume is not None:
        if options:
            raise ConfigError(f"resume continues a run with its saved config; drop {options}")
        run_training(resume=resume, progress=progress)
        return TrainedRun(Path(resume))
    cfg = resolve(overrides_from(options))
    run_training(cfg, progress=progress)
    return TrainedRun(Path(cfg.out or default_out(cfg)))


def load(path: str | Path) -> TrainedRun:
    """A run directory written by ``train`` (or the CLI, or a benchmark cell)."""
    path = Path(path)
    if not (path / "config.yaml").exists():
        raise ConfigError(f"{path} is not a run directory (no config.yaml)")
    return TrainedRun(path)


def evaluate(path: str | Path, env: str | None = None, episodes: int | None = None) -> dict:
    """``load(path).eval(env, episodes)``."""
    return load(path).eval(env, episodes)
