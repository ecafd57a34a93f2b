"""The runs a report reads, and their aggregation over seeds (JAX-free).

A run directory is a benchmark cell (``cell.json``) or a plain ``diamond-marl train`` run
(``summary.json``); ``discover`` finds them under a directory, ``read_run`` reads one and
``group_runs`` gathers the seeds of each env x algo x breaker.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from diamond_marl.analysis import summary as analysis_summary
from diamond_marl.bench.contrasts_spec import EXECUTIONS
from diamond_marl.bench.stats import Estimate, bootstrap_ci
from diamond_marl.breaker_names import breaker_order
from diamond_marl.env_names import SUCCESS_METRICS
from diamond_marl.errors import ConfigError

RATE_METRICS = SUCCESS_METRICS
_SEED_KEYS = {"seed", "return", "episode_length", *EXECUTIONS}
_RUN_MARKERS = ("config.yaml", "summary.json", "cell.json", "metrics.csv", "checkpoints")


# -- reading runs ---------------------------------------------------------------------------
@dataclasses.dataclass
class Run:
    """One run directory: finished (final evaluation per seed) or not.

    (Not ``bench.suite.Cell``, the suite's plan for a run: this is what a run left on disk.)
    """

    path: Path
    env: str
    algo: str
    breaker: str
    finished: bool
    note: str = ""
    metric: str = "return"
    finals: dict[int, dict] = dataclasses.field(default_factory=dict)  # seed -> summary row
    execution: str = "greedy"  # the execution of the headline numbers (summary.json)
    env_steps: int | None = None
    wall_s: float | None = None
    env_sps: float | None = None
    transfer: list[dict] = dataclasses.field(default_factory=list)
    analysis: dict | None = None  # analysis.summary.compact(...) or {"error": ...}
    analysis_source: str = ""  # "cell.json" or "analysis/" (diamond-marl analyze by hand)
    _metrics: pd.DataFrame | None = dataclasses.field(default=None, repr=False, compare=False)

    def metrics(self) -> pd.DataFrame:
        """metrics.csv (long format), empty if absent or unreadable."""
        if self._metrics is None:
            path = self.path / "metrics.csv"
            try:
                self._metrics = pd.read_csv(path) if path.exists() else None
            except (OSError, ValueError, pd.errors.ParserError):
                self._metrics = None
            if self._metrics is None or "metric" not in self._metrics:
                self._metrics = pd.DataFrame(columns=["seed", "step", "metric", "value"])
        return self._metrics


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def headline_metric(rows: list[dict]) -> str:
    """The success metric beside ``return`` in per-seed rows (win_rate, success_rate, ...)."""
    keys = set(rows[0]) - _SEED_KEYS if rows else set()
    for name in RATE_METRICS:
        if name in keys:
            return name
    return sorted(keys)[0] if keys else "return"


def _is_run_dir(path: Path) -> bool:
    return any((path / m).exists() for m in _RUN_MARKERS)


def _progress_note(path: Path, config: dict, cell_json: dict | None) -> str:
    if cell_json and cell_json.get("error"):
        return f"failed: {cell_json['error']}"
    steps = None
    if (path / "metrics.csv").exists():
        try:
            steps = int(pd.read_csv(path / "metrics.csv", usecols=["step"])["step"].max())
        except (OSError, ValueError, KeyError, pd.errors.ParserError):
            steps = None
    total = config.get("steps")
    if steps is None:
        return "no summary.json and no metrics yet"
    return f"no summary.json; reached env step {steps:,}" + (f" of {total:,}" if total else "")


def _transfer_from_eval_dir(path: Path) -> list[dict]:
    out = []
    for f in sorted((path / "eval").glob("*.json")):
        entry = _read_json(f)
        out.append(entry if isinstance(entry, dict) else {"env": f.stem, "error": "unreadable"})
    return out


def read_run(path: Path) -> Run:
    """Read one run directory; never raises for a half-written or foreign one."""
    cell_json = _read_json(path / "cell.json") if (path / "cell.json").exists() else None
    cell_json = cell_json if isinstance(cell_json, dict) else None
    summary = (cell_json or {}).get("summary")
    if not isinstance(summary, dict) and (path / "summary.json").exists():
        summary = _read_json(path / "summary.json")
    try:
        config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        config = {}
    config = config if isinstance(config, dict) else {}
    labels = {}
    for key in ("env", "algo", "breaker"):
        sources = (summary or {}, cell_json or {}, config)
        labels[key] = next((str(s[key]) for s in sources if s.get(key)), "?")
    rows = summary.get("seeds") if isinstance(summary, dict) else None
    if not isinstance(rows, list) or not rows:
        note = _progress_note(path, config, cell_json)
        if (path / "summary.json").exists():
            note = "summary.json is unreadable or has no per-seed results"
        return Run(path, **labels, finished=False, note=note)
    metric = headline_metric(rows)
    finals = {int(r["seed"]): r for r in rows if metric in r and "seed" in r}
    env_steps = summary.get("env_steps")
    wall_s = summary.get("wall_s")
    env_sps = (cell_json or {}).get("env_sps")
    if env_sps is None and env_steps and wall_s:
        env_sps = env_steps * len(finals) / wall_s  # all seeds' env steps per second
    transfer = (cell_json or {}).get("transfer")
    if not isinstance(transfer, list):
        transfer = _transfer_from_eval_dir(path)
    analysis, source = (cell_json or {}).get("analysis"), "cell.json"
    if not isinstance(analysis, dict):
        analysis, source = analysis_summary.read_folder(path), f"{analysis_summary.ANALYSIS_DIR}/"
    # runs from before both executions were recorded: the sampled breaker sampled, others not
    execution = summary.get("execution") or (
        "sampled" if labels["breaker"] == "sampled" else "greedy"
    )
    return Run(
        path, **labels, finished=True, metric=metric, finals=finals, execution=str(execution),
        env_steps=env_steps, wall_s=wall_s, env_sps=env_sps, transfer=transfer,
        analysis=analysis, analysis_source=source if analysis else "",
    )  # fmt: skip


def discover(runs_dir: Path, out_dir: Path) -> list[Run]:
    """Every run directory in RUNS_DIR (or RUNS_DIR itself if it is one)."""
    if not runs_dir.is_dir():
        raise ConfigError(f"runs directory {runs_dir} does not exist (or is not a directory)")
    if _is_run_dir(runs_dir):
        dirs = [runs_dir]
    else:
        skip = out_dir.resolve()
        dirs = sorted(
            d
            for d in runs_dir.iterdir()
            if d.is_dir() and not d.name.startswith(".") and d.resolve() != skip
            if _is_run_dir(d)
        )
    if not dirs:
        raise ConfigError(
            f"{runs_dir} holds no run directories (subdirectories with summary.json, "
            "config.yaml or cell.json); make some with `diamond-marl train` or a benchmark sweep"
        )
    return [read_run(d) for d in dirs]


# -- aggregation ----------------------------------------------------------------------------
@dataclasses.dataclass
class Group:
    """All finished seeds of one env x algo x breaker, pooled over runs."""

    env: str
    algo: str
    breaker: str
    metric: str
    runs: list[Run]
    values: dict[int, float]  # seed -> final headline metric
    returns: dict[int, float] = dataclasses.field(default_factory=dict)  # seed -> final return

    @property
    def scores(self) -> np.ndarray:
        return in_seed_order(self.values)

    @property
    def has_returns(self) -> bool:
        """The headline is not the return, and every seed has a final return beside it."""
        return self.metric != "return" and set(self.returns) == set(self.values)

    @property
    def return_scores(self) -> np.ndarray:
        return in_seed_order(self.returns)

    @property
    def is_rate(self) -> bool:
        return self.metric in RATE_METRICS

    def estimate(self) -> Estimate:
        return bootstrap_ci(self.scores)

    def return_estimate(self) -> Estimate | None:
        """IQM [CI] of the final return, when the headline is another metric and every seed has one.

        A win or success rate stuck at 0 for every breaker (a hard map at a small budget) says
        nothing; the return (SMAX: damage dealt plus the win bonus) still ranks the breakers.
        """
        if not self.has_returns:
            return None
        return bootstrap_ci(self.return_scores)

    @property
    def execution(self) -> str:
        """The execution of the headline numbers (the first run's; a group is one breaker)."""
        return self.runs[0].execution

    def readout(self, execution: str, metric: str) -> dict[int, float]:
        """Seed -> final ``metric`` under ``execution`` (empty for runs that recorded one
        execution only, from before both were recorded)."""
        out = {}
        for run in self.runs:
            for seed, row in run.finals.items():
                value = (row.get(execution) or {}).get(metric)
                if seed in self.values and value is not None:
                    out.setdefault(seed, float(value))
        return out

    def curve(self, name: str) -> tuple[list[int], np.ndarray, np.ndarray]:
        """Metric ``name`` over training: (seeds, steps (T,), values (seeds, T)).

        Only steps that every seed logged are kept.
        """
        frames = []
        for run in self.runs:
            m = run.metrics()
            m = m[m["metric"] == name]
            if len(m):
                frames.append(m.groupby(["seed", "step"])["value"].last().unstack("step"))
        if not frames:
            return [], np.zeros(0), np.zeros((0, 0))
        table = pd.concat(frames)
        table = table[~table.index.duplicated()].dropna(axis=1).sort_index().sort_index(axis=1)
        seeds = [int(s) for s in table.index]
        return seeds, table.columns.to_numpy(dtype=float), table.to_numpy(dtype=float)


def in_seed_order(per_seed: dict[int, float]) -> np.ndarray:
    """Seed -> value as an array in increasing seed order."""
    return np.array([per_seed[s] for s in sorted(per_seed)], dtype=float)


def group_runs(runs: list[Run], notes: list[str]) -> dict[tuple[str, str, str], Group]:
    groups: dict[tuple[str, str, str], Group] = {}
    for run in runs:
        if not run.finished:
            continue
        key = (run.env, run.algo, run.breaker)
        group = groups.setdefault(key, Group(*key, run.metric, [], {}))
        group.runs.append(run)
        for seed, row in run.finals.items():
            if group.metric not in row:
                continue
            if seed in group.values:
                notes.append(f"{run.path.name}: seed {seed} of {key} seen twice; kept the first")
                continue
            group.values[seed] = float(row[group.metric])
            if "return" in row:
                group.returns[seed] = float(row["return"])
    ordered = sorted(groups, key=lambda k: (k[0], k[1], breaker_order(k[2])))
    return {k: groups[k] for k in ordered if groups[k].values}
