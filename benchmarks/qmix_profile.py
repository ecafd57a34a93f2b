"""Where QMIX's training time goes: acting and replay against gradient steps, and the agent
network's forward against its gradient, measured side by side in one run.

Two tables, for one environment (default the quick suite's QMIX role-game cell settings):

1. One chunk of updates (all seeds vmapped, after compilation) with the cell's settings,
   then with one gradient step per rollout instead of ``q.updates_per_rollout``, and with a
   quarter of the sampled windows: the gap between them is the gradient steps' share::

       chunk <variant> updates=<u> env_steps=<s> seconds=<t> vs_base=<ratio>

2. The agent network on one sampled batch of windows ``(batch_episodes, L + 1)``: forward,
   gradient of the Q-values, and gradient of the torso's output alone (no Q head)::

       network <what> ms=<t> vs_forward=<ratio>

Times are the best of several calls; the machine's load is printed with them.
Run: ``.venv/bin/python benchmarks/qmix_profile.py [--env ENV] [--set KEY=VALUE ...]``.
"""

from __future__ import annotations

import argparse
import os
import time

import jax

from diamond_marl import setup_jax
from diamond_marl.algos.config import parse_overrides, resolve, segment_len
from diamond_marl.algos.qlearning import make_q_modules
from diamond_marl.algos.runner import build_program
from diamond_marl.networks.inputs import from_timestep
from timing import best_seconds

setup_jax()  # the XLA flag the library needs, before JAX computes anything

CELL = {  # the quick suite's QMIX role-game cell
    "algo": "qmix", "env": "role:n=4,k=4,t=10", "breaker": "rank", "seeds": "2",
    "net.hidden": "32", "net.blocks": "1", "lr": "0.001", "num_envs": "8",
    "q.updates_per_rollout": "8", "q.eps_anneal_steps": "15000", "q.target_update": "10",
    "q.td_lambda": "0.6", "steps": "24000",
}  # fmt: skip


def chunk_seconds(base: dict, extra: dict) -> tuple[float, int, int]:
    cfg = resolve({**base, **extra, "out": "/tmp/qmix_profile"})
    program = build_program(cfg)
    state = program.init(program.seed_keys)
    state, _ = program.chunk(state)  # compile, and fill the buffer past learning_starts
    jax.block_until_ready(state)
    start = time.perf_counter()
    state, metrics = program.chunk(state)
    jax.block_until_ready(metrics)
    setup = program.setup
    return time.perf_counter() - start, setup.updates_per_chunk, setup.steps_per_update


def network_on_a_batch(base: dict) -> tuple:
    """``(apply, params, shape)``: the run's agent Q-network applied to one sampled batch's
    worth of windows ``(batch_episodes, L + 1)`` of reset observations, its parameters, and
    the batch's entity shape."""
    cfg = resolve({**base, "out": "/tmp/qmix_profile"})
    setup = build_program(cfg).setup
    net, _ = make_q_modules(setup)
    m, length = cfg.q.batch_episodes, segment_len(cfg, setup.env) + 1
    keys = jax.random.split(jax.random.PRNGKey(0), m * length)
    ts = jax.vmap(lambda k: setup.env.reset(k)[1])(keys)
    obs = jax.tree.map(lambda x: x.reshape((m, length) + x.shape[1:]), from_timestep(ts))
    net_keys = jax.random.split(jax.random.PRNGKey(1), m * length).reshape(m, length, 2)
    params = net.init(jax.random.PRNGKey(2), jax.tree.map(lambda x: x[0, 0], obs))

    def apply(p):
        return net.apply(p, obs, net_keys, 0, "train")

    return apply, params, obs.entities.shape


def network_times(base: dict) -> dict[str, float]:
    apply, params, _ = network_on_a_batch(base)

    return {
        "forward": best_seconds(jax.jit(lambda p: apply(p).q), params, repeats=5),
        "grad_q": best_seconds(jax.jit(jax.grad(lambda p: apply(p).q.sum())), params, repeats=5),
        "grad_torso": best_seconds(
            jax.jit(jax.grad(lambda p: apply(p).embedding.sum())), params, repeats=5
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    base = {**CELL, **parse_overrides(args.set)}
    upr = int(base["q.updates_per_rollout"])
    batch = int(base.get("q.batch_episodes", 32))
    variants = {
        "base": {},
        "one_gradient_step_per_rollout": {"q.updates_per_rollout": "1"},
        "quarter_batch": {"q.batch_episodes": str(max(1, batch // 4))},
    }
    first = None
    for name, extra in variants.items():
        seconds, updates, per_update = chunk_seconds(base, extra)
        first = first or seconds
        print(
            f"chunk {name} updates={updates} env_steps={updates * per_update} "
            f"seconds={seconds:.2f} vs_base={seconds / first:.3f} (updates_per_rollout={upr})",
            flush=True,
        )
    times = network_times(base)
    for what, seconds in times.items():
        print(
            f"network {what} ms={seconds * 1e3:.1f} vs_forward={seconds / times['forward']:.2f}",
            flush=True,
        )
    print(f"load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
