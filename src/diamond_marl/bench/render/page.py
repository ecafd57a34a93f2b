"""The report's page: its sections in order, from the typed report to one ``Doc``: the
summary of the suite's contrasts first, then their tables, the write-up's table (for suites
that ask for it) and the results; how the numbers are made closes it, folded."""

from __future__ import annotations

from pathlib import Path

from diamond_marl.bench.collect import Report
from diamond_marl.bench.render import contrasts, cost, dial, executions, results, roles, writeup
from diamond_marl.bench.render.doc import Doc
from diamond_marl.env_names import short_names

TITLE = "diamond-marl benchmark report"
_STATS_TEXT = (
    "Each number is the final evaluation (execution mode, 10x the periodic evaluation's "
    "episodes; greedy for every breaker but `sampled`, see Greedy and sampled execution) of "
    "one seed; across seeds we report the interquartile mean (IQM, "
    "`scipy.stats.trim_mean(x, 0.25)`, as rliable) with a 95% percentile interval from 2000 "
    "stratified-bootstrap resamples of the seeds. P(beats none) is the probability that a "
    "random seed of the breaker scores higher than a random seed of `none` (ties count half), "
    "with a bootstrap interval. With few seeds the intervals are wide: read them before the "
    "point estimates. Learning curves show the mean over seeds with a 95% percentile-bootstrap "
    "band over seeds (1000 resamples) at each evaluation step. Rates are in percent."
)


def page(report: Report, out: Path, plot_dir: Path) -> tuple[Doc, list[Path]]:
    """The page of ``report`` (its images relative to ``out``) and the figures drawn for it
    into ``plot_dir``. The role timelines must already be in ``plot_dir``."""
    doc = Doc(TITLE)
    finished = report.directories - len(report.not_finished)
    doc.p(
        f"Runs read from `{report.runs_dir}`: {report.directories} directories, "
        f"{finished} finished."
    )
    doc.method("Statistics", _STATS_TEXT)
    _environments(doc, report)
    contrasts.summary(doc, report.contrasts)
    contrasts.section(doc, report.contrasts)
    forms = tuple(dict.fromkeys(c.breaker.breaker for c in report.spec if c.writeup))
    writeup.section(doc, report.writeup, report.reference, forms)
    drawn = results.section(doc, report.rows, report.groups, plot_dir)
    drawn += executions.section(doc, report.executions, report.groups, plot_dir)
    drawn += dial.section(doc, report.dial, plot_dir)
    results.transfer_section(doc, report.transfer)
    roles.section(doc, report.analysis, out)
    cost.section(doc, report.cost)
    if report.not_finished:
        doc.h(2, "Not finished")
        doc.ul(
            [
                f"`{u.dir}` ({doc.env(u.env)}, {u.algo}, {u.breaker}): {u.note}"
                for u in report.not_finished
            ]
        )
    if report.notes:
        doc.h(2, "Notes")
        doc.ul(report.notes)
    return doc, drawn


def _environments(doc: Doc, report: Report) -> None:
    """Label the report's environments (``short_names``); list each shortened one in full."""
    names = [r.env for r in report.rows] + [u.env for u in report.not_finished]
    names += [t.trained_on for t in report.transfer] + [t.eval_env for t in report.transfer]
    names += [c.env for r in report.contrasts for c in r.cells]
    names += [r.env for r in report.executions + report.analysis + report.dial]
    doc.env_names = short_names(names)
    shortened = {n: s for n, s in doc.env_names.items() if s != n}
    if shortened:
        doc.h(2, "Environments")
        doc.p("Long environment names are shortened on this page. In full:")
        doc.ul([f"`{s}`: `{n}`" for n, s in shortened.items()])
