"""The host loop: MAPPO and IPPO on environments that step on the host (``pz:`` names).

The environments run in worker processes (``envs.host.HostPool``); acting, the rollout's
bookkeeping and learning are the JAX loop's own functions, jitted and vmapped over seeds:
``common.act_step`` and ``next_roll`` around each host step, the algorithm's
``HostHooks.record`` for what a step keeps, and ``HostHooks.learn`` for the update. A thin
Python loop moves the batches between them. Everything around training is the JAX runner's:
config, chunks, metrics, greedy and sampled evaluation on the same episodes, checkpoints,
summary.

Per update, per step: one jitted act, one round trip to the workers (B = seeds x num_envs
env copies, split over ``host.workers`` processes), one jitted tokenisation and one jitted
record. Resume is exact for the learner (parameters, optimiser, keys, counters, breaker
state); the environments' own state lives in the workers, so a resumed run starts fresh
episodes where the interrupted one stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.algos import checkpoint
from diamond_marl.algos.common import (
    act_step,
    build_setup,
    next_roll,
    run_state_from,
    table_execution,
)
from diamond_marl.algos.config import TrainConfig, to_dict
from diamond_marl.algos.runner import (
    FINAL_EVAL_FACTOR,
    Stopwatch,
    advance_bar,
    check_loss,
    log_chunk,
    make_algorithm,
    progress_bar,
    seed_keys,
    summarize,
)
from diamond_marl.algos.store import RunStore
from diamond_marl.envs.host.tokenise import to_timestep
from diamond_marl.errors import ConfigError
from diamond_marl.networks.acting import EXECUTIONS
from diamond_marl.networks.inputs import from_timestep

EVAL_SEED = 0x5EED  # eval pools draw their episodes from (run seed, this, chunk)


def _split(x: jax.Array, s: int) -> jax.Array:
    return x.reshape((s, -1) + x.shape[1:])


class HostProgram:
    """The compiled pieces of a host run and its worker pools (close it when done)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, self.setup = cfg, build_setup(cfg)
        self.algo = make_algorithm(self.setup)
        if self.algo.host is None:
            raise ConfigError(
                f"algo={cfg.algo} does not train on host environments ({cfg.env}); "
                "allowed: mappo, ippo"
            )
        env, hooks, actor = self.setup.env, self.algo.host, self.algo.actor
        self.env, self.seeds, self.keys = env, cfg.seeds, seed_keys(cfg)
        self.execution = table_execution(self.setup)
        info, seeds = env.info, cfg.seeds
        # raw batch (seeds x copies, ...) -> TimeStep (seeds, copies, ...), one program
        self.tokenise = jax.jit(
            lambda raw: jax.tree.map(lambda x: _split(x, seeds), to_timestep(info, raw))
        )
        self._pool = self._eval_pool = None  # started when first needed
        setup = self.setup

        def init(key, ts):
            key, ep_key, actor_key, critic_key = jax.random.split(key, 4)
            return hooks.init_with(
                run_state_from(setup, actor, key, ep_key, None, ts), actor_key, critic_key
            )

        def begin(state):  # the rollout's keys, as the JAX loop's ``rollout`` splits them
            key, roll_key = jax.random.split(state.run.key)
            run = state.run._replace(key=key)
            return state._replace(run=run), jax.random.split(roll_key, cfg.ppo.rollout_len)

        def act(state, step_key):
            params = state.run.act_params(state.params["actor"])
            return act_step(actor, params, state.run.roll, step_key)

        def after(state, acted, next_ts, step_key):
            out = hooks.record(state.params, state.run.roll.ts, acted, next_ts)
            roll = next_roll(state.run.roll, acted, None, next_ts, step_key)
            return state._replace(run=state.run._replace(roll=roll)), out

        def restart(state, ts):  # fresh episodes after a resume: new first steps, no memory
            memory = actor.initial_carry(from_timestep(ts))
            roll = state.run.roll._replace(ts=ts, memory=memory)
            return state._replace(run=state.run._replace(roll=roll))

        self.init, self.begin = jax.jit(jax.vmap(init)), jax.jit(jax.vmap(begin))
        self.act, self.after = jax.jit(jax.vmap(act)), jax.jit(jax.vmap(after))
        self.learn = jax.jit(jax.vmap(hooks.learn))
        self.restart = jax.jit(jax.vmap(restart))
        self.eval_act = jax.jit(
            jax.vmap(
                jax.vmap(self.algo.act, in_axes=(None, 0, 0, 0, 0, None)),
                in_axes=(0, 0, 0, 0, 0, None),
            ),
            static_argnums=5,
        )

    @property
    def pool(self) -> Any:
        """The training copies (seeds x num_envs), started on first use."""
        if self._pool is None:
            cfg = self.cfg
            self._pool = self.env.pool(cfg.seeds * cfg.num_envs, cfg.host.workers, cfg.seed)
        return self._pool

    @property
    def eval_pool(self) -> Any:
        """The evaluation copies (seeds x eval_episodes), started on first use."""
        if self._eval_pool is None:
            s, e = self.seeds, self.cfg.eval_episodes
            self._eval_pool = self.env.pool(s * e, self.cfg.host.workers, self.cfg.seed)
        return self._eval_pool

    def state_shape(self) -> Any:
        """The training state's structure (no values: for loading checkpoints), from the
        first steps of a small pool of its own (one copy per seed and worker)."""
        w = self.cfg.host.workers
        with self.env.pool(self.seeds * w, w, self.cfg.seed) as pool:
            ts = self.tokenise(pool.reset(0))
        return jax.eval_shape(self.init, self.keys, ts)

    def first_steps(self, seed: int | None = None) -> Any:
        """Reset every training copy: the first timesteps, (seeds, num_envs, ...)."""
        return self.tokenise(self.pool.reset(seed))

    def update(self, state: Any) -> tuple[Any, dict]:
        """One PPO update: a rollout stepped on the host, then the jitted learning step."""
        state, keys = self.begin(state)  # keys (S, T, 2)
        carry0, outs = state.run.roll.memory, []
        for t in range(keys.shape[1]):
            acted = self.act(state, keys[:, t])
            raw = self.pool.step(np.asarray(acted.action).reshape(-1, self.env.spec.num_agents))
            next_ts = self.tokenise(raw)
            state, out = self.after(state, acted, next_ts, keys[:, t])
            outs.append(out)
        traj, extras, probs = jax.tree.map(lambda *x: jnp.stack(x, axis=1), *outs)  # (S, T, ...)
        info = {"extras": extras, "done": traj.done, "probs": probs, "carry0": carry0}
        return self.learn(state, traj, info)

    def evaluate(self, state: Any, chunk: int, rounds: int = 1) -> dict[str, dict[str, np.ndarray]]:
        """Both executions on the same episodes, ``rounds`` x ``eval_episodes`` per seed:
        ``{execution: {"return", "won", "length", "finished"}}``, one value per seed."""
        return self.evaluate_params(jax.vmap(self.algo.act_params)(state), chunk, rounds)

    def evaluate_params(self, params: Any, chunk: int, rounds: int = 1) -> dict[str, dict]:
        """``evaluate`` for what acting needs (``algo.act_params``, stacked over seeds)."""
        out = {ex: [] for ex in EXECUTIONS}
        for r in range(rounds):
            seq = np.random.SeedSequence([self.cfg.seed, EVAL_SEED, chunk, r])
            seed = int(seq.generate_state(1)[0])
            for ex in EXECUTIONS:
                out[ex].append(self._play(params, seed, ex))
        return {
            ex: {k: np.mean([o[k] for o in runs], axis=0) for k in runs[0]}
            for ex, runs in out.items()
        }

    def _play(self, params: Any, seed: int, execution: str) -> dict[str, np.ndarray]:
        """Each eval copy's first episode from ``pool.reset(seed)``: per seed means."""
        s, e = self.seeds, self.cfg.eval_episodes
        ts = self.tokenise(self.eval_pool.reset(seed))
        key = jax.random.PRNGKey(seed % (2**31))
        ep_keys = jax.random.split(key, s * e).reshape(s, e, 2)
        carry = jax.vmap(self.algo.start_carry)(ts)
        ret, won, length = (np.zeros((s, e), np.float32) for _ in range(3))
        done = np.zeros((s, e), bool)
        horizon = self.env.spec.max_steps + 1
        fold = jax.vmap(lambda t: jax.random.split(jax.random.fold_in(key, t), s * e))
        all_keys = fold(jnp.arange(horizon)).reshape(horizon, s, e, 2)  # one call, not T
        for t in range(horizon):
            step_keys = all_keys[t]
            actions, carry = self.eval_act(params, ts, step_keys, ep_keys, carry, execution)
            raw = self.eval_pool.step(np.asarray(actions).reshape(s * e, -1))
            ends = (raw["terminated"] | raw["truncated"]).reshape(s, e) & ~done
            for arr, k in ((ret, "episode_return"), (won, "won"), (length, "episode_length")):
                arr[ends] = raw[k].reshape(s, e)[ends]
            done |= ends
            if done.all():
                break
            ts = self.tokenise(raw)
        return {
            "return": ret.mean(1),
            "won": won.mean(1),
            "length": length.mean(1),
            "finished": done.mean(1),
        }

    def close(self) -> None:
        for pool in (self._pool, self._eval_pool):
            if pool is not None:
                pool.close()


