"""``diamond-marl report RUNS_DIR``: read the runs, compute the typed rows, render, write.

Reads every run directory under RUNS_DIR (a benchmark cell with ``cell.json``, or a plain
``diamond-marl train`` run with ``summary.json``; ``bench.runs``), computes the report's
rows (``bench.rows``: IQM with 95% stratified-bootstrap intervals and the probability of
improvement over ``none`` per env x algo x breaker, both executions, the symmetry dial
(``bench.dial``), transfer, role analysis, cost;
``bench.writeup``: the write-up's table beside ours, for the rows our runs include),
renders them (``bench.render``) and writes ``report.json``, ``report.md``, a
self-contained ``report.html``, ``marl_eval.json`` and ``plots/*.png`` into
``RUNS_DIR/report/``. JAX-free; nothing is read from outside RUNS_DIR but package data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from diamond_marl.atomic import atomic_write_text, check_writable_dir
from diamond_marl.bench.dial import dial_contrasts, dial_lines
from diamond_marl.bench.render.exports import marl_eval_json, report_json
from diamond_marl.bench.render.page import page
from diamond_marl.bench.rows import (
    CostSummary,
    Report,
    analysis_rows,
    cost_summary,
    execution_rows,
    result_rows,
    transfer_rows,
    unfinished_rows,
)
from diamond_marl.bench.runs import discover, group_runs
from diamond_marl.bench.writeup import compare, load_reference
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import DATA, package_file

REPORT_DIRNAME = "report"
PLOTS = "plots"
# the micro-benchmark's saved output the Cost section shows unless told otherwise (package data)
COST_FILE = "attention_overhead.txt"


def default_cost() -> Path:
    """The package's saved ``benchmarks/attention_overhead.py`` output."""
    return package_file(DATA, COST_FILE)


def _cost(cost: str | Path | bool | None, notes: list[str]) -> CostSummary | None:
    if cost is False:
        return None
    if cost is None or cost is True:
        try:
            return cost_summary(default_cost(), source=f"diamond_marl/{DATA}/{COST_FILE}")
        except ConfigError as err:
            notes.append(f"no Cost section: {err}")
            return None
    return cost_summary(Path(cost))


def collect(runs_dir: str | Path, out: Path, cost: str | Path | bool | None = None) -> Report:
    """The typed report of every run in ``runs_dir`` (``out``, the report folder, is skipped)."""
    runs_dir = Path(runs_dir)
    notes: list[str] = []
    cost_info = _cost(cost, notes)
    runs = discover(runs_dir, out)
    groups = group_runs(runs, notes)
    reference = load_reference()
    executions = execution_rows(groups)
    return Report(
        runs_dir=str(runs_dir), rows=result_rows(groups), executions=executions,
        dial=dial_lines(groups, executions), contrasts=dial_contrasts(groups, executions),
        writeup=compare(groups, reference),
        transfer=transfer_rows(runs), analysis=analysis_rows(runs, PLOTS), cost=cost_info,
        not_finished=unfinished_rows(runs), notes=notes, directories=len(runs), groups=groups,
        reference=reference,
    )  # fmt: skip


def write_report(
    runs_dir: str | Path, out_dir: str | Path | None = None, cost: str | Path | bool | None = None
) -> dict[str, Path]:
    """Write the report of every run in ``runs_dir``; returns {relative name: path written}.

    ``cost``: a saved output of ``benchmarks/attention_overhead.py`` for the Cost section; by
    default the one shipped with the package (``diamond_marl/data/attention_overhead.txt``);
    ``False``: no Cost section.
    """
    out = Path(out_dir) if out_dir is not None else Path(runs_dir) / REPORT_DIRNAME
    report = collect(runs_dir, out, cost)
    check_writable_dir(out, "report folder ")
    plot_dir = out / PLOTS
    plot_dir.mkdir(parents=True, exist_ok=True)
    for old in plot_dir.glob("*.png"):  # a re-run must not keep figures of removed cells
        old.unlink()
    written: list[Path] = []
    for row in report.analysis:  # the role timelines, before the page embeds them
        if row.timeline_source is not None and row.result is not None and row.result.timeline:
            target = out / row.result.timeline
            shutil.copyfile(row.timeline_source, target)
            written.append(target)
    doc, drawn = page(report, out, plot_dir)
    files = {
        "report.json": report_json(report),
        "report.md": doc.markdown(out),
        "report.html": doc.html(),
        "marl_eval.json": marl_eval_json(report.groups),
    }
    result = {}
    for name, text in files.items():
        atomic_write_text(out / name, text + "\n")
        result[name] = out / name
    for path in written + drawn:
        result[path.relative_to(out).as_posix()] = path
    return result
