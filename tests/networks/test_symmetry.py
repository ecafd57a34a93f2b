"""The symmetry trap and which breakers get out of it (identical observations for all agents)."""

from __future__ import annotations

import jax
import pytest

from .helpers import (
    agents_identical,
    agents_spread,
    all_same_obs,
    build,
    jitted,
    make_obs,
    tiny_params,
)

BREAKERS = ("none", "agent_id", "random_input", "noise", "rank", "dice")


@pytest.fixture(scope="module")
def nets():
    """name -> (params, compiled train-mode apply), built once for the module."""
    own = {"agent_id", "random_input"}
    return {
        name: (tiny_params(name if name in own else "noise"), jitted(build(name), "train"))
        for name in BREAKERS
    }


def run(nets, name, obs, seed=7):
    params, fn = nets[name]
    return fn(params, obs, jax.random.key(seed), 0)


def test_none_gives_identical_outputs_for_identical_observations(nets):
    out = run(nets, "none", make_obs(identical=True))
    assert agents_identical(out.logits)
    assert agents_identical(out.q)
    assert agents_identical(out.embedding)


@pytest.mark.parametrize("name", ["agent_id", "random_input", "noise", "rank", "dice"])
def test_breakers_split_identical_observations_with_distinct_tokens(nets, name):
    out = run(nets, name, make_obs(identical=True))
    assert agents_spread(out.embedding) > 1e-3, name


def test_noise_cannot_split_agents_whose_tokens_are_all_identical(nets):
    """Logit noise only re-weights value vectors: identical values, identical output."""
    obs = all_same_obs()
    out = run(nets, "noise", obs)
    # Softmax weights sum to one up to rounding, so equal up to a few ulps, not exactly.
    assert agents_spread(out.embedding) < 1e-5
    assert agents_spread(out.logits) < 1e-5
    # The noise really was there: the same network splits agents whose tokens differ.
    assert agents_spread(run(nets, "noise", make_obs(identical=True)).embedding) > 1e-3


def test_dice_token_splits_agents_whose_tokens_are_all_identical(nets):
    out = run(nets, "dice", all_same_obs())
    assert agents_spread(out.embedding) > 1e-3
    assert agents_spread(out.logits) > 1e-4


def test_shared_dice_token_keeps_identical_agents_together():
    """A broadcast dice token is the same for every agent: it cannot split a perfect tie."""
    fn = jitted(build("dice", shared=True), "train")
    obs, params = all_same_obs(), tiny_params()
    out = fn(params, obs, jax.random.key(3), 0)
    assert agents_identical(out.embedding)
    other = fn(params, obs, jax.random.key(4), 0)
    assert float(abs(other.embedding - out.embedding).max()) > 1e-3  # the token did change
