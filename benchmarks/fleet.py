"""Fleets: one shared policy, trained on a few agents, run unchanged on up to 10,000.

Trains MAPPO on ``mpe:spread`` with 3 agents and local sensing (``sense=2``: each agent sees
its 2 nearest peers and 2 nearest landmarks) at a fixed density (0.75 agents per unit area,
so the local world is the same at every N; at N = 3 it is jaxmarl's arena, and the agent sees
everything), with the ``rank`` and ``none`` breakers, 5 seeds, 600k steps each. Then,
for each team size N, in a child process of its own (so that its peak memory is that N's),
it runs each trained policy greedily and by sampling, beside two references on the same
episodes:

- ``random``: uniform random actions;
- ``optimal``: the centralised reference, an assignment of agents to landmarks
  (``scipy.optimize.linear_sum_assignment`` on the start distances) with each agent driven
  straight at its landmark by a braking controller. It is an upper reference, not a bound.

Coverage is the environment's success metric: the share of landmarks with an agent centre
within 0.1 at the episode's last step (26 steps). Prints one line per N, breaker and
execution::

    fleet n=<N> breaker=<b> execution=<e> agent_steps_per_s=<x> peak_rss_mb=<m>
        coverage=<c> optimal=<o> random=<r>

``agent_steps_per_s`` is N x steps x episodes x seeds per second of the evaluation, timed on
its one run after compilation (ahead of time; the policy and the environment together).
``peak_rss_mb`` is the child's peak resident memory after that line's runs (the references
run last, so their N x N assignment is not counted). Each N's results
go to ``OUT/n<N>.json`` when it finishes, so an interrupted benchmark resumes where it
stopped; training resumes from its checkpoints.

Then, per N and execution, rank's gain over none in coverage, seed by seed (5 seeds, a
95% bootstrap interval over them), and ``OUT/results.json`` with every row::

    fleet gain n=<N> execution=<e> rank-none=<mean> [<low>, <high>] seeds=<s> higher=<h> lower=<l>

``--group G``: the agents start in groups of G at shared points, in training (G at most the
3 trained agents: all at one point) and at every N, so a group's agents see the same thing
at the start: the symmetry trap, local, at any fleet size.

``--radius R``: the measured fleets sense only within R (``mpe:spread,...,radius=R``; the
trained policy unchanged), and the environment's pairwise work runs on a cell list, linear
in N. Results go to ``OUT/radius<R>-n<N>.json`` and ``OUT/results-radius<R>.json``.

Run: ``.venv/bin/python benchmarks/fleet.py --out runs/fleet`` (about 25 min on 2 cores;
``--sizes 16 100`` for a quick look). ``--picture FILE`` draws 1,000 agents of the rank
policy at the start and end of an episode. ``--split 100 1000`` times the policy and the
environment apart (10 environments, best of 5; with ``--radius`` also on the cell list;
``--split-sense 8``: 8 peers and 8 landmarks seen, the trained policy unchanged)::

    fleet split n=<N> sense=<K> radius=<R> envs=10 policy_ms=<p> env_ms=<e>
        policy_agent_steps_per_s=<x> env_agent_steps_per_s=<y>
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

DENSITY, SENSE, TRAIN_N = 0.75, 2, 3
SIZES = (3, 16, 100, 1000, 10000)


def fleet_env(
    n: int, group: int | None = None, radius: float | None = None, sense: int = SENSE
) -> str:
    """The fleet at team size n; ``group``: agents start in groups of that size (at most n);
    ``radius``: sensing within it, the pairwise work on a cell list."""
    grouped = "" if group is None else f",group={min(group, n)}"
    near = "" if radius is None else f",radius={radius:g}"
    return f"mpe:spread,n={n},sense={sense},density={DENSITY:g}{grouped}{near}"


def episodes_for(n: int) -> tuple[int, int]:
    """(seeds used, episodes per seed) at team size n: fewer where one episode is large."""
    return (5, 16) if n <= 100 else (5, 2) if n <= 1000 else (1, 1)


def references(env, episodes: int, keys):
    """Random play's and the assignment reference's coverage on the evaluation's episodes."""
    import jax
    import jax.numpy as jnp
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    from diamond_marl.algos.evaluate import make_evaluate
    from diamond_marl.envs.mpe import ACCEL, DAMPING, DT

    n, m = env.spec.num_agents, env.m

    def unpack(state):  # the global state: positions, velocities, landmarks (then elapsed)
        pos, vel = state[: 2 * n].reshape(n, 2), state[2 * n : 4 * n].reshape(n, 2)
        return pos, vel, state[4 * n : 4 * n + 2 * m].reshape(m, 2)

    def assign(states: np.ndarray) -> np.ndarray:  # (episodes, S) -> (episodes, N) landmark
        out = np.empty((states.shape[0], n), np.int32)
        for i, s in enumerate(states):
            pos, _, marks = unpack(s)
            rows, cols = linear_sum_assignment(cdist(pos, marks))
            out[i, rows] = cols
        return out

    def start(ts):
        shape = jax.ShapeDtypeStruct(ts.state.shape[:1] + (n,), jnp.int32)
        return jax.pure_callback(assign, shape, ts.state, vmap_method="sequential")

    def drive(params, ts, step_key, episode_key, target):
        pos, vel, marks = unpack(ts.state)
        gap = marks[target] - pos  # (N, 2)
        # brake in time: the speed that stops at the landmark, at most the top speed
        top = ACCEL * DT / DAMPING
        want = jnp.clip(gap * DAMPING / DT, -top, top)
        err = want - vel * (1 - DAMPING)
        axis = jnp.argmax(jnp.abs(err), axis=-1)  # the axis that is furthest off
        push = jnp.take_along_axis(err, axis[:, None], axis=-1)[:, 0]
        action = 1 + 2 * axis + (push > 0)  # 1/2: -x/+x, 3/4: -y/+y
        return jnp.where(jnp.abs(push) > ACCEL * DT / 2, action, 0), target

    def wander(params, ts, step_key, episode_key, carry):
        return jax.random.randint(step_key, (n,), 0, 5), carry

    out = {}
    for name, act, begin in (("random", wander, lambda ts: None), ("optimal", drive, start)):
        ev = jax.jit(jax.vmap(make_evaluate(env, act, begin, episodes), in_axes=(None, 0)))
        out[name] = float(np.mean(ev(None, keys)["won"]))
    return out


