"""The report's rows, typed: what ``report.json`` holds and every renderer reads (JAX-free).

Computed from the runs (``bench.runs``: one ``Group`` per env x algo x breaker) and nothing
else: no formatting, no files written. Rows carry labels (env, algo, breaker, execution) and
hold ``stats.Estimate`` numbers; comparisons are ``stats.Difference`` (``bench.contrast``,
``bench.dial``, ``bench.writeup``). ``to_json`` turns any row into the plain dict
``report.json`` stores: fields marked ``HIDDEN`` stay out (what only the renderers need),
``OPTIONAL`` ones are left out when None, ``FLAT`` ones are spliced into their parent
(``flat_as`` renames the spliced keys), ``key=`` renames one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from diamond_marl.analysis import summary as analysis_summary
from diamond_marl.analysis.cost import overhead_meta, parse_overhead, per_agent_us
from diamond_marl.bench.runs import EXECUTIONS, Group, Run, headline_metric
from diamond_marl.bench.stats import Estimate, bootstrap_ci, prob_improvement
from diamond_marl.breaker_names import breaker_order

HIDDEN = {"json": False}
OPTIONAL = {"optional": True}
FLAT = {"flat": True, "optional": True}


def key(name: str) -> dict[str, str]:
    """Field metadata: store the field under ``name`` (e.g. ``return``, a Python keyword)."""
    return {"key": name}


def flat_as(**names: str) -> dict[str, Any]:
    """Field metadata: splice the field into its parent, renaming its keys (``value="iqm"``)."""
    return {**FLAT, "rename": names}


def to_json(obj: Any) -> Any:
    """Rows (dataclasses), lists and dicts of them -> plain JSON data, fields in order."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("json") is False or (value is None and f.metadata.get("optional")):
                continue
            if f.metadata.get("flat"):
                names = f.metadata.get("rename", {})
                out.update({names.get(k, k): v for k, v in to_json(value).items()})
            else:
                out[f.metadata.get("key", f.name)] = to_json(value)
        return out
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    return obj


# -- final scores per env x algo x breaker --------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ResultRow:
    """The final headline metric of one env x algo x breaker over its seeds: its IQM [95% CI]
    (``iqm``, ``ci_low``, ``ci_high``, ``seeds`` in report.json), the mean and every seed."""

    env: str
    algo: str
    breaker: str
    metric: str
    score: Estimate = dataclasses.field(metadata=flat_as(value="iqm"))
    mean: float
    seed_values: dict[str, float]  # seed -> final score, in seed order
    env_steps: int | None  # the largest of the runs'
    wall_s: float | None  # summed over the runs
    env_sps: float | None  # mean over the runs
    p_beats_none: Estimate | None  # P(a seed of this breaker beats a seed of ``none``)
    final_return: Estimate | None = dataclasses.field(metadata=key("return"))
    all_env_steps: tuple[int, ...] = dataclasses.field(default=(), metadata=HIDDEN)


def _sum_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def result_rows(groups: dict[tuple[str, str, str], Group]) -> list[ResultRow]:
    """One row per group, in the groups' order (env, algo, registry order of breakers)."""
    rows = []
    for (env, algo, breaker), g in groups.items():
        est = g.estimate()
        sps = [r.env_sps for r in g.runs if r.env_sps is not None]
        ret = g.return_estimate()
        vanilla = groups.get((env, algo, "none"))
        p = None
        if vanilla is not None and breaker != "none":
            p = prob_improvement(g.scores, vanilla.scores)
        rows.append(
            ResultRow(
                env, algo, breaker, g.metric, est, mean=float(g.scores.mean()),
                seed_values={str(s): v for s, v in sorted(g.values.items())},
                env_steps=max((r.env_steps or 0) for r in g.runs) or None,
                wall_s=_sum_or_none([r.wall_s for r in g.runs]),
                env_sps=float(np.mean(sps)) if sps else None,
                p_beats_none=p, final_return=ret,
                all_env_steps=tuple(sorted({r.env_steps for r in g.runs} - {None})),
            )
        )  # fmt: skip
    return rows


