"""The report's sections "Results per environment and algorithm" (a table and three figures
per env x algo: final scores, learning curves, sigma over training) and "Transfer"."""

from __future__ import annotations

from pathlib import Path

from diamond_marl.bench import plots
from diamond_marl.bench.render import fmt
from diamond_marl.bench.render.doc import Doc
from diamond_marl.bench.rows import ResultRow, TransferRow
from diamond_marl.bench.runs import RATE_METRICS, Group
from diamond_marl.breaker_names import LOGIT_NOISE, base_name
from diamond_marl.env_names import file_safe


def section(
    doc: Doc, rows: list[ResultRow], groups: dict[tuple[str, str, str], Group], plot_dir: Path
) -> list[Path]:
    """Tables and figures; returns the figures drawn into ``plot_dir``."""
    doc.h(2, "Results per environment and algorithm")
    by_pair: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        by_pair.setdefault((r.env, r.algo), []).append(r)
    drawn: list[Path] = []
    for (env, algo), pair_rows in by_pair.items():
        doc.h(3, f"{doc.env(env)} · {algo}")
        _table(doc, pair_rows)
        pair = [groups[(env, algo, r.breaker)] for r in pair_rows]
        drawn += _figures(doc, env, algo, pair_rows, pair, plot_dir)
    return drawn


def _table(doc: Doc, pair_rows: list[ResultRow]) -> None:
    metric = pair_rows[0].metric
    rate = metric in RATE_METRICS
    with_return = any(r.final_return is not None for r in pair_rows)
    table = []
    for r in pair_rows:
        p, ret = r.p_beats_none, r.final_return
        ret_text = fmt.cell(ret, False)
        table.append(
            [
                f"`{r.breaker}`",
                fmt.estimate(r.score, rate),
                fmt.num(r.mean, rate),
                ", ".join(fmt.num(v, rate) for v in r.seed_values.values()),
                *([ret_text] if with_return else []),
                " / ".join(f"{s:,}" for s in r.all_env_steps) or "-",
                fmt.duration(r.wall_s),
                "-" if r.env_sps is None else f"{r.env_sps:,.0f}",
                "-" if p is None else f"{p.value:.2f} [{p.low:.2f}, {p.high:.2f}]",
            ]
        )
    unit = " (%)" if rate else ""
    header = ["breaker", f"final {metric}: IQM [95% CI]", f"mean{unit}"]
    header += [f"per seed, in seed order{unit}"]
    header += ["final return: IQM [95% CI]"] * with_return + ["env steps (per seed)"]
    header += ["wall time", "env steps/s", "P(beats none) [95% CI]"]
    doc.table(header, table)


def _figures(
    doc: Doc, env: str, algo: str, rows: list[ResultRow], pair: list[Group], plot_dir: Path
) -> list[Path]:
    """Final scores, evaluation curves and (for logit-noise breakers) sigma over training."""
    metric = rows[0].metric
    rate = metric in RATE_METRICS
    ylabel = f"{metric} (%)" if rate else metric
    scale = 100.0 if rate else 1.0
    slug = f"{file_safe(env)}-{algo}"
    colors = {g.breaker: f"C{i % 10}" for i, g in enumerate(pair)}
    final = [
        (r.breaker, r.score.scaled(scale), scale * g.scores)
        for r, g in zip(rows, pair, strict=True)
    ]
    title = f"{doc.env(env)} · {algo}\nfinal {metric}: IQM and 95% CI over seeds"
    path = plots.final_plot(final, plot_dir / f"final-{slug}.png", title, ylabel, colors)
    doc.img(path, title)
    curves = {}
    for g in pair:
        _, steps, values = g.curve(f"eval_{metric}")
        curves[g.breaker] = (steps, scale * values)
    title = f"{doc.env(env)} · {algo}\nevaluation {metric}: mean over seeds, 95% bootstrap band"
    path2 = plots.band_plot(curves, plot_dir / f"curves-{slug}.png", title, ylabel, colors=colors)
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
    title = f"{doc.env(env)} · {algo}\nnoise std over training (sigma, else noise_scale)"
    path3 = plots.band_plot(sigma, plot_dir / f"sigma-{slug}.png", title, "sigma", colors=colors)
    doc.img(path3, title)
    return [f for f in (path, path2, path3) if f is not None]


def transfer_section(doc: Doc, transfer: list[TransferRow]) -> None:
    if not transfer:
        return
    doc.h(2, "Transfer")
    doc.p("Policies re-evaluated on another environment or team size (`diamond-marl eval`).")
    rows = []
    for t in transfer:
        if t.score is None:
            result, metric, seeds = f"cannot run: {t.error}", "-", "-"
        else:
            s = t.score
            result = fmt.estimate(s, t.metric in RATE_METRICS)
            metric, seeds = t.metric, s.seeds
        row = [f"`{doc.env(t.trained_on)}`", t.algo, f"`{t.breaker}`", f"`{doc.env(t.eval_env)}`"]
        rows.append(row + [metric, result, str(seeds)])
    header = ["trained on", "algo", "breaker", "evaluated on", "metric", "IQM [95% CI]", "seeds"]
    doc.table(header, rows)
