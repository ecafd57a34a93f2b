"""The launcher's progress lines: counts, and a time-left estimate from the work finished."""

from __future__ import annotations

import json

from diamond_marl.bench import launch
from diamond_marl.bench.cell import CELL_FILE
from diamond_marl.bench.executors import Job
from diamond_marl.bench.suite import Cell


def _job(tmp_path, name: str, steps: int, seeds: int) -> Job:
    cell = Cell(name, "xor:n=2,k=2", "mappo", "none", seeds, steps, {}, ())
    return Job(cell, tmp_path / name)


def test_time_left_scales_the_wall_time_by_the_work_still_to_do(tmp_path, monkeypatch):
    clock = iter([0.0, 0.0, 60.0, 60.0])  # t0, the cell's start, its end, the estimate
    monkeypatch.setattr(launch.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    progress = launch.Progress(2, 0, lines.append)
    small, big = _job(tmp_path, "small", 1000, 2), _job(tmp_path, "big", 3000, 2)
    progress.add([small, big])
    assert progress.time_left() == ""  # nothing finished yet: no estimate
    progress.started(small)
    small.run_dir.mkdir()
    (small.run_dir / CELL_FILE).write_text(json.dumps({"headline": {}}))
    progress.done(small, 0)
    # 60 s for 2,000 units of work, 6,000 left: about 3 minutes
    assert lines[-1].startswith("[1/2 done, 0 running, 1 left] done   small")
    assert lines[-1].endswith("; about 3 min left")
