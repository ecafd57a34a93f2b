"""diamond-marl: cooperative MARL in JAX, the symmetry trap, and Diamond Attention."""

from diamond_marl import _jax_setup

_jax_setup.apply()

__version__ = "0.1.0"
