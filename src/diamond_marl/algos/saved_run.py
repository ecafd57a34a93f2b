"""A run on disk, loaded again: its config, compiled program and policy, for re-evaluation
(``evaluate_run``), analysis, replay and the adversarial evaluation.

``load_run`` reads a finished run's ``policy`` checkpoint, or the latest training state of an
unfinished one. ``LoadedRun.setup_for(env)`` runs the same policy on another map or team
size, refusing one whose entity tokens it cannot read.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flax.errors
import jax

from diamond_marl.algos import checkpoint
from diamond_marl.algos.common import TrainSetup, build_setup
from diamond_marl.algos.config import TrainConfig, from_dict
from diamond_marl.algos.evaluate import make_evaluate_all
from diamond_marl.algos.runner import (
    EVAL_STREAM,
    FINAL_EVAL_FACTOR,
    Program,
    build_program,
    make_algorithm,
    summarize,
    to_numpy,
)
from diamond_marl.algos.store import RunStore
from diamond_marl.atomic import atomic_write_json
from diamond_marl.env_names import file_safe
from diamond_marl.envs.host.names import is_pz_name
from diamond_marl.errors import ConfigError


def load_act_params(program: Program, ckpt_dir: Path) -> tuple[Any, dict[str, Any]]:
    """What acting needs, stacked over seeds, and the checkpoint's meta: from a finished run's
    ``policy`` checkpoint, else from the latest training state (an unfinished run)."""
    # the checkpoints need the structures only: tracing init is cheaper than running it
    return load_policy(jax.eval_shape(program.init, program.seed_keys), program.algo, ckpt_dir)


def load_policy(state: Any, algo: Any, ckpt_dir: Path) -> tuple[Any, dict[str, Any]]:
    """``load_act_params`` given the training state's structure and the algorithm."""
    act_params = jax.vmap(algo.act_params)
    if checkpoint.has_policy(ckpt_dir):
        return checkpoint.load(ckpt_dir, jax.eval_shape(act_params, state), checkpoint.POLICY)
    state, meta = checkpoint.load(ckpt_dir, state)
    return act_params(state), meta


@dataclasses.dataclass
class LoadedRun:
    """A run's config, compiled program and latest checkpoint, ready for re-evaluation."""

    run_dir: Path
    config: TrainConfig
    program: Program
    meta: dict[str, Any]
    act_params: Any  # what Algorithm.act needs, stacked over seeds

    @property
    def num_seeds(self) -> int:
        return int(self.program.seed_keys.shape[0])

    def seed_params(self, index: int) -> Any:
        """``act_params`` of one seed (0-based index into the run's seeds)."""
        _check_seed_index(index, self.num_seeds, self.run_dir)
        return jax.tree.map(lambda x: x[index], self.act_params)

    def setup_for(self, env: str | None = None) -> TrainSetup:
        """The setup of the run's own environment, or of ``env`` with the run's breaker."""
        setup = self.program.setup
        if env is None or env == self.config.env:
            return setup
        other = build_setup(dataclasses.replace(self.config, env=env))
        other = dataclasses.replace(other, breaker=setup.breaker)
        check_readable(setup.env.spec, other.env.spec)
        return other

    def program_for(self, env: str | None = None) -> Program:
        """The run's program, or one acting on ``env`` with the run's policy and seeds."""
        setup = self.setup_for(env)
        if setup is self.program.setup:
            return self.program
        return Program(setup, make_algorithm(setup), self.program.seed_keys)


def check_readable(trained: Any, wanted: Any) -> None:
    """Refuse an env spec whose entity tokens a policy trained on ``trained`` cannot read."""
    if trained.entity_dim != wanted.entity_dim:
        raise ConfigError(
            f"the policy trained on {trained.name} reads {trained.entity_dim} features per "
            f"entity token; {wanted.name} has {wanted.entity_dim}: it cannot run there"
        )


def _check_seed_index(index: int, seeds: int, run_dir: Path) -> None:
    if not 0 <= index < seeds:
        raise ConfigError(
            f"--seed-index {index} is out of range; allowed: 0..{seeds - 1} "
            f"({run_dir} has {seeds} seed(s))"
        )


