"""What the algorithms share: the ``Algorithm`` interface the runner drives, the run's set-up
(environment, breaker, budget), and small helpers used by both the PPO and Q-learning modules.

An algorithm is four pure functions, all for ONE seed (the runner vmaps them over seeds):
``init(key) -> state``, ``update(state, _) -> (state, metrics)`` (one update, scanned into
chunks by the runner), ``act(act_params, ts, step_key, episode_key, carry, execution) ->
(actions, carry)`` (execution mode, one environment; ``carry`` is a recurrent agent's
memory) and ``act_params(state)`` (what ``act`` needs from the state), plus its ``actor``
(``networks.acting.Actor``), through which all of them act.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from diamond_marl.algos.config import TrainConfig
from diamond_marl.envs import make
from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import wrap_for_training
from diamond_marl.networks.acting import Acted, Actor, own_execution
from diamond_marl.networks.breakers import BreakerConfig, config_class, make_breaker
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.network import NetworkConfig, reset_carry
from diamond_marl.networks.schedules import action_diversity, adapt_sigma

# Default env-step budget per seed, when neither the config files nor the user set one.
FALLBACK_STEPS = 200_000


class Algorithm(NamedTuple):
    init: Callable[[chex.PRNGKey], Any]
    update: Callable[[Any, Any], tuple[Any, dict]]
    act: Callable[..., tuple[chex.Array, Any]]
    act_params: Callable[[Any], Any]
    env_steps_per_update: int
    actor: Actor

    @property
    def start_carry(self) -> Callable[[TimeStep], Any]:
        """The agents' memory at an episode's start (None for feed-forward agents)."""
        return start_carry(self.actor)


def eval_act(actor: Actor) -> Callable[..., tuple[chex.Array, Any]]:
    """``act(act_params, ts, step_key, episode_key, carry, execution="greedy") -> (actions
    (N,), carry)`` for one environment in execution mode; ``act_params = (params, env_steps,
    noise_scale)``; ``carry`` is the agents' memory (``start_carry(ts)`` at an episode's
    start; None without one)."""

    def act(
        act_params: Any,
        ts: TimeStep,
        step_key: chex.PRNGKey,
        episode_key: chex.PRNGKey,
        carry: Any,
        execution: str = "greedy",
    ) -> tuple[chex.Array, Any]:
        params, env_steps, noise_scale = act_params
        obs = from_timestep(ts)
        acted = actor(
            params, obs, episode_key, step_key, env_steps, noise_scale, "eval", carry,
            execution=execution,
        )  # fmt: skip
        return acted.action, acted.carry

    return act


def start_carry(actor: Actor) -> Callable[[TimeStep], Any]:
    """The agents' memory at an episode's start, for ``ts`` of one or more environments."""
    return lambda ts: actor.initial_carry(from_timestep(ts))


@dataclasses.dataclass
class TrainSetup:
    """Everything an algorithm builder needs, resolved once from the config."""

    config: TrainConfig
    env: Env  # the bare environment (evaluation wraps it itself)
    train_env: Env  # auto-reset + episode metrics
    breaker: BreakerConfig
    steps_per_update: int
    updates_per_chunk: int
    chunks: int

    @property
    def updates_total(self) -> int:
        return self.updates_per_chunk * self.chunks

    @property
    def env_steps_total(self) -> int:
        return self.updates_total * self.steps_per_update

    def diversity(self, probs: chex.Array) -> chex.Array:
        """Mean pairwise TV distance between agents' action distributions, (..., N, A) -> ()."""
        return action_diversity(probs)

    def adapt(self, scale: chex.Array, diversity: chex.Array) -> chex.Array:
        b = self.breaker
        return adapt_sigma(scale, diversity, b.target_diversity, b.adapt_rate)

    @staticmethod
    def episode_metrics(extras: dict, done: chex.Array) -> dict:
        """Sums and counts over the episodes that ended in a rollout (the runner averages)."""
        d = done.astype(jnp.float32)
        return {
            "episodes": d.sum(),
            "return_sum": (extras["episode_return"] * d).sum(),
            "won_sum": (extras["won"] * d).sum(),
            "length_sum": (extras["episode_length"] * d).sum(),
        }


def table_execution(setup: TrainSetup) -> str:
    """The execution a run's headline numbers use: the breaker's own (``sampled`` only for
    the stochastic-execution breaker), or ``sampled`` for every breaker with PPO's
    ``ppo.eval_greedy=false``. Both executions are recorded either way."""
    cfg = setup.config
    if cfg.is_ppo and not cfg.ppo.eval_greedy:
        return "sampled"
    return own_execution(setup.breaker)


