"""Execution-mode episodes of a trained run, recorded step by step and agent by agent.

An episode is fully determined by the run's checkpoint, the seed index and its **episode
key**: an integer K, turned into ``jax.random.PRNGKey(K)`` and split into (reset, episode,
run) keys exactly as ``algos.evaluate`` does for each of its environments. ``analyze`` plays
K = 0 .. episodes - 1, so any episode it shows can be replayed alone with ``replay
--episode-key K``.

The policy is the run's own actor (``Policy``), applied as ``Algorithm.act`` applies it
(tests check that the actions agree), but opened up: besides the action it returns the
action distribution, the breaker's draws, optionally every layer's attention, and it accepts
a ``Tamper`` (adversarial evaluation: force agent 0's rank, scale its noise, or replace its
actions by random valid ones). Recorded per step and agent:

- ``action (T, N)`` int, ``probs (T, N, A)``: the action distribution. PPO algorithms:
  ``softmax(logits)`` (``/ temperature`` for ``sampled``). Q-learning: the one-hot of the
  greedy action it executes (for ``sampled``, which samples, epsilon-greedy at
  ``q.eps_finish``: ``networks.acting.sampled_probs``);
- ``valid (T,)``: the episode is still running at this step; ``reward (T,)`` team reward;
- draws where the breaker has them at evaluation: ``rank (T, N)`` (after tampering),
  ``random_input (T, N)``, ``noise_scale (T, N)`` (effective multiplier of sigma) and
  ``noise_rms (T, N)`` (rms of the agent's eps), ``dice_norm (T, N)``;
- with ``attention=True``: ``attention (T, N, E, E)`` (last layer, mean over heads),
  ``entity_kind``/``entity_mask (T, N, E)``; with ``render=True``: ``frame`` (``render.snapshot``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.algos import checkpoint
from diamond_marl.algos.common import TrainSetup, build_setup, network_config, table_execution
from diamond_marl.algos.config import TrainConfig, from_dict
from diamond_marl.algos.runner import Program, build_program, load_act_params, make_algorithm
from diamond_marl.algos.store import RunStore
from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import EpisodeMetrics
from diamond_marl.errors import ConfigError
from diamond_marl.networks import dice
from diamond_marl.networks.acting import sampled_probs, select_actions
from diamond_marl.networks.breakers import (
    BreakerConfig,
    DiceConfig,
    NoiseConfig,
    RandomInputConfig,
    RankConfig,
    breaker_key,
)
from diamond_marl.networks.heads import mask_logits
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.network import AgentNetwork, make_network

_RANDOM_ATTACK_STREAM = 0xA77AC  # folded into the step key: never used by the policy itself


# Loading a run ---------------------------------------------------------------------------


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
        if not 0 <= index < self.num_seeds:
            raise ConfigError(
                f"--seed-index {index} is out of range; allowed: 0..{self.num_seeds - 1} "
                f"({self.run_dir} has {self.num_seeds} seed(s))"
            )
        return jax.tree.map(lambda x: x[index], self.act_params)

    def setup_for(self, env: str | None = None) -> TrainSetup:
        """The setup of the run's own environment, or of ``env`` with the run's breaker."""
        setup = self.program.setup
        if env is None or env == self.config.env:
            return setup
        other = build_setup(dataclasses.replace(self.config, env=env))
        other = dataclasses.replace(other, breaker=setup.breaker)
        trained, wanted = setup.env.spec, other.env.spec
        if trained.entity_dim != wanted.entity_dim:
            raise ConfigError(
                f"the policy trained on {trained.name} reads {trained.entity_dim} features per "
                f"entity token; {wanted.name} has {wanted.entity_dim}: it cannot run there"
            )
        return other


def load_run(run_dir: str | Path, seed_index: int | None = None) -> LoadedRun:
    """Load ``RUN_DIR``'s config and policy (as ``runner.evaluate_run`` does);
    ``seed_index`` is range-checked before anything is compiled."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    if not checkpoint.exists(run_dir / "checkpoints"):
        raise ConfigError(f"{run_dir} has no checkpoint yet")
    cfg = from_dict(RunStore(run_dir, {}).read_config())
    if seed_index is not None and not 0 <= seed_index < cfg.seeds:
        raise ConfigError(
            f"--seed-index {seed_index} is out of range; allowed: 0..{cfg.seeds - 1} "
            f"({run_dir} has {cfg.seeds} seed(s))"
        )
    program = build_program(cfg)
    act_params, meta = load_act_params(program, run_dir / "checkpoints")
    return LoadedRun(run_dir, cfg, program, meta, act_params)


