"""``diamond-marl report RUNS_DIR``: tables, plots and exports from a directory of runs.

Reads every run directory under RUNS_DIR (a benchmark cell with ``cell.json``, or a plain
``diamond-marl train`` run with ``summary.json``), aggregates the final evaluation over
seeds (IQM with 95% stratified-bootstrap intervals, probability of improvement over
``none``), sets our numbers beside the write-up's table (DESIGN.md §4) and writes
``report.json``, ``report.md``, a self-contained ``report.html``, ``marl_eval.json`` and
``plots/*.png`` into ``RUNS_DIR/report/``. Runs analysed after training (a sweep's
``analyze`` option, or ``diamond-marl analyze`` by hand) add the role analysis: metrics,
adversarial drops and a role timeline; a saved ``benchmarks/attention_overhead.py`` output
adds each breaker's cost. Reading and grouping runs: ``bench.runs``. JAX-free.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from diamond_marl.analysis import summary as analysis_summary
from diamond_marl.analysis.cost import overhead_meta, parse_overhead, per_agent_us
from diamond_marl.bench import plots
from diamond_marl.bench.runs import (
    RATE_METRICS,
    Group,
    Run,
    discover,
    group_runs,
    headline_metric,
)
from diamond_marl.bench.stats import (
    Estimate,
    bootstrap_ci,
    difference_ci,
    paired_difference,
    prob_improvement,
)
from diamond_marl.breaker_names import LOGIT_NOISE, base_name, breaker_order
from diamond_marl.env_names import file_safe
from diamond_marl.errors import ConfigError

REPORT_DIRNAME = "report"
# the micro-benchmark's saved output that the Cost section shows unless told otherwise
DEFAULT_COST = Path(__file__).resolve().parents[3] / "docs" / "results" / "attention_overhead.txt"


@dataclasses.dataclass(frozen=True)
class WriteupRow:
    """One row of the write-up's table: their vanilla and Diamond QMIX, in percent."""

    label: str
    env: str  # our environment for it
    vanilla: float
    diamond: float


WRITEUP_SOURCE = "the seed write-up (DESIGN.md §4)"
WRITEUP = (
    WriteupRow("3m", "smax:3m", 78.2, 91.5),
    WriteupRow("5m_vs_6m", "smax:5m_vs_6m", 42.1, 67.8),
    WriteupRow("rware tiny (4 robots)", "rware:tiny-4ag", 85.0, 96.3),
    WriteupRow("rware large (8 robots)", "rware:large-8ag", 62.4, 81.2),
)
WRITEUP_ALGO = "qmix"


# -- formatting -----------------------------------------------------------------------------
def _num(v: float, rate: bool) -> str:
    return f"{100 * v:.1f}" if rate else f"{v:.3g}"


def fmt_estimate(est: Estimate, rate: bool, unit: bool = True) -> str:
    pct = "%" if rate and unit else ""
    return f"{_num(est.value, rate)}{pct} [{_num(est.low, rate)}, {_num(est.high, rate)}]"


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _steps_text(group: Group) -> str:
    steps = sorted({c.env_steps for c in group.runs if c.env_steps is not None})
    return " / ".join(f"{s:,}" for s in steps) or "-"


def _sum_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


# -- the report's parts ---------------------------------------------------------------------
def result_rows(groups: dict[tuple[str, str, str], Group]) -> list[dict]:
    """report.json's rows: the final headline metric per env x algo x breaker."""
    rows = []
    for (env, algo, breaker), g in groups.items():
        est = g.estimate()
        sps = [c.env_sps for c in g.runs if c.env_sps is not None]
        row = {
            "env": env, "algo": algo, "breaker": breaker, "metric": g.metric,
            "iqm": est.value, "ci_low": est.low, "ci_high": est.high,
            "mean": float(g.scores.mean()), "seeds": len(g.values),
            "seed_values": {str(s): v for s, v in sorted(g.values.items())},
            "env_steps": max((c.env_steps or 0) for c in g.runs) or None,
            "wall_s": _sum_or_none([c.wall_s for c in g.runs]),
            "env_sps": float(np.mean(sps)) if sps else None,
            "p_beats_none": None,
            "return": None,
        }  # fmt: skip
        ret = g.return_estimate()
        if ret is not None:
            row["return"] = {"iqm": ret.value, "ci_low": ret.low, "ci_high": ret.high}
        vanilla = groups.get((env, algo, "none"))
        if vanilla is not None and breaker != "none":
            p = prob_improvement(g.scores, vanilla.scores)
            row["p_beats_none"] = {"value": p.value, "ci_low": p.low, "ci_high": p.high}
        rows.append(row)
    return rows


