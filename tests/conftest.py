"""Test set-up: import diamond_marl first so its XLA flags are in place before jax loads."""

import diamond_marl  # noqa: F401
