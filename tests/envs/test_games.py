"""The diagnostic games' closed-form values, by exact enumeration and by fixed policies."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.cli import main
from diamond_marl.envs import EntityKind, make
from diamond_marl.envs.reference import enumerate_xor, measure_reference, reference_values
from diamond_marl.errors import ConfigError


@pytest.mark.parametrize("n,k", [(2, 2), (3, 3), (2, 3), (4, 4), (3, 2)])
def test_xor_private_dice_exact(n, k):
    expected = math.factorial(k) / math.factorial(k - n) / k**n if k >= n else 0.0
    assert enumerate_xor(f"xor:n={n},k={k}") == pytest.approx(expected, abs=1e-6)
    assert reference_values(f"xor:n={n},k={k}")["private_random"] == pytest.approx(expected)


def test_xor_values_for_two_agents():
    ref = reference_values("xor:n=2,k=2")
    assert ref == {
        "deterministic_shared": 0.0,
        "private_random": 0.5,
        "shared_random": 1.0,
        "optimum": 1.0,
    }


@pytest.mark.parametrize(
    "name", ["xor:n=2,k=2", "xor:n=3,k=3", "role:n=4,k=4,t=10", "role:n=3,k=2,t=5"]
)
def test_fixed_policies_reach_the_closed_form_values(name):
    ref, measured = reference_values(name), measure_reference(name, episodes=4096)
    assert measured["deterministic_shared"] == pytest.approx(ref["deterministic_shared"], abs=1e-6)
    assert measured["shared_random"] == pytest.approx(ref["shared_random"], abs=1e-6)
    # 4096 episodes: standard error <= 0.5/64 ~ 0.008
    assert measured["private_random"] == pytest.approx(ref["private_random"], abs=0.03)


def test_role_game_rewards_and_observation():
    env = make("role:n=3,k=3,t=2")
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert np.all(np.asarray(ts.obs) == 0)  # no previous role, no counts yet
    state, ts = env.step(state, jnp.array([0, 0, 2]))
    np.testing.assert_allclose(ts.reward, [2 / 3] * 3)
    np.testing.assert_allclose(ts.obs[0], [1, 0, 0, 2 / 3, 0, 1 / 3])
    assert not bool(ts.done)
    # agent 1's peers are agents 0 and 2, in that order
    assert list(np.asarray(ts.entity_agent[1])) == [1, 0, 2, -1, -1, -1]
    np.testing.assert_allclose(ts.entities[1, 2, :3], [0, 0, 1])  # agent 2's previous role
    kinds = list(np.asarray(ts.entity_kind[0]))
    assert kinds == [EntityKind.SELF, EntityKind.PEER, EntityKind.PEER] + [EntityKind.TASK] * 3
    state, ts = env.step(state, jnp.array([0, 1, 2]))
    np.testing.assert_allclose(ts.reward, [1.0] * 3)
    assert bool(ts.terminated) and not bool(ts.truncated)
    assert float(ts.extras["won"]) == 1.0


def test_xor_observations_are_identical_for_every_agent():
    env = make("xor:n=3,k=3")
    _, ts = env.reset(jax.random.PRNGKey(0))
    assert np.all(np.asarray(ts.obs) == 0)
    ent = np.asarray(ts.entities)
    assert np.all(ent == ent[:1])  # the perfectly symmetric case
    # agent tokens (self and peers) are identical to each other too
    assert np.all(ent[:, :3] == ent[:, :1])


def test_games_take_parameters_for_transfer():
    small, large = make("role:n=2,k=4,t=3"), make("role:n=6,k=4,t=3")
    assert small.spec.entity_dim == large.spec.entity_dim
    assert small.spec.num_actions == large.spec.num_actions
    assert large.spec.num_entities == 6 + 4


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("xor:n=1", "n=1"),
        ("xor:n=2,k=0", "k=0"),
        ("role:n=3,t=0", "t=0"),
        ("role:n=-2", "n=-2"),
        ("xor:n=2,z=3", "z"),
        ("role:big", "big"),
        ("nope:x", "nope"),
        ("xor", "xor"),
    ],
)
def test_bad_names_give_clear_errors(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make(name)


@pytest.mark.parametrize("name", ["xor:n=3,,k=3", "xor:n=3,k=3,", "role:,n=2"])
def test_env_check_rejects_an_empty_item_in_one_line(name, capfd):
    assert main(["env-check", name]) == 2
    err = capfd.readouterr().err
    assert f"{name!r} has an empty item between commas" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