def verdict(diff: Estimate) -> str:
    """supports (CI > 0), contradicts (CI < 0: vanilla beats Diamond) or cannot decide."""
    if diff.low > 0:
        return "supports"
    if diff.high < 0:
        return "contradicts"
    return "cannot decide"


def writeup_comparison(groups: dict[tuple[str, str, str], Group]) -> list[dict]:
    """The write-up's rows beside ours, with the Diamond - vanilla IQM difference."""
    out = []
    for w in WRITEUP:
        vanilla = groups.get((w.env, WRITEUP_ALGO, "none"))
        entry: dict[str, Any] = {
            "benchmark": w.label, "env": w.env, "their_vanilla": w.vanilla,
            "their_diamond": w.diamond, "their_gain_pp": round(w.diamond - w.vanilla, 1),
            "ours": {}, "improvement": {},
        }  # fmt: skip
        for breaker in ("none", "noise", "rank"):
            g = groups.get((w.env, WRITEUP_ALGO, breaker))
            if g is not None:
                est = g.estimate()
                entry["ours"][breaker] = {
                    "metric": g.metric, "iqm": est.value, "ci_low": est.low,
                    "ci_high": est.high, "seeds": len(g.values),
                }  # fmt: skip
            if breaker == "none" or g is None or vanilla is None:
                continue
            d = difference_ci(g.scores, vanilla.scores)
            scale = 100.0 if g.is_rate else 1.0
            gain = entry["their_gain_pp"]
            where = None
            # a rate that is 0 on every seed of both cells measures nothing (a floor, not a tie)
            floor = g.is_rate and max([*g.values.values(), *vanilla.values.values()]) == 0
            if g.is_rate and not floor:
                lo, hi = d.low * scale, d.high * scale
                where = "inside" if lo <= gain <= hi else "above" if gain > hi else "below"
            entry["improvement"][breaker] = {
                "diff": d.value * scale, "ci_low": d.low * scale, "ci_high": d.high * scale,
                "unit": "pp" if g.is_rate else g.metric, "verdict": verdict(d),
                "their_gain_is": where, "paired": None, "floor": floor, "return_diff": None,
            }  # fmt: skip
            if floor and g.has_returns and vanilla.has_returns:
                r = difference_ci(g.return_scores, vanilla.return_scores)
                entry["improvement"][breaker]["return_diff"] = {
                    "diff": r.value, "ci_low": r.low, "ci_high": r.high,
                }  # fmt: skip
            pair = paired_difference(g.values, vanilla.values)
            if pair is not None:  # secondary: the verdict stays the unpaired IQM difference's
                entry["improvement"][breaker]["paired"] = {
                    "seeds": list(pair.seeds), "diffs": [scale * v for v in pair.diffs],
                    "mean": scale * pair.mean.value, "ci_low": scale * pair.mean.low,
                    "ci_high": scale * pair.mean.high, "better": pair.better,
                    "worse": pair.worse, "sign_p": pair.sign_p,
                }  # fmt: skip
        out.append(entry)
    return out


