"""Why ``networks.dense.Dense`` flattens its input: a dense layer's kernel gradient over
``(..., E, D)`` tokens against the same layer over the tokens flattened to ``(rows, D)``.

Prints, side by side in one run, the forward and the gradient (with respect to the
parameters) of a two-layer ReLU MLP on ``(B, E, D)`` tokens, applied as ``x @ W`` on the
3-D array and on its 2-D view, alone and vmapped over two seeds' parameters as training
does::

    dense <layout> [vmap] fwd_ms=<t> grad_ms=<t>
    ratio grad 3d/2d=<r> [vmap]=<r>

Times are the best of 9 calls after compilation; the machine's load is printed with them.
Run: ``.venv/bin/python benchmarks/dense_grad.py [--rows 1408 --tokens 9 --features 32]``.
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp

from diamond_marl import setup_jax
from timing import best_seconds

setup_jax()  # the XLA flag the library needs, before JAX computes anything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1408, help="batch x agents (default 32x11x4)")
    parser.add_argument("--tokens", type=int, default=9)
    parser.add_argument("--features", type=int, default=32)
    args = parser.parse_args()
    b, e, d = args.rows, args.tokens, args.features
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (b, e, d))
    params = (
        jax.random.normal(keys[1], (d, 2 * d)) * 0.1,
        jax.random.normal(keys[2], (2 * d, d)) * 0.1,
    )

    def mlp_3d(p, x):
        return jnp.sum(jax.nn.relu(x @ p[0]) @ p[1])

    def mlp_2d(p, x):
        return mlp_3d(p, x.reshape(-1, x.shape[-1]))

    two = jax.tree.map(lambda a: jnp.stack([a, a]), (params, x))
    grads = {}
    for layout, fn in (("3d", mlp_3d), ("2d", mlp_2d)):
        for vmapped in (False, True):
            fwd, grad = jax.jit(fn), jax.jit(jax.grad(fn))
            if vmapped:
                fwd, grad = jax.jit(jax.vmap(fn)), jax.jit(jax.vmap(jax.grad(fn)))
            call = two if vmapped else (params, x)
            f_ms = 1e3 * best_seconds(fwd, *call, repeats=9)
            g_ms = 1e3 * best_seconds(grad, *call, repeats=9)
            grads[(layout, vmapped)] = g_ms
            tag = " vmap" if vmapped else ""
            print(f"dense {layout}{tag} fwd_ms={f_ms:.2f} grad_ms={g_ms:.2f}", flush=True)
    print(
        f"ratio grad 3d/2d={grads[('3d', False)] / grads[('2d', False)]:.2f} "
        f"vmap={grads[('3d', True)] / grads[('2d', True)]:.2f}"
    )
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
