"""Every algorithm builds with every breaker, and on every environment family.

The programs are traced with ``jax.eval_shape`` (no compilation, no execution), which is
enough to catch a combination whose shapes, dtypes or options do not fit; the learning tests
run the important combinations for real.
"""

from __future__ import annotations

import jax
import pytest

from diamond_marl.algos.config import ALGOS, PPO_ALGOS, resolve
from diamond_marl.algos.runner import build_program
from diamond_marl.envs import registry
from diamond_marl.networks.breakers import BREAKERS

SMALL = {"seeds": "1", "num_envs": "2", "net.hidden": "8", "net.heads": "2", "net.blocks": "1"}
FAST = {  # per algorithm family: a run refuses the other family's section
    "ppo": {"ppo.rollout_len": "2", "steps": "64"},
    "q": {"q.segment_len": "2", "q.batch_episodes": "2", "steps": "64"},
}


def _trace(**overrides) -> None:
    fast = FAST["ppo" if overrides["algo"] in PPO_ALGOS else "q"]
    program = build_program(resolve({**SMALL, **fast, **overrides}))
    state = jax.eval_shape(program.init, program.seed_keys)
    state, metrics = jax.eval_shape(program.chunk, state)
    assert "train_return" not in metrics  # raw sums; the runner turns them into means
    assert all(m.shape[0] == 1 for m in jax.tree.leaves(metrics))  # (seeds, updates)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("breaker", BREAKERS)
def test_every_algorithm_builds_with_every_breaker(algo, breaker):
    _trace(algo=algo, breaker=breaker, env="xor:n=3,k=3")


HEADLINE = ("smax:3m", "smax:5m_vs_6m", "rware:tiny-4ag", "rware:large-8ag")


def _envs() -> list[str]:
    """The four headline environments and the first listed one of every family."""
    firsts = [family.listed[0] for family in registry.families().values() if family.listed]
    return list(dict.fromkeys(HEADLINE + tuple(firsts)))


@pytest.mark.parametrize("env", _envs())
def test_every_environment_family_trains_with_ppo_and_q_learning(env):
    # alternate the breaker so both forms of Diamond Attention meet every environment
    _trace(algo="ippo", breaker="noise", env=env)
    _trace(algo="vdn", breaker="rank", env=env)