def train_host(
    cfg: TrainConfig,
    store: RunStore,
    resume: bool,
    progress: bool = True,
    stop_after_chunks: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) a host run into ``store``'s directory; returns the summary."""
    run_dir = Path(cfg.out)
    ckpt_dir = run_dir / "checkpoints"
    program = HostProgram(cfg)
    try:
        if not resume:
            store.write_config(to_dict(cfg))
        start, wall_before, clock = 0, 0.0, Stopwatch()
        if resume and checkpoint.has_state(ckpt_dir):
            meta = checkpoint.read_meta(ckpt_dir)
            ts = program.first_steps(seed=cfg.seed + 1 + meta["chunk"])  # fresh episodes
            template = jax.eval_shape(program.init, program.keys, ts)
            state, meta = checkpoint.load(ckpt_dir, template)
            state = program.restart(state, ts)
            start, wall_before = meta["chunk"] + 1, meta["wall_s"]
            clock = Stopwatch(meta.get("time_s"))
            store.load_metrics(up_to_step=meta["env_steps"])
        else:
            state = program.init(program.keys, program.first_steps())
        return _chunks(
            program, state, store, ckpt_dir, start, wall_before, clock, progress, stop_after_chunks
        )
    finally:
        program.close()
        store.close()


def _chunks(program, state, store, ckpt_dir, start, wall_before, clock, progress, stop_after):
    cfg, setup = program.cfg, program.setup
    bar = progress_bar(progress, setup, start)
    t0, done_here = time.perf_counter(), 0
    try:
        for c in range(start, setup.chunks):
            part = "first_chunk" if c == start else "train"
            begin = time.perf_counter()
            stats = []
            for _ in range(setup.updates_per_chunk):
                state, m = program.update(state)
                stats.append(m)
            raw = {k: np.stack([np.asarray(m[k]) for m in stats], axis=1) for k in stats[0]}
            clock.totals[part] += time.perf_counter() - begin
            check_loss(raw, setup, c, ckpt_dir)
            env_steps = (c + 1) * setup.updates_per_chunk * setup.steps_per_update
            evals = clock.time("eval", program.evaluate, state, c)
            wall = wall_before + time.perf_counter() - t0
            log_chunk(store, setup, env_steps, raw, evals, program.execution, wall)
            meta = {"chunk": c, "env_steps": env_steps, "wall_s": wall, "time_s": clock.totals}
            clock.time("checkpoint", checkpoint.save, ckpt_dir, state, meta)
            advance_bar(bar, setup, evals, program.execution)
            done_here += 1
            if stop_after is not None and done_here >= stop_after:
                return {"interrupted": True, "chunk": c, "env_steps": env_steps}
    finally:
        if bar is not None:
            bar.close()
    wall = wall_before + time.perf_counter() - t0
    begin = time.perf_counter()
    evals = program.evaluate(state, setup.chunks, rounds=FINAL_EVAL_FACTOR)
    clock.totals["final_eval"] += time.perf_counter() - begin
    summary = summarize(evals, cfg, setup.env.spec, setup.env_steps_total, wall, program.execution)
    summary["time_s"] = clock.rounded()
    store.write_summary(summary)
    meta = {"chunk": setup.chunks - 1, "env_steps": setup.env_steps_total, "wall_s": wall}
    checkpoint.save_policy(ckpt_dir, jax.vmap(program.algo.act_params)(state), meta)
    return summary
