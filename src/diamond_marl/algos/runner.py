"""The training loop: one compiled program per run, chunked, with evaluation, logging,
checkpoints and a progress bar between chunks.

All seeds train together: ``init``, the chunk (a ``lax.scan`` of updates) and evaluation are
``jax.vmap``ped over seed keys and jitted once. Between chunks a thin Python loop evaluates,
writes metrics, saves a checkpoint and moves the progress bar; nothing calls back into
Python from inside the compiled program. Every random key depends only on the seed and the
chunk index, so a resumed run reproduces an uninterrupted one exactly (on the CPU).

Step accounting: an env step is one joint step of one environment, whatever the number of
agents; ``env_steps`` counts them per seed.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl._jax_setup import setup_jax
from diamond_marl.algos import checkpoint
from diamond_marl.algos.common import Algorithm, TrainSetup, build_setup, table_execution
from diamond_marl.algos.config import TrainConfig, from_dict, to_dict
from diamond_marl.algos.evaluate import make_evaluate_all
from diamond_marl.algos.store import RunStore
from diamond_marl.env_names import file_safe
from diamond_marl.envs.host.names import is_pz_name
from diamond_marl.errors import ConfigError

FINAL_EVAL_FACTOR = 10
EVAL_STREAM = 0x5EED


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Stopwatch:
    """Seconds spent per part of a run, summed over resumed calls (kept in the checkpoint's
    metadata): ``first_chunk`` (each call's first training chunk: compilation included),
    ``train`` (the other chunks), ``eval`` (periodic evaluations, the first one compiling),
    ``checkpoint`` (saving), ``final_eval``. ``summary.json`` holds them as ``time_s``."""

    PARTS = ("first_chunk", "train", "eval", "checkpoint", "final_eval")

    def __init__(self, before: dict[str, float] | None = None) -> None:
        self.totals = {k: float((before or {}).get(k, 0.0)) for k in self.PARTS}

    def time(self, part: str, fn, *args):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        self.totals[part] += time.perf_counter() - t0
        return out

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.totals.items()}


def make_algorithm(setup: TrainSetup) -> Algorithm:
    if setup.config.is_ppo:
        from diamond_marl.algos.ppo import make_ppo

        return make_ppo(setup)
    from diamond_marl.algos.qlearning import make_q_learning

    return make_q_learning(setup)


@dataclasses.dataclass
class Program:
    """The compiled pieces of a run, all vmapped over seeds.

    ``chunk`` consumes its argument: the training state is donated to the output, so a chunk
    holds one copy of the state (with QMIX's replay buffer) instead of two. Keep using the
    returned state; reading the one passed in raises an error. ``donate=False`` keeps the
    input alive (``benchmarks/memory.py`` measures the difference).
    """

    setup: TrainSetup
    algo: Algorithm
    seed_keys: jax.Array  # (seeds, 2)
    donate: bool = True

    def __post_init__(self) -> None:
        algo, per_chunk = self.algo, self.setup.updates_per_chunk

        def chunk(state):
            return jax.lax.scan(algo.update, state, None, length=per_chunk)

        self.init = jax.jit(jax.vmap(algo.init))
        self.chunk = jax.jit(jax.vmap(chunk), donate_argnums=0 if self.donate else ())
        self.execution = table_execution(self.setup)
        self._evals: dict[int, Any] = {}

    def evaluate(
        self, state: Any, episodes: int, chunk_index: int
    ) -> dict[str, dict[str, np.ndarray]]:
        """Execution-mode evaluation of every seed, greedy and sampled on the same episodes:
        ``{execution: {"return", "won", "length", "finished"}}`` (one value per seed); keys
        depend on (seed, chunk) only."""
        if episodes not in self._evals:
            ev = make_evaluate_all(self.setup.env, self.algo.act, self.algo.start_carry, episodes)
            self._evals[episodes] = jax.jit(jax.vmap(ev))
        keys = jax.vmap(
            lambda k: jax.random.fold_in(jax.random.fold_in(k, EVAL_STREAM), chunk_index)
        )(self.seed_keys)
        params = jax.vmap(self.algo.act_params)(state)
        return to_numpy(self._evals[episodes](params, keys))


def to_numpy(evals: dict[str, dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    return {ex: {k: np.asarray(v) for k, v in out.items()} for ex, out in evals.items()}


def eval_metrics(
    evals: dict[str, dict[str, np.ndarray]], seed: int, own: str, success: str | None
) -> dict[str, float]:
    """One seed's evaluation as metric columns: ``eval_return`` (and ``eval_<success>``) in the
    run's own execution, then ``eval_return_greedy``, ``eval_return_sampled``, ..."""
    m = {"eval_return": float(evals[own]["return"][seed])}
    if success:
        m[f"eval_{success}"] = float(evals[own]["won"][seed])
    for ex, out in evals.items():
        m[f"eval_return_{ex}"] = float(out["return"][seed])
        if success:
            m[f"eval_{success}_{ex}"] = float(out["won"][seed])
    return m


def seed_keys(cfg: TrainConfig) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(cfg.seed + i) for i in range(cfg.seeds)])


