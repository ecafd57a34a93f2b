"""``diamond-marl env-check`` for ``pz:`` names: random play through a worker pool.

The same report as for a JAX environment (``envs.check.CheckReport``): the API invariants of
the tokenised batches, env steps per second on the host (worker round trips included),
episodes, the random policy's return and success, and the two shares where the symmetry
trap can bite: steps, and first steps, on which two agents with a choice of action see
exactly the same observation. Random actions are uniform over each agent's available ones.
"""

from __future__ import annotations

import time

import numpy as np

from diamond_marl.envs.check import CheckReport, check_timestep, symmetric_share
from diamond_marl.envs.host.env import HostEnv
from diamond_marl.envs.host.tokenise import timestep_fn


def random_available(rng: np.random.Generator, action_mask: np.ndarray) -> np.ndarray:
    """(B, N) actions uniform over each agent's available ones; ``action_mask`` (B, N, A)."""
    return np.argmax(np.where(action_mask, rng.random(action_mask.shape), -1.0), axis=-1)


def host_env_check(env: HostEnv, num_envs: int, steps: int, seed: int = 0) -> CheckReport:
    """``num_envs`` copies x ``steps`` random steps in a pool of 2 workers."""
    rng = np.random.default_rng(seed)
    tokenise = timestep_fn(env.info)
    with env.pool(num_envs, workers=2, seed=seed) as pool:
        raw = pool.reset()
        problems = check_timestep(env, tokenise(raw), (num_envs,))
        obs, masks, done, returns, won = [], [], [], [], []
        t0 = time.perf_counter()
        for _ in range(steps):
            raw = pool.step(random_available(rng, raw["action_mask"]))
            ends = raw["terminated"] | raw["truncated"]
            obs.append(raw["obs"].reshape(num_envs, env.spec.num_agents, -1))
            masks.append(raw["action_mask"])
            done.append(ends)
            returns.append(raw["episode_return"][ends])
            won.append(raw["won"][ends])
        elapsed = time.perf_counter() - t0
        problems = problems or check_timestep(env, tokenise(raw), (num_envs,))
        starts = pool.reset(seed=seed + 3)
    episodes = int(np.sum(done))
    returns, won = np.concatenate(returns), np.concatenate(won)
    return CheckReport(
        name=env.spec.name,
        problems=problems,
        steps_per_s=num_envs * steps / elapsed,
        episodes=episodes,
        mean_return=float(returns.mean()) if episodes else 0.0,
        success=float(won.mean()) if env.spec.success_metric and episodes else None,
        compile_s=0.0,
        symmetric=symmetric_share(np.stack(obs), np.stack(masks)),
        tied_starts=symmetric_share(
            starts["obs"].reshape(num_envs, env.spec.num_agents, -1), starts["action_mask"]
        ),
    )
