"""A run's directory: every file written atomically (temp file + rename), so a crash never
leaves a half-written file that looks complete.

Layout of ``RUN_DIR``::

    config.yaml         the resolved TrainConfig
    metrics.csv         long-format rows: env, algo, breaker, seed, step, metric, value
    tb/                 TensorBoard event files (one tag per metric and seed)
    checkpoints/        while training: latest.npz + latest.json, the whole training state (and
                        previous.*: the last good one before); once finished: policy.npz +
                        policy.json, the acting parameters only
    summary.json        final evaluation per seed and mean; written last: its presence means
                        the run finished
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import yaml

METRIC_COLUMNS = ("env", "algo", "breaker", "seed", "step", "metric", "value")


def atomic_write_with(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """``write`` fills a temporary file beside ``path``, which then replaces ``path``: the
    data streams to disk, so writing a large file never holds a second copy of it in memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_with(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class RunStore:
    """Writes a run's outputs; metrics rows are kept in memory and the CSV rewritten whole."""

    def __init__(self, root: str | Path, labels: dict[str, str]) -> None:
        self.root = Path(root)
        self.labels = labels  # env, algo, breaker
        self.rows: list[tuple] = []
        self._tb = None

    # config ------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.root / "config.yaml", yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / "config.yaml").read_text())

    # metrics -----------------------------------------------------------------------------
    def load_metrics(self, up_to_step: int | None = None) -> None:
        """Reload rows written earlier (on resume), dropping any after ``up_to_step``."""
        path = self.root / "metrics.csv"
        self.rows = []
        if path.exists():
            with path.open() as f:
                for row in csv.DictReader(f):
                    step = int(row["step"])
                    if up_to_step is None or step <= up_to_step:
                        self.rows.append(
                            (
                                row["env"],
                                row["algo"],
                                row["breaker"],
                                int(row["seed"]),
                                step,
                                row["metric"],
                                float(row["value"]),
                            )
                        )

    def log(self, seed: int, step: int, metrics: dict[str, float]) -> None:
        lab = self.labels
        for name, value in metrics.items():
            self.rows.append(
                (lab["env"], lab["algo"], lab["breaker"], seed, step, name, float(value))
            )
            self._tensorboard().add_scalar(f"{name}/seed{seed}", float(value), step)

    def flush(self) -> None:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(METRIC_COLUMNS)
        writer.writerows(self.rows)
        atomic_write_text(self.root / "metrics.csv", buf.getvalue())
        if self._tb is not None:
            self._tb.flush()

    def _tensorboard(self):
        if self._tb is None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(self.root / "tb"), flush_secs=3600)
        return self._tb

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    # summary -----------------------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any], name: str = "summary.json") -> None:
        atomic_write_json(self.root / name, summary)

    def read_summary(self) -> dict[str, Any]:
        return json.loads((self.root / "summary.json").read_text())

    @property
    def finished(self) -> bool:
        return (self.root / "summary.json").exists()
