"""Mixers: VDN is the sum, QMIX is monotone in every agent's Q."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.errors import ConfigError
from diamond_marl.networks import VDN, QMix, make_mixer

N, S = 4, 6


def test_vdn_is_the_sum():
    qs = jax.random.normal(jax.random.key(0), (3, 5, N))
    state = jnp.zeros((3, 5, S))
    mixer = make_mixer("vdn")
    assert isinstance(mixer, VDN)
    params = mixer.init(jax.random.key(1), qs, state)
    np.testing.assert_allclose(mixer.apply(params, qs, state), qs.sum(-1), rtol=1e-6)


@pytest.fixture(scope="module")
def qmix():
    mixer = make_mixer("qmix", embed_dim=8, hypernet_hidden=16)
    params = mixer.init(jax.random.key(0), jnp.zeros((N,)), jnp.zeros((S,)))
    return mixer, params


def test_qmix_is_monotone_in_every_agent_q(qmix):
    mixer, params = qmix
    grad = jax.jit(jax.vmap(jax.grad(lambda q, s: mixer.apply(params, q, s))))
    for seed in range(3):
        kq, ks = jax.random.split(jax.random.key(seed))
        qs = 5.0 * jax.random.normal(kq, (256, N))
        states = 3.0 * jax.random.normal(ks, (256, S))
        g = np.asarray(grad(qs, states))  # (256, N) dQ_tot / dQ_i
        assert (g >= 0).all()
        assert (g > 0).mean() > 0.5  # not trivially zero


def test_qmix_depends_on_the_state_and_handles_batch_dims(qmix):
    mixer, params = qmix
    qs = jnp.ones((2, 3, N))
    states = jax.random.normal(jax.random.key(1), (2, 3, S))
    out = mixer.apply(params, qs, states)
    assert out.shape == (2, 3)
    assert float(jnp.abs(out - out[0, 0]).max()) > 0


def test_the_monotonicity_check_can_fail(qmix):
    """The same check on a non-monotone mixer (minus QMIX) finds negative derivatives."""
    mixer, params = qmix
    qs = jax.random.normal(jax.random.key(2), (64, N))
    states = jax.random.normal(jax.random.key(3), (64, S))
    neg = jax.vmap(jax.grad(lambda q, s: -mixer.apply(params, q, s)))(qs, states)
    assert float(neg.min()) < 0


def test_make_mixer_rejects_unknown_names_and_options():
    with pytest.raises(ConfigError, match="allowed: qmix, vdn"):
        make_mixer("qtran")
    with pytest.raises(ConfigError, match="embed_dim"):
        make_mixer("qmix", width=3)
    with pytest.raises(ConfigError):
        make_mixer("vdn", embed_dim=3)
    assert isinstance(make_mixer("qmix"), QMix)


def test_qmix_init_scale_shrinks_the_initial_q_tot_and_keeps_the_default():
    """At 1 the hypernetworks' output layers have LeCun-normal std 1/sqrt(fan_in) (flax's
    default); smaller scales shrink the spread of Q_tot at init about as their square."""
    qs = jax.random.normal(jax.random.key(4), (512, N))
    states = jax.random.normal(jax.random.key(5), (512, S))
    key = jax.random.key(6)

    def init(scale):
        mixer = make_mixer("qmix", embed_dim=32, init_scale=scale)
        params = mixer.init(key, qs, states)
        return params, float(mixer.apply(params, qs, states).std())

    (default, wide), (_, narrow) = init(1.0), init(0.3)
    kernel = np.asarray(default["params"]["hyper_w1"]["kernel"])  # (64, N * 32)
    assert kernel.std() == pytest.approx(1 / np.sqrt(64), rel=0.1)
    assert narrow < 0.25 * wide  # 0.3 squared is 0.09; biases and the state value keep a floor
    with pytest.raises(ConfigError, match="init_scale"):
        make_mixer("vdn", init_scale=0.3)
