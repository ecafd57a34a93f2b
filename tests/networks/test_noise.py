"""Noise form: sigma = 0 is ``none``, gradients reach log_sigma, schedules, adaptive sigma, keys."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.networks import (
    Draws,
    action_diversity,
    adapt_sigma,
    breaker_key,
    make_breaker,
    schedule_value,
)

from .helpers import TINY, agents_spread, build, jitted, make_obs, same, tiny_params

TWO_BLOCKS = dataclasses.replace(TINY, blocks=2)
KEY = jax.random.key(3)


def test_sigma_zero_equals_none():
    obs, params = make_obs(), tiny_params()
    none = jitted(build("none"), "train")(params, obs, KEY, 0)
    zero = jitted(build("noise", schedule="constant", start=0.0), "train")(params, obs, KEY, 0)
    for field in none._fields:
        a, b = getattr(none, field), getattr(zero, field)
        if field != "draws" and a is not None:  # draws: the noise's own report
            assert same(a, b), field
    noisy = jitted(build("noise", schedule="constant"), "train")(params, obs, KEY, 0)
    assert not same(noisy.logits, none.logits)


@pytest.fixture(scope="module")
def two_block_params():
    return jax.jit(build("noise", TWO_BLOCKS).init)(jax.random.key(1), make_obs())


@pytest.fixture(scope="module")
def two_block_grads(two_block_params):
    """Gradients of a policy loss for a 2-block network, with learned and frozen sigma."""
    obs, params = make_obs(), two_block_params
    out = {}
    for learn in (True, False):
        net = build("noise", TWO_BLOCKS, learn_sigma=learn, schedule="constant")

        def loss(p, net=net):
            logits = net.apply(p, obs, KEY, 0, "train").logits
            return -jax.nn.log_softmax(logits)[..., 0].mean()

        out[learn] = jax.jit(jax.grad(loss))(params)
    return out


def log_sigma_leaves(tree) -> list:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [leaf for path, leaf in flat if "log_sigma" in jax.tree_util.keystr(path)]


def test_gradient_reaches_log_sigma_in_every_layer(two_block_grads):
    leaves = log_sigma_leaves(two_block_grads[True])
    assert len(leaves) == 2  # one per layer
    for g in leaves:
        assert g.shape == (TINY.heads,)  # per head
        assert np.all(np.abs(np.asarray(g)) > 0)


def test_frozen_sigma_gets_no_gradient(two_block_grads):
    for g in log_sigma_leaves(two_block_grads[False]):
        assert np.all(np.asarray(g) == 0)


@pytest.mark.parametrize(
    "kind, mid",
    [
        ("constant", 2.0),
        ("linear", (2.0 + 0.5) / 2),
        ("exponential", np.sqrt(2.0 * 0.5)),
        ("cosine", (2.0 + 0.5) / 2),
    ],
)
def test_schedule_values_at_start_middle_end(kind, mid):
    end = 2.0 if kind == "constant" else 0.5
    values = [float(schedule_value(kind, 2.0, 0.5, 100, s)) for s in (0, 50, 100, 1000)]
    np.testing.assert_allclose(values, [2.0, mid, end, end], rtol=1e-6)


def test_cosine_schedule_is_not_linear():
    assert float(schedule_value("cosine", 1.0, 0.0, 100, 25)) > 0.8  # 0.854 vs linear 0.75


def test_schedule_drives_the_noise():
    """At the horizon a schedule ending at 0 gives the noise-free network."""
    obs, params = make_obs(), tiny_params()
    fn = jitted(build("noise", schedule="linear", start=1.0, end=0.0, horizon=10), "train")
    none = jitted(build("none"), "train")(params, obs, KEY, 0)
    assert same(fn(params, obs, KEY, 10).logits, none.logits)
    assert not same(fn(params, obs, KEY, 5).logits, none.logits)


def test_adapt_sigma_moves_toward_the_target():
    assert float(adapt_sigma(1.0, 0.1, target=0.3, rate=0.5)) > 1.0  # too alike: more noise
    assert float(adapt_sigma(1.0, 0.6, target=0.3, rate=0.5)) < 1.0  # diverse enough: less
    assert float(adapt_sigma(1.0, 0.3, target=0.3, rate=0.5)) == pytest.approx(1.0)
    assert float(adapt_sigma(9.9, 0.0, target=1.0, rate=5.0, max_scale=10.0)) == 10.0


def test_action_diversity_is_mean_pairwise_total_variation():
    same = jnp.full((4, 3, 2), 0.5)
    assert float(action_diversity(same)) == 0.0
    disjoint = jnp.eye(3)[None]  # (1, 3 agents, 3 actions)
    assert float(action_diversity(disjoint)) == pytest.approx(1.0)
    two = jnp.array([[[1.0, 0.0], [0.5, 0.5]]])
    assert float(action_diversity(two)) == pytest.approx(0.5)


def test_adaptive_scale_replaces_the_schedule():
    obs, params = make_obs(), tiny_params()
    net = build("noise", schedule="adaptive")
    none = jitted(build("none"), "train")(params, obs, KEY, 0)
    fn = jax.jit(lambda p, s: net.apply(p, obs, KEY, 0, "train", state=s).logits)
    assert same(fn(params, 0.0), none.logits)
    assert not same(fn(params, 0.5), none.logits)


def test_noise_gain_silences_one_agent():
    """``Draws.noise_gain`` scales one agent's sigma (adversarial evaluation)."""
    obs, params = make_obs(), tiny_params()
    net = build("noise", schedule="constant")
    gain = jnp.ones((2, 3)).at[:, 0].set(0.0)
    fn = jax.jit(lambda p, g: net.apply(p, obs, KEY, 0, "train", draws=Draws(noise_gain=g)))
    out = fn(params, gain)
    none = jitted(build("none"), "train")(params, obs, KEY, 0)
    assert same(out.logits[:, 0], none.logits[:, 0])
    assert not same(out.logits[:, 1], none.logits[:, 1])