# The policy, opened up -------------------------------------------------------------------


class Tamper(NamedTuple):
    """What adversarial evaluation changes for agent 0 (traced floats; defaults = honest)."""

    rank0: chex.Numeric = float("nan")  # agent 0's broadcast rank draw (nan: its own draw)
    noise_gain0: chex.Numeric = float("nan")  # multiplier on agent 0's noise (nan: unchanged)
    random_prob: chex.Numeric = 0.0  # probability that agent 0 takes a random valid action


HONEST = Tamper()


def noise_at_eval(breaker: BreakerConfig) -> bool:
    return isinstance(breaker, NoiseConfig) and breaker.eval_noise


def rank_at_eval(breaker: BreakerConfig) -> bool:
    return isinstance(breaker, RankConfig) and breaker.eval_rank


@dataclasses.dataclass(frozen=True)
class Policy:
    """The run's actor, applied exactly as its ``Algorithm.act``, with everything exposed.

    ``force_noise``: switch logit noise on at evaluation for a run that evaluates without it
    (the noise attack); honest agents then get gain 0, agent 0 ``Tamper.noise_gain0``.
    """

    net: AgentNetwork
    is_ppo: bool
    execution: str  # the run's own (algos.common.table_execution), as its Algorithm.act
    epsilon: float | None  # Q-learning's final exploration rate (its sampled execution)
    adaptive: bool
    force_noise: bool = False

    @classmethod
    def from_setup(cls, setup: TrainSetup, force_noise: bool = False) -> Policy:
        cfg, breaker = setup.config, setup.breaker
        outputs = ("policy",) if cfg.is_ppo else ("q",)
        net = make_network(setup.env.spec, breaker, network_config(cfg, outputs))
        if force_noise:
            if not isinstance(breaker, NoiseConfig):
                raise ConfigError(f"breaker {breaker.name!r} has no logit noise to force on")
            net = dataclasses.replace(net, breaker=dataclasses.replace(breaker, eval_noise=True))
        return cls(
            net=net,
            is_ppo=cfg.is_ppo,
            execution=table_execution(setup),
            epsilon=None if cfg.is_ppo else cfg.q.eps_finish,
            adaptive=getattr(breaker, "schedule", None) == "adaptive",
            force_noise=force_noise,
        )

    @property
    def breaker(self) -> BreakerConfig:
        return self.net.breaker

    def step(
        self,
        act_params: Any,
        ts: TimeStep,
        step_key: chex.PRNGKey,
        episode_key: chex.PRNGKey,
        tamper: Tamper = HONEST,
        attention: bool = False,
    ) -> dict[str, chex.Array]:
        """One environment's step: ``action (N,)``, ``probs (N, A)``, draws, [attention]."""
        params, env_steps, noise_scale = act_params
        b = self.breaker
        net_key = breaker_key(b, episode_key, step_key)
        obs = from_timestep(ts)
        n = obs.num_agents
        rec = draws_of(b, net_key, n, obs.entities.shape[-1])
        rank = gain = None
        if rank_at_eval(b):
            own = rec["rank"]
            rank = own.at[0].set(jnp.where(jnp.isnan(tamper.rank0), own[0], tamper.rank0))
            rec["rank"] = rank
        noisy = noise_at_eval(b) or self.force_noise
        if noisy:
            base = 0.0 if self.force_noise else 1.0
            g0 = jnp.where(jnp.isnan(tamper.noise_gain0), base, tamper.noise_gain0)
            gain = jnp.full((n,), base, jnp.float32).at[0].set(g0)
        draws = dice.Draws(rank=rank, noise_gain=gain)
        scale_in = noise_scale if self.adaptive else None
        args = (params, obs, net_key, env_steps, "eval")
        if attention:
            out, layers = self.net.attention(*args, draws=draws, noise_scale=scale_in)
            rec["attention"] = layers[-1].mean(-3)  # (N, E, E) last layer, mean over heads
            rec["entity_kind"] = ts.entity_kind
            rec["entity_mask"] = ts.entity_mask
        else:
            out = self.net.apply(*args, draws=draws, noise_scale=scale_in)
        if noisy:
            rec |= noise_draws(self.net, net_key, n, obs.num_entities, env_steps, scale_in, gain)
        scores = out.logits if self.is_ppo else mask_logits(out.q, ts.action_mask)  # (N, A)
        act_key = jax.random.fold_in(step_key, 1)
        action = select_actions(
            act_key, scores, b, "eval", epsilon=self.epsilon, execution=self.execution
        )  # (N,)
        rec["probs"] = self._distribution(scores, action)
        k_use, k_pick = jax.random.split(jax.random.fold_in(step_key, _RANDOM_ATTACK_STREAM))
        avail = ts.action_mask[0]  # (A,)
        random0 = jax.random.categorical(k_pick, jnp.where(avail, 0.0, -jnp.inf))
        swap = jax.random.uniform(k_use) < tamper.random_prob
        rec["action"] = action.at[0].set(jnp.where(swap, random0, action[0]).astype(jnp.int32))
        return rec

    def _distribution(self, scores: chex.Array, action: chex.Array) -> chex.Array:
        if self.execution == "sampled":
            return sampled_probs(scores, self.breaker, self.epsilon)
        if self.is_ppo:
            return jax.nn.softmax(scores, axis=-1)  # the policy, though it acts greedily
        return jax.nn.one_hot(action, scores.shape[-1])  # greedy Q-learning execution