def load_run(run_dir: str | Path, seed_index: int | None = None) -> LoadedRun:
    """Load ``RUN_DIR``'s config and policy; ``seed_index`` is range-checked before anything
    is compiled."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    if not checkpoint.exists(run_dir / "checkpoints"):
        raise ConfigError(f"{run_dir} has no checkpoint yet")
    cfg = from_dict(RunStore(run_dir, {}).read_config())
    if seed_index is not None:
        _check_seed_index(seed_index, cfg.seeds, run_dir)
    program = build_program(cfg)
    act_params, meta = load_act_params(program, run_dir / "checkpoints")
    return LoadedRun(run_dir, cfg, program, meta, act_params)


def evaluate_run(run_dir: str | Path, env: str | None = None, episodes: int | None = None) -> dict:
    """Re-evaluate a run's policy, optionally on another environment or team size.

    Writes ``RUN_DIR/eval/<env>.json`` with the keys of ``summary.json`` and returns it.
    """
    if episodes is not None and episodes < 1:
        raise ConfigError(f"episodes={episodes} must be >= 1")
    if (Path(run_dir) / "config.yaml").exists():
        cfg = from_dict(RunStore(Path(run_dir), {}).read_config())
        if is_pz_name(cfg.env):  # a policy trained on the host: evaluated there
            played = episodes or cfg.eval_episodes * FINAL_EVAL_FACTOR
            evals = _host_evals(Path(run_dir), cfg, env, episodes)
            return _write_eval(Path(run_dir), cfg, played, *evals)
    run = load_run(run_dir)
    cfg, program = run.config, run.program
    target = run.program_for(env)
    episodes = episodes or cfg.eval_episodes * FINAL_EVAL_FACTOR
    algo = target.algo
    ev = jax.jit(
        jax.vmap(make_evaluate_all(target.setup.env, algo.act, algo.start_carry, episodes))
    )
    keys = jax.vmap(lambda k: jax.random.fold_in(k, EVAL_STREAM + 1))(program.seed_keys)
    with _runs_on(cfg.env, target.setup.env.spec.name):
        evals = to_numpy(ev(run.act_params, keys))
    return _write_eval(
        run.run_dir, cfg, episodes, evals, target.setup.env.spec, run.meta, program.execution
    )


@contextlib.contextmanager
def _runs_on(trained: str, env: str) -> Iterator[None]:
    """A policy that cannot act on ``env`` (shapes, parameters) as a one-line ConfigError."""
    try:
        yield
    except (TypeError, ValueError, flax.errors.FlaxError) as err:
        raise ConfigError(f"the policy trained on {trained} cannot run on {env}: {err}") from None


def _write_eval(run_dir: Path, cfg: TrainConfig, episodes, evals, spec, meta, execution) -> dict:
    """The re-evaluation (``episodes`` per seed and execution) as ``summary.json``'s keys,
    written to ``eval/<env>.json``."""
    summary = summarize(evals, cfg, spec, meta["env_steps"], 0.0, execution)
    summary["episodes_per_seed"] = int(episodes)
    summary["trained_on"] = cfg.env
    del summary["wall_s"]
    atomic_write_json(run_dir / "eval" / f"{file_safe(spec.name)}.json", summary)
    return summary


def _host_evals(run_dir: Path, cfg: TrainConfig, env: str | None, episodes: int | None):
    """A host run's policy on its own ``pz:`` env or another (e.g. more agents), both
    executions, through worker pools: (evals, the env's spec, checkpoint meta, execution)."""
    from diamond_marl.algos.host_loop import HostProgram

    target = env or cfg.env
    if not is_pz_name(target):
        raise ConfigError(
            f"{run_dir} was trained on the host ({cfg.env}); allowed for eval: 'pz:' names"
        )
    if not checkpoint.exists(run_dir / "checkpoints"):
        raise ConfigError(f"{run_dir} has no checkpoint yet")
    rounds = 1 if episodes else FINAL_EVAL_FACTOR  # default: as many as the final evaluation
    cfg = dataclasses.replace(cfg, eval_episodes=episodes or cfg.eval_episodes)
    programs = [HostProgram(cfg)]
    try:
        own = programs[0]
        params, meta = load_policy(own.state_shape(), own.algo, run_dir / "checkpoints")
        if target != cfg.env:
            programs.append(HostProgram(dataclasses.replace(cfg, env=target)))
            check_readable(own.env.spec, programs[-1].env.spec)
        there = programs[-1]
        with _runs_on(cfg.env, there.env.spec.name):
            evals = there.evaluate_params(params, own.setup.chunks + 1, rounds)
        return evals, there.env.spec, meta, own.execution
    finally:
        for program in programs:
            program.close()
