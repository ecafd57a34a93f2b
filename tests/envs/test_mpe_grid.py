"""``mpe:spread,...,sense=K,radius=R``: the cell list gives the all-pairs step's answers, and
sensing within the radius masks what is farther."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import make, mpe_physics
from diamond_marl.envs.grid import Grid
from diamond_marl.errors import ConfigError

KEY = jax.random.PRNGKey(5)


def _rollout(name: str, steps: int = 4):
    env = make(name)
    state, ts = env.reset(KEY)
    step = jax.jit(env.step)
    out = [(state, ts)]
    for t in range(steps):
        actions = jax.random.randint(jax.random.fold_in(KEY, t), (env.spec.num_agents,), 0, 5)
        state, ts = step(state, actions)
        out.append((state, ts))
    return env, out


@pytest.fixture(scope="module")
def fleet_pair():
    """The same 300-agent fleet stepped with all pairs and with the cell list (radius 2)."""
    base = "mpe:spread,n=300,sense=2,density=0.75"
    return _rollout(base), _rollout(base + ",radius=2")


def test_cell_list_gives_the_all_pairs_step(fleet_pair):
    (_, exact), (env, grid) = fleet_pair
    assert env.grid.side > 3 and env.spec.name.endswith(",radius=2")
    for (s0, t0), (s1, t1) in zip(exact, grid, strict=True):
        assert float(t1.extras["dropped"]) == 0
        # positions: the same contact forces up to the order of their sums
        np.testing.assert_allclose(s1.agent_pos, s0.agent_pos, atol=1e-5)
        np.testing.assert_allclose(t1.reward, t0.reward, rtol=1e-5)
        seen = np.asarray(t1.entity_mask)
        assert seen.mean() > 0.99  # the 2 nearest are almost always within 2 at this density
        rows = seen.all(axis=1)
        np.testing.assert_array_equal(np.asarray(t1.entity_agent)[rows], t0.entity_agent[rows])
        np.testing.assert_allclose(
            np.asarray(t1.entities)[rows], np.asarray(t0.entities)[rows], atol=1e-5
        )
        assert float(t1.extras["won"]) == float(t0.extras["won"])


def test_what_is_beyond_the_radius_is_masked(fleet_pair):
    _, (_, grid) = fleet_pair
    state, ts = grid[-1]
    ent, mask = np.asarray(ts.entities), np.asarray(ts.entity_mask)
    dist = np.linalg.norm(ent[:, 1:, :2], axis=-1)
    assert (dist[mask[:, 1:]] <= 2).all()
    assert not ent[:, 1:, :2][~mask[:, 1:]].any()  # an unseen slot holds zeros
    assert (np.asarray(ts.entity_agent)[:, 1:3][~mask[:, 1:3]] == -1).all()
    pos = np.asarray(state.agent_pos)
    for i in np.flatnonzero(~mask[:, 2]):  # a second peer unseen: nobody else within 2
        d = np.linalg.norm(pos - pos[i], axis=1)
        assert (np.sort(d)[2] > 2) if mask[i, 1] else (np.sort(d)[1] > 2)


def test_a_crowd_beyond_a_cells_capacity_is_counted():
    env, steps = _rollout("mpe:spread,n=60,sense=2,radius=0.5,spawn=0", steps=1)
    assert env.grid.capacity < 60  # every agent starts at one point, in one cell
    assert float(steps[0][1].extras["dropped"]) > 0


def test_contact_force_is_exactly_zero_beyond_its_reach():
    pos = jnp.asarray([[0.0, 0.0], [mpe_physics.CONTACT_REACH, 0.0]], jnp.float32)
    assert not np.asarray(jax.jit(mpe_physics.contact_force)(pos)).any()


def test_table_files_every_point_once():
    grid = Grid.covering(half=3.0, cell=1.0, per_area=1.0)
    points = jax.random.uniform(KEY, (40, 2), minval=-4, maxval=4)  # some outside the square
    filed, dropped = grid.table(points)
    assert int(dropped) == 0
    held = np.asarray(filed)[np.asarray(filed) < 40]
    assert sorted(held.tolist()) == list(range(40))


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("mpe:spread,n=9,radius=2", "without sense=K"),
        ("mpe:spread,n=9,sense=2,radius=0.2", "radius=0.2"),
        ("mpe:spread,n=9,sense=2,radius=-1", "radius"),
    ],
)
def test_bad_radius_is_refused(name, needle):
    with pytest.raises(ConfigError, match=needle):
        make(name)
