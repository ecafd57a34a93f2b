"""Rank form: the mask, who sees whom, task tokens untouched, critics never see the draws."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.errors import ConfigError
from diamond_marl.networks import (
    AgentNetwork,
    Draws,
    EntityCritic,
    NetworkConfig,
    QMix,
    StateCritic,
    draws,
    make_breaker,
    rank_visible,
)

from .helpers import A, agents_spread, build, jitted, make_obs, same, tiny_params

N, ENEMIES = 3, 2
RANK = jnp.array([[0.9, 0.1, 0.5], [0.2, 0.7, 0.4]])  # (B=2, N=3): env 0 top = agent 0


@pytest.fixture(scope="module")
def ranked():
    """Compiled rank network with the draws fixed by the caller."""
    net = build("rank")
    return jax.jit(lambda p, o, r: net.apply(p, o, None, 0, "train", draws=Draws(rank=r)))


def test_mask_matches_r_j_less_than_r_i_for_random_draws():
    rng = np.random.default_rng(0)
    for trial in range(5):
        n, e = 4, 7
        rank = rng.random((3, n))
        agent = rng.integers(-1, n, size=(3, n, e))
        agent[..., 0] = np.arange(n)
        got = np.asarray(rank_visible(jnp.asarray(rank), jnp.asarray(agent)))
        want = np.ones_like(got)
        for b in range(3):
            for i in range(n):
                for t in range(e):
                    j = agent[b, i, t]
                    want[b, i, t] = j < 0 or not rank[b, j] < rank[b, i]
        assert np.array_equal(got, want), trial


def test_draws_from_the_key_give_the_same_mask(ranked):
    """Without fixed draws, agent i's r_i comes from its own stream of ``fold_in(key, i)``."""
    key = jax.random.key(5)
    obs = make_obs()
    rank = draws.uniform(draws.stream(draws.agent_keys(draws.env_keys(key, (2,)), N), draws.RANK))
    assert rank.shape == (2, N)
    drawn = jitted(build("rank"), "train")(tiny_params(), obs, key, 0)
    fixed = ranked(tiny_params(), obs, rank)
    np.testing.assert_allclose(drawn.logits, fixed.logits, atol=1e-6)


def change_peer_tokens(obs, agent: int, env: int = 0):
    """New features for agent ``agent``'s peer tokens (1..N-1) in env ``env``."""
    ent = obs.entities.at[env, agent, 1:N].add(3.0)
    return obs._replace(entities=ent)


def test_top_ranked_agent_ignores_lower_ranked_peers(ranked):
    obs, params = make_obs(), tiny_params()
    base = ranked(params, obs, RANK)
    top = ranked(params, change_peer_tokens(obs, agent=0), RANK)  # agent 0 ranks first in env 0
    assert jnp.array_equal(top.logits[0, 0], base.logits[0, 0])
    bottom = ranked(params, change_peer_tokens(obs, agent=1), RANK)  # agent 1 ranks last
    assert not jnp.array_equal(bottom.logits[0, 1], base.logits[0, 1])


def test_bottom_ranked_agent_sees_everyone(ranked):
    obs, params = make_obs(), tiny_params()
    none = jitted(build("none"), "train")(params, obs, None, 0)
    out = ranked(params, obs, RANK)
    assert same(out.logits[0, 1], none.logits[0, 1])  # sees all: same as none
    assert not same(out.logits[0, 0], none.logits[0, 0])  # sees only itself


def test_task_and_enemy_tokens_stay_visible(ranked):
    obs, params = make_obs(), tiny_params()
    visible = rank_visible(RANK, obs.entity_agent)  # (B, N, E)
    assert bool(visible[..., N:].all())  # enemy tokens (entity_agent = -1)
    assert not bool(visible[..., 1:N].all())  # some peers are hidden
    base = ranked(params, obs, RANK)
    moved = ranked(params, obs._replace(entities=obs.entities.at[0, 0, N:].add(3.0)), RANK)
    assert not jnp.array_equal(moved.logits[0, 0], base.logits[0, 0])  # top agent sees enemies


def test_rank_splits_identical_observations():
    obs = make_obs(identical=True)
    out = jitted(build("rank"), "train")(tiny_params(), obs, jax.random.key(2), 0)
    assert agents_spread(out.embedding) > 1e-3


def test_critics_and_mixers_take_no_key():
    for fn in (EntityCritic.apply, StateCritic.__call__, QMix.__call__):
        params = inspect.signature(fn).parameters
        assert not any("key" in p or "rng" in p or "draw" in p for p in params), fn


def test_entity_critic_is_deterministic_and_draw_free():
    critic = EntityCritic(NetworkConfig(hidden=16, heads=2, blocks=1, value_hidden=16))
    obs = make_obs(identical=True)
    params = jax.jit(critic.init)(jax.random.key(0), obs)
    value = jax.jit(critic.apply)(params, obs).value
    assert value.shape == (2, N)
    assert agents_spread(value) == 0.0  # no draws: identical views, identical values


@pytest.mark.parametrize("breaker", ["rank", "noise", "noise+rank", "dice", "random_input"])
def test_value_head_refuses_to_share_a_torso_with_draws(breaker):
    with pytest.raises(ConfigError, match="critic"):
        AgentNetwork(NetworkConfig(outputs=("policy", "value")), make_breaker(breaker), (-1,) * A)