def _writeup_sentence(entry: dict) -> str:
    """One plain sentence: the verdict for rank and for noise, and where their gain falls."""
    if "none" not in entry["ours"]:
        return f"{entry['benchmark']}: not run (no {WRITEUP_ALGO} `none` cell on {entry['env']})."
    parts = []
    for breaker in ("rank", "noise"):
        imp = entry["improvement"].get(breaker)
        if imp is None:
            parts.append(f"{breaker} not run")
            continue
        if imp.get("floor"):
            text = (
                f"{breaker} cannot decide (neither it nor vanilla scored above 0% on any seed "
                "at this budget: the rates test nothing"
            )
            ret = imp.get("return_diff")
            if ret is not None:
                text += (
                    f"; final return {ret['diff']:+.3f}, 95% CI "
                    f"[{ret['ci_low']:+.3f}, {ret['ci_high']:+.3f}]"
                )
            parts.append(text + ")")
            continue
        verdict_text, where = {
            "supports": ("supports the write-up", "lies above 0"),
            "contradicts": ("contradicts the write-up", "lies below 0: our vanilla beats Diamond"),
            "cannot decide": ("cannot decide", "contains 0"),
        }[imp["verdict"]]
        unit = " pp" if imp["unit"] == "pp" else f" ({imp['unit']})"
        text = (
            f"{breaker} {verdict_text} ({imp['diff']:+.1f}{unit}, 95% CI "
            f"[{imp['ci_low']:+.1f}, {imp['ci_high']:+.1f}] {where}"
        )
        if imp["their_gain_is"] is not None:
            text += (
                f"; their claimed {entry['their_gain_pp']:+.1f} pp lies {imp['their_gain_is']} it"
            )
        paired = imp["paired"]
        if paired is not None:
            n = len(paired["seeds"])
            text += (
                f"; paired by seed: higher on {paired['better']}, lower on {paired['worse']} "
                f"of {n} seeds, mean {paired['mean']:+.1f}{unit} "
                f"[{paired['ci_low']:+.1f}, {paired['ci_high']:+.1f}], sign test "
                f"p = {paired['sign_p']:.2g}"
            )
        parts.append(text + ")")
    return f"{entry['benchmark']} ({entry['env']}): " + ", ".join(parts) + "."


def transfer_rows(cells: list[Run]) -> list[dict]:
    """Train env -> eval env: the eval's headline metric pooled over seeds, or its error."""
    pooled: dict[tuple, dict] = {}
    for cell in cells:
        for t in cell.transfer if cell.finished else ():
            key = (cell.env, cell.algo, cell.breaker, str(t.get("env", "?")))
            slot = pooled.setdefault(key, {"values": {}, "errors": [], "metric": None})
            rows = t.get("seeds")
            if t.get("error") or not isinstance(rows, list) or not rows:
                slot["errors"].append(str(t.get("error", "no per-seed results")))
                continue
            slot["metric"] = slot["metric"] or headline_metric(rows)
            for r in rows:
                if slot["metric"] in r:
                    slot["values"].setdefault(int(r["seed"]), float(r[slot["metric"]]))
    out = []
    for (env, algo, breaker, target), slot in pooled.items():
        row = {"trained_on": env, "algo": algo, "breaker": breaker, "eval_env": target}
        if slot["values"]:
            est = bootstrap_ci(list(slot["values"].values()))
            row |= {"metric": slot["metric"], "iqm": est.value, "ci_low": est.low}
            row |= {"ci_high": est.high, "seeds": len(slot["values"])}
        else:
            row["error"] = "; ".join(dict.fromkeys(slot["errors"]))
        out.append(row)
    return out


def marl_eval_json(groups: dict[tuple[str, str, str], Group]) -> dict:
    """marl-eval's raw-data layout (used by Mava and BenchMARL).

    {family: {variant: {f"{algo}_{breaker}": {"run_<seed>": {"step_<i>": {"step_count": int,
    metric: [value]}, ..., "absolute_metrics": {metric: [value]}}}}}}. Every value list has
    one item (a mean over evaluation episodes); ``absolute_metrics`` (the final 10x-longer
    evaluation) comes last, as marl-eval reads the last key as the absolute metric.
    """
    out: dict = {}
    for (env, algo, breaker), g in groups.items():
        family, _, variant = env.partition(":")
        names = {"return": "eval_return", "episode_return": "eval_return"}
        if g.metric != "return":
            names[g.metric] = f"eval_{g.metric}"
        curves = {n: g.curve(m) for n, m in names.items()}
        runs = {}
        for seed in sorted(g.values):
            run: dict = {}
            per_step = {
                n: dict(
                    zip(steps.astype(int).tolist(), values[seeds.index(seed)].tolist(), strict=True)
                )
                for n, (seeds, steps, values) in curves.items()
                if seed in seeds
            }
            common = set()
            if len(per_step) == len(names):
                common = set.intersection(*(set(v) for v in per_step.values()))
            for i, step in enumerate(sorted(common)):
                run[f"step_{i}"] = {"step_count": int(step)}
                run[f"step_{i}"] |= {n: [float(per_step[n][step])] for n in names}
            final = next(c.finals[seed] for c in g.runs if seed in c.finals)
            run["absolute_metrics"] = {
                n: [float(final["return" if n == "episode_return" else n])] for n in names
            }
            runs[f"run_{seed}"] = run
        out.setdefault(family, {}).setdefault(variant or env, {})[f"{algo}_{breaker}"] = runs
    return out


