"""Process-wide JAX settings that must be in place before ``jax`` is first imported.

On JAX 0.10.2 (CPU) a jitted ``vmap`` over seeds can compile and then hang with every XLA
thread idle; turning off XLA's concurrency-optimised CPU scheduler fixes it at no cost to
single-seed speed (see docs/DESIGN notes in the README). Importing ``diamond_marl`` runs this
first, so every entry point (CLI, tests, benchmarks) gets the flag.
"""

from __future__ import annotations

import os
import sys

HANG_GUARD_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def apply() -> None:
    """Add the scheduler flag to ``XLA_FLAGS`` unless the user already set that option."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_enable_concurrency_optimized_scheduler" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {HANG_GUARD_FLAG}".strip()
    if "jax" in sys.modules and HANG_GUARD_FLAG not in flags:
        # Too late to take effect in this process: say so instead of hanging silently later.
        import warnings

        warnings.warn(
            "diamond_marl was imported after jax; XLA_FLAGS may not include "
            f"{HANG_GUARD_FLAG}. Import diamond_marl first or export the flag.",
            stacklevel=3,
        )
