"""Specialisation metrics on hand-built cases with known values."""

from __future__ import annotations

import numpy as np
import pytest

from diamond_marl.analysis import metrics


def _onehot(actions, num_actions):
    return np.eye(num_actions)[np.asarray(actions)]


def test_identical_agents_have_zero_diversity():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=(7, 1))  # (states, 1, A)
    probs = np.repeat(p, 4, axis=1)  # (states, N=4, A): every agent the same
    assert metrics.snd(probs) == pytest.approx(0.0, abs=1e-12)
    assert metrics.pairwise_js(probs) == pytest.approx(0.0, abs=1e-12)


def test_disjoint_deterministic_agents_reach_the_maximum():
    probs = _onehot([[0, 1, 2, 3]] * 6, 4)  # (6, 4, 4): agent i always takes action i
    assert metrics.snd(probs) == pytest.approx(1.0)
    assert metrics.pairwise_js(probs) == pytest.approx(1.0)


def test_known_intermediate_values():
    p = np.array([[[0.5, 0.5], [1.0, 0.0]]])  # one state, two agents
    assert metrics.snd(p) == pytest.approx(0.5)
    # JS(p, q) with m = (0.75, 0.25): 0.5 [0.5 log2(0.5/0.75) + 0.5 log2(0.5/0.25)] + 0.5 log2(4/3)
    expected = 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(2.0)) + 0.5 * np.log2(1 / 0.75)
    assert metrics.pairwise_js(p) == pytest.approx(expected)


def test_valid_mask_drops_states():
    same = np.full((1, 2, 2), 0.5)
    apart = _onehot([[0, 1]], 2)
    probs = np.concatenate([same, apart])  # (2 states, N=2, A=2)
    assert metrics.snd(probs) == pytest.approx(0.5)
    assert metrics.snd(probs, valid=np.array([False, True])) == pytest.approx(1.0)
    assert np.isnan(metrics.snd(probs, valid=np.array([False, False])))


def test_role_entropy():
    assert metrics.role_entropy(np.array([[0, 1, 2, 3]]), 4) == pytest.approx(1.0)
    assert metrics.role_entropy(np.array([[3, 0, 2, 1]]), 6) == pytest.approx(1.0)  # R > N
    assert metrics.role_entropy(np.array([[2, 2, 2, 2]]), 4) == pytest.approx(0.0)
    # two roles, two agents each, out of 4: log 2 / log 4
    assert metrics.role_entropy(np.array([[0, 0, 1, 1]]), 4) == pytest.approx(0.5)


def test_role_persistence():
    constant = np.tile(np.array([1, 3, 0]), (5, 1))  # (T=5, N=3) never switches
    assert metrics.role_persistence(constant) == pytest.approx(1.0)
    alternating = np.array([[0, 1], [1, 0], [0, 1]])  # every agent switches every step
    assert metrics.role_persistence(alternating) == pytest.approx(0.0)
    # one switch out of 3 pairs for agent 0, none for agent 1; the last step is invalid
    roles = np.array([[0, 1], [0, 1], [2, 1], [2, 1], [0, 0]])
    valid = np.array([True, True, True, True, False])
    assert metrics.role_persistence(roles, valid) == pytest.approx(5 / 6)
    assert np.isnan(metrics.role_persistence(np.array([[0, 1]])))  # one-step episode


def test_specialisation_bundle_and_episode_roles():
    actions = np.array([[[0, 1, 2, 3]] * 4, [[1, 1, 1, 1]] * 4])  # (E=2, T=4, N=4)
    probs = _onehot(actions, 4)
    valid = np.ones((2, 4), bool)
    out = metrics.specialisation(probs, actions, valid, 4)
    assert out["snd"] == pytest.approx(0.5)
    assert out["js"] == pytest.approx(0.5)
    assert out["role_entropy"] == pytest.approx(0.5)
    assert out["role_entropy_episode"] == pytest.approx(0.5)
    assert out["role_persistence"] == pytest.approx(1.0)
    np.testing.assert_array_equal(
        metrics.episode_roles(actions, valid, 4), [[0, 1, 2, 3], [1, 1, 1, 1]]
    )
