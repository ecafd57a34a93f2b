"""``diamond-marl report RUNS_DIR``: collect the typed report, render it, write the files.

Reads every run directory under RUNS_DIR (``bench.collect``: the suite's contrasts, the
results per env x algo x breaker with IQM and 95% stratified-bootstrap intervals, both
executions, the symmetry dial, the write-up's table when the suite asks for it, transfer,
role analysis, cost), renders it (``bench.render``) and writes ``report.json``,
``report.md``, a self-contained ``report.html``, ``marl_eval.json`` and ``plots/*.png`` into
``RUNS_DIR/report/``. JAX-free; nothing is read from outside RUNS_DIR but package data (and
the suite file given).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from diamond_marl.atomic import atomic_write_text, check_writable_dir
from diamond_marl.bench.collect import PLOTS, collect
from diamond_marl.bench.render.exports import marl_eval_json, report_json
from diamond_marl.bench.render.page import page

REPORT_DIRNAME = "report"


def write_report(
    runs_dir: str | Path,
    out_dir: str | Path | None = None,
    cost: str | Path | bool | None = None,
    suite: str | Path | None = None,
) -> dict[str, Path]:
    """Write the report of every run in ``runs_dir``; returns {relative name: path written}.

    ``cost``: a saved output of ``benchmarks/attention_overhead.py`` for the Cost section; by
    default the one shipped with the package (``diamond_marl/data/attention_overhead.txt``);
    ``False``: no Cost section. ``suite``: the suite file whose ``contrasts:`` to report
    (default: ``runs_dir/suite.yaml``, the copy a sweep keeps).
    """
    out = Path(out_dir) if out_dir is not None else Path(runs_dir) / REPORT_DIRNAME
    report = collect(runs_dir, out, cost, suite)
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
