"""SMAX (jaxmarl's SC2-free StarCraft micromanagement) behind the common API: ``smax:<map>``.

Wraps jaxmarl's ``HeuristicEnemySMAX``: our N agents are SMAX's allies, the M enemies are
played by jaxmarl's built-in heuristic. Any map in jaxmarl's ``MAP_NAME_TO_SCENARIO`` works,
e.g. ``smax:3m``, ``smax:5m_vs_6m``, ``smax:2s3z``; ``smax:3m,max_steps=50`` shortens the
episode limit (default 100 env steps, as in jaxmarl).

Randomness: the env state carries its PRNG key. ``reset(key)`` splits ``key`` into
(carried key, reset key) and calls jaxmarl's ``reset(reset key)``; every ``step`` splits the
carried key into (next carried key, step key) and calls jaxmarl's ``step_env(step key, ...)``
(no auto-reset: ``envs.wrappers.AutoReset`` does that). The tests mirror this discipline to
reproduce the raw jaxmarl rollout bit for bit.

Timestep fields:
- ``obs``: jaxmarl's ``unit_list`` observation, (N, O) with O = 13 (N - 1) + 13 M + 10;
- ``state``: jaxmarl's ``world_state``, S = 12 (N + M): per unit health fraction, absolute
  position and weapon cooldown (both unnormalised), unit-type one-hot; then all teams and types;
- ``action_mask``: jaxmarl's ``get_avail_actions`` (a dead agent may only take "stop", 4);
- ``reward``: jaxmarl's team reward (damage dealt / enemy team health + 1 for a win),
  identical for every agent; dead agents keep receiving it;
- ``terminated``: all allies or all enemies are dead; ``truncated``: the step counter reached
  ``max_steps`` and neither team is wiped out (jaxmarl ends both ways with one ``done``);
- ``extras["won"]``: 1.0 when all enemies are dead and at least one ally lives (jaxmarl's win
  bonus rule; both teams dying in the same step is a draw), else 0.0.

Entity tokens, F = 15 features per token, E = N + M tokens per agent (F depends only on SMAX's
feature layout, so a network trained on 3m runs on 5m_vs_6m):
- token 0, SELF: the agent's own features remapped into the unit layout below, with relative
  position, last movement and last target 0, plus its absolute map position (features 13-14);
- tokens 1..N-1, PEER: the other allies in ascending ally index;
- tokens N..N+M-1, ENEMY: the enemies in index order, so attack action 5 + k targets token N + k
  (``spec.action_entity``; movement actions 0-3 and stop 4 have -1).
Unit layout (SMAX's per-unit observation): 0 health fraction, 1-2 position relative to the
observer / sight range, 3-4 last movement, 5 last attack action / max action, 6 weapon cooldown
fraction, 7-12 unit-type one-hot, 13-14 absolute position / map size (SELF only, else 0).
``entity_mask`` follows SMAX's own visibility rule (observer alive, unit alive and within the
observer's sight range), computed from the game state rather than from zero features. The SELF
token is always present (also for a dead agent, whose features are all 0) so attention always
has a key. There is no is-self flag: ``entity_kind`` already tells the kinds apart.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.jaxmarl_env import quiet_import_jaxmarl, strong_types
from diamond_marl.envs.types import EntityKind, EnvSpec, TimeStep
from diamond_marl.errors import allowed

UNIT_FEATURES = 13  # SMAX's per-unit observation (health, rel pos, move, target, cooldown, type)
OWN_FEATURES = 10  # SMAX's own-unit observation (health, abs pos, cooldown, type)
ENTITY_DIM = UNIT_FEATURES + 2  # + absolute position, filled for the SELF token only
NUM_MOVE_ACTIONS = 5  # 4 moves and stop; attack actions follow
DEFAULT_MAX_STEPS = 100

LISTED_MAPS = ("3m", "5m_vs_6m", "2s3z", "3s5z", "8m", "10m_vs_11m", "3s_vs_5z", "6h_vs_8z")


@struct.dataclass
class SmaxState:
    env_state: Any  # jaxmarl HeuristicEnemySMAX state (game state + enemy heuristic state)
    key: chex.PRNGKey  # carried key, split every step


def smax_maps() -> list[str]:
    """Every map name jaxmarl's SMAX knows."""
    quiet_import_jaxmarl()
    from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

    return list(MAP_NAME_TO_SCENARIO)