def draws_of(
    breaker: BreakerConfig, net_key: chex.PRNGKey, n: int, features: int
) -> dict[str, chex.Array]:
    """The per-agent draws the network makes at evaluation, recomputed from its key (N,)."""
    out: dict[str, chex.Array] = {}
    if not breaker.needs_key("eval"):
        return out
    ekey = dice.env_keys(net_key, ())
    akeys = dice.agent_keys(ekey, n)  # (N,)
    if rank_at_eval(breaker):
        out["rank"] = dice.uniform(dice.stream(akeys, dice.RANK))  # (N,)
    if isinstance(breaker, RandomInputConfig) and breaker.eval_random:
        out["random_input"] = dice.uniform(dice.stream(akeys, dice.RANDOM_INPUT), (1,))[:, 0]
    if isinstance(breaker, DiceConfig) and breaker.eval_dice:
        if breaker.shared:
            token = dice.normal(dice.stream(ekey, dice.DICE), (features,))
            token = jnp.broadcast_to(token, (n, features))
        else:
            token = dice.normal(dice.stream(akeys, dice.DICE), (features,))  # (N, F)
        out["dice_norm"] = breaker.scale * jnp.linalg.norm(token, axis=-1)
    return out


def noise_draws(
    net: AgentNetwork,
    net_key: chex.PRNGKey,
    n: int,
    entities: int,
    env_steps: chex.Numeric,
    noise_scale: chex.Numeric | None,
    gain: chex.Array,
) -> dict[str, chex.Array]:
    """Effective noise multiplier ``scale(step) x gain`` and rms of eps per agent (N,)."""
    from diamond_marl.networks.schedules import schedule_value

    cfg = net.breaker
    akeys = dice.agent_keys(dice.env_keys(net_key, ()), n)  # (N,)
    shape = (net.config.heads, entities, entities)
    if cfg.per_layer_dice:
        shape = (net.config.blocks,) + shape
    eps = dice.fast_normal(dice.stream(akeys, dice.NOISE), shape)  # (N, [L,] H, E, E)
    if noise_scale is None:
        noise_scale = schedule_value(cfg.schedule, cfg.start, cfg.end, cfg.horizon, env_steps)
    return {
        "noise_scale": noise_scale * gain,
        "noise_rms": jnp.sqrt(jnp.mean(jnp.square(eps.reshape(n, -1)), axis=-1)),
    }


# Recording episodes ----------------------------------------------------------------------


def episode_keys(keys: list[int] | range) -> jax.Array:
    """Integer episode keys K -> ``(E, 2)`` raw keys ``PRNGKey(K)``."""
    return jnp.stack([jax.random.PRNGKey(int(k)) for k in keys])


Snapshot = Callable[[Any], Any]


