"""``Dense``: ``flax.linen.Dense`` computed on a 2-D view of its input.

XLA on the CPU computes the kernel's gradient of a dense layer applied to an input of more
than two dimensions (entity tokens ``(..., E, D)``, windows ``(M, L, N, ...)``) several times
slower than the same layer on the input flattened to ``(rows, D)``: 15.4 ms against 4.0 ms
for a two-layer MLP on ``(1408, 9, 32)`` tokens, 33.4 against 10.2 ms vmapped over two seeds
(``benchmarks/dense_grad.py``, 2026-12-02, load 4.7). In the whole agent network the gain is
smaller, as attention dominates: the torso's gradient on the QMIX role-game batch went from
85.5 to 71.1 ms, a QMIX chunk from 43.7 to 41.0 s (``benchmarks/qmix_profile.py``, load
4.7-5.2). The forward pass gives the same numbers; gradients may differ in the last bits
(sums in another order). The parameters are ``nn.Dense``'s (``kernel``, ``bias``, same
initialisers and shapes), so saved runs load unchanged.
"""

from __future__ import annotations

import chex
import flax.linen as nn


class Dense(nn.Dense):
    """``nn.Dense`` on ``inputs.reshape(-1, features_in)``, reshaped back."""

    @nn.compact
    def __call__(self, inputs: chex.Array) -> chex.Array:
        lead = inputs.shape[:-1]
        flat = inputs.reshape((-1, inputs.shape[-1]))  # (rows, D_in)
        return super().__call__(flat).reshape(lead + (self.features,))  # (..., features)
