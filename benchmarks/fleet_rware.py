"""The warehouse fleet: one shared policy trained on 4 robots, run unchanged on up to 256.

Trains MAPPO on ``rware:tiny-4ag,sense=2`` (the original game: collisions resolved; each robot
sees itself, its 2 nearest robots, its 2 nearest requested shelves and the 2 goals), with the
``rank`` and ``none`` breakers, 5 seeds, 1M steps each. Then, for each layout, in a child
process of its own, it runs each trained policy greedily and by sampling, and random play,
on the same episodes. The layouts keep about the training layout's robots per floor cell
(0.036 on tiny-4ag) as the fleet grows; the request queue is N shelves, as in the original.

Deliveries per robot-hour count one step as one second (a robot moves one cell per step):
deliveries per episode / N / 500 steps x 3,600. Prints one line per layout, breaker and
execution::

    fleet-rware layout=<L> robots=<N> breaker=<b> execution=<e> agent_steps_per_s=<x>
        peak_rss_mb=<m> deliveries=<d> per_robot_hour=<h> random_per_robot_hour=<r>

Then rank's gain over none in deliveries per robot-hour, seed by seed (5 seeds, 95% bootstrap
interval), and ``OUT/results.json`` with every row. ``--split`` times the policy and the
environment apart at each layout instead. Run:
``.venv/bin/python benchmarks/fleet_rware.py --out runs/fleet-rware`` (training 1 hour on 2
cores shared with other work, then 11 minutes of measurements).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import diamond_marl as dm
import fleet_run
from diamond_marl.atomic import atomic_write_json
from diamond_marl.envs import make
from diamond_marl.errors import ConfigError

SENSE, TRAIN = 2, "tiny-4ag"
LAYOUTS = ("tiny-4ag", "small-8ag", "medium-16ag", "5x11-64ag", "10x21-256ag")
SECONDS_PER_STEP = 1.0


def fleet_env(layout: str) -> str:
    return f"rware:{layout},sense={SENSE}"


def episodes_for(robots: int) -> tuple[int, int]:
    """(seeds used, episodes per seed): fewer where one episode is large."""
    return (5, 16) if robots <= 16 else (5, 8) if robots <= 64 else (5, 2)


def per_robot_hour(deliveries, robots: int, steps: int):
    return np.asarray(deliveries) / robots / (steps * SECONDS_PER_STEP) * 3600


def random_play(env, episodes: int, keys) -> np.ndarray:
    """Deliveries per episode under uniform random actions (among the available ones), per seed."""
    import jax
    import jax.numpy as jnp

    from diamond_marl.algos.evaluate import make_evaluate

    def wander(params, ts, step_key, episode_key, carry):
        logits = jnp.where(ts.action_mask, 0.0, -jnp.inf)
        return jax.random.categorical(step_key, logits).astype(jnp.int32), carry

    ev = jax.jit(jax.vmap(make_evaluate(env, wander, lambda ts: None, episodes), in_axes=(None, 0)))
    return np.asarray(ev(None, keys)["return"])


def measure(layout: str, out: Path) -> list[dict]:
    """Both trained policies on one layout, both executions, and random play."""
    import jax

    dm.setup_jax()
    robots = make(fleet_env(layout)).spec.num_agents
    seeds, episodes = episodes_for(robots)
    keys = jax.random.split(jax.random.PRNGKey(robots), seeds)  # the same episodes for all
    rows, env = fleet_run.play(out, fleet_env(layout), seeds, episodes, keys)
    steps = env.spec.max_steps
    rand = per_robot_hour(random_play(env, episodes, keys), robots, steps)
    for row in rows:
        delivered = np.asarray(row.pop("result")["return"])  # the team's, per seed
        hourly = per_robot_hour(delivered, robots, steps)
        row.update(
            layout=layout, robots=robots, cells=int(env.height * env.width),
            deliveries=float(delivered.mean()), per_robot_hour=float(hourly.mean()),
            per_robot_hour_by_seed=[float(h) for h in hourly],
            random_per_robot_hour=float(rand.mean()),
        )  # fmt: skip
        print(line(row), flush=True)
    return rows


def line(row: dict) -> str:
    return (
        f"fleet-rware layout={row['layout']} robots={row['robots']} breaker={row['breaker']} "
        f"execution={row['execution']} agent_steps_per_s={row['agent_steps_per_s']:.0f} "
        f"peak_rss_mb={row['peak_rss_mb']:.0f} deliveries={row['deliveries']:.2f} "
        f"per_robot_hour={row['per_robot_hour']:.2f} "
        f"random_per_robot_hour={row['random_per_robot_hour']:.2f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/fleet-rware"))
    p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), help="e.g. 5x11-64ag")
    p.add_argument("--steps", type=int, default=1_000_000, help="training env steps per run")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--split", action="store_true", help="time policy and environment apart")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # the child process's layout
    args = p.parse_args()
    if args.steps < 1 or args.seeds < 1:
        print(
            f"fleet-rware: steps={args.steps} and seeds={args.seeds} must be >= 1", file=sys.stderr
        )
        return 2
    dm.setup_jax()
    try:
        for layout in args.layouts:
            make(fleet_env(layout))
    except ConfigError as err:
        print(f"fleet-rware: {err}", file=sys.stderr)
        return 2
    if args.measure is not None:
        rows = measure(args.measure, args.out)
        atomic_write_json(fleet_run.size_file(args.out, args.measure), rows)
        return 0
    fleet_run.train(args.out, fleet_env(TRAIN), args.steps, args.seeds)
    if args.split:
        for layout in args.layouts:
            robots = make(fleet_env(layout)).spec.num_agents
            policy, world = fleet_run.split(args.out / "train-rank", fleet_env(layout), envs=10)
            print(
                f"fleet-rware split layout={layout} robots={robots} envs=10 "
                f"policy_ms={policy * 1e3:.1f} env_ms={world * 1e3:.1f} "
                f"policy_agent_steps_per_s={robots * 10 / policy:.0f} "
                f"env_agent_steps_per_s={robots * 10 / world:.0f}"
            )
        return 0
    rows = fleet_run.by_size(__file__, args.out, args.layouts, [], line)
    gains = fleet_run.rank_gains(rows, "layout", "per_robot_hour", "fleet-rware")
    atomic_write_json(args.out / "results.json", {"rows": rows, "rank_gain": gains})
    return 0


if __name__ == "__main__":
    sys.exit(main())
