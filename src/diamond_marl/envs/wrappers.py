"""Wrappers over the one environment API: auto-reset and episode metrics.

Usual stack for training: ``EpisodeMetrics(AutoReset(env))`` (see ``wrap_for_training``).

Auto-reset convention (as in Gymnax/Jumanji): the step that ends an episode returns that
step's ``reward``, ``terminated``, ``truncated`` and ``extras``, but the observation fields
(obs, entities, masks, action_mask, state) of the *next* episode's first step, so a rollout
never stalls. The final observation of a truncated episode is therefore not returned.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from diamond_marl.envs.base import Env
from diamond_marl.envs.types import TimeStep

_OBS_FIELDS = (
    "obs",
    "entities",
    "entity_mask",
    "entity_kind",
    "entity_agent",
    "action_mask",
    "state",
)


class Wrapper(Env):
    """Delegates everything to the wrapped environment unless overridden."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.spec = env.spec

    def reset(self, key: chex.PRNGKey) -> tuple[Any, TimeStep]:
        return self.env.reset(key)

    def step(self, state: Any, actions: chex.Array) -> tuple[Any, TimeStep]:
        return self.env.step(state, actions)

    @property
    def unwrapped(self) -> Env:
        return self.env.unwrapped

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not yet set during __init__
            raise AttributeError(name)
        return getattr(self.env, name)


@struct.dataclass
class AutoResetState:
    env_state: Any
    key: chex.PRNGKey


class AutoReset(Wrapper):
    """Starts a new episode inside ``step`` when the current one ends (terminated or truncated)."""

    def reset(self, key: chex.PRNGKey) -> tuple[AutoResetState, TimeStep]:
        key, reset_key = jax.random.split(key)
        env_state, ts = self.env.reset(reset_key)
        return AutoResetState(env_state, key), ts

    def step(self, state: AutoResetState, actions: chex.Array) -> tuple[AutoResetState, TimeStep]:
        env_state, ts = self.env.step(state.env_state, actions)
        key, reset_key = jax.random.split(state.key)
        reset_state, reset_ts = self.env.reset(reset_key)
        done = ts.done

        def pick(new: chex.Array, old: chex.Array) -> chex.Array:
            return jnp.where(done, new, old)

        env_state = jax.tree.map(pick, reset_state, env_state)
        fresh = {f: pick(getattr(reset_ts, f), getattr(ts, f)) for f in _OBS_FIELDS}
        return AutoResetState(env_state, key), ts.replace(**fresh)


@struct.dataclass
class MetricsState:
    env_state: Any
    episode_return: chex.Array  # () float32, team return of the running episode
    episode_length: chex.Array  # () int32


class EpisodeMetrics(Wrapper):
    """Adds ``episode_return`` and ``episode_length`` (of the running episode, this step
    included) to ``extras``; read them where ``timestep.done`` is True for finished episodes.

    The team return sums, over the episode, the team reward per step: the shared reward for
    team-reward tasks (mean over agents of a replicated reward), else the sum over agents.
    """

    def reset(self, key: chex.PRNGKey) -> tuple[MetricsState, TimeStep]:
        env_state, ts = self.env.reset(key)
        zero_r, zero_l = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return MetricsState(env_state, zero_r, zero_l), self._annotate(ts, zero_r, zero_l)

    def step(self, state: MetricsState, actions: chex.Array) -> tuple[MetricsState, TimeStep]:
        env_state, ts = self.env.step(state.env_state, actions)
        team = ts.reward.mean() if self.spec.team_reward else ts.reward.sum()
        ret = state.episode_return + team.astype(jnp.float32)
        length = state.episode_length + 1
        done = ts.done
        new_state = MetricsState(
            env_state, jnp.where(done, 0.0, ret), jnp.where(done, 0, length).astype(jnp.int32)
        )
        return new_state, self._annotate(ts, ret, length)

    @staticmethod
    def _annotate(ts: TimeStep, ret: chex.Array, length: chex.Array) -> TimeStep:
        return ts.replace(extras={**ts.extras, "episode_return": ret, "episode_length": length})


def wrap_for_training(env: Env) -> Env:
    """The standard stack: auto-reset, then episode metrics.

    Agent IDs are not a wrapper: the ``agent_id`` breaker adds them inside the network, so
    the same environment serves every breaker.
    """
    return EpisodeMetrics(AutoReset(env))
