"""What the algorithms share: the ``Algorithm`` interface the runner drives, the run's set-up
(environment, breaker, budget), and small helpers used by both the PPO and Q-learning modules.

An algorithm is four pure functions, all for ONE seed (the runner vmaps them over seeds):
``init(key) -> state``, ``update(state, _) -> (state, metrics)`` (one update, scanned into
chunks by the runner), ``act(act_params, ts, step_key, episode_key, carry, execution) ->
(actions, carry)`` (execution mode, one environment; ``carry`` is a recurrent agent's
memory) and ``act_params(state) -> ActParams`` (what acting reads from the state), plus its
``actor`` (``networks.acting.Actor``), through which all of them act.

Every algorithm's state nests one ``RunState``: the running environments (``Rollout``), the key,
the counters and the breaker's own state, which only the breaker reads. ``collect`` runs a
rollout and ``finish_update`` closes an update (counters, the breaker's state, the metrics
every algorithm logs) for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from diamond_marl.algos.config import Budget, TrainConfig
from diamond_marl.envs import make
from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep
from diamond_marl.envs.wrappers import wrap_for_training
from diamond_marl.networks.acting import Acted, Actor, ActParams, How, Keys, own_execution
from diamond_marl.networks.breakers import BreakerConfig, config_class, make_breaker
from diamond_marl.networks.breakers.base import Signals
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.network import AgentNetwork, NetworkConfig, reset_carry
from diamond_marl.networks.schedules import action_diversity


class HostHooks(NamedTuple):
    """What a loop whose environments step on the host (``algos.host_loop``) needs besides
    ``Algorithm``: ``init_with(run, actor_key, critic_key)`` a learner on environments it
    reset itself, ``record(params, ts, acted, next_ts)`` what a step keeps, and
    ``learn(state, traj, info)`` one update from a collected rollout."""

    init_with: Callable[..., Any]
    record: Callable[..., Any]
    learn: Callable[..., tuple[Any, dict]]


class Algorithm(NamedTuple):
    init: Callable[[chex.PRNGKey], Any]
    update: Callable[[Any, Any], tuple[Any, dict]]
    act: Callable[..., tuple[chex.Array, Any]]
    act_params: Callable[[Any], ActParams]
    env_steps_per_update: int
    actor: Actor
    host: HostHooks | None = None  # PPO only: Q-learning does not train on the host

    @property
    def start_carry(self) -> Callable[[TimeStep], Any]:
        """The agents' memory at an episode's start (None for feed-forward agents)."""
        return start_carry(self.actor)


def eval_act(actor: Actor) -> Callable[..., tuple[chex.Array, Any]]:
    """``act(act_params, ts, step_key, episode_key, carry, execution="greedy") -> (actions
    (N,), carry)`` for one environment in execution mode; ``carry`` is the agents' memory
    (``start_carry(ts)`` at an episode's start; None without one)."""

    def act(
        act_params: ActParams,
        ts: TimeStep,
        step_key: chex.PRNGKey,
        episode_key: chex.PRNGKey,
        carry: Any,
        execution: str = "greedy",
    ) -> tuple[chex.Array, Any]:
        how = How("eval", carry, execution=execution)
        acted = actor(act_params, from_timestep(ts), Keys(episode_key, step_key), how)
        return acted.action, acted.carry

    return act


def start_carry(actor: Actor) -> Callable[[TimeStep], Any]:
    """The agents' memory at an episode's start, for ``ts`` of one or more environments."""
    return lambda ts: actor.initial_carry(from_timestep(ts))


@dataclasses.dataclass
class TrainSetup(Budget):
    """Everything an algorithm builder needs, resolved once from the config: the run's
    ``Budget`` (updates and chunks) and the following."""

    config: TrainConfig
    env: Env  # the bare environment (evaluation wraps it itself)
    train_env: Env  # auto-reset + episode metrics
    breaker: BreakerConfig

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


def build_setup(cfg: TrainConfig) -> TrainSetup:
    """Resolve the environment, the breaker and the update/chunk budget of a run."""
    env = make(cfg.env)
    budget = Budget.of(cfg, env)
    # ``resolve`` has filled in every option; a config.yaml from before it did still needs
    # the run's defaults (the given options win)
    args = config_class(cfg.breaker).run_options(
        dict(cfg.breaker_args), budget.env_steps_total, env.spec.num_agents
    )
    breaker = make_breaker(cfg.breaker, **args)
    breaker.check_team(env.spec.num_agents, env.spec.name)
    return TrainSetup(
        config=cfg,
        env=env,
        train_env=wrap_for_training(env),
        breaker=breaker,
        steps_per_update=budget.steps_per_update,
        updates_per_chunk=budget.updates_per_chunk,
        chunks=budget.chunks,
    )


class Rollout(NamedTuple):
    """What a training rollout carries from step to step, batched over environments."""

    env_state: Any  # (B, ...)
    ts: Any  # (B, ...) the timestep to act on
    episode_keys: chex.Array  # (B, 2)
    memory: Any  # (B, N, D) recurrent agents' memory, None otherwise


class RunState(NamedTuple):
    """What every algorithm's state holds besides its learner."""

    roll: Rollout  # the running environments
    key: chex.Array  # raw uint32 (2,)
    update: chex.Array  # () int32 updates done
    env_steps: chex.Array  # () int32 env steps collected
    breaker: Any  # the breaker's own state (``init_state``), opaque here

    def act_params(self, params: Any) -> ActParams:
        """What acting reads, with the agent network's ``params``."""
        return ActParams(params, self.env_steps, self.breaker)


def start_run_state(setup: TrainSetup, actor: Actor, key: chex.PRNGKey) -> RunState:
    """Reset environments, fresh keys, zero counters, the breaker's initial state."""
    key, reset_key, ep_key = jax.random.split(key, 3)
    b = setup.config.num_envs
    env_state, ts = jax.vmap(setup.train_env.reset)(jax.random.split(reset_key, b))
    return run_state_from(setup, actor, key, ep_key, env_state, ts)


def run_state_from(
    setup: TrainSetup, actor: Actor, key: chex.PRNGKey, ep_key: chex.PRNGKey, env_state, ts
) -> RunState:
    """A run state on environments already reset (``ts`` (B, ...); ``env_state`` None when
    they step on the host): episode keys from ``ep_key``, zero counters, fresh memory."""
    episode_keys = jax.random.split(ep_key, ts.reward.shape[0])  # (B, 2)
    memory = actor.initial_carry(from_timestep(ts))  # (B, N, D) or None
    return RunState(
        roll=Rollout(env_state, ts, episode_keys, memory),
        key=key,
        update=jnp.zeros((), jnp.int32),
        env_steps=jnp.zeros((), jnp.int32),
        breaker=setup.breaker.init_state(),
    )


def collect(
    setup: TrainSetup,
    actor: Actor,
    run: RunState,
    params: Any,
    roll_key: chex.PRNGKey,
    length: int,
    record: Callable[[TimeStep, Acted, TimeStep], Any],
    epsilon: chex.Numeric | None = None,
) -> tuple[Rollout, Any]:
    """``length`` training steps of every environment from ``run.roll``, acting with the agent
    network's ``params`` (``epsilon``: Q-learning's exploration). ``record(ts, acted,
    next_ts)`` says what each step keeps; returns the next rollout and the records,
    time-major ``(T, ...)``."""
    act_params = run.act_params(params)

    def step(roll: Rollout, step_key: chex.PRNGKey) -> tuple[Rollout, Any]:
        acted = act_step(actor, act_params, roll, step_key, epsilon)
        env_state, next_ts = jax.vmap(setup.train_env.step)(roll.env_state, acted.action)
        out = record(roll.ts, acted, next_ts)
        return next_roll(roll, acted, env_state, next_ts, step_key), out

    return jax.lax.scan(step, run.roll, jax.random.split(roll_key, length))


def act_step(
    actor: Actor,
    act_params: ActParams,
    roll: Rollout,
    step_key: chex.PRNGKey,
    epsilon: chex.Numeric | None = None,
) -> Acted:
    """One training step's acting on every environment of ``roll``."""
    how = How("train", roll.memory, epsilon=epsilon)
    return actor(act_params, from_timestep(roll.ts), Keys(roll.episode_keys, step_key), how)


def next_roll(roll: Rollout, acted: Acted, env_state, next_ts: TimeStep, step_key) -> Rollout:
    """The rollout after a step: new episode keys and zeroed memory where an episode ended."""
    episode_keys = episode_key_update(roll.episode_keys, next_ts.done, step_key)
    memory = reset_carry(acted.carry, next_ts.done)  # zeroed for a new episode
    return Rollout(env_state, next_ts, episode_keys, memory)


def finish_update(
    setup: TrainSetup,
    net: AgentNetwork,
    run: RunState,
    params: Any,
    stats: dict,
    rollout: dict,
    probs: chex.Array,
) -> tuple[RunState, dict]:
    """Close one update: count it, move the breaker's state from the agents' measured
    diversity (of ``probs (..., N, A)``, their action distributions in the rollout), and
    gather the metrics every algorithm logs: the mean of the learner's ``stats``, the episodes
    that ended (``rollout``: ``extras`` and ``done``), the diversity, the breaker's own and
    the noise std ``sigma`` (0 without logit noise). ``params``: the agent network's."""
    diversity = action_diversity(probs)
    breaker = setup.breaker.update_state(run.breaker, Signals(run.env_steps, diversity))
    run = run._replace(update=run.update + 1, breaker=breaker)
    metrics = jax.tree.map(jnp.mean, stats)
    metrics |= setup.episode_metrics(rollout["extras"], rollout["done"])
    metrics |= {"diversity": diversity, **setup.breaker.logged(breaker, run.env_steps)}
    metrics["sigma"] = net.sigma(params, run.env_steps, breaker)
    return run, metrics


def episode_key_update(keys: chex.Array, done: chex.Array, step_key: chex.PRNGKey) -> chex.Array:
    """New per-episode keys (B, 2) where an episode just ended, the old ones elsewhere."""
    fresh = jax.random.split(jax.random.fold_in(step_key, 7), keys.shape[0])
    return jnp.where(done[:, None], fresh, keys)
