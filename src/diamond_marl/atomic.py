"""Atomic file writes (temp file beside the target + rename), shared by training runs,
checkpoints, benchmark cells and the analysis: a crash never leaves a half-written file
that looks complete, and a reader never sees one. ``check_writable_dir`` lets a command
refuse an output directory it could not write before it writes anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from diamond_marl.errors import ConfigError


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


def check_writable_dir(path: str | Path, option: str) -> None:
    """ConfigError unless ``path`` is a directory we can write in, or one we could create.

    ``option`` is how the user gave it (``"out="``, ``"--out "``), for the message. Probes by
    creating what is missing and a temporary file in it, then removes both: nothing is left
    behind either way.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option}{path}: exists and is not a directory")
    missing = []  # the directories the probe creates, deepest first
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    try:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            where = f": {err.filename}" if err.filename and str(err.filename) != str(path) else ""
            raise ConfigError(
                f"{option}{path}: cannot create this directory ({err.strerror}{where})"
            )
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as err:
            raise ConfigError(f"{option}{path}: cannot write files there ({err.strerror})")
    finally:
        for made in missing:
            try:
                made.rmdir()
            except OSError:
                break
