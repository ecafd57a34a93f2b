"""The dropout breaker (the paper's ablation of the rank mask): private per-peer masks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs.types import EntityKind
from diamond_marl.errors import ConfigError
from diamond_marl.networks import make_breaker

from .helpers import build, jitted, make_obs, same, tiny_params

KEY = jax.random.key(3)


def test_p_zero_hides_nothing_and_p_one_hides_every_peer():
    params, obs = tiny_params(), make_obs()
    none = jitted(build("none"), "train")(params, obs, None, 0)
    keep = jitted(build("dropout", p=0.0), "train")(params, obs, KEY, 0)
    assert same(keep.logits, none.logits)
    np.testing.assert_array_equal(keep.draws["peers_seen"], np.full((2, 3), 2))
    drop = jitted(build("dropout", p=1.0), "train")(params, obs, KEY, 0)
    np.testing.assert_array_equal(drop.draws["peers_seen"], np.zeros((2, 3)))
    # the same as a network that never had peer tokens in view
    peers = obs.entity_kind == EntityKind.PEER
    hidden = obs._replace(entity_mask=obs.entity_mask & ~peers)
    blind = jitted(build("none"), "train")(params, hidden, None, 0)
    assert same(drop.logits, blind.logits)


def test_masks_are_private_and_drawn_from_the_key():
    params, obs = tiny_params(), make_obs(n=4, others=1, batch=(64,), identical=True)
    net = build("dropout")
    seen = np.asarray(jitted(net, "train")(params, obs, KEY, 0).draws["peers_seen"])  # (64, 4)
    assert 0.3 < seen.mean() / 3 < 0.7  # each of 3 peers kept with probability 1 - p = 0.5
    assert (seen != seen[:, :1]).any(axis=1).mean() > 0.5  # agents of an env differ
    again = np.asarray(jitted(net, "train")(params, obs, KEY, 0).draws["peers_seen"])
    np.testing.assert_array_equal(seen, again)  # same key, same masks
    # eval_dropout=false: every peer in view, no key needed
    plain = jitted(build("dropout", eval_dropout=False), "eval")(params, obs, None, 0)
    assert "peers_seen" not in plain.draws


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_impossible_probability_is_a_config_error(p):
    with pytest.raises(ConfigError, match=f"dropout: p={p}; allowed: 0 <= p <= 1"):
        make_breaker("dropout", p=p)


def test_the_breaker_needs_a_key_where_it_draws():
    params, obs = tiny_params(), make_obs()
    with pytest.raises(ValueError, match="'dropout' in mode 'train' needs a key"):
        build("dropout").apply(params, obs, None, 0, "train")
    assert jnp.all(jnp.isfinite(build("dropout").apply(params, obs, KEY, 0, "eval").logits))
