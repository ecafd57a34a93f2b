"""A breaker's own state: the algorithms carry it without knowing what it is.

A toy breaker defined here, and nowhere in the package, keeps a count of updates and a running
mean of the agents' diversity. Every algorithm family starts it, hands it to acting, moves it
after each update and logs it, without any code of theirs naming it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.algos.common import build_setup
from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import make_algorithm
from diamond_marl.networks.breakers import NoneConfig
from diamond_marl.networks.breakers.base import Signals


@dataclasses.dataclass(frozen=True)
class CountingConfig(NoneConfig):
    """Acts as ``none``; keeps ``{"updates": int32, "diversity": float32}`` of its own."""

    name: ClassVar[str] = "counting"

    def init_state(self) -> Any:
        return {"updates": jnp.zeros((), jnp.int32), "diversity": jnp.zeros((), jnp.float32)}

    def update_state(self, state: Any, signals: Signals) -> Any:
        return {"updates": state["updates"] + 1, "diversity": signals.diversity}

    def logged(self, state: Any, step: Any) -> dict:
        return {"counted_updates": state["updates"].astype(jnp.float32)}


TINY = {"env": "xor:n=2,k=2", "num_envs": "4", "net.hidden": "8", "net.heads": "2"}
TINY |= {"net.blocks": "1"}
CASES = {
    "mappo": {"algo": "mappo", "ppo.rollout_len": "4", "steps": "48"},
    "qmix": {"algo": "qmix", "steps": "12", "q.learning_starts": "0", "q.batch_episodes": "4"},
}


@pytest.mark.parametrize("algo", CASES)
def test_algorithms_carry_a_breakers_state_opaquely(algo):
    setup = build_setup(resolve(TINY | CASES[algo]))
    setup = dataclasses.replace(setup, breaker=CountingConfig())
    program = make_algorithm(setup)
    state = program.init(jax.random.PRNGKey(0))
    assert int(program.act_params(state).breaker["updates"]) == 0
    updates = setup.updates_total
    state, metrics = jax.jit(lambda s: jax.lax.scan(program.update, s, None, length=updates))(state)
    act = program.act_params(state)
    assert int(act.breaker["updates"]) == updates == 3
    np.testing.assert_array_equal(metrics["counted_updates"], np.arange(1, updates + 1))
    # the diversity the breaker was told is the one the algorithm logged last
    assert float(act.breaker["diversity"]) == pytest.approx(float(metrics["diversity"][-1]))