_STATS_TEXT = (
    "Each number is the final evaluation (execution mode, 10x the periodic evaluation's "
    "episodes) of one seed; across seeds we report the interquartile mean (IQM, "
    "`scipy.stats.trim_mean(x, 0.25)`, as rliable) with a 95% percentile interval from 2000 "
    "stratified-bootstrap resamples of the seeds. P(beats none) is the probability that a "
    "random seed of the breaker scores higher than a random seed of `none` (ties count half), "
    "with a bootstrap interval. With few seeds the intervals are wide: read them before the "
    "point estimates. Learning curves show the mean over seeds with a 95% percentile-bootstrap "
    "band over seeds (1000 resamples) at each evaluation step. Rates are in percent."
)


def _section_writeup(doc: plots.Doc, comparison: list[dict]) -> None:
    doc.h(2, "The write-up's table beside ours")
    doc.p(
        f"Their numbers are from {WRITEUP_SOURCE}: StarCraft II and rware win rates. Ours are "
        "measured on the SC2-free SMAX and on our RobotWarehouse with its own success rate, so "
        "they compare in direction, not digit. Ours: IQM [95% CI] over seeds of the final "
        f"evaluation, {WRITEUP_ALGO} on the environment named in the first column; improvement "
        "= IQM(Diamond) - IQM(vanilla) with a bootstrap 95% CI, in percentage points. The "
        "verdict in each sentence below comes from that interval. Each sentence then pairs the "
        "seeds: seed i of every cell draws all its random keys from the same `PRNGKey(i)` "
        "(environment resets, exploration, the mixer's initial weights), so a seed that is "
        "hard for vanilla tends to be hard for Diamond too; it gives the per-seed differences' "
        "sign count, their mean with a 95% bootstrap interval, and an exact two-sided sign "
        "test (with 5 seeds the smallest possible p is 0.0625). The paired numbers are a "
        "second reading, not the verdict: the verdict's rule was fixed before the runs."
    )
    rows = []
    for e in comparison:
        ours = []
        for b in ("none", "noise", "rank"):
            o = e["ours"].get(b)
            rate = o is not None and o["metric"] in RATE_METRICS
            ours.append(
                "not run"
                if o is None
                else f"{fmt_estimate(Estimate(o['iqm'], o['ci_low'], o['ci_high']), rate)} "
                f"(n={o['seeds']})"
            )
        imps = []
        for b in ("noise", "rank"):
            i = e["improvement"].get(b)
            unit = "" if i is None or i["unit"] == "pp" else f" {i['unit']}"
            imps.append(
                f"{b}: not run"
                if i is None
                else f"{b}: {i['diff']:+.1f} [{i['ci_low']:+.1f}, {i['ci_high']:+.1f}]{unit}"
                + (" (both 0 on every seed)" if i.get("floor") else "")
            )
        rows.append(
            [f"{e['benchmark']} (`{e['env']}`)", f"{e['their_vanilla']:.1f}%"]
            + [f"{e['their_diamond']:.1f}%", *ours, "; ".join(imps)]
        )
    doc.table(
        [
            "Benchmark", "their vanilla QMIX", "their Diamond QMIX", "our vanilla QMIX",
            "our Diamond QMIX (noise)", "our Diamond QMIX (rank)", "improvement with CI (pp)",
        ],
        rows,
    )  # fmt: skip
    doc.ul([_writeup_sentence(e) for e in comparison])


