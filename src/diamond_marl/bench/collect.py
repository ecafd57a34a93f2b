"""The typed report: every run of a directory read, grouped and turned into rows (JAX-free).

``collect`` is where a ``Report`` is built: the suite's contrasts first (``bench.contrast``,
from the ``contrasts:`` of the suite file beside the runs or the one given), then the results
per env x algo x breaker (``bench.rows``), both executions, the symmetry dial
(``bench.dial``), the write-up's table when the suite asks for it (``bench.writeup``),
transfer, role analysis and cost. ``bench.report`` renders and writes it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from diamond_marl.bench.contrast import ContrastRow, contrast_rows
from diamond_marl.bench.contrasts_spec import Contrast, parse_contrasts
from diamond_marl.bench.dial import DialLine, dial_lines
from diamond_marl.bench.rows import (
    HIDDEN,
    AnalysisRow,
    CostSummary,
    ExecutionRow,
    ResultRow,
    TransferRow,
    Unfinished,
    analysis_rows,
    cost_summary,
    execution_rows,
    result_rows,
    transfer_rows,
    unfinished_rows,
)
from diamond_marl.bench.runs import Group, discover, group_runs
from diamond_marl.bench.writeup import Reference, WriteupEntry, load_reference, writeup_rows
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import DATA, package_file

PLOTS = "plots"
SUITE_COPY = "suite.yaml"  # the suite file a sweep's directory keeps (bench.launch)
# the micro-benchmark's saved output the Cost section shows unless told otherwise (package data)
COST_FILE = "attention_overhead.txt"


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything a report shows, in ``report.json``'s order; the hidden fields are what the
    renderers need beyond the rows (the groups' learning curves, the write-up's table)."""

    runs_dir: str
    contrasts: list[ContrastRow]  # the suite's contrasts, in its order
    rows: list[ResultRow]
    executions: list[ExecutionRow]  # greedy and sampled, where the runs recorded both
    dial: list[DialLine]  # breakers along a symmetry dial, where the runs span one
    writeup: list[WriteupEntry]  # the write-up's rows our runs include, if the suite asks
    transfer: list[TransferRow]
    analysis: list[AnalysisRow]
    cost: CostSummary | None
    not_finished: list[Unfinished]
    notes: list[str]
    directories: int = dataclasses.field(metadata=HIDDEN)  # run directories read
    groups: dict[tuple[str, str, str], Group] = dataclasses.field(metadata=HIDDEN)
    reference: Reference = dataclasses.field(metadata=HIDDEN)
    spec: tuple[Contrast, ...] = dataclasses.field(default=(), metadata=HIDDEN)


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


def suite_contrasts(path: Path) -> tuple[Contrast, ...]:
    """The ``contrasts:`` of a suite file (nothing else of it is read: a sweep's copy may
    predate today's suite keys); none if the file does not exist."""
    if not path.is_file():
        return ()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"suite file {path}: unreadable ({err})")
    try:
        return parse_contrasts(data.get("contrasts") if isinstance(data, dict) else None)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}")


def collect(
    runs_dir: str | Path,
    out: Path,
    cost: str | Path | bool | None = None,
    suite: str | Path | None = None,
) -> Report:
    """The typed report of every run in ``runs_dir`` (``out``, the report folder, is skipped).

    ``suite``: the suite file whose ``contrasts:`` to report (default: ``runs_dir``'s own
    ``suite.yaml``, if any)."""
    runs_dir = Path(runs_dir)
    spec = suite_contrasts(Path(suite) if suite is not None else runs_dir / SUITE_COPY)
    if suite is not None and not Path(suite).is_file():
        raise ConfigError(f"suite file {suite} does not exist")
    notes: list[str] = []
    cost_info = _cost(cost, notes)
    runs = discover(runs_dir, out)
    groups = group_runs(runs, notes)
    reference = load_reference()
    executions = execution_rows(groups)
    forms = tuple(dict.fromkeys(c.breaker.breaker for c in spec if c.writeup))
    return Report(
        runs_dir=str(runs_dir), contrasts=contrast_rows(groups, spec), rows=result_rows(groups),
        executions=executions, dial=dial_lines(groups, executions),
        writeup=writeup_rows(groups, reference, forms),
        transfer=transfer_rows(runs), analysis=analysis_rows(runs, PLOTS), cost=cost_info,
        not_finished=unfinished_rows(runs), notes=notes, directories=len(runs), groups=groups,
        reference=reference, spec=spec,
    )  # fmt: skip
