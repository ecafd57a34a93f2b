"""Permutation equivariance over agents and entities, and zero-shot transfer to other sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs.types import EntityKind, EnvSpec
from diamond_marl.errors import ConfigError
from diamond_marl.networks import AgentNetwork, Draws, make_breaker

from .helpers import TINY, build, jitted, make_obs, tiny_params

PERM = np.array([2, 0, 1])  # new position k holds old agent PERM[k]


def permute_agents(obs, perm=PERM):
    """Reorder the agent axis and rename the agent indices the tokens refer to."""
    inv = np.argsort(perm)
    agent = obs.entity_agent[:, perm]
    agent = jnp.where(agent >= 0, jnp.asarray(inv)[jnp.clip(agent, 0)], -1)
    moved = jax.tree.map(lambda x: x[:, perm], obs)
    return moved._replace(entity_agent=agent)


@pytest.mark.parametrize("name", ["none", "sampled", "noise"])
def test_permuting_agents_permutes_outputs(name):
    """Eval mode: noise is off at evaluation by default, so nothing depends on identity."""
    obs, params = make_obs(), tiny_params()
    fn = jitted(build(name), "eval")
    out = fn(params, obs, None, 0)
    moved = fn(params, permute_agents(obs), None, 0)
    np.testing.assert_allclose(moved.logits, out.logits[:, PERM], atol=1e-6)
    np.testing.assert_allclose(moved.q, out.q[:, PERM], atol=1e-6)


def test_rank_is_equivariant_when_the_draws_move_with_the_agents():
    obs, params = make_obs(), tiny_params()
    net = build("rank")
    fn = jax.jit(lambda p, o, r: net.apply(p, o, None, 0, "train", draws=Draws(rank=r)))
    rank = jnp.array([[0.9, 0.1, 0.5], [0.3, 0.6, 0.2]])
    out = fn(params, obs, rank)
    moved = fn(params, permute_agents(obs), rank[:, PERM])
    np.testing.assert_allclose(moved.logits, out.logits[:, PERM], atol=1e-6)


def test_agent_id_is_not_equivariant():
    """The baseline the others are compared with: identity is part of the input."""
    obs, params = make_obs(), tiny_params("agent_id")
    fn = jitted(build("agent_id"), "eval")
    moved = fn(params, permute_agents(obs), None, 0)
    assert not np.allclose(moved.logits, fn(params, obs, None, 0).logits[:, PERM], atol=1e-4)


def test_permuting_entities_other_than_self_changes_nothing():
    obs, params = make_obs(), tiny_params()
    perm = np.array([0, 4, 2, 1, 3])  # token 0 stays first; peers and enemies interleave
    moved = obs._replace(
        entities=obs.entities[:, :, perm],
        entity_mask=obs.entity_mask[:, :, perm],
        entity_kind=obs.entity_kind[:, :, perm],
        entity_agent=obs.entity_agent[:, :, perm],
    )
    fn = jitted(build("none"), "eval")
    np.testing.assert_allclose(
        fn(params, moved, None, 0).logits, fn(params, obs, None, 0).logits, atol=1e-5
    )


@pytest.mark.parametrize("name", ["none", "noise+rank", "dice"])
@pytest.mark.parametrize("n", [2, 6])
def test_same_params_run_with_other_team_sizes(name, n):
    """Built and initialised with N = 3 agents; runs with N - 1 and N + 3 unchanged."""
    obs = make_obs(n=n, batch=(1,))
    out = jitted(build(name), "train")(tiny_params(), obs, jax.random.key(1), 0)
    assert out.logits.shape == (1, n, 4)
    assert bool(jnp.isfinite(out.logits).all())


def test_agent_id_fixes_the_team_size():
    net = AgentNetwork(TINY, make_breaker("agent_id", max_agents=3), (-1,) * 4)
    with pytest.raises(ConfigError, match="max_agents=3"):
        net.apply(tiny_params("agent_id"), make_obs(n=4), None, 0, "eval")


def smax_like(n_enemies: int) -> tuple:
    """3 allies + ``n_enemies`` enemies; actions: 4 moves then one attack per enemy token."""
    obs = make_obs(n=3, others=n_enemies, batch=(1,), a=4 + n_enemies)
    table = (-1,) * 4 + tuple(range(3, 3 + n_enemies))
    spec = EnvSpec(f"toy:{n_enemies}", 3, len(table), 1, 3 + n_enemies, 5, 1, 10, table)
    return obs, spec


@pytest.fixture(scope="module")
def targeted():
    """A network whose attack actions are scored per enemy token, built for 2 enemies."""
    obs, spec = smax_like(2)
    net = AgentNetwork(TINY, make_breaker("none"), spec.action_entity)
    return net, jax.jit(net.init)(jax.random.key(0), obs)


def test_per_entity_action_head_transfers_to_maps_with_other_unit_counts(targeted):
    net, params = targeted
    for enemies in (1, 5):
        obs, spec = smax_like(enemies)
        other = net.for_spec(spec)
        out = jax.jit(lambda p, o, other=other: other.apply(p, o, None, 0, "eval"))(params, obs)
        assert out.logits.shape == (1, 3, 4 + enemies)
        assert bool(jnp.isfinite(out.logits).all())


def test_attack_logit_follows_its_target_token(targeted):
    """Swapping two enemy tokens swaps their attack logits (no weight per target)."""
    net, params = targeted
    obs, _ = smax_like(2)
    swapped = obs._replace(entities=obs.entities[:, :, np.array([0, 1, 2, 4, 3])])
    fn = jitted(net, "eval")
    a = fn(params, obs, None, 0).logits
    b = fn(params, swapped, None, 0).logits
    np.testing.assert_allclose(b[..., 4], a[..., 5], atol=1e-5)
    np.testing.assert_allclose(b[..., 5], a[..., 4], atol=1e-5)
    np.testing.assert_allclose(b[..., :4], a[..., :4], atol=1e-5)
    assert not np.allclose(a[..., 4], a[..., 5])


def test_dice_tokens_use_the_dice_kind():
    from diamond_marl.networks.inputs import append_token

    obs = make_obs()
    out = append_token(obs, jnp.zeros((2, 3, 5)), EntityKind.DICE)
    assert out.entities.shape == (2, 3, 6, 5)
    assert bool((out.entity_kind[..., -1] == EntityKind.DICE).all())
    assert bool((out.entity_agent[..., -1] == -1).all())
