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

Run: ``.venv/bin/python benchmarks/fleet.py --out runs/fleet`` (about 25 min on 2 cores;
``--sizes 16 100`` for a quick look). ``--picture FILE`` draws 1,000 agents of the rank
policy at the start and end of an episode. ``--split 100 1000`` times the policy and the
environment apart (10 environments, best of 5)::

    fleet split n=<N> envs=10 policy_ms=<p> env_ms=<e> policy_agent_steps_per_s=<x>
        env_agent_steps_per_s=<y>
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import diamond_marl as dm
from diamond_marl.atomic import atomic_write_json

DENSITY, SENSE, TRAIN_N = 0.75, 2, 3
BREAKERS = ("rank", "none")
SIZES = (3, 16, 100, 1000, 10000)


def fleet_env(n: int, group: int | None = None) -> str:
    """The fleet at team size n; ``group``: agents start in groups of that size (at most n)."""
    grouped = "" if group is None else f",group={min(group, n)}"
    return f"mpe:spread,n={n},sense={SENSE},density={DENSITY:g}{grouped}"


def train(out: Path, steps: int, seeds: int, group: int | None) -> None:
    """Train (or resume, or keep) one run per breaker under ``out/train-<breaker>``."""
    for breaker in BREAKERS:
        run_dir = out / f"train-{breaker}"
        if (run_dir / "config.yaml").exists():
            if dm.load(run_dir).finished:
                continue
            dm.train(resume=run_dir)
            continue
        dm.train(
            algo="mappo", env=fleet_env(TRAIN_N, group), breaker=breaker, seeds=seeds, steps=steps,
            out=str(run_dir),
        )  # fmt: skip


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


def measure(n: int, out: Path, group: int | None) -> list[dict]:
    """Every trained policy at team size n, both executions, and the references."""
    import jax

    from diamond_marl.algos.evaluate import make_evaluate
    from diamond_marl.algos.saved_run import load_run
    from diamond_marl.networks.acting import EXECUTIONS

    dm.setup_jax()
    seeds, episodes = episodes_for(n)
    keys = jax.random.split(jax.random.PRNGKey(n), seeds)  # the same episodes for everyone
    rows = []
    for breaker in BREAKERS:
        run = load_run(out / f"train-{breaker}")
        program = run.program_for(fleet_env(n, group))
        env, algo = program.setup.env, program.algo
        params = jax.tree.map(lambda x: x[:seeds], run.act_params)
        for execution in EXECUTIONS:
            act = functools.partial(algo.act, execution=execution)
            ev = jax.vmap(make_evaluate(env, act, algo.start_carry, episodes))
            ev = jax.jit(ev).lower(params, keys).compile()  # compiled, not run
            begin = time.perf_counter()
            result = jax.block_until_ready(ev(params, keys))
            wall = time.perf_counter() - begin
            rows.append(
                {
                    "n": n, "breaker": breaker, "execution": execution,
                    "agent_steps_per_s": n * env.spec.max_steps * episodes * seeds / wall,
                    "peak_rss_mb": peak_rss_mb(),
                    "coverage": float(np.mean(result["won"])),
                    "seeds": seeds, "episodes_per_seed": episodes, "group": group,
                    "coverage_by_seed": [float(c) for c in np.asarray(result["won"])],
                }
            )  # fmt: skip
    # last: the assignment holds N x N distances, which would otherwise count in the peaks
    refs = references(env, episodes, keys)
    for row in rows:
        row.update(refs)
        print(line(row), flush=True)
    return rows


