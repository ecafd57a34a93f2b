"""Test set-up: two compile-time savings, then diamond_marl before jax loads.

Most of the suite's time is XLA compiling training programs for short runs.

- XLA's persistent compilation cache: many tests compile one program more than once (a
  resumed run rebuilds the program it was interrupted in; the CLI and subprocess tests
  build what an in-process test already built). JAX keys each executable on its HLO, flags
  and versions, so a hit is the same executable. The cache lives in
  ``.pytest_cache/jax-compilation`` (ignored by git), shared by the xdist workers and their
  child processes (the variables are inherited); its size cap turns on JAX's file lock, so
  no worker reads an entry while another writes it.
- XLA's CPU backend at optimisation level 1 instead of 2: LLVM's passes are most of a
  compile, and at level 1 the programs compile in about half the time and run about as
  fast (a resume test 44 s against 86 s, the smax:3m learning test 95 s against 110 s, on
  2 shared cores). Results differ from level 2 only in float rounding.

Set ``JAX_COMPILATION_CACHE_DIR`` to move the cache, ``JAX_ENABLE_COMPILATION_CACHE=false``
to compile everything afresh, or the level yourself in ``XLA_FLAGS`` to test at another.
"""

import os
from pathlib import Path

os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax-compilation"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 * 2**30))
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=1".strip()

from diamond_marl import setup_jax  # noqa: E402

setup_jax()  # the XLA flag the library needs, before JAX computes anything
