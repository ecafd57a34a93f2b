"""Execution-time behaviour of every breaker, and action selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.errors import ConfigError
from diamond_marl.networks import make_breaker, select_actions

from .helpers import BREAKERS_PARAMS, build, jitted, make_obs, same, tiny_params

KEY, OTHER = jax.random.key(11), jax.random.key(12)


def eval_fn(name, **overrides):
    return jitted(build(name, **overrides), "eval")


@pytest.mark.parametrize("name", list(BREAKERS_PARAMS))
def test_eval_is_deterministic_given_the_key(name):
    fn, params, obs = eval_fn(name), tiny_params(BREAKERS_PARAMS[name]), make_obs()
    assert jnp.array_equal(fn(params, obs, KEY, 0).logits, fn(params, obs, KEY, 0).logits)


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("none", {}),
        ("agent_id", {}),
        ("sampled", {}),
        ("noise", {}),
        ("noise+rank", {"eval_rank": False}),
        ("rank", {"eval_rank": False}),
        ("dice", {"eval_dice": False}),
        ("random_input", {"eval_random": False}),
    ],
)
def test_key_free_evaluation_where_documented(name, overrides):
    fn, params, obs = eval_fn(name, **overrides), tiny_params(BREAKERS_PARAMS[name]), make_obs()
    no_key = fn(params, obs, None, 0).logits
    assert jnp.array_equal(no_key, fn(params, obs, KEY, 0).logits)  # the key is ignored


@pytest.mark.parametrize(
    "name, overrides",
    [("rank", {}), ("dice", {}), ("random_input", {}), ("noise", {"eval_noise": True})],
)
def test_breakers_that_draw_at_eval_need_a_key_and_use_it(name, overrides):
    net = build(name, **overrides)
    params, obs = tiny_params(BREAKERS_PARAMS[name]), make_obs(identical=True)
    with pytest.raises(ValueError, match="needs a key"):
        net.apply(params, obs, None, 0, "eval")
    fn = jitted(net, "eval")
    outs = [fn(params, obs, jax.random.key(s), 0).logits for s in range(4)]
    assert any(not jnp.array_equal(outs[0], o) for o in outs[1:])


def test_noise_is_off_at_eval_by_default():
    obs, params = make_obs(), tiny_params()
    ev = eval_fn("noise")(params, obs, KEY, 0).logits
    assert same(ev, eval_fn("none")(params, obs, KEY, 0).logits)
    train = jitted(build("noise"), "train")(params, obs, KEY, 0).logits
    assert not same(ev, train)


def test_bad_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="allowed: eval, train"):
        build("none").apply(tiny_params(), make_obs(), None, 0, "explore")


LOGITS = jnp.array([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 0.0, 0.0]])  # (N=2, A=4)
MASK = jnp.array([[True, True, False, True], [True, False, True, True]])


def test_eval_takes_the_argmax_without_a_key():
    got = select_actions(None, LOGITS, make_breaker("noise"), "eval", action_mask=MASK)
    assert got.tolist() == [0, 0]  # agent 1's best action (1) is unavailable


def test_sampled_breaker_samples_at_eval():
    cfg = make_breaker("sampled")
    draws = jax.vmap(lambda k: select_actions(k, LOGITS, cfg, "eval", action_mask=MASK))(
        jax.random.split(KEY, 400)
    )  # (400, 2)
    assert len(np.unique(np.asarray(draws[:, 0]))) > 1
    assert not bool((draws[:, 1] == 1).any())  # never an unavailable action
    greedy = make_breaker("sampled", eval_sample=False)
    assert select_actions(None, LOGITS, greedy, "eval").tolist() == [0, 1]


def test_training_samples_or_explores_only_available_actions():
    cfg = make_breaker("none")
    keys = jax.random.split(OTHER, 400)
    sampled = jax.vmap(lambda k: select_actions(k, LOGITS, cfg, "train", action_mask=MASK))(keys)
    explore = jax.vmap(
        lambda k: select_actions(k, LOGITS, cfg, "train", action_mask=MASK, epsilon=1.0)
    )(keys)
    for acts in (sampled, explore):
        assert not bool((acts[:, 0] == 2).any()) and not bool((acts[:, 1] == 1).any())
    assert len(np.unique(np.asarray(explore[:, 1]))) == 3  # uniform over the 3 available
    exploit = select_actions(OTHER, LOGITS, cfg, "train", action_mask=MASK, epsilon=0.0)
    assert exploit.tolist() == [0, 0]


def test_both_executions_for_every_breaker():
    """Greedy is the arg-max for every breaker (``sampled`` included); sampled follows the
    policy's distribution, or epsilon-greedy for Q-values (``epsilon`` given)."""
    keys = jax.random.split(KEY, 400)
    for name in ("none", "sampled"):
        cfg = make_breaker(name)
        greedy = select_actions(None, LOGITS, cfg, "eval", action_mask=MASK, execution="greedy")
        assert greedy.tolist() == [0, 0]
        draw = jax.vmap(
            lambda k, c=cfg: select_actions(
                k, LOGITS, c, "eval", action_mask=MASK, execution="sampled"
            )
        )(keys)
        assert len(np.unique(np.asarray(draw[:, 0]))) > 1
        assert not bool((draw[:, 1] == 1).any())
        eps = jax.vmap(
            lambda k, c=cfg: select_actions(
                k, LOGITS, c, "eval", action_mask=MASK, epsilon=0.25, execution="sampled"
            )
        )(keys)
        off_greedy = float((eps[:, 0] != 0).mean())  # 0.25 x 2/3 of random picks differ
        assert 0.08 < off_greedy < 0.25, off_greedy
    with pytest.raises(ConfigError, match="execution"):
        select_actions(None, LOGITS, make_breaker("none"), "eval", execution="boltzmann")