def _section_results(
    doc: plots.Doc, groups: dict, rows: list[dict], plot_dir: Path, written: list[Path]
) -> None:
    doc.h(2, "Results per environment and algorithm")
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_pair.setdefault((r["env"], r["algo"]), []).append(r)
    for (env, algo), pair_rows in by_pair.items():
        metric = pair_rows[0]["metric"]
        rate = metric in RATE_METRICS
        doc.h(3, f"{env} · {algo}")
        table = []
        with_return = any(r["return"] is not None for r in pair_rows)
        for r in pair_rows:
            p, ret = r["p_beats_none"], r["return"]
            ret_text = (
                "-"
                if ret is None
                else fmt_estimate(Estimate(ret["iqm"], ret["ci_low"], ret["ci_high"]), rate=False)
            )
            table.append(
                [
                    f"`{r['breaker']}`",
                    fmt_estimate(Estimate(r["iqm"], r["ci_low"], r["ci_high"]), rate),
                    _num(r["mean"], rate),
                    ", ".join(_num(v, rate) for v in r["seed_values"].values()),
                    *([ret_text] if with_return else []),
                    _steps_text(groups[(env, algo, r["breaker"])]),
                    _fmt_time(r["wall_s"]),
                    "-" if r["env_sps"] is None else f"{r['env_sps']:,.0f}",
                    "-"
                    if p is None
                    else f"{p['value']:.2f} [{p['ci_low']:.2f}, {p['ci_high']:.2f}]",
                ]
            )
        unit = " (%)" if rate else ""
        header = ["breaker", f"final {metric}: IQM [95% CI]", f"mean{unit}"]
        header += [f"per seed, in seed order{unit}"]
        header += ["final return: IQM [95% CI]"] * with_return + ["env steps (per seed)"]
        header += ["wall time", "env steps/s", "P(beats none) [95% CI]"]
        doc.table(header, table)
        pair = [groups[(env, algo, r["breaker"])] for r in pair_rows]
        ylabel = f"{metric} (%)" if rate else metric
        scale = 100.0 if rate else 1.0
        slug = f"{file_safe(env)}-{algo}"
        colors = {g.breaker: f"C{i % 10}" for i, g in enumerate(pair)}
        final = [
            (g.breaker, Estimate(*(scale * v for v in g.estimate())), scale * g.scores)
            for g in pair
        ]
        title = f"{env} · {algo}\nfinal {metric}: IQM and 95% CI over seeds"
        path = plots.final_plot(final, plot_dir / f"final-{slug}.png", title, ylabel, colors)
        doc.img(path, title)
        curves = {}
        for g in pair:
            _, steps, values = g.curve(f"eval_{metric}")
            curves[g.breaker] = (steps, scale * values)
        title = f"{env} · {algo}\nevaluation {metric}: mean over seeds, 95% bootstrap band"
        path2 = plots.band_plot(
            curves, plot_dir / f"curves-{slug}.png", title, ylabel, colors=colors
        )
        doc.img(path2, title)
        sigma = {}
        for g in pair:
            if base_name(g.breaker) in LOGIT_NOISE:
                for name in ("sigma", "noise_scale"):
                    _, steps, values = g.curve(name)
                    if len(steps):
                        sigma[f"{g.breaker} ({name})"] = (steps, values)
                        colors[f"{g.breaker} ({name})"] = colors[g.breaker]
                        break
        title = f"{env} · {algo}\nnoise std over training (sigma, else noise_scale)"
        path3 = plots.band_plot(
            sigma, plot_dir / f"sigma-{slug}.png", title, "sigma", colors=colors
        )
        doc.img(path3, title)
        written += [f for f in (path, path2, path3) if f is not None]


