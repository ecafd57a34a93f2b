"""Import diamond_marl before any test module imports jax (it sets an XLA flag first)."""

import diamond_marl  # noqa: F401
