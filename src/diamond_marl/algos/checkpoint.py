"""Checkpoints of the whole training state (params, optimizer state, replay buffer, RNG keys,
counters, schedule state): the leaves of the state pytree in one ``.npz``, restored into the
structure of a freshly initialised state, so nothing but arrays touches the disk.

Two generations are kept (``latest`` and ``previous``); each write is atomic, and the JSON
sidecar is written after its arrays, so ``latest.json`` always names a complete checkpoint.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from diamond_marl.algos.store import atomic_write_bytes, atomic_write_json


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def save(directory: Path, state: Any, meta: dict[str, Any]) -> None:
    """Write ``state`` as the latest checkpoint; the former latest becomes ``previous``."""
    directory.mkdir(parents=True, exist_ok=True)
    latest_npz, latest_json = directory / "latest.npz", directory / "latest.json"
    if latest_json.exists():
        (directory / "previous.npz").write_bytes(latest_npz.read_bytes())
        atomic_write_json(directory / "previous.json", json.loads(latest_json.read_text()))
    buf = io.BytesIO()
    np.savez(buf, *_leaves(state))
    atomic_write_bytes(latest_npz, buf.getvalue())
    atomic_write_json(latest_json, {**meta, "num_leaves": len(jax.tree.leaves(state))})


def drop_previous(directory: Path) -> None:
    """Delete the ``previous`` generation: once a run has finished, only ``latest`` is read.

    With a replay buffer inside, one generation is large (QMIX on smax:5m_vs_6m: 1.2 GB), so a
    finished run keeps one, not two.
    """
    for name in ("previous.json", "previous.npz"):  # the sidecar first: it names the arrays
        (directory / name).unlink(missing_ok=True)


def exists(directory: Path) -> bool:
    return (directory / "latest.json").exists()


def load(directory: Path, template: Any, which: str = "latest") -> tuple[Any, dict[str, Any]]:
    """Restore a checkpoint into the structure (and dtypes) of ``template``."""
    meta = json.loads((directory / f"{which}.json").read_text())
    leaves, treedef = jax.tree.flatten(template)
    with np.load(directory / f"{which}.npz") as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(arrays) != len(leaves):
        raise ValueError(
            f"checkpoint in {directory} has {len(arrays)} arrays, the run's state has "
            f"{len(leaves)}: was it written by another configuration?"
        )
    restored = []
    for saved, ref in zip(arrays, leaves, strict=True):
        if saved.shape != np.shape(ref):
            raise ValueError(f"checkpoint array shape {saved.shape} != expected {np.shape(ref)}")
        restored.append(jax.numpy.asarray(saved, dtype=ref.dtype))
    return jax.tree.unflatten(treedef, restored), meta
