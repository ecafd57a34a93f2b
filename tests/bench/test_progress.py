"""The launcher's progress lines: counts, and a time-left estimate from the cells finished."""

from __future__ import annotations

import json

from diamond_marl.bench import launch
from diamond_marl.bench.cell import CELL_FILE
from diamond_marl.bench.executors import Job
from diamond_marl.bench.suite import Cell


def _job(tmp_path, name: str) -> Job:
    cell = Cell(name, "xor:n=2,k=2", "mappo", "none", 2, 1000, {}, ())
    return Job(cell, tmp_path / name)


def test_time_left_is_the_mean_cell_time_over_the_cells_left(tmp_path, monkeypatch):
    # t0; a, b start; a ends (120 s); c starts
    clock = iter([0.0, 0.0, 0.0, 120.0, 120.0])
    monkeypatch.setattr(launch.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = launch.Progress(5, 0, lines.append)
    jobs = [_job(tmp_path, name) for name in "abcde"]
    progress.add(jobs)
    assert progress.time_left() == ""  # nothing finished yet: no estimate
    progress.started(jobs[0])
    progress.started(jobs[1])
    jobs[0].run_dir.mkdir()
    (jobs[0].run_dir / CELL_FILE).write_text(json.dumps({"headline": {}}))
    progress.done(jobs[0], 0)
    # 120 s a cell, 4 cells left (1 running, 3 waiting), 2 at once: 240 s
    assert lines[-1].startswith("[1/5 done, 1 running, 3 left] done   a")
    assert lines[-1].endswith("; about 4 min left")
