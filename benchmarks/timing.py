"""The timing rule the benchmark scripts share: the best wall time of several calls after one
warm-up call (which compiles), each call waited for with ``jax.block_until_ready``.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder on
``sys.path``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax


def best_seconds(fn: Callable[..., Any], *args: Any, repeats: int) -> float:
    """Best of ``repeats`` timed calls of ``fn(*args)``, after one untimed warm-up call."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best
