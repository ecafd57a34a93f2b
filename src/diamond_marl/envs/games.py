"""Diagnostic games whose optimum is known in closed form: the permutation (XOR) and role games.

Both are tiny, exact and fast; both take the team size N, the number of choices K and (role
game) the horizon T as parameters, so a policy trained at one N can be evaluated at another.
The closed-form reference values live in ``envs.reference``; tests check them and
``diamond-marl demo`` prints them beside measured ones.

Permutation (XOR) game ``xor:n=N,k=K``: one step; every agent sees the same all-zero
observation and picks one of K actions; the team reward is 1 if all N actions differ, else 0.

Role game ``role:n=N,k=K,t=T``: T steps; each step every agent picks one of K roles; the team
reward is (number of distinct roles taken) / N. An agent observes its own previous role
(one-hot, zeros at the first step) and the fraction of the team in each role at the last step.

Entity tokens (F = K + 1 features each, so F does not depend on N):
- token 0, SELF: one-hot of the agent's previous role (XOR: zeros), last feature 0;
- tokens 1..N-1, PEER: each other agent's previous role (XOR: zeros), in ascending agent order;
- tokens N..N+K-1, TASK: one per action / role k, one-hot(k) and, last feature, the fraction of
  the team that took role k last step (XOR: 0).
In the XOR game every agent's SELF and PEER tokens are identical, which is the perfectly
symmetric case where attention-logit noise alone cannot help (docs/design.md).
"""

from __future__ import annotations

import abc

import chex
import jax
import jax.numpy as jnp
from flax import struct

from diamond_marl.envs import registry
from diamond_marl.envs.base import Env
from diamond_marl.envs.types import EntityKind, EnvSpec, TimeStep


@struct.dataclass
class GameState:
    prev_roles: chex.Array  # (N,) int32, -1 before the first step
    t: chex.Array  # () int32 steps taken


class _ChoiceGame(Env):
    """Shared machinery: N agents choose among K options for T steps; reward from distinctness."""

    def __init__(self, name: str, n: int, k: int, t: int, description: str) -> None:
        self.n, self.k, self.t = n, k, t
        self.spec = EnvSpec(
            name=name,
            num_agents=n,
            num_actions=k,
            obs_dim=2 * k,
            num_entities=n + k,
            entity_dim=k + 1,
            state_dim=n * k + 1,
            max_steps=t,
            action_entity=tuple(n + a for a in range(k)),
            success_metric="success_rate",
            team_reward=True,
            description=description,
        )
        # Static token tables: agent i's tokens are [self, peers ascending, K tasks].
        peers = [[j for j in range(n) if j != i] for i in range(n)]
        self._token_agent = jnp.asarray([[i, *peers[i]] + [-1] * k for i in range(n)], jnp.int32)
        kinds = [EntityKind.SELF] + [EntityKind.PEER] * (n - 1) + [EntityKind.TASK] * k
        self._kinds = jnp.broadcast_to(jnp.asarray(kinds, jnp.int32), (n, n + k))

    def _observe(self, state: GameState, reward: chex.Array, won: chex.Array) -> TimeStep:
        n, k = self.n, self.k
        prev = jax.nn.one_hot(state.prev_roles, k)  # (N, K), zeros where prev_roles == -1
        frac = prev.sum(0) / n  # (K,) share of the team in each role last step
        obs = jnp.concatenate([prev, jnp.broadcast_to(frac, (n, k))], axis=-1)  # (N, 2K)
        agent_tokens = jnp.concatenate([prev, jnp.zeros((n, 1))], axis=-1)  # (N, K+1)
        per_agent = agent_tokens[jnp.clip(self._token_agent[:, :n], 0)]  # (N, N, K+1)
        task = jnp.concatenate([jnp.eye(k), frac[:, None]], axis=-1)  # (K, K+1)
        entities = jnp.concatenate(
            [per_agent, jnp.broadcast_to(task, (n, k, k + 1))], axis=1
        )  # (N, N+K, K+1)
        done = state.t >= self.t
        return TimeStep(
            obs=obs,
            entities=entities,
            entity_mask=jnp.ones((n, n + k), bool),
            entity_kind=self._kinds,
            entity_agent=self._token_agent,
            action_mask=jnp.ones((n, k), bool),
            state=jnp.concatenate([prev.reshape(-1), (state.t / self.t)[None]]),
            reward=jnp.full((n,), reward, jnp.float32),
            terminated=done,
            truncated=jnp.zeros((), bool),
            extras={"won": won.astype(jnp.float32)},
        )

    def reset(self, key: chex.PRNGKey) -> tuple[GameState, TimeStep]:
        del key  # both games start in the same state
        state = GameState(prev_roles=jnp.full((self.n,), -1, jnp.int32), t=jnp.zeros((), jnp.int32))
        return state, self._observe(state, jnp.zeros(()), jnp.zeros((), bool))

    def step(self, state: GameState, actions: chex.Array) -> tuple[GameState, TimeStep]:
        actions = jnp.asarray(actions, jnp.int32)  # (N,)
        distinct = jnp.sum(jnp.any(jax.nn.one_hot(actions, self.k) > 0, axis=0))
        reward, won = self._reward(distinct)
        state = GameState(prev_roles=actions, t=state.t + 1)
        return state, self._observe(state, reward, won & (state.t >= self.t))

    @abc.abstractmethod
    def _reward(self, distinct: chex.Array) -> tuple[chex.Array, chex.Array]:
        """(team reward, won) from the number of distinct choices this step."""


