"""The sweep launcher end to end on a tiny suite: local and Ray executors, kill/resume, errors.

Every launch runs ``diamond-marl bench`` in a child process (whose cells are grandchildren),
which also checks that the launcher never imports JAX. The cells share a persistent XLA
compilation cache, so only the first sweep pays for compiling; results must not change.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from diamond_marl.bench.cell import STOP_AFTER_ENV
from diamond_marl.bench.report import write_report

TINY = """\
name: tiny
seeds: 2
defaults: {eval_episodes: 4, chunks: 2, net: {hidden: 8, heads: 2, blocks: 1}}
experiments:
  - envs: ["xor:n=2,k=2"]
    algos: [mappo]
    breakers: [none]
    steps: 600
  - envs: ["xor:n=2,k=2"]
    algos: [mappo]
    breakers: [rank]
    steps: 600
    # k=2 keeps the entity width: runs; k=3 changes it: recorded as an error
    transfer: ["xor:n=3,k=2", "xor:n=3,k=3"]
    analyze: {episodes: 4, pictures: 1}
    memory_gb: 0.5  # a hint: scheduling only (local budget; Ray's memory resource)
"""
CELLS = ("xor-n2_k2__mappo__none", "xor-n2_k2__mappo__rank")
_LAUNCH = """\
import sys
from diamond_marl.cli import main
status = main(sys.argv[1:])
print("launcher imported jax:", "jax" in sys.modules)
sys.exit(status)
"""

# one xdist worker runs this module, so its module fixture (the reference sweep) is built once
pytestmark = pytest.mark.xdist_group("test_launch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bench")
    suite = root / "tiny.yaml"
    suite.write_text(TINY)
    cache = root / "xla-cache"
    env = {
        "JAX_COMPILATION_CACHE_DIR": str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    return {"root": root, "suite": suite, "env": env}


def bench(tiny: dict, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCH, "bench", str(tiny["suite"]), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **tiny["env"], **(env or {})},
        cwd=tiny["root"],
        timeout=900,
    )
    assert "launcher imported jax: False" in proc.stdout, proc.stdout + proc.stderr
    return proc


def _rows(report_dir: Path) -> list[dict]:
    """report.json rows without the timing columns (wall time differs between sweeps)."""
    rows = json.loads((report_dir / "report.json").read_text())["rows"]
    timing = ("wall_s", "env_sps")
    return [{k: v for k, v in row.items() if k not in timing} for row in rows]


def _summary(out: Path, cell: str) -> dict:
    data = json.loads((out / cell / "cell.json").read_text())
    summary = dict(data["summary"])
    del summary["wall_s"], summary["time_s"]  # timing differs between runs
    return {"summary": summary, "transfer": data["transfer"], "analysis": data.get("analysis")}


@pytest.fixture(scope="module")
def reference(tiny) -> Path:
    """An uninterrupted sweep with the local executor, two cells at a time."""
    out = tiny["root"] / "reference"
    proc = bench(tiny, "--out", str(out), "--parallel", "2", "--no-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.mark.slow
def test_local_sweep_writes_a_cell_json_per_cell(reference):
    for cell in CELLS:
        data = json.loads((reference / cell / "cell.json").read_text())
        assert data["id"] == cell and data["suite"] == "tiny"
        assert data["summary"]["env_steps"] >= 600 and len(data["summary"]["seeds"]) == 2
        assert data["headline"]["metric"] == "success_rate"
        assert data["env_sps"] > 0 and data["wall_s"] > 0
        assert (reference / cell / "log.txt").exists() and (reference / cell / "spec.json").exists()
    none = json.loads((reference / CELLS[0] / "cell.json").read_text())
    assert none["headline"]["value"] == 0.0  # the trap is exact
    assert none["transfer"] == []
    ok, bad = json.loads((reference / CELLS[1] / "cell.json").read_text())["transfer"]
    assert ok["env"] == "xor:n=3,k=2" and ok["trained_on"] == "xor:n=2,k=2"
    assert len(ok["seeds"]) == 2 and "error" not in ok
    assert bad["env"] == "xor:n=3,k=3" and "features per entity token" in bad["error"]
    # the rank cell asked for the role analysis: files in analysis/, a summary in cell.json
    assert "analysis" not in none
    analysis = json.loads((reference / CELLS[1] / "cell.json").read_text())["analysis"]
    assert analysis["episodes"] == 4 and analysis["seeds"] == 2
    assert set(analysis["metrics"]) >= {"snd", "js", "role_entropy", "role_persistence"}
    assert analysis["metrics"]["role_persistence"] is None  # one-step game
    attacks = {a["attack"]: a for a in analysis["adversarial"]}
    assert list(attacks) == ["noise:5", "rank_first", "rank_last", "random"]
    assert not attacks["noise:5"]["applies"] and attacks["random"]["metric"] == "success_rate"
    assert analysis["timeline"] == "analysis/timeline-key0.png"
    for name in ("metrics.json", "adversarial.json", "timeline-key0.png", "index.md"):
        assert (reference / CELLS[1] / "analysis" / name).exists(), name
    cells = json.loads((reference / "cells.json").read_text())["cells"]
    assert [c.get("analyze") for c in cells] == [
        None,
        {"episodes": 4, "pictures": 1, "attacks": ["noise:5", "rank_first", "rank_last", "random"]},
    ]
    assert json.loads((reference / "cells.json").read_text())["suite"] == "tiny"
    assert (reference / "suite.yaml").read_text() == TINY


@pytest.mark.slow
def test_finished_sweep_is_not_rerun_and_dry_run_shows_it(tiny, reference):
    mtimes = {c: (reference / c / "cell.json").stat().st_mtime_ns for c in CELLS}
    proc = bench(tiny, "--out", str(reference), "--dry-run")
    assert proc.returncode == 0
    assert all(f"done  {c}" in proc.stdout for c in CELLS), proc.stdout
    proc = bench(tiny, "--out", str(reference), "--no-report")
    assert proc.returncode == 0 and "2 already finished, 0 to run" in proc.stdout
    assert mtimes == {c: (reference / c / "cell.json").stat().st_mtime_ns for c in CELLS}


@pytest.mark.slow
def test_killed_sweep_resumes_to_the_uninterrupted_result(tiny, reference):
    out = tiny["root"] / "resumed"
    # 1. a sweep that only got through its first cell
    proc = bench(tiny, "--out", str(out), "--only", "__none", "--no-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / CELLS[0] / "cell.json").exists() and not (out / CELLS[1]).exists()
    first = (out / CELLS[0] / "cell.json").stat().st_mtime_ns
    # 2. the second cell's process dies after its first chunk (checkpoint kept, no cell.json)
    proc = bench(tiny, "--out", str(out), "--no-report", env={STOP_AFTER_ENV: "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAILED {CELLS[1]}" in proc.stdout and str(out / CELLS[1] / "log.txt") in proc.stdout
    assert (out / CELLS[1] / "checkpoints" / "latest.json").exists()
    assert not (out / CELLS[1] / "cell.json").exists()
    # 3. re-run: the finished cell is untouched, the other resumes from its checkpoint
    proc = bench(tiny, "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 already finished, 1 to run" in proc.stdout
    assert (out / CELLS[0] / "cell.json").stat().st_mtime_ns == first
    assert "resuming the interrupted training" in (out / CELLS[1] / "log.txt").read_text()
    for cell in CELLS:
        assert _summary(out, cell) == _summary(reference, cell)
    # the launcher wrote the report at the end; it equals the uninterrupted sweep's report
    write_report(reference, tiny["root"] / "reference-report")
    assert _rows(out / "report") == _rows(tiny["root"] / "reference-report")
    assert "## Role analysis" in (out / "report" / "report.md").read_text()


@pytest.mark.slow
def test_ray_executor_on_a_local_instance(tiny, reference):
    out = tiny["root"] / "ray"
    proc = bench(tiny, "--out", str(out), "--executor", "ray", "--parallel", "2", "--no-report")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "local Ray instance" in proc.stdout
    for cell in CELLS:
        assert _summary(out, cell) == _summary(reference, cell)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_fails_before_any_cell(tiny):
    out = tiny["root"] / "unreachable"
    address = f"127.0.0.1:{_closed_port()}"
    proc = bench(tiny, "--out", str(out), "--executor", "ray", "--address", address)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot reach the Ray cluster at {address}" in proc.stderr
    assert not out.exists()


def test_a_cell_config_error_is_found_before_any_cell_starts(tiny):
    bad = tiny["root"] / "bad.yaml"
    bad.write_text(TINY.replace("chunks: 2", "chunks: 2, ppo: {epochz: 2}"))
    out = tiny["root"] / "bad"
    proc = subprocess.run(
        [sys.executable, "-m", "diamond_marl.cli", "bench", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tiny["root"],
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "2 cells cannot run" in proc.stderr and "ppo.epochz" in proc.stderr
    assert not out.exists()
