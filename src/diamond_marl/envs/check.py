"""Random rollouts of any registered environment: API invariants and env-only throughput.

Used by ``diamond-marl env-check NAME`` and by the API-conformance tests.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.base import Env
from diamond_marl.envs.types import NUM_ENTITY_KINDS, EntityKind, TimeStep
from diamond_marl.envs.wrappers import AutoReset, EpisodeMetrics


def random_actions(key: chex.PRNGKey, action_mask: chex.Array) -> chex.Array:
    """Uniform over available actions; (..., N, A) bool -> (..., N) int32."""
    logits = jnp.where(action_mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_rollout(env: Env, num_envs: int, steps: int) -> Callable[[chex.PRNGKey], TimeStep]:
    """A jitted function key -> timesteps (steps, num_envs, ...) of random play with auto-reset."""
    wrapped = EpisodeMetrics(AutoReset(env))

    def run(key: chex.PRNGKey) -> TimeStep:
        key, reset_key = jax.random.split(key)
        state, ts = jax.vmap(wrapped.reset)(jax.random.split(reset_key, num_envs))

        def body(carry, step_key):
            state, ts = carry
            actions = random_actions(step_key, ts.action_mask)  # (B, N)
            state, ts = jax.vmap(wrapped.step)(state, actions)
            return (state, ts), ts

        _, traj = jax.lax.scan(body, (state, ts), jax.random.split(key, steps))
        return traj

    return jax.jit(run)


def check_timestep(env: Env, ts: TimeStep, batch: tuple[int, ...] = ()) -> list[str]:
    """Return a list of violated API invariants for timesteps with leading dims ``batch``."""
    spec = env.spec
    n, e, f, a = spec.num_agents, spec.num_entities, spec.entity_dim, spec.num_actions
    expected = {
        "obs": ((n, spec.obs_dim), jnp.float32),
        "entities": ((n, e, f), jnp.float32),
        "entity_mask": ((n, e), jnp.bool_),
        "entity_kind": ((n, e), jnp.int32),
        "entity_agent": ((n, e), jnp.int32),
        "action_mask": ((n, a), jnp.bool_),
        "state": ((spec.state_dim,), jnp.float32),
        "reward": ((n,), jnp.float32),
        "terminated": ((), jnp.bool_),
        "truncated": ((), jnp.bool_),
    }
    problems = []
    for field, (shape, dtype) in expected.items():
        x = getattr(ts, field)
        if tuple(x.shape) != batch + shape or x.dtype != dtype:
            problems.append(
                f"{field}: got {x.dtype}{list(x.shape)}, want {dtype}{[*batch, *shape]}"
            )
    if problems:
        return problems
    if "won" not in ts.extras:
        problems.append("extras lacks 'won'")
    if not bool(np.all(np.asarray(ts.action_mask).any(-1))):
        problems.append("an agent has no available action")
    kind = np.asarray(ts.entity_kind)
    if not np.all(kind[..., 0] == EntityKind.SELF):
        problems.append("token 0 is not the SELF token")
    if kind.min() < 0 or kind.max() >= NUM_ENTITY_KINDS:
        problems.append("entity_kind outside EntityKind")
    agent = np.asarray(ts.entity_agent)
    if not np.all(agent[..., 0] == np.arange(n)):
        problems.append("entity_agent of token 0 is not the agent's own index")
    is_peer = kind == EntityKind.PEER
    if np.any(is_peer & ((agent < 0) | (agent >= n))) or np.any(
        ~is_peer[..., 1:] & (agent[..., 1:] >= 0)
    ):
        problems.append("entity_agent must name an agent for PEER tokens and be -1 for others")
    if np.any(is_peer & (agent == np.arange(n)[:, None])):
        problems.append("a PEER token stands for the observing agent itself")
    for name in ("obs", "entities", "state", "reward"):
        if not np.all(np.isfinite(np.asarray(getattr(ts, name)))):
            problems.append(f"{name} has non-finite values")
    ent = np.asarray(spec.action_entity)
    if np.any((ent < -1) | (ent >= e)):
        problems.append("spec.action_entity points outside the entity list")
    return problems


def symmetric_share(obs: chex.Array, action_mask: chex.Array) -> float:
    """Share of timesteps in which two agents that have a choice see exactly the same thing.

    ``obs (..., N, O)`` and ``action_mask (..., N, A)``; an agent "has a choice" with two or
    more available actions (SMAX's dead units, left with no-op only, do not count). On such a
    step a shared policy with a deterministic action rule must act alike for both agents: the
    symmetry trap can only bite there. 0 means every agent always sees something its peers do
    not (so identity can already come from the observation); the flat observation is compared,
    so this is a lower bound for a policy that ignores part of it.
    """
    obs, choice = np.asarray(obs), np.asarray(action_mask).sum(-1) >= 2  # (..., N)
    *batch, n, _ = obs.shape
    if not math.prod(batch):
        return 0.0
    # one row per agent; an agent without a choice gets a column no other agent shares
    tag = np.where(choice, 0, np.arange(1, n + 1, dtype=np.float32))[..., None]  # (..., N, 1)
    rows = np.concatenate([obs.astype(np.float32) + 0.0, tag], axis=-1)  # +0.0: -0.0 == 0.0
    rows = rows.reshape(-1, n, rows.shape[-1])  # (T, N, O + 1)
    # sort each timestep's rows; equal rows become neighbours (NaN never equals itself)
    order = np.lexsort(rows.transpose(2, 0, 1)[::-1], axis=-1)  # (T, N)
    rows = np.take_along_axis(rows, order[..., None], axis=1)
    hit = (rows[:, 1:] == rows[:, :-1]).all(-1).any(-1)  # (T,)
    return float(hit.mean())


@dataclasses.dataclass
class CheckReport:
    name: str
    problems: list[str]
    steps_per_s: float  # env steps (one joint step of one env) per second, after compile
    episodes: int
    mean_return: float
    success: float | None
    compile_s: float
    symmetric: float  # symmetric_share of the random rollout
    tied_starts: float  # symmetric_share of first timesteps: where a deterministic policy binds


def env_check(env: Env, num_envs: int = 256, steps: int = 100, seed: int = 0) -> CheckReport:
    """Random rollouts: API invariants, episode statistics, env-only steps per second. A
    ``pz:`` environment plays in a worker pool (``envs.host.check``)."""
    from diamond_marl.envs.host.names import is_pz_name

    if is_pz_name(env.spec.name):
        from diamond_marl.envs.host.check import host_env_check

        return host_env_check(env, num_envs, steps, seed)
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(seed))
    problems = check_timestep(env, ts)
    rollout = make_rollout(env, num_envs, steps)
    t0 = time.perf_counter()
    traj = jax.block_until_ready(rollout(jax.random.PRNGKey(seed + 1)))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    traj = jax.block_until_ready(rollout(jax.random.PRNGKey(seed + 2)))
    elapsed = time.perf_counter() - t0
    if not problems:
        problems = check_timestep(env, traj, (steps, num_envs))
    start_keys = jax.random.split(jax.random.PRNGKey(seed + 3), num_envs)
    starts = jax.jit(jax.vmap(env.reset))(start_keys)[1]
    done = np.asarray(traj.done)
    episodes = int(done.sum())
    mean_return = float(np.asarray(traj.extras["episode_return"])[done].mean()) if episodes else 0.0
    success = None
    if env.spec.success_metric and episodes:
        success = float(np.asarray(traj.extras["won"])[done].mean())
    return CheckReport(
        name=env.spec.name,
        problems=problems,
        steps_per_s=num_envs * steps / elapsed,
        episodes=episodes,
        mean_return=mean_return,
        success=success,
        compile_s=compile_s,
        symmetric=symmetric_share(traj.obs, traj.action_mask),
        tied_starts=symmetric_share(starts.obs, starts.action_mask),
    )
