"""The report's section "Greedy and sampled execution": every breaker's final score under
both executions, on the same evaluation episodes, a table and a figure per env x algo."""

from __future__ import annotations

from pathlib import Path

from diamond_marl.bench import plots
from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.rows import ExecutionRow
from diamond_marl.bench.runs import RATE_METRICS, Group
from diamond_marl.env_names import file_safe

_TEXT = (
    "Every evaluation plays the same episodes twice: **greedy** (the arg-max of the policy "
    "or of the Q-values) and **sampled** (the policy's own distribution; epsilon-greedy at "
    "the final exploration rate for Q-learning). The results table above uses each breaker's "
    "own execution: greedy for every breaker but `sampled`, the stochastic-execution "
    "baseline, which is that same network and training evaluated by sampling. Where a "
    "breaker's score exists only under sampling (greedy at 0, sampled above it: "
    '"sampled only"), the randomness that helps is the one at execution, not the breaker\'s.'
)


def section(
    doc: Doc, rows: list[ExecutionRow], groups: dict[tuple[str, str, str], Group], plot_dir: Path
) -> list[Path]:
    """Tables and figures; returns the figures drawn into ``plot_dir``."""
    if not rows:
        return []
    doc.h(2, "Greedy and sampled execution")
    doc.p("Every breaker's final score under both executions, on the same evaluation episodes.")
    doc.method("Greedy and sampled execution", _TEXT)
    by_pair: dict[tuple[str, str], list[ExecutionRow]] = {}
    for r in rows:
        by_pair.setdefault((r.env, r.algo), []).append(r)
    drawn = []
    for (env, algo), pair in by_pair.items():
        label = doc.env(env)
        doc.h(3, f"{label} · {algo} · execution")
        _table(doc, pair)
        path = _figure(env, label, algo, pair, groups, plot_dir)
        if path is not None:
            doc.img(path, f"{label} · {algo}: greedy and sampled execution")
            drawn.append(path)
        only = [f"`{r.breaker}`" for r in pair if r.verdict == "sampled only"]
        if only:
            doc.p(
                f"On {label} with {algo}, {', '.join(only)} score(s) only when the actions are "
                "sampled: acting greedily, the same policy gets nothing."
            )
    return drawn


def _table(doc: Doc, pair: list[ExecutionRow]) -> None:
    metric = pair[0].metric
    rate = metric in RATE_METRICS
    with_return = any(r.greedy_return is not None for r in pair)
    table = []
    for r in pair:
        row = [f"`{r.breaker}`", r.execution, fmt.cell(r.greedy, rate), fmt.cell(r.sampled, rate)]
        if with_return:
            row += [fmt.cell(r.greedy_return, False), fmt.cell(r.sampled_return, False)]
        table.append(row + [r.verdict, str(r.seeds)])
    header = ["breaker", "table uses", f"greedy {metric}", f"sampled {metric}"]
    header += ["greedy return", "sampled return"] * with_return + ["reading", "seeds"]
    doc.table(header, table)


def _figure(
    env: str,
    env_label: str,
    algo: str,
    pair: list[ExecutionRow],
    groups: dict[tuple[str, str, str], Group],
    plot_dir: Path,
) -> Path | None:
    """Per breaker, greedy then sampled: IQM, 95% CI and the seeds as dots."""
    metric = pair[0].metric
    scale = 100.0 if metric in RATE_METRICS else 1.0
    points, colors = [], {}
    for i, r in enumerate(pair):
        g = groups[(r.env, r.algo, r.breaker)]
        for ex, est in (("greedy", r.greedy), ("sampled", r.sampled)):
            if est is None:
                continue
            label = f"{r.breaker} · {ex}"
            values = [scale * v for _, v in sorted(g.readout(ex, metric).items())]
            points.append((label, est.scaled(scale), values))
            colors[label] = f"C{i % 10}"
    title = f"{env_label} · {algo}\nfinal {metric}, greedy and sampled execution: IQM, 95% CI"
    ylabel = f"{metric} (%)" if scale != 1.0 else metric
    slug = f"{file_safe(env)}-{algo}"
    return plots.final_plot(points, plot_dir / f"execution-{slug}.png", title, ylabel, colors)