def network_config(cfg: TrainConfig, outputs: tuple[str, ...], **extra: Any) -> NetworkConfig:
    """The agent (or entity-critic) network of a run: ``cfg.net`` with these ``outputs``."""
    net = cfg.net
    return NetworkConfig(
        hidden=net.hidden,
        heads=net.heads,
        blocks=net.blocks,
        q_init_scale=net.q_init_scale,
        recurrent=net.recurrent,
        outputs=outputs,
        **extra,
    )


def steps_per_update(cfg: TrainConfig, env: Env) -> int:
    if cfg.is_ppo:
        return cfg.ppo.rollout_len * cfg.num_envs
    return segment_len(cfg, env) * cfg.num_envs


def segment_len(cfg: TrainConfig, env: Env) -> int:
    """Length of the trajectory windows Q-learning stores (the episode limit, capped)."""
    return cfg.q.segment_len or min(env.spec.max_steps, 100)


def build_setup(cfg: TrainConfig) -> TrainSetup:
    """Resolve the environment, the breaker and the update/chunk budget of a run."""
    env = make(cfg.env)
    per_update = steps_per_update(cfg, env)
    total_steps = cfg.steps or FALLBACK_STEPS
    updates = max(1, math.ceil(total_steps / per_update))
    eval_interval = cfg.eval_interval or max(per_update, total_steps // 10)
    per_chunk = max(1, min(updates, eval_interval // per_update))
    chunks = max(math.ceil(updates / per_chunk), cfg.chunks)
    per_chunk = max(1, math.ceil(updates / chunks))
    args = config_class(cfg.breaker).run_options(
        dict(cfg.breaker_args), per_chunk * chunks * per_update, env.spec.num_agents
    )
    breaker = make_breaker(cfg.breaker, **args)
    breaker.check_team(env.spec.num_agents, env.spec.name)
    return TrainSetup(
        config=cfg,
        env=env,
        train_env=wrap_for_training(env),
        breaker=breaker,
        steps_per_update=per_update,
        updates_per_chunk=per_chunk,
        chunks=chunks,
    )


def start_envs(setup: TrainSetup, key: chex.PRNGKey) -> dict[str, Any]:
    """The fields every algorithm's state starts with: reset envs, keys, zero counters."""
    key, reset_key, ep_key = jax.random.split(key, 3)
    b = setup.config.num_envs
    env_state, ts = jax.vmap(setup.train_env.reset)(jax.random.split(reset_key, b))
    return {
        "env_state": env_state,  # (B, ...)
        "ts": ts,  # (B, ...)
        "key": key,
        "episode_keys": jax.random.split(ep_key, b),  # (B, 2)
        "update": jnp.zeros((), jnp.int32),
        "env_steps": jnp.zeros((), jnp.int32),
        "noise_scale": jnp.asarray(setup.breaker.initial_noise_scale, jnp.float32),
    }


class Rollout(NamedTuple):
    """What a training rollout carries from step to step, batched over environments."""

    env_state: Any  # (B, ...)
    ts: Any  # (B, ...) the timestep to act on
    episode_keys: chex.Array  # (B, 2)
    memory: Any  # (B, N, D) recurrent agents' memory, None otherwise


def rollout_step(
    setup: TrainSetup,
    actor: Actor,
    params: Any,
    roll: Rollout,
    step_key: chex.PRNGKey,
    env_steps: chex.Array,
    noise_scale: chex.Array,
    epsilon: chex.Numeric | None = None,
) -> tuple[Rollout, Acted, Any]:
    """One training step of every environment: act (``epsilon``: Q-learning's exploration),
    step, renew the keys and zero the memory of episodes that ended. Returns the next
    rollout state, what the actor did and the new timestep."""
    obs = from_timestep(roll.ts)
    acted = actor(
        params, obs, roll.episode_keys, step_key, env_steps, noise_scale, "train", roll.memory,
        epsilon=epsilon,
    )  # fmt: skip
    env_state, next_ts = jax.vmap(setup.train_env.step)(roll.env_state, acted.action)
    episode_keys = episode_key_update(roll.episode_keys, next_ts.done, step_key)
    memory = reset_carry(acted.carry, next_ts.done)  # zeroed for a new episode
    return Rollout(env_state, next_ts, episode_keys, memory), acted, next_ts


def episode_key_update(keys: chex.Array, done: chex.Array, step_key: chex.PRNGKey) -> chex.Array:
    """New per-episode keys (B, 2) where an episode just ended, the old ones elsewhere."""
    fresh = jax.random.split(jax.random.fold_in(step_key, 7), keys.shape[0])
    return jnp.where(done[:, None], fresh, keys)
