"""Any jaxmarl environment by its registered id behind the common API: ``jaxmarl:<id>``.

Examples: ``jaxmarl:MPE_simple_spread_v3``, ``jaxmarl:MPE_simple_reference_v3``,
``jaxmarl:switch_riddle``. Supported: environments whose agents all have discrete action
spaces, array observations and a ``max_steps`` time limit (SMAX has its own adapter,
``smax:<map>``). Agents with fewer actions or shorter observations than the largest are padded:
extra actions are masked out, observations are zero-padded to O = the largest size.

Randomness: the state carries its PRNG key; ``reset(key)`` splits it into (carried key, reset
key), each ``step`` splits the carried key into (next carried key, step key) and calls jaxmarl's
``step_env`` (no auto-reset; ``envs.wrappers.AutoReset`` does that).

Timestep fields:
- ``obs``: each agent's flattened observation, zero-padded to O;
- ``state``: the env's ``world_state`` if its observation dict has one, else all agents'
  (unpadded) observations concatenated;
- ``action_mask``: the env's ``get_avail_actions`` if it implements it, else all True (padding
  actions False);
- ``reward``: per agent, as jaxmarl returns it (``spec.team_reward`` only for envs known to
  share one reward: switch_riddle, overcooked);
- ``terminated`` / ``truncated``: jaxmarl's single ``done`` is split with our own step counter t:
  a done with t >= the env's ``max_steps`` is a truncation, any earlier done a termination.
  jaxmarl's MPE tests ``step >= max_steps`` before counting the step, so its episodes last
  ``max_steps + 1`` = 26 steps: ``spec.max_steps`` says 26 there, and we reproduce it;
- ``extras["won"]``: 0.0 and ``success_metric`` None, except switch_riddle, whose win is the
  positive reward for a correct "tell".

Entity tokens (generic fallback; these envs expose no entity structure): the padded flat
observation is cut into E = ceil(O / C) chunks of C = 8 values (``,chunk=C`` to change),
the last one zero-padded; each token is [chunk values (C), one-hot chunk position (E)], so
F = C + E and tokens differ even where values coincide. Token 0, the first chunk, is the SELF
token (``entity_agent`` = own index); tokens 1..E-1 are kind CHUNK with ``entity_agent`` -1.
``entity_mask`` is False only for chunks lying wholly in an agent's padding. No agent index is
added to any token: the agent-ID wrapper does that explicitly when wanted.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.tokens import DEFAULT_CHUNK, chunk_shape, chunk_tokens
from diamond_marl.envs.types import EnvSpec, TimeStep
from diamond_marl.errors import ConfigError, allowed

LISTED = (
    "MPE_simple_spread_v3",
    "MPE_simple_reference_v3",
    "MPE_simple_speaker_listener_v4",
    "switch_riddle",
)
SMAX_IDS = ("SMAX", "HeuristicEnemySMAX", "LearnedPolicyEnemySMAX")
TEAM_REWARD_IDS = ("switch_riddle", "overcooked", "overcooked_v2")  # one shared reward
WIN_BY_POSITIVE_REWARD = ("switch_riddle",)  # a positive final reward means the team won


@struct.dataclass
class JaxMarlState:
    env_state: Any  # the wrapped jaxmarl env's state
    key: chex.PRNGKey  # carried key, split every step
    t: chex.Array  # () int32 steps taken this episode


def strong_types(tree: Any) -> Any:
    """Make weakly typed leaves (jaxmarl states hold some, e.g. from Python ints) strongly typed,
    so the state after ``reset`` and after ``step`` has one type and ``jit`` never retraces."""

    def fix(x: Any) -> Any:
        if isinstance(x, jax.Array) and jax.typeof(x).weak_type:
            return jax.lax.convert_element_type(x, x.dtype)
        return x

    return jax.tree.map(fix, tree)


def quiet_import_jaxmarl() -> None:
    """Import jaxmarl once without its "Importing submoduled environments..." banner."""
    if "jaxmarl" in sys.modules:
        return
    # jaxmarl's import chain rebinds sys.stdout, so silence the file descriptor itself.
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            import jaxmarl  # noqa: F401
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def jaxmarl_ids() -> list[str]:
    """jaxmarl ids this family accepts by name (SMAX ones go through ``smax:<map>``)."""
    quiet_import_jaxmarl()
    import jaxmarl

    return [e for e in jaxmarl.registered_envs if e not in SMAX_IDS]


class JaxMarlEnv(Env):
    """A jaxmarl ``MultiAgentEnv`` with discrete actions, stacked and tokenised."""

    def __init__(self, env_id: str, chunk: int = DEFAULT_CHUNK) -> None:
        quiet_import_jaxmarl()
        import jaxmarl
        from jaxmarl.environments.mpe.simple import SimpleMPE
        from jaxmarl.environments.multi_agent_env import MultiAgentEnv
        from jaxmarl.environments.spaces import Discrete

        name = f"jaxmarl:{env_id}"
        if env_id in SMAX_IDS:
            raise ConfigError(f"{name}: use the SMAX adapter instead, e.g. 'smax:3m'")
        if env_id not in jaxmarl.registered_envs:
            raise allowed(env_id, "jaxmarl environment", jaxmarl_ids())
        try:
            env = jaxmarl.make(env_id)
        except (ImportError, ValueError, TypeError) as err:
            raise ConfigError(f"{name} cannot be built here: {err}")
        self.env_id, self.chunk, self._env = env_id, chunk, env
        self._agents = list(env.agents)
        n = len(self._agents)

        spaces = [env.action_space(a) for a in self._agents]
        if not all(isinstance(s, Discrete) for s in spaces):
            raise ConfigError(f"{name}: only discrete action spaces are supported")
        self._num_actions = [int(s.n) for s in spaces]
        limit = getattr(env, "max_steps", None)
        if not isinstance(limit, int):
            raise ConfigError(f"{name}: the env has no integer max_steps time limit")
        self._limit = limit  # a done at t >= limit is a truncation
        episode_len = limit + 1 if isinstance(env, SimpleMPE) else limit

        # Shapes by tracing reset (no compilation).
        obs_shapes = jax.eval_shape(env.reset, jax.random.PRNGKey(0))[0]
        sizes = []
        for a in self._agents:
            leaf = obs_shapes.get(a)
            if not hasattr(leaf, "shape"):
                raise ConfigError(f"{name}: agent {a}'s observation is not a single array")
            sizes.append(math.prod(leaf.shape))
        self._obs_sizes = sizes
        self._has_world_state = hasattr(obs_shapes.get("world_state"), "shape")
        state_dim = (
            math.prod(obs_shapes["world_state"].shape) if self._has_world_state else sum(sizes)
        )
        self._has_avail = type(env).get_avail_actions is not MultiAgentEnv.get_avail_actions

        o, a_max = max(sizes), max(self._num_actions)
        e, f = chunk_shape(o, chunk)
        pad = np.arange(a_max)[None] < np.asarray(self._num_actions)[:, None]  # (N, A)
        self._action_pad = jnp.asarray(pad)

        won = env_id in WIN_BY_POSITIVE_REWARD
        suffix = "" if chunk == DEFAULT_CHUNK else f",chunk={chunk}"
        self.spec = EnvSpec(
            name=f"{name}{suffix}",
            num_agents=n,
            num_actions=a_max,
            obs_dim=o,
            num_entities=e,
            entity_dim=f,
            state_dim=int(state_dim),
            max_steps=episode_len,
            action_entity=(-1,) * a_max,
            success_metric="win_rate" if won else None,
            team_reward=env_id in TEAM_REWARD_IDS,
            description=f"jaxmarl {env_id}: {n} agents, chunked observation tokens",
        )

    # API -------------------------------------------------------------------------------

    def reset(self, key: chex.PRNGKey) -> tuple[JaxMarlState, TimeStep]:
        key, reset_key = jax.random.split(key)
        obs, env_state = self._env.reset(reset_key)
        n = self.spec.num_agents
        no = jnp.zeros((), bool)
        ts = self._timestep(env_state, obs, jnp.zeros((n,), jnp.float32), no, no, no)
        t = jnp.zeros((), jnp.int32)
        return JaxMarlState(env_state=strong_types(env_state), key=key, t=t), ts

    def step(self, state: JaxMarlState, actions: chex.Array) -> tuple[JaxMarlState, TimeStep]:
        key, step_key = jax.random.split(state.key)
        actions = jnp.asarray(actions, jnp.int32)  # (N,)
        action_dict = {a: actions[i] for i, a in enumerate(self._agents)}
        obs, env_state, rewards, dones, _ = self._env.step_env(
            step_key, state.env_state, action_dict
        )
        reward = jnp.stack([jnp.asarray(rewards[a]) for a in self._agents])  # (N,)
        reward = reward.astype(jnp.float32).reshape(-1)
        t = state.t + 1
        done = jnp.asarray(dones["__all__"], bool).reshape(())
        truncated = done & (t >= self._limit)
        terminated = done & ~truncated
        won = done & (reward[0] > 0) if self.env_id in WIN_BY_POSITIVE_REWARD else jnp.bool_(False)
        ts = self._timestep(env_state, obs, reward, terminated, truncated, won)
        return JaxMarlState(env_state=strong_types(env_state), key=key, t=t), ts

    # Internals -------------------------------------------------------------------------

    def _timestep(
        self,
        env_state: Any,
        obs: dict[str, chex.Array],
        reward: chex.Array,
        terminated: chex.Array,
        truncated: chex.Array,
        won: chex.Array,
    ) -> TimeStep:
        o = self.spec.obs_dim
        flats = [jnp.ravel(obs[a]).astype(jnp.float32) for a in self._agents]
        padded = jnp.stack([jnp.pad(f, (0, o - f.shape[0])) for f in flats])  # (N, O)
        if self._has_world_state:
            state = jnp.ravel(obs["world_state"]).astype(jnp.float32)  # (S,)
        else:
            state = jnp.concatenate(flats)  # (S,) = sum of observation sizes
        return TimeStep(
            obs=padded,
            **chunk_tokens(padded, self.chunk, np.asarray(self._obs_sizes)),
            action_mask=self._action_mask(env_state),
            state=state,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            extras={"won": won.astype(jnp.float32)},
        )

    def _action_mask(self, env_state: Any) -> chex.Array:
        """(N, A) bool: the env's available actions (padded with False), else the padding mask."""
        if not self._has_avail:
            return self._action_pad
        avail = self._env.get_avail_actions(env_state)
        a_max = self.spec.num_actions
        sizes = zip(self._agents, self._num_actions, strict=True)
        rows = [jnp.pad(jnp.asarray(avail[a], bool), (0, a_max - k)) for a, k in sizes]
        return jnp.stack(rows) & self._action_pad  # (N, A)


# Registry ------------------------------------------------------------------------------


def _build(variant: str | None, params: dict[str, str]) -> JaxMarlEnv:
    if variant is None:
        raise ConfigError(
            "jaxmarl needs an environment id, e.g. 'jaxmarl:MPE_simple_spread_v3'; "
            f"allowed: {', '.join(sorted(jaxmarl_ids()))}"
        )
    env = f"jaxmarl:{variant}"
    registry.check_no_extra(params, ("chunk",), env)
    chunk = registry.int_param(params, "chunk", DEFAULT_CHUNK, 1, env)
    return JaxMarlEnv(variant, chunk=chunk)


registry.register(
    "jaxmarl",
    _build,
    listed=tuple(f"jaxmarl:{e}" for e in LISTED),
    summary="any discrete-action jaxmarl env by id (MPE, switch_riddle, ...); param chunk>=1",
)