class SmaxEnv(Env):
    """SMAX map ``map_name`` against jaxmarl's heuristic enemy."""

    def __init__(self, map_name: str, max_steps: int = DEFAULT_MAX_STEPS) -> None:
        quiet_import_jaxmarl()
        from jaxmarl.environments.smax import HeuristicEnemySMAX
        from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO

        if map_name not in MAP_NAME_TO_SCENARIO:
            raise allowed(map_name, "SMAX map", list(MAP_NAME_TO_SCENARIO))
        self.map_name = map_name
        self._env = HeuristicEnemySMAX(scenario=MAP_NAME_TO_SCENARIO[map_name], max_steps=max_steps)
        inner = self._env._env  # the two-team SMAX game
        if len(inner.unit_features) != UNIT_FEATURES or len(inner.own_features) != OWN_FEATURES:
            raise RuntimeError("jaxmarl's SMAX feature layout changed; update diamond_marl.smax")
        n, m = inner.num_allies, inner.num_enemies
        self.n, self.m = n, m
        self._agents = list(self._env.agents)  # ally_0 .. ally_{N-1}
        # Static token tables. Agent i's other units, in SMAX's unit_list order (allies
        # ascending without i, then enemies), as indices into the N + M game units.
        others = np.array([[u for u in range(n + m) if u != i] for i in range(n)])  # (N, N+M-1)
        self._others = jnp.asarray(others, jnp.int32)
        token_agent = np.full((n, n + m), -1, np.int32)
        token_agent[:, 0] = np.arange(n)
        token_agent[:, 1:n] = others[:, : n - 1]
        self._token_agent = jnp.asarray(token_agent)  # (N, E)
        kinds = [EntityKind.SELF] + [EntityKind.PEER] * (n - 1) + [EntityKind.ENEMY] * m
        self._kinds = jnp.broadcast_to(jnp.asarray(kinds, jnp.int32), (n, n + m))  # (N, E)

        suffix = "" if max_steps == DEFAULT_MAX_STEPS else f",max_steps={max_steps}"
        self.spec = EnvSpec(
            name=f"smax:{map_name}{suffix}",
            num_agents=n,
            num_actions=NUM_MOVE_ACTIONS + m,
            obs_dim=int(inner.obs_size),
            num_entities=n + m,
            entity_dim=ENTITY_DIM,
            state_dim=int(inner.state_size),
            max_steps=max_steps,
            action_entity=(-1,) * NUM_MOVE_ACTIONS + tuple(n + k for k in range(m)),
            success_metric="win_rate",
            team_reward=True,
            description=f"SMAX {map_name}: {n} allies vs {m} heuristic enemies",
        )

    # API -------------------------------------------------------------------------------

    def reset(self, key: chex.PRNGKey) -> tuple[SmaxState, TimeStep]:
        key, reset_key = jax.random.split(key)
        obs, env_state = self._env.reset(reset_key)
        zero = jnp.zeros((), jnp.float32)
        ts = self._timestep(env_state, obs, jnp.zeros((self.n,), jnp.float32), zero)
        return SmaxState(env_state=strong_types(env_state), key=key), ts

    def step(self, state: SmaxState, actions: chex.Array) -> tuple[SmaxState, TimeStep]:
        key, step_key = jax.random.split(state.key)
        actions = jnp.asarray(actions, jnp.int32)  # (N,)
        action_dict = {a: actions[i] for i, a in enumerate(self._agents)}
        obs, env_state, rewards, _, _ = self._env.step_env(step_key, state.env_state, action_dict)
        reward = jnp.stack([rewards[a] for a in self._agents]).astype(jnp.float32)  # (N,)
        alive = env_state.state.unit_alive  # (N+M,)
        allies_dead = ~jnp.any(alive[: self.n])
        enemies_dead = ~jnp.any(alive[self.n :])
        won = (enemies_dead & ~allies_dead).astype(jnp.float32)
        ts = self._timestep(env_state, obs, reward, won)
        return SmaxState(env_state=strong_types(env_state), key=key), ts

    # Internals -------------------------------------------------------------------------

    def _timestep(
        self, env_state: Any, obs: dict[str, chex.Array], reward: chex.Array, won: chex.Array
    ) -> TimeStep:
        game = env_state.state  # jaxmarl SMAX State
        n = self.n
        flat = jnp.stack([obs[a] for a in self._agents]).astype(jnp.float32)  # (N, O)
        alive = game.unit_alive  # (N+M,)
        terminated = ~jnp.any(alive[:n]) | ~jnp.any(alive[n:])
        truncated = (game.step >= self.spec.max_steps) & ~terminated
        avail = self._env.get_avail_actions(env_state)
        action_mask = jnp.stack([avail[a] for a in self._agents]).astype(bool)  # (N, A)
        return TimeStep(
            obs=flat,
            entities=self._entities(flat),
            entity_mask=self._entity_mask(game),
            entity_kind=self._kinds,
            entity_agent=self._token_agent,
            action_mask=action_mask,
            state=obs["world_state"].astype(jnp.float32),  # (S,)
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            extras={"won": won},
        )

    def _entities(self, flat: chex.Array) -> chex.Array:
        """Rearrange the unit_list observation (N, O) into tokens (N, N+M, F)."""
        n, m = self.n, self.m
        others = flat[:, : (n + m - 1) * UNIT_FEATURES].reshape(n, n + m - 1, UNIT_FEATURES)
        others = jnp.pad(others, ((0, 0), (0, 0), (0, ENTITY_DIM - UNIT_FEATURES)))  # (N, E-1, F)
        own = flat[:, -OWN_FEATURES:]  # (N, 10): health, x, y, cooldown, type one-hot (6)
        zeros = jnp.zeros((n, 5), flat.dtype)  # relative position, last movement, last target
        self_token = jnp.concatenate(
            [own[:, :1], zeros, own[:, 3:4], own[:, 4:], own[:, 1:3]], axis=-1
        )  # (N, F)
        return jnp.concatenate([self_token[:, None], others], axis=1)  # (N, E, F)

    def _entity_mask(self, game: Any) -> chex.Array:
        """SMAX's visibility rule: observer alive, unit alive and within the observer's sight."""
        n = self.n
        pos = game.unit_positions  # (N+M, 2)
        sight = self._env._env.unit_type_sight_ranges[game.unit_types[:n]]  # (N,)
        other_pos = pos[self._others]  # (N, N+M-1, 2)
        dist = jnp.linalg.norm(other_pos - pos[:n, None], axis=-1)  # (N, N+M-1)
        seen = (dist < sight[:, None]) & game.unit_alive[self._others]
        seen = seen & game.unit_alive[:n, None]  # (N, N+M-1)
        return jnp.concatenate([jnp.ones((n, 1), bool), seen], axis=1)  # (N, E)


# Registry ------------------------------------------------------------------------------


def _build(variant: str | None, params: dict[str, str]) -> SmaxEnv:
    if variant is None:
        raise registry.ConfigError(
            f"smax needs a map, e.g. 'smax:3m'; allowed: {', '.join(sorted(smax_maps()))}"
        )
    env = f"smax:{variant}"
    registry.check_no_extra(params, ("max_steps",), env)
    max_steps = registry.int_param(params, "max_steps", DEFAULT_MAX_STEPS, 1, env)
    return SmaxEnv(variant, max_steps=max_steps)


registry.register(
    "smax",
    _build,
    listed=tuple(f"smax:{m}" for m in LISTED_MAPS),
    summary="SMAX (jaxmarl) vs the heuristic enemy, any jaxmarl map; param max_steps>=1",
)
