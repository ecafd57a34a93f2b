"""Process-wide JAX settings that must be in place before XLA's backend starts.

On JAX 0.10.2 (CPU) a jitted ``vmap`` over seeds can compile and then hang with every XLA
thread idle; turning off XLA's concurrency-optimised CPU scheduler fixes it at no cost to
single-seed speed. ``XLA_FLAGS`` is read when the backend is first initialised (the first
computation), not when ``jax`` is imported. Importing ``diamond_marl`` changes nothing;
``setup_jax()`` adds the flag, and the library calls it where it starts to compute: the CLI's
entry, ``algos.config.resolve`` (the first step of every training run) and
``algos.runner.build_program``. Scripts that run JAX before either call it first.
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


def setup_jax() -> None:
    """Add the scheduler flag to ``XLA_FLAGS`` unless the user already set that option; warn
    if JAX's backend has started already (the flag can no longer take effect)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" in flags:
        return
    os.environ["XLA_FLAGS"] = f"{flags} {HANG_GUARD_FLAG}".strip()
    if _backend_started():
        warnings.warn(
            "JAX ran a computation before diamond_marl.setup_jax(), so XLA_FLAGS lacks "
            f"{HANG_GUARD_FLAG} in this process (multi-seed vmaps may hang on CPU). "
            "Call diamond_marl.setup_jax() before running anything with JAX, or export the "
            "flag.",
            stacklevel=3,
        )