# -- greedy and sampled execution -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ExecutionRow:
    """One env x algo x breaker under both executions, on the same evaluation episodes:
    the headline metric and the return, IQM [95% CI] over seeds (None: not recorded)."""

    env: str
    algo: str
    breaker: str
    metric: str
    execution: str  # the one the headline numbers (results table) use
    seeds: int
    greedy: Estimate | None
    sampled: Estimate | None
    greedy_return: Estimate | None
    sampled_return: Estimate | None
    verdict: str  # which execution scores higher, where the intervals say so


def _interval(values: dict[int, float], seeds: int) -> Estimate | None:
    if len(values) != seeds or not values:
        return None
    return bootstrap_ci(list(values.values()))


def execution_verdict(greedy: Estimate | None, sampled: Estimate | None) -> str:
    """``sampled only``: greedy is at 0 and sampled above it; ``sampled > greedy`` /
    ``greedy > sampled``: the intervals do not overlap; else ``same within the intervals``."""
    if greedy is None or sampled is None:
        return "not recorded"
    if greedy.high <= 0.0 < sampled.low:
        return "sampled only"
    if sampled.low > greedy.high:
        return "sampled > greedy"
    if greedy.low > sampled.high:
        return "greedy > sampled"
    return "same within the intervals"


def execution_rows(groups: dict[tuple[str, str, str], Group]) -> list[ExecutionRow]:
    """Both executions of every group whose runs recorded them."""
    rows = []
    for (env, algo, breaker), g in groups.items():
        n = len(g.values)
        readouts = {ex: _interval(g.readout(ex, g.metric), n) for ex in EXECUTIONS}
        if all(v is None for v in readouts.values()):
            continue
        returns = {ex: _interval(g.readout(ex, "return"), n) for ex in EXECUTIONS}
        if g.metric == "return":
            returns = {ex: None for ex in EXECUTIONS}
        rows.append(
            ExecutionRow(
                env, algo, breaker, g.metric, g.execution, n, readouts["greedy"],
                readouts["sampled"], returns["greedy"], returns["sampled"],
                execution_verdict(readouts["greedy"], readouts["sampled"]),
            )
        )  # fmt: skip
    return rows


# -- zero-shot transfer ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TransferRow:
    """A policy re-evaluated on another environment: its score pooled over seeds, or why it
    could not run there."""

    trained_on: str
    algo: str
    breaker: str
    eval_env: str
    metric: str | None = dataclasses.field(default=None, metadata=OPTIONAL)
    score: Estimate | None = dataclasses.field(default=None, metadata=flat_as(value="iqm"))
    error: str | None = dataclasses.field(default=None, metadata=OPTIONAL)


def transfer_rows(runs: list[Run]) -> list[TransferRow]:
    """Train env -> eval env: the eval's headline metric pooled over seeds, or its error."""
    pooled: dict[tuple, dict] = {}
    for run in runs:
        for t in run.transfer if run.finished else ():
            where = (run.env, run.algo, run.breaker, str(t.get("env", "?")))
            slot = pooled.setdefault(where, {"values": {}, "errors": [], "metric": None})
            rows = t.get("seeds")
            if t.get("error") or not isinstance(rows, list) or not rows:
                slot["errors"].append(str(t.get("error", "no per-seed results")))
                continue
            slot["metric"] = slot["metric"] or headline_metric(rows)
            for r in rows:
                if slot["metric"] in r:
                    slot["values"].setdefault(int(r["seed"]), float(r[slot["metric"]]))
    out = []
    for where, slot in pooled.items():
        if slot["values"]:
            score = bootstrap_ci(list(slot["values"].values()))
            out.append(TransferRow(*where, metric=slot["metric"], score=score))
        else:
            out.append(TransferRow(*where, error="; ".join(dict.fromkeys(slot["errors"]))))
    return out


# -- the role analysis of analysed runs -----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AnalysisResult:
    episodes: int | None  # per seed
    seeds: int | None
    success_metric: str | None
    metrics: dict[str, float | None] = dataclasses.field(metadata=FLAT)  # METRIC_KEYS
    adversarial: list[dict[str, Any]]  # analysis.summary.compact's rows
    timeline: str | None  # the copied first role timeline, relative to the report folder


