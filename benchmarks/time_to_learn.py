"""Wall time to learn: when does the IQM over seeds first cross a score?

Trains one run per ``--set`` line (all seeds vmapped in one program, as ``diamond-marl train``
does; an interrupted run resumes from its checkpoint) or reads finished runs, then prints for
each the wall time and env step at which the interquartile mean over seeds of an evaluation
metric first reached the threshold, beside its final value::

    time_to_learn <run dir> metric=<m> threshold=<t> reached_at_s=<s> reached_at_step=<k>
        last_eval_iqm=<v> final_eval_iqm=<v> wall_s=<total> load=<1-min load average now>

``last_eval_iqm`` is the last periodic evaluation's; ``final_eval_iqm`` the final one's (10x
the episodes, from summary.json), once the run has finished.

``reached_at_s`` is the run's own clock at that evaluation (``wall_s`` in metrics.csv:
compilation, training, evaluations and checkpoints so far), so it is what a user waits.

Examples::

    .venv/bin/python benchmarks/time_to_learn.py --out runs/ttl/qmix-3m \
        --set algo=qmix env=smax:3m seeds=5 steps=300000 --threshold 0.8
    .venv/bin/python benchmarks/time_to_learn.py --runs runs/ttl/qmix-3m --threshold 0.8
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from diamond_marl import setup_jax
from diamond_marl.algos.config import parse_overrides, resolve
from diamond_marl.algos.runner import train
from diamond_marl.bench.stats import iqm

setup_jax()  # the XLA flag the library needs, before JAX computes anything


def crossing(metrics: pd.DataFrame, metric: str, threshold: float) -> dict[str, float | None]:
    """First evaluation whose IQM over seeds reaches ``threshold``: its step and wall time
    (the latest seed's clock at that step), and the final IQM. Missing: ``None``."""
    rows = metrics[metrics.metric == metric].pivot_table(
        index="step", columns="seed", values="value"
    )
    walls = metrics[metrics.metric == "wall_s"].groupby("step").value.max()
    if rows.empty:
        raise SystemExit(f"no {metric!r} rows; metrics: {sorted(set(metrics.metric))}")
    scores = {int(step): float(iqm(row.dropna().to_numpy())) for step, row in rows.iterrows()}
    hit = next((step for step, v in scores.items() if v >= threshold), None)
    return {
        "reached_at_step": hit,
        "reached_at_s": float(walls.get(hit, np.nan)) if hit is not None else None,
        "final_iqm": scores[max(scores)],
        "wall_s": float(walls.max()) if len(walls) else None,
    }


def default_metric(run: Path) -> str:
    metrics = set(pd.read_csv(run / "metrics.csv").metric)
    for name in ("eval_win_rate", "eval_success_rate"):
        if name in metrics:
            return name
    return "eval_return"


def final_eval_iqm(run: Path, metric: str) -> float | None:
    """IQM over seeds of the final evaluation (10x the episodes; summary.json), if finished."""
    path = run / "summary.json"
    if not path.exists():
        return None
    name = metric.removeprefix("eval_")
    execution = next((ex for ex in ("greedy", "sampled") if name.endswith(f"_{ex}")), None)
    seeds = json.loads(path.read_text())["seeds"]
    if execution:  # eval_return_sampled -> seeds[i]["sampled"]["return"]
        name = name.removesuffix(f"_{execution}")
        seeds = [s[execution] for s in seeds if execution in s]
    values = [s[name] for s in seeds if name in s]
    return float(iqm(np.asarray(values))) if values else None


def report(run: Path, metric: str | None, threshold: float) -> None:
    metric = metric or default_metric(run)
    out = crossing(pd.read_csv(run / "metrics.csv"), metric, threshold)
    fmt = lambda v: "never" if v is None else f"{v:.0f}"  # noqa: E731
    final = final_eval_iqm(run, metric)
    print(
        f"time_to_learn {run} metric={metric} threshold={threshold} "
        f"reached_at_s={fmt(out['reached_at_s'])} reached_at_step={fmt(out['reached_at_step'])} "
        f"last_eval_iqm={out['final_iqm']:.3f} "
        f"final_eval_iqm={'-' if final is None else f'{final:.3f}'} wall_s={fmt(out['wall_s'])} "
        f"load={os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="run directory for --set (resumed if it exists)")
    parser.add_argument("--runs", nargs="*", default=[], help="finished run directories")
    parser.add_argument("--metric", help="default: eval_win_rate / eval_success_rate")
    parser.add_argument("--threshold", type=float, required=True)
    args = parser.parse_args()
    runs = [Path(r) for r in args.runs]
    if args.set:
        if not args.out:
            parser.error("--set needs --out")
        out = Path(args.out)
        if (out / "config.yaml").exists():
            train(resume=out)
        else:
            train(resolve({**parse_overrides(args.set), "out": str(out)}))
        runs.append(out)
    for run in runs:
        report(run, args.metric, args.threshold)


if __name__ == "__main__":
    main()
