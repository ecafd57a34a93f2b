"""Training throughput against env-only throughput, measured side by side in one run.

For each algorithm x environment: env-only steps/s (random valid actions, the same number of
vmapped environments and the same auto-reset + metrics wrappers as training) and training
steps/s (whole updates: acting, learning, replay), both timed after compilation. Prints one
line per case::

    throughput <algo> <env> train_sps=<x> env_sps=<y> ratio=<x/y>

With ``--compare KEY=VALUE...`` each case is also trained with those overrides, in the same
run, and one more line gives its speed against the first::

    throughput <algo> <env> [KEY=VALUE ...] train_sps=<z> vs_base=<z/x>

RunState: ``.venv/bin/python benchmarks/throughput.py`` (defaults: MAPPO and QMIX on smax:3m,
smax:5m_vs_6m, rware:tiny-4ag, rware:large-8ag; see ``--help``).
"""

from __future__ import annotations

import argparse

import jax

from diamond_marl import setup_jax
from diamond_marl.algos.common import TrainSetup
from diamond_marl.algos.config import parse_overrides, resolve, steps_per_update
from diamond_marl.algos.runner import build_program
from diamond_marl.envs import make
from diamond_marl.envs.check import make_rollout
from timing import best_seconds

setup_jax()  # the XLA flag the library needs, before JAX computes anything

ENVS = ("smax:3m", "smax:5m_vs_6m", "rware:tiny-4ag", "rware:large-8ag")
ALGOS = ("mappo", "qmix")


def train_sps(
    algo: str, env: str, num_envs: int, updates: int, repeats: int, extra: dict[str, str]
) -> tuple[float, TrainSetup]:
    """Training env steps/s of one chunk of ``updates`` updates, and the run's setup."""
    base = {"algo": algo, "env": env, "num_envs": str(num_envs), "seeds": "1", **extra}
    per_update = steps_per_update(resolve(base), make(env))
    # one chunk of exactly `updates` updates
    steps = str(per_update * updates)
    cfg = resolve({**base, "steps": steps, "eval_interval": steps, "chunks": "1"})
    program = build_program(cfg)
    setup = program.setup
    assert setup.updates_per_chunk == updates and setup.chunks == 1
    state = program.init(program.seed_keys)
    if not cfg.is_ppo:  # let learning run (not the warm-up branch)
        run = state.run
        state = state._replace(run=run._replace(env_steps=run.env_steps + cfg.q.learning_starts))

    carry = [state]

    def chunk():  # the chunk consumes (donates) its state: thread it through the calls
        carry[0] = program.chunk(carry[0])[0]
        return carry[0]

    train_s = best_seconds(chunk, repeats=repeats)
    return updates * setup.steps_per_update / train_s, setup


def measure(
    algo: str, env: str, num_envs: int, updates: int, repeats: int, extra: dict[str, str]
) -> dict:
    sps, setup = train_sps(algo, env, num_envs, updates, repeats, extra)
    steps = setup.steps_per_update // num_envs * updates
    rollout = make_rollout(setup.env, num_envs, steps)
    env_s = best_seconds(rollout, jax.random.PRNGKey(0), repeats=repeats)
    env_sps = num_envs * steps / env_s
    return {"train_sps": sps, "env_sps": env_sps, "ratio": sps / env_sps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS))
    parser.add_argument("--envs", nargs="+", default=list(ENVS))
    parser.add_argument("--num-envs", type=int, default=64, help="vmapped environments")
    parser.add_argument("--updates", type=int, default=4, help="updates per timed chunk")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="training config overrides, e.g. ppo.epochs=2 net.hidden=32",
    )
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="also train each case with these overrides, e.g. q.microbatches=4",
    )
    args = parser.parse_args()
    extra = parse_overrides(args.set)
    sizes = (args.num_envs, args.updates, args.repeats)
    for env in args.envs:
        for algo in args.algos:
            r = measure(algo, env, *sizes, extra)
            print(
                f"throughput {algo} {env} train_sps={r['train_sps']:.0f} "
                f"env_sps={r['env_sps']:.0f} ratio={r['ratio']:.3f}",
                flush=True,
            )
            if args.compare:
                sps, _ = train_sps(algo, env, *sizes, {**extra, **parse_overrides(args.compare)})
                print(
                    f"throughput {algo} {env} {' '.join(args.compare)} train_sps={sps:.0f} "
                    f"vs_base={sps / r['train_sps']:.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
