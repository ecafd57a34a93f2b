"""Memory of a training chunk, a checkpoint save and a resume, against the size of the state.

A QMIX training state holds its replay buffer (5 seeds on rware:large-8ag: 3.5 GB), so what
matters is how many copies of the state each step of training holds at once. In one run, for
one algorithm x environment, this measures:

- ``chunk``: the memory XLA assigns to one compiled training chunk (arguments + outputs -
  aliased + temporaries, from ``Compiled.memory_analysis()``), with the state donated to the
  output (``donate``, as training runs it), without (``keep``) and, for the Q-learning
  algorithms, donated with each learning batch split into ``--microbatches`` parts
  (``micro``, ``q.microbatches``: the same update, one part's activations at a time), side
  by side, and the temporaries (the activations of the learning step) of each;
- ``save``: the host memory a checkpoint save allocates beyond the state, from
  ``tracemalloc`` (which counts NumPy's buffers), over two saves in a row (the second turns
  ``latest`` into ``previous``);
- ``load``: the same while restoring it, as a resumed run does (the restored arrays
  themselves, one state, live in XLA's memory and are not counted).

Sizes are in units of the state (``1.00x`` = one more copy of the state). Prints::

    memory <algo> <env> seeds=<n> state=<GB>
    memory chunk donate=<x> (<GB>) keep=<x> (<GB>) micro=<x> (<GB>) ratio=<donate/keep>
        micro_ratio=<micro/donate>
    memory temporaries donate=<GB> keep=<GB> micro=<GB>
    memory save=<x> load=<x>

Run: ``.venv/bin/python benchmarks/memory.py`` (defaults: QMIX on rware:large-8ag, 1 seed;
see ``--help``). It compiles the chunk two or three times (no state in memory for that),
then allocates one state and runs nothing but the checkpoint code on it.
"""

from __future__ import annotations

from diamond_marl import setup_jax

# isort: split
import argparse
import tempfile
import tracemalloc
from pathlib import Path

import jax

from diamond_marl.algos import checkpoint
from diamond_marl.algos.config import parse_overrides, resolve
from diamond_marl.algos.runner import Program, build_setup, make_algorithm, seed_keys

setup_jax()  # the XLA flag the library needs, before JAX computes anything


def chunk_bytes(program: Program, state) -> tuple[int, int]:
    """Peak memory XLA assigns to one call of the compiled chunk, and its temporaries."""
    m = program.chunk.lower(state).compile().memory_analysis()
    peak = (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        - m.alias_size_in_bytes
        + m.temp_size_in_bytes
    )
    return peak, m.temp_size_in_bytes


def host_peak(fn) -> int:
    """Peak of the memory tracemalloc sees allocated while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(algo: str, env: str, seeds: int, overrides: list[str], microbatches: int) -> None:
    """Print each line as soon as it is measured (the chunk's before any state exists)."""
    base = {"algo": algo, "env": env, "seeds": str(seeds), **parse_overrides(overrides)}
    cfg = resolve(base)
    setup = build_setup(cfg)
    algorithm, keys = make_algorithm(setup), seed_keys(cfg)
    programs = {
        variant: Program(setup, algorithm, keys, donate=donate)
        for variant, donate in (("donate", True), ("keep", False))
    }
    if not cfg.is_ppo:
        micro = build_setup(resolve({**base, "q.microbatches": str(microbatches)}))
        programs["micro"] = Program(micro, make_algorithm(micro), keys)
    shapes = jax.eval_shape(programs["donate"].init, keys)
    state_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))
    print(f"memory {algo} {env} seeds={seeds} state={state_bytes / 1e9:.3f}GB", flush=True)
    chunk = {v: chunk_bytes(p, shapes) for v, p in programs.items()}
    ratios = {"ratio": ("donate", "keep"), "micro_ratio": ("micro", "donate")}
    print(
        "memory chunk "
        + " ".join(f"{v}={b / state_bytes:.2f}x ({b / 1e9:.2f}GB)" for v, (b, _) in chunk.items())
        + "".join(
            f" {name}={chunk[a][0] / chunk[b][0]:.2f}"
            for name, (a, b) in ratios.items()
            if a in chunk
        ),
        flush=True,
    )
    temps = " ".join(f"{v}={t / 1e9:.2f}GB" for v, (_, t) in chunk.items())
    print(f"memory temporaries {temps}", flush=True)
    state = programs["donate"].init(keys)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp)

        def save_twice() -> None:
            for c in range(2):
                checkpoint.save(ckpt, state, {"chunk": c, "env_steps": 0, "wall_s": 0.0})

        save = host_peak(save_twice) / state_bytes
        load = host_peak(lambda: checkpoint.load(ckpt, shapes)) / state_bytes
    print(f"memory save={save:.2f}x load={load:.2f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algo", default="qmix")
    parser.add_argument("--env", default="rware:large-8ag")
    parser.add_argument("--seeds", type=int, default=1, help="seeds vmapped in the program")
    parser.add_argument(
        "--microbatches", type=int, default=4, help="q.microbatches of the micro variant"
    )
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="training config overrides, e.g. q.buffer_episodes=200 net.hidden=32",
    )
    args = parser.parse_args()
    measure(args.algo, args.env, args.seeds, args.set, args.microbatches)


if __name__ == "__main__":
    main()
