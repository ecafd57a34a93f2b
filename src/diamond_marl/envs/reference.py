"""Closed-form values of the diagnostic games, and fixed policies that measure them.

``reference_values`` gives the analytic numbers; ``measure_reference`` plays the matching
fixed policies through the real environment, so the two can be printed side by side
(``diamond-marl demo``) and compared in tests.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs import registry
from diamond_marl.envs.games import RoleGame, XorGame


def _game(name: str) -> XorGame | RoleGame:
    env = registry.make(name)
    if not isinstance(env, XorGame | RoleGame):
        raise registry.ConfigError(f"{name!r} is not a diagnostic game (xor:... or role:...)")
    return env


def reference_values(name: str) -> dict[str, float]:
    """Known values of a diagnostic game: mean team reward per step (XOR: per episode).

    - ``deterministic_shared``: any deterministic policy shared by identical agents. They
      see the same thing at every step, so all pick the same action: 0 in XOR (N >= 2),
      1/N per step in the role game.
    - ``private_random``: the best team whose only randomness is private to each agent, in
      one step. With symmetric i.i.d. choices p, P(all differ) = N! e_N(p), maximised by a
      uniform p: K!/((K-N)! K^N), which is N!/N^N when K = N (0.5 for N = 2). Role game, one
      step: E[distinct]/N = (K/N)(1 - (1 - 1/K)^N), also maximised by uniform p (concavity).
      Over several role-game steps with observed history private dice do better, slowly.
    - ``shared_random``: a team sharing random numbers (e.g. broadcast ranks) can agree on a
      permutation: 1 if K >= N (role game: min(K, N)/N).
    - ``optimum``: the best of any policy (e.g. with agent IDs): the same as shared_random.
    """
    env = _game(name)
    n, k = env.n, env.k
    best = 1.0 if k >= n else 0.0
    if isinstance(env, XorGame):
        private = math.perm(k, n) / k**n if k >= n else 0.0
        return {
            "deterministic_shared": 0.0,
            "private_random": private,
            "shared_random": best,
            "optimum": best,
        }
    best = min(k, n) / n
    private = (k / n) * (1.0 - (1.0 - 1.0 / k) ** n)
    return {
        "deterministic_shared": 1.0 / n,
        "private_random": private,
        "shared_random": best,
        "optimum": best,
    }


def _policy_actions(kind: str, key: chex.PRNGKey, n: int, k: int) -> chex.Array:
    """Joint actions (N,) of one fixed reference policy."""
    if kind == "deterministic_shared":  # every agent applies the same rule to the same input
        return jnp.zeros((n,), jnp.int32)
    if kind == "private_random":  # each agent rolls its own die
        return jax.random.randint(key, (n,), 0, k)
    # shared_random: one broadcast draw (a random permutation) assigns distinct choices
    return (jax.random.permutation(key, k)[:n] if k >= n else jnp.arange(n) % k).astype(jnp.int32)


def measure_reference(name: str, episodes: int = 4096, seed: int = 0) -> dict[str, float]:
    """Mean team reward per step of each reference policy, over ``episodes`` played episodes.

    (``optimum`` is reached by the shared-random policy and is not measured separately.)
    """
    env = _game(name)
    out = {}
    for kind in ("deterministic_shared", "private_random", "shared_random"):

        def episode(key: chex.PRNGKey, kind: str = kind) -> chex.Array:
            state, _ = env.reset(key)

            def body(state, step_key):
                state, ts = env.step(state, _policy_actions(kind, step_key, env.n, env.k))
                return state, ts.reward[0]

            _, rewards = jax.lax.scan(body, state, jax.random.split(key, env.t))
            return rewards.mean()

        keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
        out[kind] = float(np.mean(jax.jit(jax.vmap(episode))(keys)))
    return out


def enumerate_xor(name: str) -> float:
    """Exact P(reward 1) of uniform private dice in an XOR game, by stepping every joint action."""
    env = _game(name)
    if not isinstance(env, XorGame):
        raise registry.ConfigError(f"{name!r} is not an XOR game")
    joint = np.array(np.meshgrid(*[np.arange(env.k)] * env.n, indexing="ij")).reshape(env.n, -1).T
    state, _ = env.reset(jax.random.PRNGKey(0))
    _, ts = jax.jit(jax.vmap(env.step, in_axes=(None, 0)))(state, jnp.asarray(joint, jnp.int32))
    return float(np.mean(np.asarray(ts.reward[:, 0])))
