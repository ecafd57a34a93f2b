"""What the fleet benchmarks share: train small with rank and none, then play each trained
policy at every fleet size in a child process of its own (so that its peak memory is that
size's), both executions on the same episodes, and compare rank with none seed by seed.

Used by ``fleet.py`` (mpe:spread) and ``fleet_rware.py`` (RobotWarehouse). Each size's rows
go to a JSON file of its own (``size_file``) when it finishes, so an interrupted benchmark
resumes where it stopped; training resumes from its checkpoints.
"""

from __future__ import annotations

import functools
import json
import operator
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import diamond_marl as dm

BREAKERS = ("rank", "none")


def train(out: Path, env: str, steps: int, seeds: int) -> None:
    """Train (or resume, or keep) one MAPPO run per breaker under ``out/train-<breaker>``."""
    for breaker in BREAKERS:
        run_dir = out / f"train-{breaker}"
        if (run_dir / "config.yaml").exists():
            if not dm.load(run_dir).finished:
                dm.train(resume=run_dir)
            continue
        dm.train(algo="mappo", env=env, breaker=breaker, seeds=seeds, steps=steps, out=str(run_dir))


def play(out: Path, env_name: str, seeds: int, episodes: int, keys) -> tuple[list[dict], object]:
    """Every trained policy on ``env_name``, greedy and sampled, on the episodes of ``keys``
    (one per seed, at most the trained seeds): per breaker and execution, the evaluation's
    outputs (per seed), its agent-steps per second (timed on its one run after ahead-of-time
    compilation, the policy and the environment together) and the peak memory so far.
    Returns the rows and the environment."""
    import jax

    from diamond_marl.algos.evaluate import make_evaluate
    from diamond_marl.algos.saved_run import load_run
    from diamond_marl.networks.acting import EXECUTIONS

    rows, env = [], None
    for breaker in BREAKERS:
        run = load_run(out / f"train-{breaker}")
        program = run.program_for(env_name)
        env, algo = program.setup.env, program.algo
        trained = jax.tree.leaves(run.act_params)[0].shape[0]
        seeds = min(seeds, trained)  # a short test run may have fewer seeds
        params = jax.tree.map(operator.itemgetter(slice(seeds)), run.act_params)
        keys = keys[:seeds]
        for execution in EXECUTIONS:
            act = functools.partial(algo.act, execution=execution)
            ev = jax.vmap(make_evaluate(env, act, algo.start_carry, episodes))
            ev = jax.jit(ev).lower(params, keys).compile()  # compiled, not run
            begin = time.perf_counter()
            result = jax.block_until_ready(ev(params, keys))
            wall = time.perf_counter() - begin
            steps = env.spec.max_steps * episodes * seeds
            rows.append(
                {
                    "breaker": breaker, "execution": execution, "result": result,
                    "agent_steps_per_s": env.spec.num_agents * steps / wall,
                    "peak_rss_mb": peak_rss_mb(), "seeds": seeds, "episodes_per_seed": episodes,
                }
            )  # fmt: skip
    return rows, env


def split(run_dir: Path, env_name: str, envs: int) -> tuple[float, float]:
    """Seconds per step of the seed-0 policy's act and of the environment's step, each alone,
    ``envs`` environments vmapped (best of 5 after compilation)."""
    import jax

    from diamond_marl.algos.saved_run import load_run
    from timing import best_seconds

    dm.setup_jax()
    run = load_run(run_dir)
    program = run.program_for(env_name)
    env, algo, params = program.setup.env, program.algo, run.seed_params(0)
    keys = jax.random.split(jax.random.PRNGKey(0), envs)
    state, ts = jax.vmap(env.reset)(keys)
    act = jax.jit(jax.vmap(lambda t, k: algo.act(params, t, k, k, algo.start_carry(t))[0]))
    step = jax.jit(jax.vmap(env.step))
    actions = act(ts, keys)
    return best_seconds(act, ts, keys, repeats=5), best_seconds(step, state, actions, repeats=5)


def size_file(out: Path, size, stem: str = "") -> Path:
    return out / f"{stem}{size}.json"


def by_size(
    script: str, out: Path, sizes: list, extra: list[str], line: Callable, stem: str = ""
) -> list[dict]:
    """Each size in a child process (``script --out OUT --measure SIZE EXTRA``), resumed from
    ``OUT/<stem><size>.json`` where it already ran; every row, printed with ``line``."""
    rows = []
    for size in sizes:
        done = size_file(out, size, stem)
        if not done.exists():
            cmd = [sys.executable, script, "--out", str(out), "--measure", str(size), *extra]
            if subprocess.run(cmd).returncode != 0:
                raise SystemExit(f"fleet: the run at {size} failed")
        else:
            print("\n".join(line(row) for row in json.loads(done.read_text())))
        rows += json.loads(done.read_text())
    return rows


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


def rank_gains(rows: list[dict], size_key: str, metric: str, prefix: str) -> list[dict]:
    """rank minus none in ``metric`` (rows hold ``<metric>_by_seed``), seed by seed, per size
    and execution, with a 95% bootstrap interval over the seeds; one printed line each."""
    from diamond_marl.bench.stats import compare

    out = []
    for size in dict.fromkeys(r[size_key] for r in rows):
        for execution in ("greedy", "sampled"):
            by = {
                r["breaker"]: dict(enumerate(r[f"{metric}_by_seed"]))
                for r in rows
                if r[size_key] == size and r["execution"] == execution
            }
            if set(by) != set(BREAKERS):
                continue
            diff = compare(by["rank"], by["none"])
            gain = {size_key: size, "execution": execution, "seeds": len(diff.seeds)}
            gain.update(mean=float(np.mean(diff.diffs)), better=diff.better, worse=diff.worse)
            if diff.mean is not None:
                gain.update(ci_low=diff.mean.low, ci_high=diff.mean.high)
            ci = f" [{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}]" if "ci_low" in gain else ""
            print(
                f"{prefix} gain {size_key}={size} execution={execution} "
                f"rank-none={gain['mean']:+.3f}{ci} seeds={gain['seeds']} "
                f"higher={diff.better} lower={diff.worse}"
            )
            out.append(gain)
    return out