def make_recorder(
    env: Env,
    policy: Policy,
    *,
    attention: bool = False,
    snapshot: Snapshot | None = None,
    reference_act: Callable | None = None,
) -> Callable[[Any, chex.Array, Tamper], dict[str, chex.Array]]:
    """Build ``record(act_params, keys (E, 2), tamper) -> arrays (E, [T,] ...)``.

    Each episode runs ``max_steps`` steps from its own key (split into reset, episode and run
    keys as ``algos.evaluate`` does); steps after its end are marked invalid. ``snapshot``
    maps the bare env state to arrays to draw (``render``); ``reference_act`` (a run's
    ``Algorithm.act``) records its actions too, to check the policy's fidelity.
    """
    wrapped = EpisodeMetrics(env)
    horizon = env.spec.max_steps

    def one(act_params: Any, key: chex.PRNGKey, tamper: Tamper) -> dict[str, chex.Array]:
        reset_key, episode_key, run_key = jax.random.split(key, 3)
        state, ts = wrapped.reset(reset_key)
        zero = jnp.zeros(())
        init = (state, ts, jnp.zeros((), bool), zero, zero, zero)

        def body(carry, step_key):
            state, ts, finished, ret, won, length = carry
            rec = policy.step(act_params, ts, step_key, episode_key, tamper, attention)
            if reference_act is not None:
                rec["reference_action"] = reference_act(act_params, ts, step_key, episode_key)
            if snapshot is not None:
                rec["frame"] = snapshot(state.env_state)
            new_state, new_ts = wrapped.step(state, rec["action"])
            rec["valid"] = ~finished
            rec["reward"] = new_ts.reward.mean()
            ends = new_ts.done & ~finished
            ret = jnp.where(ends, new_ts.extras["episode_return"], ret)
            won = jnp.where(ends, new_ts.extras["won"], won)
            length = jnp.where(ends, new_ts.extras["episode_length"], length)
            keep = lambda new, old: jnp.where(finished, old, new)  # noqa: E731
            state = jax.tree.map(keep, new_state, state)
            ts = jax.tree.map(keep, new_ts, ts)
            return (state, ts, finished | ends, ret, won, length), rec

        (_, _, finished, ret, won, length), steps = jax.lax.scan(
            body, init, jax.random.split(run_key, horizon)
        )
        return {"return": ret, "won": won, "length": length, "finished": finished, **steps}

    def record(act_params: Any, keys: chex.Array, tamper: Tamper = HONEST) -> dict:
        return jax.vmap(one, in_axes=(None, 0, None))(act_params, keys, tamper)

    return record


@dataclasses.dataclass
class Recording:
    """Recorded episodes of every seed: arrays ``(S, E, ...)`` (seeds, episodes) in numpy."""

    env: str
    keys: list[int]
    data: dict[str, np.ndarray]
    num_actions: int

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def metrics(self) -> dict[str, Any]:
        """Specialisation metrics and scores, per seed and their mean."""
        from diamond_marl.analysis.metrics import specialisation

        per_seed = []
        for s in range(self.data["action"].shape[0]):
            d = {k: self.data[k][s] for k in ("probs", "action", "valid")}
            m = specialisation(d["probs"], d["action"], d["valid"], self.num_actions)
            m["return"] = float(self.data["return"][s].mean())
            m["won"] = float(self.data["won"][s].mean())
            per_seed.append({k: _finite(v) for k, v in m.items()})
        keys = per_seed[0].keys()
        mean = {k: _mean([p[k] for p in per_seed]) for k in keys}
        return {"per_seed": per_seed, **mean}


def _finite(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


class Recorder:
    """Compiled recorders of one run on one environment, cached by their static options."""

    def __init__(self, run: LoadedRun, env: str | None = None) -> None:
        self.run = run
        self.setup = run.setup_for(env)
        self._cache: dict[tuple, Any] = {}

    @property
    def spec(self):
        return self.setup.env.spec

    def _compiled(self, force_noise: bool, attention: bool, render: bool, reference: bool):
        sig = (force_noise, attention, render, reference)
        if sig not in self._cache:
            policy = Policy.from_setup(self.setup, force_noise=force_noise)
            ref = None
            if reference:  # the run's own execution, as training evaluated it
                act = make_algorithm(self.setup).act
                ref = functools.partial(act, execution=table_execution(self.setup))
            snap = None
            if render:
                from diamond_marl.analysis.render import snapshot_fn

                snap = snapshot_fn(self.setup.env)
            rec = make_recorder(
                self.setup.env, policy, attention=attention, snapshot=snap, reference_act=ref
            )
            self._cache[sig] = jax.jit(jax.vmap(rec, in_axes=(0, None, None)))
        return self._cache[sig]

    def record(
        self,
        keys: list[int] | range,
        tamper: Tamper = HONEST,
        *,
        force_noise: bool = False,
        attention: bool = False,
        render: bool = False,
        reference: bool = False,
        seeds: list[int] | None = None,
    ) -> Recording:
        """Play episodes ``keys`` with every seed (or ``seeds``) of the run."""
        fn = self._compiled(force_noise, attention, render, reference)
        params = self.run.act_params
        if seeds is not None:
            for s in seeds:
                self.run.seed_params(s)  # range check
            params = jax.tree.map(lambda x: x[jnp.asarray(seeds)], params)
        tamper = Tamper(*(jnp.asarray(v, jnp.float32) for v in tamper))
        out = fn(params, episode_keys(list(keys)), tamper)
        data = jax.tree.map(np.asarray, out)
        return Recording(self.spec.name, [int(k) for k in keys], data, self.spec.num_actions)
