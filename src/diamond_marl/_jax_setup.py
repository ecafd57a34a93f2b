"""Process-wide JAX settings that must be in place before XLA's backend starts.

On JAX 0.10.2 (CPU) a jitted ``vmap`` over seeds can compile and then hang with every XLA
thread idle; turning off XLA's concurrency-optimised CPU scheduler fixes it at no cost to
single-seed speed. ``XLA_FLAGS`` is read when the backend is first initialised (the first
computation), not when ``jax`` is imported, so importing ``diamond_marl`` anywhere before the
first computation is enough; every entry point (CLI, tests, benchmarks) does so.
"""

from __future__ import annotations

import os
import sys
import warnings

HANG_GUARD_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def _backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # private API moved: assume the worst only if we cannot tell
        return False


def apply() -> None:
    """Add the scheduler flag to ``XLA_FLAGS`` unless the user already set that option."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" in flags:
        return
    os.environ["XLA_FLAGS"] = f"{flags} {HANG_GUARD_FLAG}".strip()
    if _backend_started():
        warnings.warn(
            "diamond_marl was imported after JAX ran a computation, so XLA_FLAGS lacks "
            f"{HANG_GUARD_FLAG} in this process (multi-seed vmaps may hang on CPU). "
            "Import diamond_marl before running anything with JAX, or export the flag.",
            stacklevel=3,
        )
