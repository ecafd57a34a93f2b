"""The sweep launcher behind ``diamond-marl bench SUITE``: one process per cell, locally or on Ray
(the executors: ``bench.executors``).

Never imports JAX (tests check it): the suite is validated in pure Python and every cell's
full training config is resolved by a preflight child process before any cell starts. Each
cell is ``python -m diamond_marl.bench.cell RUN_DIR/spec.json`` with its output in
``RUN_DIR/log.txt``; it is finished iff ``RUN_DIR/cell.json`` exists, so re-running a killed
sweep finishes the rest and never redoes a finished cell (an interrupted cell resumes from its
last checkpoint).

Output directory (default ``runs/bench/<suite name>``)::

    suite.yaml        the suite file as last launched
    cells.json        the expanded cells: a later launch with other cells is refused
    <cell id>/        one training run (config.yaml, metrics.csv, checkpoints/, summary.json,
                      eval/) plus spec.json, log.txt and, when finished, cell.json
    report/           written by diamond_marl.bench.report at the end (unless --no-report)
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diamond_marl.atomic import atomic_write_json, atomic_write_text, check_writable_dir
from diamond_marl.bench.cell import CELL_FILE, EXIT_INTERRUPTED
from diamond_marl.bench.executors import EXECUTORS, Job, LocalExecutor, RayExecutor
from diamond_marl.bench.suite import Cell, Suite, load_suite
from diamond_marl.errors import ConfigError

RECORD_FILE = "cells.json"
SUITE_COPY = "suite.yaml"


@dataclasses.dataclass
class Options:
    """What ``diamond-marl bench`` was asked to do (see ``bench.cli``)."""

    suite: str | Path
    out: str | Path | None = None  # default runs/bench/<suite name>
    executor: str = "local"
    parallel: int | None = None  # cells at a time (local default 1; ray default: no limit)
    address: str | None = None  # Ray cluster to connect to (default: a local Ray instance)
    cpus_per_cell: float = 1.0  # Ray: CPUs reserved per cell task
    memory_gb: float | None = None  # local: what the cells' hints may add up to (default: 80% RAM)
    only: tuple[str, ...] = ()  # run only cells whose id contains one of these
    dry_run: bool = False
    report: bool = True


# The sweep ------------------------------------------------------------------------------------


def run_bench(opts: Options, stream: Any = None) -> int:
    """Validate, skip finished cells, run the rest, report. 0 = all finished, 1 = failures."""
    out_ = stream or sys.stdout

    def say(text: str) -> None:
        print(text, file=out_, flush=True)

    if opts.executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {opts.executor!r}; allowed: {', '.join(EXECUTORS)}")
    if opts.parallel is not None and opts.parallel < 1:
        raise ConfigError(f"--parallel {opts.parallel} must be >= 1")
    if not opts.cpus_per_cell > 0:
        raise ConfigError(f"--cpus-per-cell {opts.cpus_per_cell} must be > 0")
    if opts.memory_gb is not None and not opts.memory_gb > 0:
        raise ConfigError(f"--memory-gb {opts.memory_gb} must be > 0")
    suite = load_suite(opts.suite)
    out = Path(opts.out or Path("runs") / "bench" / suite.name)
    selected = select(suite.cells, opts.only)
    recorded = check_out_dir(out, suite)
    check_writable_dir(out, "--out ")
    finished = {c.id for c in selected if (out / c.id / CELL_FILE).exists()}
    todo = [c for c in selected if c.id not in finished]
    if not recorded:
        preflight(suite.cells)  # every cell, so a later --only cannot hit a bad one
    if opts.dry_run:
        print_plan(suite, selected, finished, out, say)
        return 0

    executor = make_executor(opts)
    if todo:
        executor.start(todo)  # connects to Ray (or fails) before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / SUITE_COPY, suite.source or json.dumps(suite.canonical()))
        atomic_write_json(out / RECORD_FILE, suite.canonical())
        how = f" ({executor.describe()})" if todo else ""
        say(
            f"suite {suite.name}: {len(selected)} cells, {len(finished)} already finished, "
            f"{len(todo)} to run{how} -> {out}"
        )
        progress = Progress(len(selected), len(finished), say)
        jobs = [Job(c, (out / c.id).resolve()) for c in todo]
        progress.add(jobs)
        if jobs:
            executor.run(jobs, suite.name, progress.started, progress.done)
            progress.summary()
    finally:
        executor.close()
    status = 1 if progress.failed else 0
    if opts.report and any((out / c.id / CELL_FILE).exists() for c in suite.cells):
        if not run_report(out, say):
            status = 1
    return status


def select(cells: tuple[Cell, ...], only: tuple[str, ...]) -> list[Cell]:
    if not only:
        return list(cells)
    chosen = [c for c in cells if any(s in c.id for s in only)]
    if not chosen:
        ids = ", ".join(c.id for c in cells[:6]) + (", ..." if len(cells) > 6 else "")
        raise ConfigError(f"--only {' '.join(only)} matches no cell of the suite; cells: {ids}")
    return chosen


def check_out_dir(out: Path, suite: Suite) -> bool:
    """True if ``out`` already belongs to exactly this suite; ConfigError if to another one."""
    record = out / RECORD_FILE
    if record.exists():
        old = json.loads(record.read_text())
        new = json.loads(json.dumps(suite.canonical()))
        if old == new:
            return True
        raise ConfigError(
            f"{out} holds results of a different suite ({_difference(old, new)}); results of "
            f"different suites must not mix: choose another --out, or delete {out} to start over"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            f"{out} exists and is not the output directory of a bench run (no {RECORD_FILE}); "
            "choose another --out"
        )
    return False


def _difference(old: dict, new: dict) -> str:
    if old.get("suite") != new.get("suite"):
        return f"suite {old.get('suite')!r}, not {new.get('suite')!r}"
    before = {c["id"]: c for c in old.get("cells", [])}
    after = {c["id"]: c for c in new["cells"]}
    parts = []
    for what, ids in (
        ("changed", [i for i in after if i in before and before[i] != after[i]]),
        ("added", [i for i in after if i not in before]),
        ("removed", [i for i in before if i not in after]),
    ):
        if ids:
            parts.append(f"{what}: {', '.join(ids[:4])}" + (" ..." if len(ids) > 4 else ""))
    return "; ".join(parts) or "cell order changed"


def preflight(cells: tuple[Cell, ...] | list[Cell]) -> None:
    """Resolve every cell's training config in a child process (JAX stays out of this one)."""
    with tempfile.TemporaryDirectory(prefix="diamond-marl-bench-") as tmp:
        path = Path(tmp) / "cells.json"
        path.write_text(json.dumps([c.to_dict() for c in cells]))
        proc = subprocess.run(
            [sys.executable, "-m", "diamond_marl.bench.cell", "--check", str(path)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    if proc.returncode == 0:
        return
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode == 2 and lines:
        if len(lines) == 1:
            raise ConfigError(lines[0])
        raise ConfigError(f"{len(lines)} cells cannot run:\n  " + "\n  ".join(lines))
    tail = "\n".join(lines[-15:])
    raise RuntimeError(f"the suite check crashed (exit {proc.returncode}):\n{tail}")


def print_plan(
    suite: Suite, cells: list[Cell], finished: set[str], out: Path, say: Callable
) -> None:
    say(f"suite {suite.name}: {len(cells)} cells, {len(finished)} finished -> {out}")
    width = max(len(c.id) for c in cells)
    for c in cells:
        steps = f"{c.steps:,} steps" if c.steps else "default steps"
        extra = f"  transfer: {', '.join(c.transfer)}" if c.transfer else ""
        if c.analyze is not None:
            extra += f"  analyze: {c.analyze['episodes']} episodes"
        state = "done" if c.id in finished else "todo"
        say(f"  {state}  {c.id:{width}}  {c.seeds} seeds  {steps}{extra}")


# Progress ---------------------------------------------------------------------------------


class Progress:
    """Counts and one line per event: plain text, so it reads the same in a terminal or a log.

    After each finished cell it estimates the time left: the mean wall time of the cells
    finished so far, times the cells still waiting or running, over the cells that run at
    once. Cells of one suite can differ a lot (the quick suite lists its longest first, so
    its early estimates are high): a rough guide that sharpens as cells finish."""

    def __init__(self, total: int, done: int, say: Callable[[str], None]) -> None:
        self.total, self.finished, self.say = total, done, say
        self.running: dict[str, float] = {}
        self.waiting: dict[str, Job] = {}
        self.failed: list[tuple[str, str]] = []  # (cell id, log path)
        self.t0 = time.perf_counter()
        self.walls: list[float] = []  # of the cells finished here
        self.at_once = 1  # the most cells seen running together

    def add(self, jobs: list[Job]) -> None:
        """The jobs still to run."""
        self.waiting.update((job.cell.id, job) for job in jobs)

    def _counts(self) -> str:
        left = len(self.waiting)
        failed = f", {len(self.failed)} failed" if self.failed else ""
        return (
            f"[{self.finished}/{self.total} done{failed}, {len(self.running)} running, {left} left]"
        )

    def time_left(self) -> str:
        """``about N min left`` ("" before the first cell finishes or after the last)."""
        left = len(self.waiting) + len(self.running)
        if not self.walls or not left:
            return ""
        seconds = sum(self.walls) / len(self.walls) * left / self.at_once
        return f"; about {max(1, round(seconds / 60))} min left"

    def started(self, job: Job) -> None:
        self.waiting.pop(job.cell.id, None)
        self.running[job.cell.id] = time.perf_counter()
        self.at_once = max(self.at_once, len(self.running))
        self.say(f"{self._counts()} start  {job.cell.id}")

    def done(self, job: Job, returncode: int, note: str = "") -> None:
        wall = time.perf_counter() - self.running.pop(job.cell.id, self.t0)
        record = job.run_dir / CELL_FILE
        if returncode == 0 and record.exists():
            self.finished += 1
            self.walls.append(wall)
            self.say(
                f"{self._counts()} done   {job.cell.id}  {_headline(record)}  {wall:.0f} s"
                + self.time_left()
            )
            return
        self.failed.append((job.cell.id, str(job.log)))
        why = (
            "stopped early"
            if returncode == EXIT_INTERRUPTED
            else note or f"exit status {returncode}" + ("" if returncode else ", no cell.json")
        )
        last = _last_line(job.log)
        self.say(
            f"{self._counts()} FAILED {job.cell.id} ({why}) after {wall:.0f} s; log: {job.log}"
            + (f"\n    {last}" if last else "")
        )

    def summary(self) -> None:
        took = time.perf_counter() - self.t0
        self.say(
            f"{self.finished}/{self.total} cells finished, {len(self.failed)} failed ({took:.0f} s)"
        )
        for cell_id, log in self.failed:
            self.say(f"  failed: {cell_id}  log: {log}")


def _headline(record: Path) -> str:
    try:
        data = json.loads(record.read_text())
        head = data["headline"]
        sps = data.get("env_sps")
        speed = f", {sps:,.0f} env steps/s" if sps else ""
        return f"{head['metric']}={head['value']:.3f} (train {data['train_wall_s']:.0f} s{speed})"
    except (OSError, ValueError, KeyError, TypeError):
        return "(cell.json unreadable)"


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def make_executor(opts: Options) -> LocalExecutor | RayExecutor:
    if opts.executor == "ray":
        return RayExecutor(opts.address, opts.parallel, opts.cpus_per_cell)
    if opts.address:
        raise ConfigError("--address needs --executor ray")
    return LocalExecutor(opts.parallel, opts.memory_gb)


# Report -----------------------------------------------------------------------------------


def run_report(out: Path, say: Callable[[str], None]) -> bool:
    """Write the sweep's report in a child process (it loads pandas and matplotlib)."""
    proc = subprocess.run(
        [sys.executable, "-m", "diamond_marl.cli", "report", str(out)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        say(f"report failed (exit {proc.returncode}); retry with: diamond-marl report {out}")
        say(tail)
        return False
    say(f"report of {out}:\n{proc.stdout.rstrip()}")
    return True
