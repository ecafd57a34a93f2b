"""GAE and TD(lambda) against plain-Python reference loops."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.algos.returns import gae, td_lambda


def _random_case(seed, t=13, b=3):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(t, b)).astype(np.float32)
    values = rng.normal(size=(t, b)).astype(np.float32)
    dones = rng.random((t, b)) < 0.2
    last = rng.normal(size=(b,)).astype(np.float32)
    return rewards, values, dones, last


def _gae_loop(rewards, values, dones, last, gamma, lam):
    t_len, b = rewards.shape
    adv = np.zeros_like(rewards)
    for j in range(b):
        acc = 0.0
        for t in reversed(range(t_len)):
            next_v = last[j] if t == t_len - 1 else values[t + 1, j]
            nd = 0.0 if dones[t, j] else 1.0
            delta = rewards[t, j] + gamma * next_v * nd - values[t, j]
            acc = delta + gamma * lam * nd * acc
            adv[t, j] = acc
    return adv


def _td_lambda_loop(rewards, next_values, dones, gamma, lam):
    t_len, b = rewards.shape
    out = np.zeros_like(rewards)
    for j in range(b):
        g = next_values[-1, j]
        for t in reversed(range(t_len)):
            nd = 0.0 if dones[t, j] else 1.0
            g = rewards[t, j] + gamma * nd * ((1 - lam) * next_values[t, j] + lam * g)
            out[t, j] = g
    return out


@pytest.mark.parametrize("seed,gamma,lam", [(0, 0.99, 0.95), (1, 0.9, 0.0), (2, 0.97, 1.0)])
def test_gae_matches_reference_loop(seed, gamma, lam):
    rewards, values, dones, last = _random_case(seed)
    adv, targets = gae(rewards, values, dones, last, gamma, lam)
    expected = _gae_loop(rewards, values, dones, last, gamma, lam)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, expected + values, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed,gamma,lam", [(0, 0.99, 0.8), (1, 0.9, 0.0), (2, 0.97, 1.0)])
def test_td_lambda_matches_reference_loop(seed, gamma, lam):
    rewards, values, dones, _ = _random_case(seed)
    targets = td_lambda(rewards, values, dones, gamma, lam)
    expected = _td_lambda_loop(rewards, values, dones, gamma, lam)
    np.testing.assert_allclose(targets, expected, rtol=1e-5, atol=1e-5)


def test_td_zero_is_one_step_target():
    rewards, values, dones, _ = _random_case(3)
    targets = td_lambda(rewards, values, dones, 0.9, 0.0)
    np.testing.assert_allclose(targets, rewards + 0.9 * (1 - dones) * values, rtol=1e-5, atol=1e-6)


def test_value_normaliser_tracks_mean_and_std_of_targets():
    from diamond_marl.algos.ppo import _norm_stats, _norm_update

    norm = jnp.zeros(3)
    assert [float(v) for v in _norm_stats(norm)] == [0.0, 1.0]  # identity before any data
    rng = np.random.default_rng(0)
    for _ in range(600):
        norm = _norm_update(norm, jnp.asarray(rng.normal(5.0, 2.0, size=256)))
    mean, std = _norm_stats(norm)
    assert float(mean) == pytest.approx(5.0, abs=0.05)
    assert float(std) == pytest.approx(2.0, abs=0.05)
    first = _norm_update(jnp.zeros(3), jnp.asarray([1.0, 3.0]))
    assert [float(v) for v in _norm_stats(first)] == pytest.approx([2.0, 1.0])  # debiased