class XorGame(_ChoiceGame):
    """One step; reward 1 iff all N agents pick different actions among K."""

    def __init__(self, n: int, k: int) -> None:
        super().__init__(
            f"xor:n={n},k={k}", n, k, 1, f"permutation game: {n} agents, {k} actions, one step"
        )

    def _reward(self, distinct: chex.Array) -> tuple[chex.Array, chex.Array]:
        won = distinct == self.n
        return won.astype(jnp.float32), won


class RoleGame(_ChoiceGame):
    """T steps; reward (distinct roles) / N each step; won when the last step's roles all differ."""

    def __init__(self, n: int, k: int, t: int) -> None:
        super().__init__(
            f"role:n={n},k={k},t={t}", n, k, t, f"role game: {n} agents, {k} roles, {t} steps"
        )

    def _reward(self, distinct: chex.Array) -> tuple[chex.Array, chex.Array]:
        return distinct / self.n, distinct == self.n


# Registry ------------------------------------------------------------------------------


def _build_xor(variant: str | None, params: dict[str, str]) -> XorGame:
    _no_variant("xor", variant)
    registry.check_no_extra(params, ("n", "k"), "xor")
    n = registry.int_param(params, "n", 2, 2, "xor")
    k = registry.int_param(params, "k", n, 1, "xor")
    return XorGame(n, k)


def _build_role(variant: str | None, params: dict[str, str]) -> RoleGame:
    _no_variant("role", variant)
    registry.check_no_extra(params, ("n", "k", "t"), "role")
    n = registry.int_param(params, "n", 4, 2, "role")
    k = registry.int_param(params, "k", n, 1, "role")
    t = registry.int_param(params, "t", 10, 1, "role")
    return RoleGame(n, k, t)


def _no_variant(family: str, variant: str | None) -> None:
    if variant is not None:
        raise registry.ConfigError(
            f"{family}: unexpected variant {variant!r}; {family} takes only key=value "
            f"parameters, e.g. '{family}:n=3,k=3'"
        )


registry.register(
    "xor",
    _build_xor,
    listed=("xor:n=2,k=2", "xor:n=3,k=3", "xor:n=2,k=3"),
    summary="permutation (XOR) game; params n>=2 agents, k>=1 actions",
)
registry.register(
    "role",
    _build_role,
    listed=("role:n=4,k=4,t=10", "role:n=2,k=2,t=10"),
    summary="role game; params n>=2 agents, k>=1 roles, t>=1 steps",
)
