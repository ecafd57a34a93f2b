"""The report's section "Symmetry dial": every breaker's final score along a dial (``tie`` or
``spawn`` of ``mpe:spread``), a figure per score (greedy and sampled execution side by side)
and a table per env x algo x dial. Contrasts between breakers along it are the suite's
(``render.contrasts``)."""

from __future__ import annotations

from pathlib import Path

from diamond_marl.bench import plots
from diamond_marl.bench.dial import DIALS, DialLine, DialPoint
from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.runs import EXECUTIONS, RATE_METRICS
from diamond_marl.bench.stats import Estimate
from diamond_marl.env_names import file_safe

_TEXT = (
    "Each line is one breaker's final score at each setting of a symmetry dial: the IQM over "
    "seeds with its 95% bootstrap band. With `tie=p`, a share p of the episodes start with "
    "every agent at one point, where the agents see exactly the same thing and a shared "
    "deterministic policy moves them as one for the whole episode: p is the share of episodes "
    "the symmetry trap holds for such a policy (`diamond-marl env-check` prints it as "
    "`starts`). The left panel is greedy execution, the right one sampled (the policy's own "
    "distribution), for every breaker on the same episodes. The table gives both readouts and "
    "each breaker's differences from `none` paired by seed, in the headline score and in the "
    "return, each under its own execution (the `execution` column: greedy for all but "
    "`sampled`): mean [95% CI] (seeds better/worse)."
)


def section(doc: Doc, lines: list[DialLine], plot_dir: Path) -> list[Path]:
    """Tables and figures; returns the figures drawn into ``plot_dir``."""
    if not lines:
        return []
    doc.h(2, "Symmetry dial")
    doc.p("Final scores along each symmetry dial, greedy and sampled execution.")
    doc.method("Symmetry dial", _TEXT)
    by_dial: dict[tuple[str, str, str], list[DialLine]] = {}
    for line in lines:
        by_dial.setdefault((line.env, line.algo, line.dial), []).append(line)
    drawn: list[Path] = []
    for (env, algo, dial), group in by_dial.items():
        label = doc.env(env)
        doc.h(3, f"{label} · {algo} · {dial}")
        metric = group[0].metric
        for name in (metric, "return"):
            path = _figure(env, label, algo, dial, group, name, plot_dir)
            if path is not None:
                doc.img(path, f"{label} · {algo}: final {name} along {dial}")
                drawn.append(path)
        _table(doc, dial, group)
    return drawn


def _readout(point: DialPoint, execution: str, name: str, metric: str) -> Estimate | None:
    r = point.readouts
    if name == metric:
        return r.greedy if execution == "greedy" else r.sampled
    return r.greedy_return if execution == "greedy" else r.sampled_return


def _figure(
    env: str, env_label: str, algo: str, dial: str, group: list[DialLine], name: str, plot_dir: Path
) -> Path | None:
    metric = group[0].metric
    scale = 100.0 if name in RATE_METRICS else 1.0
    panels = []
    for ex in EXECUTIONS:
        per_breaker = {}
        for line in group:
            points = []
            for p in line.points:
                v = _readout(p, ex, name, metric)
                if v is not None:
                    points.append((p.value, v.scaled(scale)))
            per_breaker[line.breaker] = points
        panels.append((f"{ex} execution", per_breaker))
    colors = {line.breaker: f"C{i % 10}" for i, line in enumerate(group)}
    title = f"{env_label} · {algo}: final {name} along {dial} (IQM, 95% CI)"
    ylabel = f"{name} (%)" if scale != 1.0 else name
    slug = f"{file_safe(env)}-{algo}-{dial}-{name}"
    return plots.dial_plot(
        panels, plot_dir / f"dial-{slug}.png", title, DIALS[dial], ylabel, colors
    )


def _table(doc: Doc, dial: str, group: list[DialLine]) -> None:
    metric = group[0].metric
    rate = metric in RATE_METRICS
    rows = []
    for line in group:
        for p in line.points:
            r = p.readouts
            rows.append(
                [f"`{line.breaker}`", f"{p.value:g}", r.execution,
                 fmt.cell(r.greedy, rate), fmt.cell(r.sampled, rate),
                 fmt.cell(r.greedy_return, False), fmt.cell(r.sampled_return, False),
                 fmt.difference(p.vs_none, rate), fmt.difference(p.return_vs_none, False),
                 str(r.seeds)]
            )  # fmt: skip
    header = [
        "breaker", dial, "execution", f"greedy {metric}", f"sampled {metric}",
        "greedy return", "sampled return", f"{metric} - none (paired)",
        "return - none (paired)", "seeds",
    ]  # fmt: skip
    doc.table(header, rows)
