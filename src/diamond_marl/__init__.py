"""diamond-marl: cooperative MARL in JAX, the symmetry trap, and Diamond Attention.

``import diamond_marl as dm`` loads nothing heavy and changes nothing: ``dm.train(...)``,
``dm.load(...)`` and ``dm.evaluate(...)`` load JAX when first called (``diamond_marl.api``).
``dm.setup_jax()`` sets the one XLA flag the library needs; training calls it itself.
"""

from __future__ import annotations

from typing import Any

from diamond_marl._jax_setup import setup_jax

__version__ = "0.1.0"
__all__ = ["__version__", "evaluate", "load", "setup_jax", "train"]

_API = ("train", "load", "evaluate", "TrainedRun")


def __getattr__(name: str) -> Any:
    if name in _API:
        from diamond_marl import api

        return getattr(api, name)
    raise AttributeError(f"module 'diamond_marl' has no attribute {name!r}")
