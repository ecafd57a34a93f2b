"""Does the host loop learn what the JAX loop learns? MPE simple_spread both ways.

Trains MAPPO with one set of settings (``configs/envs/mpe.yaml``'s: hidden 32, one block,
lr 1e-3, 32 environments, 32-step rollouts, 2 epochs x 2 minibatches; 64 evaluation episodes)
on two implementations of the same task, one after the other:

- ``jax``: ``jaxmarl:MPE_simple_spread_v3``, jaxmarl's JAX port, stepped inside the compiled
  JAX loop (26-step episodes);
- ``host``: ``pz:mpe2.simple_spread_v3,N=3,max_cycles=26,continuous_actions=false``, the
  maintained PettingZoo original, stepped in worker processes by the host loop (26 steps).

Both give the policy the same tokens (the flat 18-value observation in chunks of 8) and
return the agents' summed rewards. Prints, per implementation, the final greedy and sampled
team return (mean and 95% bootstrap interval over seeds) and the training speed, then the
difference host minus jax per evaluation point of the learning curve::

    faithful impl=<i> env=<name> seeds=<s> greedy=<m> [<lo>, <hi>] sampled=<m> [<lo>, <hi>]
        env_steps_per_s=<x> train_s=<t>
    faithful curve step=<k> jax=<m> host=<m> diff=<d> [<lo>, <hi>]

and draws the curves to ``OUT/curves.png``. Runs resume from their checkpoints. Run:
``.venv/bin/python benchmarks/host_faithful.py --out runs/host-faithful`` (3 seeds, 300k steps).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import diamond_marl as dm
from diamond_marl.bench.stats import bootstrap_ci

IMPLS = {
    "jax": "jaxmarl:MPE_simple_spread_v3",
    "host": "pz:mpe2.simple_spread_v3,N=3,max_cycles=26,continuous_actions=false",
}
SETTINGS = {
    "algo": "mappo", "breaker": "none", "lr": 0.001, "num_envs": 32, "eval_episodes": 64,
    "net.hidden": 32, "net.blocks": 1,
    "ppo.rollout_len": 32, "ppo.epochs": 2, "ppo.minibatches": 2,
}  # fmt: skip


def run(out: Path, impl: str, seeds: int, steps: int) -> dict:
    run_dir = out / impl
    if (run_dir / "summary.json").exists():
        return json.loads((run_dir / "summary.json").read_text())
    if (run_dir / "config.yaml").exists():
        return dm.train(resume=run_dir).summary
    opts = {**SETTINGS, "env": IMPLS[impl], "seeds": seeds, "steps": steps, "out": str(run_dir)}
    return dm.train(**opts).summary


def interval(values) -> str:
    est = bootstrap_ci(np.asarray(values, float), stat=np.mean)
    return f"{est.value:.2f} [{est.low:.2f}, {est.high:.2f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/host-faithful"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=300_000)
    args = p.parse_args()
    if args.seeds < 2 or args.steps < 1:
        print(f"faithful: seeds={args.seeds} must be >= 2, steps >= 1", file=sys.stderr)
        return 2
    curves = {}
    for impl in IMPLS:
        summary = run(args.out, impl, args.seeds, args.steps)
        per = {ex: [s[ex]["return"] for s in summary["seeds"]] for ex in ("greedy", "sampled")}
        time_s = summary.get("time_s", {})
        train_s = time_s.get("first_chunk", 0) + time_s.get("train", 0)
        speed = summary["env_steps"] * len(summary["seeds"]) / max(train_s, 1e-9)
        print(
            f"faithful impl={impl} env={summary['env']} seeds={len(summary['seeds'])} "
            f"greedy={interval(per['greedy'])} sampled={interval(per['sampled'])} "
            f"env_steps_per_s={speed:.0f} train_s={train_s:.0f}"
        )
        m = pd.read_csv(args.out / impl / "metrics.csv")
        m = m[m["metric"] == "eval_return_greedy"]
        curves[impl] = m.pivot_table(index="step", columns="seed", values="value")
    jax_c, host_c = curves["jax"], curves["host"]
    for step in jax_c.index.intersection(host_c.index):
        diff = host_c.loc[step].to_numpy() - jax_c.loc[step].to_numpy()
        print(
            f"faithful curve step={step} jax={jax_c.loc[step].mean():.2f} "
            f"host={host_c.loc[step].mean():.2f} diff={interval(diff)}"
        )
    draw(curves, args.out / "curves.png")
    return 0


def draw(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for impl, c in curves.items():
        mean = c.mean(axis=1)
        ax.plot(c.index, mean, label=f"{impl}: {IMPLS[impl].split(',')[0]}")
        ax.fill_between(c.index, c.min(axis=1), c.max(axis=1), alpha=0.2)
    ax.set_xlabel("env steps per seed")
    ax.set_ylabel("greedy team return (seeds: mean, min-max)")
    ax.set_title("MAPPO on MPE simple_spread: JAX loop vs host loop", fontsize=10)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
