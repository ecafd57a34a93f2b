"""The rank breaker's optional visible-peer count on the self token."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diamond_marl.envs import make
from diamond_marl.networks.draws import Draws
from diamond_marl.networks.inputs import from_timestep
from diamond_marl.networks.network import make_network


def test_count_feature_is_the_number_of_higher_ranked_peers():
    env = make("xor:n=4,k=4")
    _, ts = env.reset(jax.random.PRNGKey(0))
    obs = from_timestep(ts)
    net = make_network(env.spec, "rank,count_feature=true")
    rank = jnp.array([0.9, 0.1, 0.5, 0.7])  # agent 0 on top, agent 1 at the bottom
    args, drawn = net._inputs(obs, jax.random.PRNGKey(1), 0, "train", None, Draws(rank=rank), None)
    np.testing.assert_array_equal(drawn["rank"], rank)  # the fixed draws, reported
    count = np.asarray(args["entities"][:, 0, -1])
    np.testing.assert_array_equal(count, [0, 3, 2, 1])
    # the count is the only new column, and only on the self token
    assert args["entities"].shape[-1] == env.spec.entity_dim + 1
    assert np.all(np.asarray(args["entities"][:, 1:, -1]) == 0)
    # without the option nothing is appended
    plain, _ = make_network(env.spec, "rank")._inputs(
        obs, jax.random.PRNGKey(1), 0, "train", None, Draws(rank=rank), None
    )
    assert plain["entities"].shape[-1] == env.spec.entity_dim
