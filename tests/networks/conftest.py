"""Set the XLA flag the library needs before any test module computes with JAX."""

from diamond_marl import setup_jax

setup_jax()  # the XLA flag the library needs, before JAX computes anything