def _section_transfer(doc: plots.Doc, transfer: list[dict]) -> None:
    if not transfer:
        return
    doc.h(2, "Transfer")
    doc.p("Policies re-evaluated on another environment or team size (`diamond-marl eval`).")
    rows = []
    for t in transfer:
        if "error" in t:
            result, metric, seeds = f"cannot run: {t['error']}", "-", "-"
        else:
            rate = t["metric"] in RATE_METRICS
            est = Estimate(t["iqm"], t["ci_low"], t["ci_high"])
            result, metric, seeds = fmt_estimate(est, rate), t["metric"], str(t["seeds"])
        row = [f"`{t['trained_on']}`", t["algo"], f"`{t['breaker']}`", f"`{t['eval_env']}`"]
        rows.append(row + [metric, result, seeds])
    header = ["trained on", "algo", "breaker", "evaluated on", "metric", "IQM [95% CI]", "seeds"]
    doc.table(header, rows)


def analysis_rows(cells: list[Run], plot_dir: Path) -> list[dict]:
    """report.json's ``analysis``: one row per analysed run, its first role timeline copied
    to ``plots/timeline-<dir>.png``."""
    out = []
    analysed = [c for c in cells if c.finished and c.analysis]
    analysed.sort(key=lambda c: (c.env, c.algo, breaker_order(c.breaker), c.path.name))
    for cell in analysed:
        a = cell.analysis or {}
        row: dict[str, Any] = {
            "dir": cell.path.name, "env": cell.env, "algo": cell.algo, "breaker": cell.breaker,
            "source": cell.analysis_source,
        }  # fmt: skip
        if a.get("error") or not isinstance(a.get("metrics"), dict):
            row["error"] = str(a.get("error") or "no metrics in the analysis entry")
            out.append(row)
            continue
        row |= {
            "episodes": a.get("episodes"), "seeds": a.get("seeds"),
            "success_metric": a.get("success_metric"),
            **{k: a["metrics"].get(k) for k in analysis_summary.METRIC_KEYS},
            "adversarial": [r for r in a.get("adversarial") or [] if isinstance(r, dict)],
            "timeline": None,
        }  # fmt: skip
        source = _inside(cell.path, a.get("timeline"))
        if source is not None:
            target = plot_dir / f"timeline-{cell.path.name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            row["timeline"] = target.relative_to(plot_dir.parent).as_posix()
        out.append(row)
    return out


def _inside(run_dir: Path, name: Any) -> Path | None:
    """``run_dir / name`` if it is an existing file inside ``run_dir``."""
    if not isinstance(name, str) or not name:
        return None
    path = (run_dir / name).resolve()
    if not path.is_file() or not path.is_relative_to(run_dir.resolve()):
        return None
    return path


def cost_summary(path: Path) -> dict:
    """report.json's ``cost``: the micro-benchmark's rows with the time per agent."""
    rows = parse_overhead(path)
    meta = overhead_meta(path)
    for row in rows:
        row["fwd_bwd_us_per_agent"] = per_agent_us(row, meta)
    n, batch = meta["agents"], meta["batch"]
    for env in dict.fromkeys(r["env"] for r in rows):  # none itself, for scale
        first = next(r for r in rows if r["env"] == env)
        none = {"breaker": "none", "env": env, "fwd_bwd": 1.0, "fwd": 1.0}
        none |= {k: first[k] for k in ("none_fwd_ms", "none_fwd_bwd_ms")}
        none["fwd_bwd_us_per_agent"] = per_agent_us(none, meta)
        rows.insert(next(i for i, r in enumerate(rows) if r["env"] == env), none)
    return {"source": _shown(path), "comments": meta["comments"], "batch": batch, "agents": n,
            "rows": rows}  # fmt: skip


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in a report)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _fmt_metric(v: Any) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _fmt_score(v: Any, rate: bool, signed: bool = False) -> str:
    """A score (rates in percent) or, ``signed``, a difference (rates in points)."""
    if v is None:
        return "-"
    if rate:
        return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}%"
    return f"{v:+.3g}" if signed else f"{v:.3g}"


_ANALYSIS_TEXT = (
    "Execution-mode episodes re-played from each run's latest checkpoint (`diamond-marl "
    "analyze`, docs/analysis.md); means over seeds. SND and JS: how differently the agents "
    "act at the same state (0 = all alike); role entropy: how evenly the team spreads over "
    "roles (actions) at a step (1 = as many distinct roles as possible, 0 = one shared role), "
    "per episode: the same over the agents' lasting roles; persistence: the share of steps at "
    "which an agent keeps its role (n/a in one-step games). Adversarial: agent 0 misbehaves, "
    "the others stay honest, on the same episodes; the drop is honest - attacked in the "
    "headline metric (positive: the attack hurts; percentage points for rates)."
)


