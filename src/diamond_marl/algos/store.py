"""A run's directory: every file written atomically (``diamond_marl.atomic``), so a crash
never leaves a half-written file that looks complete.

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
from pathlib import Path
from typing import Any

import yaml

from diamond_marl.atomic import atomic_write_json, atomic_write_text

METRIC_COLUMNS = ("env", "algo", "breaker", "seed", "step", "metric", "value")


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
