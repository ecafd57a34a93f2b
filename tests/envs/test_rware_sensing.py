"""RobotWarehouse local tokens (``sense=K``) and shelf-grid layouts (``<rows>x<columns>``)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from rware.warehouse import RewardType, Warehouse

from diamond_marl.envs import EntityKind, make
from diamond_marl.envs.rware_tokens import REL_SCALE
from diamond_marl.errors import ConfigError


def _rollout(name: str, steps: int = 12, seed: int = 0):
    """Timesteps of a random-action rollout (the reset, then ``steps`` steps)."""
    env = make(name)
    state, ts = env.reset(jax.random.PRNGKey(seed))
    step = jax.jit(env.step)
    out = [ts]
    for key in jax.random.split(jax.random.PRNGKey(seed + 1), steps):
        state, ts = step(state, jax.random.randint(key, (env.spec.num_agents,), 0, 5))
        out.append(ts)
    return env, out


def test_sense_covering_everyone_gives_the_global_tokens_up_to_order():
    plain, global_steps = _rollout("rware:tiny-4ag")
    env, sensed_steps = _rollout("rware:tiny-4ag,sense=4")  # >= N - 1 = 3 and >= R = 4
    assert env.spec.num_entities == plain.spec.num_entities == 4 + 4 + 2
    scale = np.asarray([env.height - 1, env.width - 1], np.float32)
    for g, s in zip(global_steps, sensed_steps, strict=True):
        np.testing.assert_array_equal(s.obs, g.obs)
        np.testing.assert_array_equal(s.state, g.state)
        ours = np.array(s.entities)
        ours[..., 2:4] *= REL_SCALE / scale  # sensed relative positions are in 10-cell units
        for i in range(4):
            a = np.c_[np.asarray(g.entities[i]), np.asarray(g.entity_agent[i])]
            b = np.c_[ours[i], np.asarray(s.entity_agent[i])]
            np.testing.assert_allclose(b[np.lexsort(b.T)], a[np.lexsort(a.T)], atol=1e-6)
        assert np.asarray(s.entity_agent)[:, 0].tolist() == [0, 1, 2, 3]  # SELF first


def test_sense_k_sees_the_k_nearest_and_names_them():
    env, steps = _rollout("rware:5x11-64ag,sense=2", steps=4)
    n = 64
    scale = np.asarray([env.height - 1, env.width - 1], np.float32)
    assert env.spec.num_entities == 1 + 2 + 2 + 2
    kinds = np.asarray(steps[0].entity_kind[0]).tolist()
    assert kinds == [EntityKind.SELF] + [EntityKind.PEER] * 2 + [EntityKind.TASK] * 4
    for ts in steps:
        ent, named = np.asarray(ts.entities), np.asarray(ts.entity_agent)
        robots = np.rint(ent[:, 0, 0:2] * scale)  # each robot's cell, from its SELF token
        d2 = ((robots[:, None] - robots[None]) ** 2).sum(-1) + np.diag(np.full(n, np.inf))
        for i in range(n):
            peers = named[i, 1:3]
            assert i not in peers and np.all(peers >= 0) and np.all(named[i, 3:] == -1)
            # the named peers are the two nearest, nearest first, and their tokens sit there
            np.testing.assert_array_equal(d2[i, peers], np.sort(d2[i])[:2])
            np.testing.assert_allclose(ent[i, 1:3, 2:4] * REL_SCALE, robots[peers] - robots[i])
        shelves = ent[:, 3:5]  # nearest requested shelves: the shelf flag, sorted by distance
        assert np.all(shelves[..., 11] == 1) and np.all(shelves[..., 9] == 1)
        dist = np.hypot(*np.moveaxis(shelves[..., 2:4], -1, 0))
        assert np.all(dist[:, 0] <= dist[:, 1])
        assert np.all(ent[:, 5:7, 12] == 1)  # the two goals


def test_one_policy_size_for_every_layout_and_team():
    sizes = {
        make(name).spec.num_entities
        for name in (
            "rware:tiny-4ag,sense=2",
            "rware:large-16ag,sense=2",
            "rware:5x11-64ag,sense=2",
        )
    }
    assert sizes == {7}


@pytest.mark.parametrize(("rows", "cols"), [(5, 11), (2, 5)])
def test_grid_layouts_match_the_original_rware(rows, cols):
    original = Warehouse(
        shelf_columns=cols, column_height=8, shelf_rows=rows, n_agents=2, msg_bits=0,
        sensor_range=1, request_queue_size=2, max_inactivity_steps=None, max_steps=10,
        reward_type=RewardType.INDIVIDUAL,
    )  # fmt: skip
    env = make(f"rware:{rows}x{cols}-2ag")
    assert (env.height, env.width) == original.grid_size
    goals = sorted((row, col) for col, row in original.goals)  # the original keeps (x, y)
    assert [tuple(g) for g in env._goals_np.tolist()] == goals
    assert np.array_equal(env._highways_np, original.highways.astype(bool))
    assert env.num_shelves == int((original.highways == 0).sum())  # a shelf on every other cell


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("rware:tiny-4ag,sense=0", "sense=0"),
        ("rware:tiny-4ag,sense=5", "sense=5"),
        ("rware:tiny-4ag,sense=two", "'two'"),
        ("rware:0x3-4ag", "'0x3'"),
        ("rware:3y4-4ag", "'3y4'"),
        ("rware:2x4-4ag", "'2x4'"),
    ],
)
def test_bad_sensing_and_grids_are_refused_naming_the_value(name, needle):
    with pytest.raises(ConfigError) as err:
        make(name)
    assert needle in str(err.value)