@dataclasses.dataclass(frozen=True)
class AnalysisRow:
    """One analysed run: its role analysis, or why it failed."""

    dir: str
    env: str
    algo: str
    breaker: str
    source: str  # "cell.json" or "analysis/"
    error: str | None = dataclasses.field(default=None, metadata=OPTIONAL)
    result: AnalysisResult | None = dataclasses.field(default=None, metadata=FLAT)
    timeline_source: Path | None = dataclasses.field(default=None, metadata=HIDDEN)


def analysis_rows(runs: list[Run], plot_folder: str = "plots") -> list[AnalysisRow]:
    """One row per analysed run, by env, algo and breaker. A run's first role timeline is
    to be copied to ``<plot_folder>/timeline-<dir>.png`` (``timeline_source`` -> ``timeline``)."""
    out = []
    analysed = [r for r in runs if r.finished and r.analysis]
    analysed.sort(key=lambda r: (r.env, r.algo, breaker_order(r.breaker), r.path.name))
    for run in analysed:
        a = run.analysis or {}
        head = (run.path.name, run.env, run.algo, run.breaker, run.analysis_source)
        if a.get("error") or not isinstance(a.get("metrics"), dict):
            error = str(a.get("error") or "no metrics in the analysis entry")
            out.append(AnalysisRow(*head, error=error))
            continue
        source = _inside(run.path, a.get("timeline"))
        result = AnalysisResult(
            episodes=a.get("episodes"), seeds=a.get("seeds"),
            success_metric=a.get("success_metric"),
            metrics={k: a["metrics"].get(k) for k in analysis_summary.METRIC_KEYS},
            adversarial=[r for r in a.get("adversarial") or [] if isinstance(r, dict)],
            timeline=None if source is None else f"{plot_folder}/timeline-{run.path.name}.png",
        )  # fmt: skip
        out.append(AnalysisRow(*head, result=result, timeline_source=source))
    return out


def _inside(run_dir: Path, name: Any) -> Path | None:
    """``run_dir / name`` if it is an existing file inside ``run_dir``."""
    if not isinstance(name, str) or not name:
        return None
    path = (run_dir / name).resolve()
    if not path.is_file() or not path.is_relative_to(run_dir.resolve()):
        return None
    return path


# -- each breaker's cost --------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CostRow:
    """One breaker on one environment: its time over ``none``'s, and per agent."""

    breaker: str
    env: str
    fwd_bwd: float  # forward+backward time over none's
    fwd: float | None  # forward time over none's
    none_fwd_ms: float | None
    none_fwd_bwd_ms: float | None
    fwd_bwd_us_per_agent: float | None


@dataclasses.dataclass(frozen=True)
class CostSummary:
    source: str  # where the saved benchmark output was read from
    comments: list[str]  # its comment lines: settings, machine, load
    batch: int | None
    agents: dict[str, int]  # env -> N
    rows: list[CostRow]  # per env: none first (ratio 1, for scale), then the file's rows


def cost_summary(path: Path, source: str | None = None) -> CostSummary:
    """The micro-benchmark's saved output (``benchmarks/attention_overhead.py``) as rows with
    the time per agent. ``source``: how to name the file (default: ``path`` as given)."""
    parsed = parse_overhead(path)
    meta = overhead_meta(path)
    for env in dict.fromkeys(r["env"] for r in parsed):  # none itself, for scale
        first = next(r for r in parsed if r["env"] == env)
        none = {"breaker": "none", "env": env, "fwd_bwd": 1.0, "fwd": 1.0}
        none |= {k: first[k] for k in ("none_fwd_ms", "none_fwd_bwd_ms")}
        parsed.insert(next(i for i, r in enumerate(parsed) if r["env"] == env), none)
    rows = [CostRow(**r, fwd_bwd_us_per_agent=per_agent_us(r, meta)) for r in parsed]
    return CostSummary(
        source=source or _shown(path), comments=meta["comments"], batch=meta["batch"],
        agents=meta["agents"], rows=rows,
    )  # fmt: skip


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in a report)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


# -- runs that did not finish ---------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Unfinished:
    dir: str
    env: str
    algo: str
    breaker: str
    note: str  # why: failed, or how far it got


def unfinished_rows(runs: list[Run]) -> list[Unfinished]:
    return [
        Unfinished(r.path.name, r.env, r.algo, r.breaker, r.note) for r in runs if not r.finished
    ]