def _section_analysis(doc: plots.Doc, rows: list[dict], out: Path) -> None:
    if not rows:
        return
    doc.h(2, "Role analysis")
    doc.p(_ANALYSIS_TEXT)
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_pair.setdefault((r["env"], r["algo"]), []).append(r)
    for (env, algo), pair in by_pair.items():
        doc.h(3, f"{env} · {algo}")
        breakers = [r["breaker"] for r in pair]
        names = {
            r["dir"]: f"`{r['breaker']}`"
            + (f" ({r['dir']})" if breakers.count(r["breaker"]) > 1 else "")
            for r in pair
        }
        ok = [r for r in pair if "error" not in r]
        if ok:
            success = ok[0]["success_metric"]
            metric = success or "return"
            rate = metric in RATE_METRICS
            table = []
            for r in ok:
                eps = "-" if r["episodes"] is None else f"{r['episodes']} x {r['seeds'] or '?'}"
                table.append(
                    [names[r["dir"]], eps]
                    + [_fmt_metric(r[k]) for k in analysis_summary.METRIC_KEYS[:5]]
                    + [_fmt_score(r["return"], False)]
                    + ([_fmt_score(r["won"], rate)] if success else [])
                )
            header = ["breaker", "episodes x seeds", "SND", "JS", "role entropy"]
            header += ["role entropy (episode)", "persistence", "return"]
            doc.table(header + ([metric] if success else []), table)
            attacks = list(dict.fromkeys(a["attack"] for r in ok for a in r["adversarial"]))
            if attacks:
                reasons: dict[str, None] = {}
                table = []
                for r in ok:
                    by_attack = {a["attack"]: a for a in r["adversarial"]}
                    honest = next(
                        (a["honest"] for a in r["adversarial"] if a["applies"]),
                        r["won"] if success else r["return"],  # the same episodes
                    )
                    line = [names[r["dir"]], _fmt_score(honest, rate)]
                    for name in attacks:
                        a = by_attack.get(name)
                        if a is None:
                            line.append("not run")
                        elif not a["applies"]:
                            line.append("n/a")
                            reasons[f"`{name}` on `{r['breaker']}`: n/a, {a['reason']}"] = None
                        else:
                            drop = _fmt_score(a["drop"], rate, signed=True)
                            line.append(f"{drop} (-> {_fmt_score(a['attacked'], rate)})")
                    table.append(line)
                unit = " (pp)" if rate else ""
                doc.p(
                    f"Adversarial evaluation: drop in {metric}{unit} when agent 0 misbehaves "
                    "(the attacked team's score in brackets)."
                )
                doc.table(
                    ["breaker", f"honest {metric}"] + [f"`{a}`: drop" for a in attacks], table
                )
                doc.ul(list(reasons))
        doc.ul([f"`{r['dir']}`: analysis failed: {r['error']}" for r in pair if "error" in r])
        for r in ok:
            if r["timeline"]:
                title = (
                    f"{env} · {algo} · {r['breaker']}: role timeline (seed index 0, "
                    f"episode key 0; replay with `diamond-marl replay {r['dir']} --episode-key 0`)"
                )
                doc.img(out / r["timeline"], title)


