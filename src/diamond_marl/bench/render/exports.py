"""The report's machine-readable files: ``report.json`` (the typed rows as they are) and
``marl_eval.json`` (marl-eval's raw-data layout, which Mava and BenchMARL users read)."""

from __future__ import annotations

import json

from diamond_marl.bench.collect import Report
from diamond_marl.bench.rows import to_json
from diamond_marl.bench.runs import Group


def report_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2)


def marl_eval_json(groups: dict[tuple[str, str, str], Group]) -> str:
    """marl-eval's raw-data layout, as JSON text.

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
            final = next(r.finals[seed] for r in g.runs if seed in r.finals)
            run["absolute_metrics"] = {
                n: [float(final["return" if n == "episode_return" else n])] for n in names
            }
            runs[f"run_{seed}"] = run
        out.setdefault(family, {}).setdefault(variant or env, {})[f"{algo}_{breaker}"] = runs
    return json.dumps(out, indent=2)