def measure(n: int, out: Path, group: int | None, radius: float | None) -> list[dict]:
    """Every trained policy at team size n, both executions, and the references."""
    import jax

    dm.setup_jax()
    seeds, episodes = episodes_for(n)
    keys = jax.random.split(jax.random.PRNGKey(n), seeds)  # the same episodes for everyone
    rows, env = fleet_run.play(out, fleet_env(n, group, radius), seeds, episodes, keys)
    for row in rows:
        won = np.asarray(row.pop("result")["won"])
        row.update(n=n, group=group, radius=radius, coverage=float(np.mean(won)))
        row["coverage_by_seed"] = [float(c) for c in won]
    # last: the assignment holds N x N distances, which would otherwise count in the peaks
    refs = references(env, episodes, keys)
    for row in rows:
        row.update(refs)
        print(line(row), flush=True)
    return rows


def split(n: int, out: Path, sense: int, radius: float | None, envs: int = 10) -> None:
    """Where a step's time goes at team size n with ``sense`` tokens of each kind (the
    trained policy runs with any K): its act against the environment's step; ``radius``:
    sensing within it, the environment's pairwise work on a cell list."""
    policy, world = fleet_run.split(out / "train-rank", fleet_env(n, None, radius, sense), envs)
    print(
        f"fleet split n={n} sense={sense} radius={radius} envs={envs} "
        f"policy_ms={policy * 1e3:.1f} "
        f"env_ms={world * 1e3:.1f} policy_agent_steps_per_s={n * envs / policy:.0f} "
        f"env_agent_steps_per_s={n * envs / world:.0f}"
    )


def line(row: dict) -> str:
    return (
        f"fleet n={row['n']} breaker={row['breaker']} execution={row['execution']} "
        f"agent_steps_per_s={row['agent_steps_per_s']:.0f} peak_rss_mb={row['peak_rss_mb']:.0f} "
        f"coverage={row['coverage']:.3f} optimal={row['optimal']:.3f} random={row['random']:.3f}"
    )


