"""Local sensing and arena density on ``mpe:spread``: a fixed number of tokens per agent,
the nearest ones, named by ``entity_agent``; without the options nothing changes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import make, mpe, sensing
from diamond_marl.envs.check import symmetric_share
from diamond_marl.envs.sensing import nearest
from diamond_marl.errors import ConfigError

KEY = jax.random.PRNGKey(3)


def _rollout(name: str, steps: int = 5):
    env = make(name)
    state, ts = env.reset(KEY)
    out = [ts]
    for t in range(steps):
        actions = jax.random.randint(jax.random.fold_in(KEY, t), (env.spec.num_agents,), 0, 5)
        state, ts = env.step(state, actions)
        out.append(ts)
    return env, state, out


def _sorted_tokens(ts, kinds):
    """Each agent's tokens of the given kinds as a set: rows sorted lexicographically."""
    ents, kind = np.asarray(ts.entities), np.asarray(ts.entity_kind)
    out = []
    for i in range(ents.shape[0]):
        rows = ents[i][np.isin(kind[i], kinds)]
        out.append(rows[np.lexsort(rows.T[::-1])])
    return out


def test_seeing_everyone_gives_todays_tokens_up_to_order():
    _, _, full = _rollout("mpe:spread,n=4")
    env, _, local = _rollout("mpe:spread,n=4,sense=4")
    assert env.spec.num_entities == 1 + 3 + 4
    for a, b in zip(full, local, strict=True):
        np.testing.assert_array_equal(a.entities[:, 0], b.entities[:, 0])  # self token
        for x, y in zip(_sorted_tokens(a, (1,)), _sorted_tokens(b, (1,)), strict=True):  # peers
            np.testing.assert_array_equal(x, y)
        for x, y in zip(_sorted_tokens(a, (3,)), _sorted_tokens(b, (3,)), strict=True):  # landmarks
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.reward, b.reward)
        assert set(map(tuple, np.sort(a.entity_agent, 1))) == set(
            map(tuple, np.sort(b.entity_agent, 1))
        )


def test_sense_k_sees_the_k_nearest_and_names_them():
    env, state, steps = _rollout("mpe:spread,n=7,sense=2")
    ts = steps[-1]
    assert env.spec.num_entities == 5 and ts.entities.shape == (7, 5, 6)
    assert ts.obs.shape == (7, 5 * 6)
    pos = np.asarray(state.agent_pos)
    agent = np.asarray(ts.entity_agent)
    kind = np.asarray(ts.entity_kind)
    np.testing.assert_array_equal(agent[:, 0], np.arange(7))
    assert (agent[:, 3:] == -1).all() and (kind[:, 1:3] == 1).all()
    for i in range(7):
        d = np.linalg.norm(pos - pos[i], axis=1)
        d[i] = np.inf
        np.testing.assert_array_equal(np.sort(agent[i, 1:3]), np.sort(np.argsort(d)[:2]))
        # entity_agent names the peer whose relative position the token holds
        rel = pos[agent[i, 1:3]] - pos[i]
        np.testing.assert_allclose(ts.entities[i, 1:3, :2], rel, atol=1e-6)
        assert np.linalg.norm(ts.entities[i, 1, :2]) <= np.linalg.norm(ts.entities[i, 2, :2])


def test_nearest_breaks_ties_by_index():
    points = jnp.zeros((3, 2))  # three agents at one point
    idx, rel = nearest(points, points, 2, exclude_self=True)
    np.testing.assert_array_equal(idx, [[1, 2], [0, 2], [0, 1]])
    assert not np.asarray(rel).any()


def test_row_blocks_give_the_one_block_answer(monkeypatch):
    """Past ``BLOCK`` origins the pairwise work runs in blocks (memory linear in N): padded
    blocks, self-exclusion by index and the joined outputs agree with one block (to float
    rounding: XLA fuses a block's arithmetic differently, 1 ulp on the contact forces)."""
    pos = jax.random.uniform(KEY, (11, 2), minval=-1.0, maxval=1.0).at[3].set(0.0).at[7].set(0.0)
    marks = jax.random.uniform(jax.random.fold_in(KEY, 1), (5, 2), minval=-1.0, maxval=1.0)
    parts = (
        lambda: mpe.contact_force(pos),
        lambda: mpe.overlaps(pos),
        lambda: mpe.nearest_agent(pos, marks),
        lambda: nearest(pos, pos, 3, exclude_self=True),
        lambda: nearest(pos, marks, 2),
    )
    whole = [f() for f in parts]
    monkeypatch.setattr(sensing, "BLOCK", 4)  # 11 origins: blocks of 4, 4 and 3 + 1 padding
    for f, one in zip(parts, whole, strict=True):
        for got, want in zip(jax.tree.leaves(f()), jax.tree.leaves(one), strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_density_grows_the_arena_and_keeps_the_self_token_in_unit_range():
    env = make("mpe:spread,n=400,sense=4,density=0.75")
    assert env.half == pytest.approx(np.sqrt(400 / 0.75) / 2)
    state, ts = env.reset(KEY)
    pos = np.asarray(state.agent_pos)
    assert np.abs(pos).max() <= env.half and np.abs(pos).max() > 5
    assert np.abs(np.asarray(ts.entities[:, 0, 4:])).max() <= 1.0


@pytest.mark.parametrize(
    "name, named",
    [
        ("mpe:spread,n=4,sense=0", "sense=0"),
        ("mpe:spread,n=4,sense=9", "sense=9"),
        ("mpe:spread,n=4,density=-1", "density=-1"),
        ("mpe:spread,n=4,density=0", "density=0"),
        ("mpe:spread,n=4,group=0", "group=0"),
        ("mpe:spread,n=4,group=5", "group=5"),
        ("mpe:spread,n=100000000,sense=4", "n=100000000: one step .* would hold about"),
    ],
)
def test_impossible_sensing_is_refused_naming_the_value(name, named):
    with pytest.raises(ConfigError, match=named):
        make(name)


def test_groups_start_together_and_see_the_same():
    """``group=G``: agents 0-2, 3-5, 6 share start points; with local sensing the members of
    a group see exactly the same tokens (the local trap), other agents do not."""
    env = make("mpe:spread,n=7,sense=3,density=0.75,group=3")
    state, ts = env.reset(KEY)
    pos, ent = np.asarray(state.agent_pos), np.asarray(ts.entities)
    for members in ((0, 1, 2), (3, 4, 5)):
        assert (pos[list(members)] == pos[members[0]]).all()
        assert (ent[list(members)] == ent[members[0]]).all()
    assert len({tuple(p) for p in pos}) == 3
    assert symmetric_share(ts.obs[None], ts.action_mask[None]) == 1.0
    assert np.array_equal(_rollout("mpe:spread,n=4,group=1")[1].agent_pos,
                          _rollout("mpe:spread,n=4")[1].agent_pos)  # fmt: skip
