"""Three layouts of the torso's attention, timed side by side in one run: ``einsum`` (what
``networks/attention.py`` does: logits ``(..., H, E, E)`` by ``jnp.einsum`` over
``(..., E, H, d)``) against ``folded`` (heads folded into the batch, ``(rows x H, E, d)``,
and ``lax.batch_matmul``) and ``broadcast`` (broadcast products and sums). All run the
real ``EntityTorso`` with the same parameters; the others patch only the attention's inner
product.

Prints whether each gives the einsum's value and gradient, then, over ``--rounds`` rounds
that alternate them (so a change in the machine's load hits both), each one's forward and
gradient time (min and median) and the median of the per-round gradient ratio::

    <layout> value_diff=<x> grad_max_diff=<x>
    <layout> fwd_ms min=<t> median=<t> grad_ms min=<t> median=<t>
    ratio grad <layout>/einsum median=<r>

Default shapes: the QMIX role-game batch (32 windows x 11 steps x 4 agents, 9 tokens,
hidden 32, 4 heads, one block). On 2026-12-02 (load 4.1, 8 rounds) the two gave the same
value and bit-identical gradients, and the same speed: gradient min 46.3 ms (einsum)
against 47.3 ms (folded), median ratio 0.997. A third layout, ``broadcast`` (products
and sums, no dot), was added the same day: again bit-identical, median ratio 0.990 over 6
rounds at load 4.6. XLA lowers all three to the same work, so the einsum layout stays.
Run: ``.venv/bin/python benchmarks/attention_layout.py [--rows 1408 --rounds 12]``.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl import setup_jax
from diamond_marl.networks import attention, torso
from diamond_marl.networks.dense import Dense

setup_jax()  # the XLA flag the library needs, before JAX computes anything


def attend_folded(q, k, v, key_mask):
    """``q, k, v (..., E, H, d)``, ``key_mask (..., E)`` -> ``(..., E, H, d)``."""
    lead, (e, h, d) = q.shape[:-3], q.shape[-3:]

    def fold(t):  # (..., E, H, d) -> (rows x H, E, d)
        return jnp.moveaxis(t, -2, -3).reshape((-1, e, d))

    logits = jax.lax.batch_matmul(fold(q), jnp.swapaxes(fold(k), 1, 2)) / math.sqrt(d)
    mask = jnp.broadcast_to(key_mask[..., None, :], lead + (h, e)).reshape((-1, 1, e))
    logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    out = jax.lax.batch_matmul(jax.nn.softmax(logits, axis=-1), fold(v))  # (rows x H, E, d)
    return jnp.moveaxis(out.reshape(lead + (h, e, d)), -3, -2)


def attend_broadcast(q, k, v, key_mask):
    """The same by broadcast products and sums, no dot products: XLA fuses each into one
    loop, where a batched dot of (E, d) x (d, E) matrices runs one tiny matmul per row and
    head."""
    d = q.shape[-1]
    logits = (q[..., :, None, :, :] * k[..., None, :, :, :]).sum(-1)  # (..., Eq, Ek, H)
    logits = logits / math.sqrt(d)
    logits = jnp.where(key_mask[..., None, :, None], logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-2)  # (..., Eq, Ek, H)
    return (weights[..., None] * v[..., None, :, :, :]).sum(-3)  # (..., Eq, H, d)


def patched(attend):
    """``EntityAttention`` without noise, its inner product done by ``attend``."""

    class Patched(attention.EntityAttention):
        @nn.compact
        def __call__(self, x, key_mask, eps=None, scale=None):
            d = self.features // self.heads
            qkv = Dense(3 * self.features, use_bias=False, name="qkv")(x)
            qkv = qkv.reshape(x.shape[:-1] + (3, self.heads, d))
            q, k, v = qkv[..., 0, :, :], qkv[..., 1, :, :], qkv[..., 2, :, :]
            out = attend(q, k, v, key_mask).reshape(x.shape[:-1] + (self.features,))
            return Dense(self.features, name="out")(out)

    return Patched


LAYOUTS = {
    "einsum": attention.EntityAttention,
    "folded": patched(attend_folded),
    "broadcast": patched(attend_broadcast),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=32 * 11 * 4, help="windows x steps x agents")
    parser.add_argument("--tokens", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    key = jax.random.PRNGKey(0)
    ent = jax.random.normal(key, (args.rows, args.tokens, 6))
    kinds = jnp.zeros((args.rows, args.tokens), jnp.int32).at[:, 1:].set(1)
    mask = jnp.ones((args.rows, args.tokens), bool)
    programs = {}
    for layout, module in LAYOUTS.items():
        torso.EntityAttention = module
        net = torso.EntityTorso(32, 4, 1)
        params = net.init(key, ent, kinds, mask)

        def loss(p, net=net):
            return net.apply(p, ent, kinds, mask).sum()

        programs[layout] = (jax.jit(loss), jax.jit(jax.grad(loss)))
    torso.EntityAttention = attention.EntityAttention
    f0, g0 = programs["einsum"]
    for layout, (f1, g1) in list(programs.items())[1:]:
        diff = max(
            float(jnp.abs(a - b).max())
            for a, b in zip(jax.tree.leaves(g0(params)), jax.tree.leaves(g1(params)), strict=True)
        )
        value = float(jnp.abs(f0(params) - f1(params)))
        print(f"{layout} value_diff={value:.3g} grad_max_diff={diff:.3g}", flush=True)

    def ms(fn) -> float:
        start = time.perf_counter()
        jax.block_until_ready(fn(params))
        return (time.perf_counter() - start) * 1e3

    times = {k: {"fwd": [], "grad": []} for k in programs}
    for _ in range(args.rounds):
        for layout, (f, g) in programs.items():
            times[layout]["grad"].append(ms(g))
            times[layout]["fwd"].append(ms(f))
    for layout, t in times.items():
        fwd, grad = np.array(t["fwd"]), np.array(t["grad"])
        print(
            f"{layout} fwd_ms min={fwd.min():.1f} median={np.median(fwd):.1f} "
            f"grad_ms min={grad.min():.1f} median={np.median(grad):.1f}"
        )
    for layout in list(programs)[1:]:
        ratio = np.array(times[layout]["grad"]) / np.array(times["einsum"]["grad"])
        print(f"ratio grad {layout}/einsum median={np.median(ratio):.3f}")
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