def test_same_key_same_dice_whatever_the_step():
    """Once per episode = the algorithm passes the episode's key at every step."""
    obs, params = make_obs(), tiny_params()
    fn = jitted(build("noise", schedule="constant", resample="episode"), "train")
    first = fn(params, obs, KEY, 0).logits
    assert jnp.array_equal(fn(params, obs, KEY, 17).logits, first)
    assert not jnp.array_equal(fn(params, obs, jax.random.key(4), 0).logits, first)


def test_breaker_key_picks_episode_or_step_key():
    ep, st = jax.random.key(1), jax.random.key(2)
    assert breaker_key(make_breaker("noise", resample="episode"), ep, st) is ep
    assert breaker_key(make_breaker("noise"), ep, st) is st
    assert breaker_key(make_breaker("none"), ep, st) is st


def test_one_key_per_env_matches_single_env_calls():
    """A key array with the batch shape gives env b exactly what key[b] gives it alone."""
    obs, params = make_obs(batch=(2,)), tiny_params()
    fn = jitted(build("noise", schedule="constant"), "train")
    keys = jax.random.split(KEY, 2)
    batched = fn(params, obs, keys, 0).logits
    for b in range(2):
        one = jax.tree.map(lambda x, b=b: x[b], obs)
        np.testing.assert_allclose(fn(params, one, keys[b], 0).logits, batched[b], atol=1e-6)
    raw = jax.random.key_data(keys)  # raw uint32 keys work too
    assert jnp.array_equal(fn(params, obs, raw, 0).logits, batched)
    assert agents_spread(batched) > 1e-4


def test_per_layer_dice_draws_fresh_noise_per_layer(two_block_params):
    obs, params = make_obs(), two_block_params
    shared = build("noise", TWO_BLOCKS, schedule="constant")
    fresh = build("noise", TWO_BLOCKS, schedule="constant", per_layer_dice=True)
    a = jitted(shared, "train")(params, obs, KEY, 0).logits
    b = jitted(fresh, "train")(params, obs, KEY, 0).logits
    assert not jnp.array_equal(a, b)


def test_fast_normal_is_standard_normal_and_private_per_agent():
    from diamond_marl.networks import draws as dice

    keys = dice.agent_keys(dice.env_keys(KEY, (64,)), 4)  # (64, 4)
    eps = np.asarray(jax.jit(dice.fast_normal, static_argnums=1)(keys, (2, 5, 5)))
    assert eps.shape == (64, 4, 2, 5, 5)
    flat = eps.ravel()
    assert abs(flat.mean()) < 0.02 and abs(flat.std() - 1.0) < 0.02
    assert abs((flat**4).mean() - 3.0) < 0.15  # Gaussian kurtosis, not uniform's 1.8
    assert abs((np.abs(flat) > 1.0).mean() - 0.3173) < 0.01  # Gaussian tail masses
    assert abs((np.abs(flat) > 1.96).mean() - 0.05) < 0.005
    corr = np.corrcoef(eps[:, 0].ravel(), eps[:, 1].ravel())[0, 1]
    assert abs(corr) < 0.05  # agents' dice are independent


def test_sigma_metric_is_learned_sigma_times_schedule(two_block_params):
    net = build(
        "noise", TWO_BLOCKS, init_sigma=0.5, schedule="linear", start=1.0, end=0.2, horizon=100
    )
    assert float(net.sigma(two_block_params, 0)) == pytest.approx(1.0)  # init_sigma=1 in params
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: jnp.full_like(x, np.log(0.5)) if p[-1].key == "log_sigma" else x,
        two_block_params,
    )
    assert float(net.sigma(params, 50)) == pytest.approx(0.5 * 0.6)
    assert float(net.sigma(params, 50, jnp.float32(2.0))) == pytest.approx(0.5 * 0.6)  # no state
    adaptive = build("noise", TWO_BLOCKS, init_sigma=0.5, schedule="adaptive", start=1.0)
    assert float(adaptive.sigma(params, 50)) == pytest.approx(0.5)  # no state yet: start
    assert float(adaptive.sigma(params, 50, jnp.float32(2.0))) == pytest.approx(1.0)
    assert float(build("none").sigma(params, 50)) == 0.0