def _section_cost(doc: plots.Doc, cost: dict | None) -> None:
    if not cost:
        return
    doc.h(2, "Cost")
    doc.p(
        "Forward+backward (and forward alone) time of the agent network with each breaker "
        "over the same with `none`, from `benchmarks/attention_overhead.py` (medians of "
        f"back-to-back pairs; read from `{cost['source']}`). Per agent: the forward+backward "
        "time of one batch divided by batch x N agents. A micro-benchmark of the network "
        "alone, on the machine that ran it; training time also holds the environment."
    )
    if cost["comments"]:
        doc.ul(list(cost["comments"]))
    envs = list(dict.fromkeys(r["env"] for r in cost["rows"]))
    by = {(r["breaker"], r["env"]): r for r in cost["rows"]}
    breakers = sorted(dict.fromkeys(r["breaker"] for r in cost["rows"]), key=breaker_order)
    header = ["breaker"]
    for env in envs:
        n = cost["agents"].get(env)
        header += [f"`{env}` fwd+bwd ratio", "fwd ratio", f"µs per agent (N={n or '?'})"]
    table = []
    for b in breakers:
        line = [f"`{b}`"]
        for env in envs:
            r = by.get((b, env))
            if r is None:
                line += ["-", "-", "-"]
                continue
            fwd = "-" if r["fwd"] is None else f"{r['fwd']:.3f}"
            us = r["fwd_bwd_us_per_agent"]
            line += [f"{r['fwd_bwd']:.3f}", fwd, "-" if us is None else f"{us:.1f}"]
        table.append(line)
    doc.table(header, table)


def _unfinished(cells: list[Run]) -> list[dict]:
    return [
        {"dir": c.path.name, "env": c.env, "algo": c.algo, "breaker": c.breaker, "note": c.note}
        for c in cells
        if not c.finished
    ]


def write_report(
    runs_dir: str | Path, out_dir: str | Path | None = None, cost: str | Path | bool | None = None
) -> dict[str, Path]:
    """Write the report of every run in ``runs_dir``; returns {relative name: path written}.

    ``cost``: a saved output of ``benchmarks/attention_overhead.py`` for the Cost section; by
    default ``docs/results/attention_overhead.txt`` of the source tree when it exists;
    ``False``: no Cost section.
    """
    runs_dir = Path(runs_dir)
    notes: list[str] = []
    cost_info = None
    if cost is None or cost is True:
        if DEFAULT_COST.is_file():
            try:
                cost_info = cost_summary(DEFAULT_COST)
            except ConfigError as err:
                notes.append(f"no Cost section: {err}")
    elif cost is not False:
        cost_info = cost_summary(Path(cost))
    out = Path(out_dir) if out_dir is not None else runs_dir / REPORT_DIRNAME
    cells = discover(runs_dir, out)
    groups = group_runs(cells, notes)
    rows = result_rows(groups)
    comparison = writeup_comparison(groups)
    transfer = transfer_rows(cells)
    unfinished = _unfinished(cells)
    out.mkdir(parents=True, exist_ok=True)
    plot_dir = out / "plots"
    for old in plot_dir.glob("*.png"):  # a re-run must not keep figures of removed cells
        old.unlink()
    written: list[Path] = []
    analysis = analysis_rows(cells, plot_dir)
    written += [out / r["timeline"] for r in analysis if r.get("timeline")]

    doc = plots.Doc("diamond-marl benchmark report")
    finished = sum(c.finished for c in cells)
    doc.p(f"Runs read from `{runs_dir}`: {len(cells)} directories, {finished} finished.")
    doc.p(_STATS_TEXT)
    _section_writeup(doc, comparison)
    _section_results(doc, groups, rows, plot_dir, written)
    _section_transfer(doc, transfer)
    _section_analysis(doc, analysis, out)
    _section_cost(doc, cost_info)
    if unfinished:
        doc.h(2, "Not finished")
        doc.ul(
            [
                f"`{u['dir']}` ({u['env']}, {u['algo']}, {u['breaker']}): {u['note']}"
                for u in unfinished
            ]
        )
    if notes:
        doc.h(2, "Notes")
        doc.ul(notes)

    files = {
        "report.json": json.dumps(
            {
                "runs_dir": str(runs_dir), "rows": rows, "writeup": comparison,
                "transfer": transfer, "analysis": analysis, "cost": cost_info,
                "not_finished": unfinished, "notes": notes,
            },
            indent=2,
        ),
        "report.md": doc.markdown(out),
        "report.html": doc.html(),
        "marl_eval.json": json.dumps(marl_eval_json(groups), indent=2),
    }  # fmt: skip
    result = {}
    for name, text in files.items():
        (out / name).write_text(text + "\n")
        result[name] = out / name
    for path in written:
        result[path.relative_to(out).as_posix()] = path
    return result


# -- command line ---------------------------------------------------------------------------
