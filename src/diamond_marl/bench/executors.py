"""How a sweep's cells run: ``LocalExecutor`` (child processes of the launcher, ``parallel``
at a time within the cells' memory hints) and ``RayExecutor`` (each cell a Ray task).

Both run the same cell process, ``python -m diamond_marl.bench.cell RUN_DIR/spec.json``,
with its output appended to ``RUN_DIR/log.txt``, and report each start and end to the
launcher (``bench.launch``) through two callbacks. JAX-free, like the launcher.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diamond_marl.atomic import atomic_write_json
from diamond_marl.bench.cell import LOG_FILE, SPEC_FILE
from diamond_marl.bench.suite import Cell
from diamond_marl.errors import ConfigError

EXECUTORS = ("local", "ray")
_POLL_S = 0.2


@dataclasses.dataclass
class Job:
    """One cell to run, and its run directory."""

    cell: Cell
    run_dir: Path  # absolute

    @property
    def log(self) -> Path:
        return self.run_dir / LOG_FILE

    @property
    def spec(self) -> Path:
        return self.run_dir / SPEC_FILE


def cell_command(spec: str | Path, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "diamond_marl.bench.cell", str(spec)]


def prepare(job: Job, suite: str) -> None:
    """Create the cell's directory, its spec and the log header of this attempt."""
    job.run_dir.mkdir(parents=True, exist_ok=True)
    spec = {"suite": suite, "cell": job.cell.to_dict(), "run_dir": str(job.run_dir)}
    atomic_write_json(job.spec, spec)


def run_cell_process(spec: str, log: str) -> int:
    """Run one cell's process to completion, appending its output to ``log`` (a Ray task)."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    with open(log, "a") as f:
        f.write(f"\n== {now} on {socket.gethostname()}: {' '.join(cell_command(spec))}\n")
        f.flush()
        return subprocess.run(
            cell_command(spec), stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ).returncode


Started = Callable[[Job], None]
Done = Callable[..., None]


MEMORY_SHARE = 0.8  # of the machine's RAM, for the cells' hints by default (the rest: the OS)


def default_memory_gb() -> float | None:
    """``MEMORY_SHARE`` of the RAM in GB (``MemTotal`` of /proc/meminfo); None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return MEMORY_SHARE * int(line.split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        pass
    return None


def next_job(pending: deque[Job], running: list[Job], budget_gb: float | None) -> Job | None:
    """The first pending job whose ``memory_gb`` hint fits next to the running ones' (cells
    without a hint always fit), taken out of ``pending``; None if none fits. With nothing
    running the first job starts whatever its hint, so a cell larger than the budget runs
    alone instead of never."""
    used = sum(job.cell.memory_gb or 0.0 for job in running)
    for job in pending:
        need = job.cell.memory_gb or 0.0
        if not running or budget_gb is None or need == 0.0 or used + need <= budget_gb:
            pending.remove(job)
            return job
    return None


class LocalExecutor:
    """Cells as child processes of the launcher, ``parallel`` at a time, and no more at once
    than the cells' ``memory_gb`` hints allow in ``memory_gb`` (default: 80% of the RAM)."""

    def __init__(self, parallel: int | None, memory_gb: float | None = None) -> None:
        self.parallel = parallel or 1
        self.memory_gb = memory_gb or default_memory_gb()

    def describe(self) -> str:
        memory = f", cells' memory hints within {self.memory_gb:.1f} GB" if self.memory_gb else ""
        return f"local, {self.parallel} at a time{memory}"

    def start(self, cells: list[Cell]) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, jobs: list[Job], suite: str, started: Started, done: Done) -> None:
        pending = deque(jobs)
        running: dict[str, tuple[Job, subprocess.Popen, Any]] = {}
        try:
            while pending or running:
                while len(running) < self.parallel:
                    job = next_job(pending, [job for job, _, _ in running.values()], self.memory_gb)
                    if job is None:
                        break
                    prepare(job, suite)
                    log = open(job.log, "a")  # noqa: SIM115  (closed when the process ends)
                    now = datetime.datetime.now().isoformat(timespec="seconds")
                    log.write(f"\n== {now}: {' '.join(cell_command(job.spec))}\n")
                    log.flush()
                    proc = subprocess.Popen(
                        cell_command(job.spec),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL,
                    )
                    running[job.cell.id] = (job, proc, log)
                    started(job)
                for key, (job, proc, log) in list(running.items()):
                    if proc.poll() is not None:
                        log.close()
                        del running[key]
                        done(job, proc.returncode)
                time.sleep(_POLL_S)
        finally:
            for _job, proc, _log in running.values():  # interrupted: stop the children
                proc.terminate()
            for _job, proc, log in running.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                log.close()


