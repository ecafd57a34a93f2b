"""Heads and plumbing: masked logits, Q and value heads, the GRU carry, TimeStep input."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from diamond_marl.envs.types import TimeStep
from diamond_marl.networks import (
    AgentNetwork,
    NetworkConfig,
    from_timestep,
    make_breaker,
    make_critic,
    reset_carry,
)

from .helpers import TINY, A, build, jitted, make_obs, tiny_params

RECURRENT = dataclasses.replace(TINY, recurrent=True)


def test_unavailable_actions_get_the_dtype_minimum():
    obs = make_obs()
    mask = obs.action_mask.at[:, :, 1].set(False)
    out = jitted(build("none"), "eval")(tiny_params(), obs._replace(action_mask=mask), None, 0)
    assert bool((out.logits[..., 1] == jnp.finfo(jnp.float32).min).all())
    assert float(jax.nn.softmax(out.logits)[..., 1].max()) == 0.0
    assert bool((out.q[..., 1] > -1e3).all())  # Q-values come unmasked


def test_value_head_on_a_draw_free_network():
    cfg = dataclasses.replace(TINY, outputs=("policy", "value"), value_hidden=8)
    net = AgentNetwork(cfg, make_breaker("agent_id"), (-1,) * A)
    obs = make_obs()
    out = jax.jit(lambda o: net.apply(net.init(jax.random.key(0), o), o, None, 0, "eval"))(obs)
    assert out.value.shape == (2, 3) and out.q is None and out.logits.shape == (2, 3, A)


def test_team_critic_runs_at_any_team_size_and_reads_the_team():
    """``ppo.critic=team``: one set of weights at 3 and at 7 agents; agent 0's value moves
    when only agent 2's view changes (the team's mean embedding), the entity critic's not."""
    cfg = dataclasses.replace(TINY, outputs=("value",), value_hidden=8)
    obs = make_obs(n=3, others=2)
    changed = obs._replace(entities=obs.entities.at[:, 2].add(1.0))  # agent 2's tokens only
    for kind, moves in (("team", True), ("entity", False)):
        critic = make_critic(kind, cfg)
        params = critic.init(jax.random.key(0), obs)
        value = jax.jit(critic.apply)
        assert value(params, make_obs(n=7, others=2)).value.shape == (2, 7)
        before, after = value(params, obs).value[:, 0], value(params, changed).value[:, 0]
        assert bool(jnp.any(jnp.abs(after - before) > 1e-6)) is moves, kind


@pytest.fixture(scope="module")
def recurrent():
    net = build("noise", RECURRENT)
    params = jax.jit(net.init)(jax.random.key(0), make_obs())
    fn = jax.jit(lambda p, o, k, c: net.apply(p, o, k, 0, "train", c))
    return net, params, fn


def test_gru_carry_goes_in_and_out(recurrent):
    net, params, fn = recurrent
    obs = make_obs()
    carry = net.initial_carry(obs)
    assert carry.shape == (2, 3, TINY.hidden)
    first = fn(params, obs, jax.random.key(1), carry)
    second = fn(params, obs, jax.random.key(1), first.carry)
    assert not jnp.array_equal(first.carry, carry)
    assert not jnp.array_equal(second.logits, first.logits)  # memory changes the output
    again = fn(params, obs, jax.random.key(1), reset_carry(first.carry, jnp.array([True, True])))
    assert jnp.array_equal(again.logits, first.logits)


def test_reset_carry_only_resets_finished_envs():
    carry = jnp.ones((2, 3, 4))
    out = reset_carry(carry, jnp.array([True, False]))
    assert float(out[0].sum()) == 0.0 and float(out[1].sum()) == 12.0


def test_from_timestep_takes_the_network_fields():
    obs = make_obs()
    ts = TimeStep(
        obs=obs.obs,
        entities=obs.entities,
        entity_mask=obs.entity_mask,
        entity_kind=obs.entity_kind,
        entity_agent=obs.entity_agent,
        action_mask=obs.action_mask,
        state=jnp.zeros((2, 7)),
        reward=jnp.zeros((2, 3)),
        terminated=jnp.zeros((2,), bool),
        truncated=jnp.zeros((2,), bool),
        extras={},
    )
    got = from_timestep(ts)
    assert all(jnp.array_equal(a, b) for a, b in zip(got, obs, strict=True))
    assert (got.batch_shape, got.num_agents, got.num_entities) == ((2,), 3, 5)


def test_network_config_rejects_bad_values():
    from diamond_marl.errors import ConfigError

    with pytest.raises(ConfigError, match="divisible"):
        NetworkConfig(hidden=10, heads=3)
    with pytest.raises(ConfigError, match="allowed: policy, q, value"):
        NetworkConfig(outputs=("pi",))
