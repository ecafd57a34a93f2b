"""Where the agent network's gradient spends its time, op by op, against its forward.

Runs QMIX's agent network (the run's own settings, default smax:3m) forward and under
``jax.grad`` on one sampled-batch-sized input, with XLA's CPU profiler on, and sums the time
of every compiled op from the trace. Summed op time is CPU work, so the ratio of the two
programs holds up better under load than wall time. Prints::

    total fwd_op_ms=<f> grad_op_ms=<g> ratio=<g/f> fwd_wall_ms=<w> grad_wall_ms=<w>
    layer <name> fwd_ms=<f> grad_ms=<g> grad_share=<s>       (one line per network part)
    kind <name> grad_ms=<g> grad_share=<s>                    (dots, YNNPACK fusions, ...)
    op <hlo name> <kind> <layer> grad_ms=<g> grad_share=<s> <shape>   (the largest ops)

Run: ``.venv/bin/python benchmarks/qmix_backward.py [--set KEY=VALUE ...] [--top 15]``.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import re
import tempfile
from pathlib import Path

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
).strip()

import jax  # noqa: E402

from diamond_marl import setup_jax  # noqa: E402
from diamond_marl.algos.config import parse_overrides  # noqa: E402
from qmix_profile import network_on_a_batch  # noqa: E402
from timing import best_seconds  # noqa: E402

setup_jax()  # the XLA flag the library needs, before JAX computes anything

BASE = {"algo": "qmix", "env": "smax:3m", "breaker": "none", "seeds": "1"}
CALLS = 5
LAYERS = ("embed", "attn", "ln", "mlp", "q", "policy", "gru", "loss")
_SKIP = ("$", "ThunkExecutor", "PjitFunction", "CommonPjRt", "PjRt")


def programs(overrides: dict) -> tuple:
    """The forward and the gradient of the agent network on one batch of windows."""
    apply, params, shape = network_on_a_batch({**BASE, **overrides})
    fwd = jax.jit(lambda p: apply(p).q)  # (M, L+1, N, A)
    grad = jax.jit(jax.grad(lambda p: (apply(p).q ** 2).sum()))
    return fwd, grad, params, shape


def op_table(fn, params) -> dict[str, dict]:
    """Per HLO op of ``fn``'s compiled program: summed trace time per call, kind, layer."""
    hlo = fn.lower(params).compile().as_text()
    info = {}
    for line in hlo.split("\n"):
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) (\w+)\(", line)
        if m:
            meta = re.search(r'op_name="([^"]+)"', line)
            info[m[1]] = (m[2], m[3], meta[1] if meta else "")
    jax.block_until_ready(fn(params))
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            for _ in range(CALLS):
                jax.block_until_ready(fn(params))
        trace = next(Path(d).rglob("*.trace.json.gz"))
        events = json.load(gzip.open(trace))["traceEvents"]
    total = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e and not e["name"].startswith(_SKIP):
            total[e["name"]] += e["dur"] / CALLS / 1e3  # ms per call
    table = {}
    for name, ms in total.items():
        shape, opcode, path = info.get(name, ("?", "?", ""))
        kind = "ynn_fusion" if name.startswith("ynn") else opcode if opcode != "fusion" else name
        kind = re.sub(r"\.\d+$", "", kind)
        layer = next((p for p in LAYERS if re.search(rf"(^|/|_){p}(/|_|$)", path)), "other")
        table[name] = {"ms": ms, "kind": kind, "layer": layer, "shape": shape}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    fwd, grad, params, shape = programs(parse_overrides(args.set))
    print(f"input entities {tuple(shape)} (windows, steps, agents, tokens, features)")
    f_ops, g_ops = op_table(fwd, params), op_table(grad, params)
    f_ms, g_ms = (sum(o["ms"] for o in t.values()) for t in (f_ops, g_ops))
    f_wall = 1e3 * best_seconds(fwd, params, repeats=5)
    g_wall = 1e3 * best_seconds(grad, params, repeats=5)
    print(
        f"total fwd_op_ms={f_ms:.2f} grad_op_ms={g_ms:.2f} ratio={g_ms / f_ms:.2f} "
        f"fwd_wall_ms={f_wall:.2f} grad_wall_ms={g_wall:.2f}"
    )
    for field in ("layer", "kind"):
        g_sum, f_sum = collections.Counter(), collections.Counter()
        for ops, into in ((g_ops, g_sum), (f_ops, f_sum)):
            for o in ops.values():
                into[o[field]] += o["ms"]
        for name, ms in g_sum.most_common():
            extra = f"fwd_ms={f_sum[name]:.2f} " if field == "layer" else ""
            print(f"{field} {name} {extra}grad_ms={ms:.2f} grad_share={ms / g_ms:.3f}")
    for name, o in sorted(g_ops.items(), key=lambda kv: -kv[1]["ms"])[: args.top]:
        print(
            f"op {name} {o['kind']} {o['layer']} grad_ms={o['ms']:.2f} "
            f"grad_share={o['ms'] / g_ms:.3f} {o['shape']}"
        )
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