def split(n: int, out: Path, envs: int = 10) -> None:
    """Where a step's time goes at team size n: the rank policy's act against the
    environment's step, each alone, ``envs`` environments vmapped (best of 5 after compile)."""
    import jax

    from diamond_marl.algos.saved_run import load_run

    dm.setup_jax()
    run = load_run(out / "train-rank")
    program = run.program_for(fleet_env(n))
    env, algo, params = program.setup.env, program.algo, run.seed_params(0)
    keys = jax.random.split(jax.random.PRNGKey(0), envs)
    state, ts = jax.vmap(env.reset)(keys)
    act = jax.jit(jax.vmap(lambda t, k: algo.act(params, t, k, k, algo.start_carry(t))[0]))
    step = jax.jit(jax.vmap(env.step))
    actions = act(ts, keys)
    jax.block_until_ready(step(state, actions))

    def best(fn, *args) -> float:
        walls = []
        for _ in range(5):
            begin = time.perf_counter()
            jax.block_until_ready(fn(*args))
            walls.append(time.perf_counter() - begin)
        return min(walls)

    policy, world = best(act, ts, keys), best(step, state, actions)
    print(
        f"fleet split n={n} envs={envs} policy_ms={policy * 1e3:.1f} env_ms={world * 1e3:.1f} "
        f"policy_agent_steps_per_s={n * envs / policy:.0f} "
        f"env_agent_steps_per_s={n * envs / world:.0f}"
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux: ``VmHWM`` (``ru_maxrss`` would keep the
    parent's peak across fork and exec); elsewhere ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.exists():
        for text in status.read_text().splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024  # kB
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, else kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


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
    p.add_argument("--measure", type=int, help=argparse.SUPPRESS)  # the child process's N
    args = p.parse_args()
    bad = [n for n in args.sizes if n < 2]
    if bad or args.steps < 1 or args.seeds < 1 or (args.group is not None and args.group < 1):
        print(
            f"fleet: sizes {bad or args.sizes} must be >= 2, steps and seeds >= 1, "
            f"group >= 1 (got {args.group})", file=sys.stderr,
        )  # fmt: skip
        return 2
    if args.measure is not None:
        rows = measure(args.measure, args.out, args.group)
        atomic_write_json(args.out / f"n{args.measure}.json", rows)
        return 0
    train(args.out, args.steps, args.seeds, args.group)
    if args.split:
        for n in args.split:
            split(n, args.out)
        return 0
    rows = []
    for n in args.sizes:
        done = args.out / f"n{n}.json"
        if done.exists():
            rows += json.loads(done.read_text())
            print("\n".join(line(row) for row in rows if row["n"] == n))
            continue
        cmd = [sys.executable, __file__, "--out", str(args.out), "--measure", str(n)]
        cmd += [] if args.group is None else ["--group", str(args.group)]
        if subprocess.run(cmd).returncode != 0:
            print(f"fleet: the run at n={n} failed", file=sys.stderr)
            return 1
        rows += json.loads(done.read_text())
    gains = rank_gains(rows)
    atomic_write_json(args.out / "results.json", {"rows": rows, "rank_gain": gains})
    if args.picture:
        picture(args.out, args.picture)
    return 0


def rank_gains(rows: list[dict]) -> list[dict]:
    """rank minus none in coverage, seed by seed, per N and execution, with its interval."""
    from diamond_marl.bench.stats import compare

    out = []
    for n in sorted({r["n"] for r in rows}):
        for execution in ("greedy", "sampled"):
            by = {
                r["breaker"]: dict(enumerate(r["coverage_by_seed"]))
                for r in rows
                if r["n"] == n and r["execution"] == execution and "coverage_by_seed" in r
            }
            if set(by) != set(BREAKERS):
                continue
            diff = compare(by["rank"], by["none"])
            gain = {"n": n, "execution": execution, "seeds": len(diff.seeds)}
            gain.update(mean=float(np.mean(diff.diffs)), better=diff.better, worse=diff.worse)
            if diff.mean is not None:
                gain.update(ci_low=diff.mean.low, ci_high=diff.mean.high)
            ci = f" [{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}]" if "ci_low" in gain else ""
            print(
                f"fleet gain n={n} execution={execution} rank-none={gain['mean']:+.3f}{ci} "
                f"seeds={gain['seeds']} higher={diff.better} lower={diff.worse}"
            )
            out.append(gain)
    return out


if __name__ == "__main__":
    sys.exit(main())