def picture(out: Path, path: Path, n: int = 1000) -> None:
    """The rank policy (seed 0, greedy) on n agents: where they start and where they end."""
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from diamond_marl.algos.evaluate import advance, start_episode
    from diamond_marl.algos.saved_run import load_run
    from diamond_marl.envs.wrappers import EpisodeMetrics

    dm.setup_jax()
    run = load_run(out / "train-rank")
    program = run.program_for(fleet_env(n))
    env, algo = EpisodeMetrics(program.setup.env), program.algo
    params = run.seed_params(0)
    ep = start_episode(env, jax.random.PRNGKey(7))
    first = ep.state.env_state

    @jax.jit
    def play(ep, key):
        def body(carry, step_key):
            ep, memory = carry
            action, memory = algo.act(params, ep.ts, step_key, key, memory)
            return (advance(env, ep, action)[0], memory), None

        steps = jax.random.split(key, env.spec.max_steps)
        return jax.lax.scan(body, (ep, algo.start_carry(ep.ts)), steps)[0][0]

    last = play(ep, jax.random.PRNGKey(8))
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.5), sharex=True, sharey=True)
    for ax, state, title in ((axes[0], first, "start"), (axes[1], last.state.env_state, "end")):
        marks, agents = np.asarray(state.landmark_pos), np.asarray(state.agent_pos)
        ax.scatter(*marks.T, s=6, c="#d62728", marker="x", linewidths=0.6, label="landmark")
        ax.scatter(*agents.T, s=4, c="#1f77b4", label="agent")
        ax.set_title(f"{title}: {n} agents, {len(marks)} landmarks")
        ax.set_aspect("equal")
    axes[0].legend(loc="upper right", markerscale=3)
    won = float(last.won)
    fig.suptitle(
        f"One shared policy (MAPPO + rank, trained on {TRAIN_N} agents) on {fleet_env(n)}; "
        f"coverage at the end {won:.2f}", fontsize=10
    )  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/fleet"))
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    p.add_argument("--steps", type=int, default=600_000, help="training env steps per run")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--picture", type=Path, help="also draw 1,000 agents of the rank policy")
    p.add_argument("--group", type=int, help="agents start in groups of this size (the trap)")
    p.add_argument(
        "--split",
        type=int,
        nargs="+",
        metavar="N",
        help="only time the policy and the environment apart at these team sizes (after training)",
    )
    p.add_argument(
        "--split-sense",
        type=int,
        default=SENSE,
        metavar="K",
        help="with --split: the peers and landmarks each agent sees (default: as trained)",
    )
    p.add_argument(
        "--radius",
        type=float,
        help="agents sense within this radius, on a cell list (e.g. 2); --split times both",
    )
    p.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child process's N
    args = p.parse_args()
    bad = [n for n in args.sizes if n < 2]
    group_bad = args.group is not None and args.group < 1
    if bad or args.steps < 1 or args.seeds < 1 or group_bad or args.split_sense < 1:
        print(
            f"fleet: sizes {bad or args.sizes} must be >= 2, steps, seeds and --split-sense "
            f">= 1, group >= 1 (got {args.group})", file=sys.stderr,
        )  # fmt: skip
        return 2
    dm.setup_jax()
    try:
        make(fleet_env(TRAIN_N, args.group, args.radius))
    except ConfigError as err:
        print(f"fleet: {err}", file=sys.stderr)
        return 2
    stem = "n" if args.radius is None else f"radius{args.radius:g}-n"  # the measured results
    if args.measure is not None:
        rows = measure(args.measure, args.out, args.group, args.radius)
        atomic_write_json(fleet_run.size_file(args.out, args.measure, stem), rows)
        return 0
    fleet_run.train(args.out, fleet_env(TRAIN_N, args.group), args.steps, args.seeds)
    if args.split:
        for n in args.split:
            for radius in dict.fromkeys([None, args.radius]):
                split(n, args.out, args.split_sense, radius)
        return 0
    extra = [] if args.group is None else ["--group", str(args.group)]
    extra += [] if args.radius is None else ["--radius", str(args.radius)]
    rows = fleet_run.by_size(__file__, args.out, args.sizes, extra, line, stem=stem)
    gains = fleet_run.rank_gains(rows, "n", "coverage", "fleet")
    name = "results.json" if args.radius is None else f"results-radius{args.radius:g}.json"
    atomic_write_json(args.out / name, {"rows": rows, "rank_gain": gains})
    if args.picture:
        picture(args.out, args.picture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