def build_program(cfg: TrainConfig) -> Program:
    setup_jax()  # before the first computation (multi-seed vmaps can hang without it)
    setup = build_setup(cfg)
    return Program(setup, make_algorithm(setup), seed_keys(cfg))


def default_out(cfg: TrainConfig) -> str:
    return f"runs/{cfg.algo}-{file_safe(cfg.env)}-{file_safe(cfg.breaker)}"


def _success_key(setup: TrainSetup) -> str | None:
    return setup.env.spec.success_metric


def chunk_metrics(raw: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Per seed: mean training losses over the chunk, episode statistics weighted by count."""
    per_seed = []
    for s in range(next(iter(raw.values())).shape[0]):
        m = {
            k: float(np.mean(v[s]))
            for k, v in raw.items()
            if not k.endswith("_sum") and k != "episodes"
        }
        episodes = float(np.sum(raw["episodes"][s]))
        if episodes > 0:
            m["train_return"] = float(np.sum(raw["return_sum"][s]) / episodes)
            m["train_won"] = float(np.sum(raw["won_sum"][s]) / episodes)
        per_seed.append(m)
    return per_seed


def train(
    cfg: TrainConfig | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    stop_after_chunks: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a training run; returns the summary (also in RUN_DIR/summary.json).

    ``stop_after_chunks`` ends the call early after that many chunks of this call (used by
    tests to simulate an interruption); the checkpoint then lets ``resume`` continue.
    """
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.yaml").exists():
            raise ConfigError(f"--resume {run_dir}: no config.yaml there (not a run directory)")
        cfg = from_dict(RunStore(run_dir, {}).read_config())
    assert cfg is not None
    run_dir = Path(cfg.out or default_out(cfg))
    cfg = dataclasses.replace(cfg, out=str(run_dir))
    store = RunStore(run_dir, {"env": cfg.env, "algo": cfg.algo, "breaker": cfg.breaker})
    if resume is not None and store.finished:
        print(f"{run_dir} has finished training; its summary is in {run_dir / 'summary.json'}")
        return store.read_summary()
    ckpt_dir = run_dir / "checkpoints"
    if resume is None and (store.finished or checkpoint.exists(ckpt_dir)):
        raise ConfigError(
            f"out={run_dir} already holds a run; resume it with --resume {run_dir} "
            "or choose another out="
        )
    if is_pz_name(cfg.env):  # environments stepped on the host: the host loop
        from diamond_marl.algos.host_loop import train_host

        return train_host(cfg, store, resume is not None, progress, stop_after_chunks)
    program = build_program(cfg)
    setup = program.setup
    if resume is None:
        store.write_config(to_dict(cfg))
    start_chunk, wall_before, clock = 0, 0.0, Stopwatch()
    if resume is not None and checkpoint.has_state(ckpt_dir):
        # the structure only: running init would hold a second state (and buffer) in memory
        template = jax.eval_shape(program.init, program.seed_keys)
        state, meta = checkpoint.load(ckpt_dir, template)
        start_chunk, wall_before = meta["chunk"] + 1, meta["wall_s"]
        clock = Stopwatch(meta.get("time_s"))
        store.load_metrics(up_to_step=meta["env_steps"])
    else:
        state = program.init(program.seed_keys)

    bar = progress_bar(progress, setup, start_chunk)
    t0 = time.perf_counter()
    chunks_done = 0
    try:
        for c in range(start_chunk, setup.chunks):
            part = "first_chunk" if c == start_chunk else "train"
            state, raw = clock.time(part, program.chunk, state)
            raw = {k: np.asarray(v) for k, v in raw.items()}
            check_loss(raw, setup, c, ckpt_dir)
            env_steps = (c + 1) * setup.updates_per_chunk * setup.steps_per_update
            evals = clock.time("eval", program.evaluate, state, cfg.eval_episodes, c)
            wall = wall_before + time.perf_counter() - t0
            log_chunk(store, setup, env_steps, raw, evals, program.execution, wall)
            meta = {"chunk": c, "env_steps": env_steps, "wall_s": wall, "time_s": clock.totals}
            clock.time("checkpoint", checkpoint.save, ckpt_dir, state, meta)
            advance_bar(bar, setup, evals, program.execution)
            chunks_done += 1
            if stop_after_chunks is not None and chunks_done >= stop_after_chunks:
                return {"interrupted": True, "chunk": c, "env_steps": env_steps}
    finally:
        if bar is not None:
            bar.close()
        store.close()
    wall = wall_before + time.perf_counter() - t0
    summary = clock.time("final_eval", final_summary, program, state, cfg, wall)
    summary["time_s"] = clock.rounded()
    store.write_summary(summary)
    meta = {"chunk": setup.chunks - 1, "env_steps": setup.env_steps_total, "wall_s": wall}
    checkpoint.save_policy(ckpt_dir, jax.vmap(program.algo.act_params)(state), meta)
    return summary


def check_loss(raw: dict[str, np.ndarray], setup: TrainSetup, c: int, ckpt_dir: Path) -> None:
    """Stop a run whose loss (per seed and update of chunk ``c``) is not finite."""
    if "loss" not in raw or np.all(np.isfinite(raw["loss"])):
        return
    bad = np.argwhere(~np.isfinite(raw["loss"]))[0]
    step = (c * setup.updates_per_chunk + int(bad[1]) + 1) * setup.steps_per_update
    raise TrainingDiverged(
        f"loss became {raw['loss'][tuple(bad)]} for seed {setup.config.seed + int(bad[0])} "
        f"at about env step {step} (chunk {c}); the last good checkpoint is kept in {ckpt_dir}"
    )


def log_chunk(
    store: RunStore, setup: TrainSetup, env_steps: int, raw: dict, evals: dict, own: str, wall
) -> None:
    """One row per seed of a chunk's metrics: training, evaluation (``own`` execution first)."""
    success = _success_key(setup)
    for s, m in enumerate(chunk_metrics(raw)):
        m |= eval_metrics(evals, s, own, success) | {"wall_s": wall}
        store.log(setup.config.seed + s, env_steps, m)
    store.flush()


def advance_bar(bar: Any, setup: TrainSetup, evals: dict, own: str) -> None:
    """Move the progress bar by one chunk and show its evaluation."""
    if bar is None:
        return
    success, out = _success_key(setup), evals[own]
    post = {"return": f"{out['return'].mean():.3f}"}
    if success:
        post[success] = f"{out['won'].mean():.2f}"
    bar.set_postfix(post)
    bar.update(setup.updates_per_chunk * setup.steps_per_update)


def final_summary(program: Program, state: Any, cfg: TrainConfig, wall_s: float) -> dict:
    """The final evaluation (10x the episodes) per seed and its mean."""
    setup = program.setup
    evals = program.evaluate(state, cfg.eval_episodes * FINAL_EVAL_FACTOR, setup.chunks)
    return summarize(evals, cfg, setup.env.spec, setup.env_steps_total, wall_s, program.execution)


def _readout(out: dict[str, np.ndarray], s: int | None, success: str | None) -> dict:
    """Return, success and episode length of seed ``s`` (None: the mean over seeds)."""
    pick = (lambda v: float(np.mean(v))) if s is None else (lambda v: float(v[s]))  # noqa: E731
    row = {"return": pick(out["return"])}
    if success:
        row[success] = pick(out["won"])
    row["episode_length"] = pick(out["length"])
    return row


def summarize(
    evals: dict[str, dict[str, np.ndarray]],
    cfg: TrainConfig,
    spec: Any,
    env_steps: int,
    wall_s: float,
    execution: str,
) -> dict:
    """The summary of a final evaluation: per seed and on average, in the run's own
    ``execution`` (top-level keys) and in each execution (``greedy``, ``sampled``)."""
    success = spec.success_metric
    seeds = len(evals[execution]["return"])
    per_seed = [
        {"seed": cfg.seed + s, **_readout(evals[execution], s, success)}
        | {ex: _readout(out, s, success) for ex, out in evals.items()}
        for s in range(seeds)
    ]
    mean = _readout(evals[execution], None, success)
    del mean["episode_length"]
    return {
        "env": spec.name,
        "algo": cfg.algo,
        "breaker": cfg.breaker,
        "execution": execution,
        "seeds": per_seed,
        **mean,
        "executions": {ex: _readout(out, None, success) for ex, out in evals.items()},
        "env_steps": int(env_steps),
        "wall_s": round(float(wall_s), 3),
        "episodes_per_seed": int(cfg.eval_episodes * FINAL_EVAL_FACTOR),
    }


def progress_bar(enabled: bool, setup: TrainSetup, start_chunk: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    per_chunk = setup.updates_per_chunk * setup.steps_per_update
    cfg = setup.config
    return tqdm(
        total=setup.env_steps_total,
        initial=start_chunk * per_chunk,
        unit="step",
        unit_scale=True,
        desc=f"{cfg.algo} {cfg.env} {cfg.breaker} x{cfg.seeds}",
        dynamic_ncols=True,
    )