def check_ray_memory(cells: list[Cell], cluster_bytes: float) -> None:
    """ConfigError if a cell's ``memory_gb`` hint exceeds the Ray cluster's ``memory``
    resource: Ray would keep such a task waiting forever."""
    big = max(cells, key=lambda c: c.memory_gb or 0.0, default=None)
    if big is not None and big.memory_gb and big.memory_gb * 1e9 > cluster_bytes:
        raise ConfigError(
            f"cell {big.id} has memory_gb={big.memory_gb:g}, more than the "
            f"{cluster_bytes / 1e9:.1f} GB memory resource of the Ray cluster: it could never "
            "start; lower the suite's memory_gb or add memory to the cluster"
        )


class RayExecutor:
    """Each cell a Ray task (``cpus_per_cell`` CPUs, and its ``memory_gb`` hint as Ray's
    ``memory`` resource) running the same cell process.

    The output directory and this Python environment must be reachable at the same paths on
    every node (a shared file system), as on a single machine.
    """

    def __init__(self, address: str | None, parallel: int | None, cpus_per_cell: float) -> None:
        self.address, self.parallel, self.cpus_per_cell = address, parallel, cpus_per_cell
        self._ray: Any = None

    def describe(self) -> str:
        where = f"Ray cluster {self.address}" if self.address else "local Ray instance"
        limit = f", {self.parallel} at a time" if self.parallel else ""
        return f"{where}, {self.cpus_per_cell:g} CPU per cell{limit}"

    def start(self, cells: list[Cell]) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install -r requirements.lock")
        if self.address and self.address not in ("auto", "local"):
            probe_address(self.address)
        kwargs: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["include_dashboard"] = False
            if self.parallel:
                kwargs["num_cpus"] = max(1, round(self.parallel * self.cpus_per_cell))
        try:
            ray.init(**kwargs)
        except ConnectionError as err:
            raise ConfigError(f"cannot connect to Ray at {self.address}: {err}")
        self._ray = ray
        resources = ray.cluster_resources()
        cpus = resources.get("CPU", 0)
        if cpus < self.cpus_per_cell:
            self.close()
            raise ConfigError(
                f"--cpus-per-cell {self.cpus_per_cell:g} is more than the {cpus:g} CPUs of the "
                "Ray cluster: no cell could ever start"
            )
        try:
            check_ray_memory(cells, resources.get("memory", 0.0))
        except ConfigError:
            self.close()
            raise

    def close(self) -> None:
        if self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None

    def run(self, jobs: list[Job], suite: str, started: Started, done: Done) -> None:
        ray = self._ray
        task = ray.remote(num_cpus=self.cpus_per_cell, max_retries=0)(run_cell_process)
        pending = deque(jobs)
        inflight: dict[Any, Job] = {}
        limit = self.parallel or len(jobs)
        try:
            while pending or inflight:
                while pending and len(inflight) < limit:
                    job = pending.popleft()
                    prepare(job, suite)
                    hint = job.cell.memory_gb  # Ray's memory resource, in bytes
                    call = task.options(memory=int(hint * 1e9)) if hint else task
                    inflight[call.remote(str(job.spec), str(job.log))] = job
                    started(job)
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    job = inflight.pop(ref)
                    try:
                        done(job, int(ray.get(ref)))
                    except Exception as err:  # the task itself failed (node lost, ...)
                        done(job, -1, note=f"Ray task failed: {type(err).__name__}: {err}")
        finally:
            for ref in inflight:  # interrupted: cancelling kills each task's cell process
                ray.cancel(ref)


def probe_address(address: str) -> None:
    """Fail fast on an unreachable cluster (ray.init would retry for minutes)."""
    text = address.removeprefix("ray://")
    default_port = 10001 if address.startswith("ray://") else 6379
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(default_port)
    if not port_text.isdigit() or not host:
        raise ConfigError(
            f"--address {address!r} must look like HOST:PORT (or ray://HOST:PORT, or auto)"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=5):
            pass
    except OSError as err:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({err}); start it with `ray start --head` "
            "or drop --address to run on a local Ray instance"
        )
