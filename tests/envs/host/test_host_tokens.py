"""Raw host batches as ``TimeStep``s: flat chunk tokens, grid cell tokens, absent agents' masks,
the spec, and the API invariants of ``envs.check``. Batches come from ``worker.Copies`` in
process (the same code a worker runs), so no process is started here."""

import dataclasses
import types

import jax
import numpy as np
import pytest

from diamond_marl.envs.check import check_timestep
from diamond_marl.envs.host import HostInfo, host_spec, timestep_fn, to_timestep, token_shape
from diamond_marl.envs.host.names import parse_pz_name
from diamond_marl.envs.host.worker import Copies
from diamond_marl.envs.tokens import chunk_shape, chunk_tokens
from diamond_marl.envs.types import EntityKind
from diamond_marl.errors import ConfigError

TOY = "pz:diamond_marl.envs.host.toy"


def rollout(name, num_envs=3, steps=6, seed=0):
    """The info and the raw batches (reset, then ``steps`` steps) of ``num_envs`` copies."""
    spec = parse_pz_name(name)
    copies = Copies(spec.to_wire(), range(num_envs), seed)
    info = copies.adapters[0].info()
    for key in ("agents", "obs_shape", "obs_sizes"):
        info[key] = tuple(info[key])
    info = HostInfo(**info, success_metric=spec.success_metric, cells=spec.cells or 0)
    rng = np.random.default_rng(seed)
    raws = [copies.reset()]
    for _ in range(steps):
        mask = raws[-1]["action_mask"]
        actions = np.argmax(rng.random(mask.shape) * mask, axis=-1)  # a random valid action
        raws.append(copies.step(actions))
    return info, spec, raws


def check(info, spec, ts, batch):
    env = types.SimpleNamespace(spec=host_spec(info, spec.name))
    assert check_timestep(env, ts, batch) == []


def test_flat_tokens_are_chunk_tokens_with_absent_agents_masked():
    info, spec, raws = rollout(f"{TOY}:parallel_env,late=1,leave=0.3")
    assert info.tokens == "flat" and token_shape(info) == chunk_shape(13) == (2, 10)
    jitted = timestep_fn(info)
    for raw in raws:
        ts = to_timestep(info, raw)
        check(info, spec, ts, (3,))
        for b in range(3):
            want = chunk_tokens(raw["obs"][b])
            assert np.array_equal(ts.entities[b], want["entities"])
            alive = raw["alive"][b]
            mask = np.asarray(want["entity_mask"]) & (alive[:, None] | (np.arange(2) == 0))
            assert np.array_equal(ts.entity_mask[b], mask)
        assert np.array_equal(ts.reward, raw["reward"]) and np.array_equal(ts.state, raw["state"])
        assert ts.extras["episode_length"].dtype == np.int32
        same = jax.tree.map(np.array_equal, jitted(raw), ts)
        assert all(jax.tree.leaves(same))
    assert any(not raw["alive"].all() for raw in raws)  # absent agents did occur


def test_flat_tokens_mask_chunks_in_padding():
    info, spec, raws = rollout("pz:mpe2.simple_adversary_v3,continuous_actions=false", 2, 2)
    assert info.obs_sizes == (8, 10, 10) and token_shape(info) == (2, 10)
    ts = to_timestep(info, raws[-1])
    assert ts.entity_mask[:, 0].tolist() == [[True, False]] * 2  # adversary: 8 values, 1 chunk
    assert ts.entity_mask[:, 1:].all()
    check(info, spec, ts, (2,))


@pytest.mark.parametrize("view, last", [(3, "false"), (4, "true")])
def test_grid_tokens_one_per_cell_centre_first(view, last):
    name = f"{TOY}:grid_env,view={view},channels=3,channels_last={last},late=1,leave=0.3"
    info, spec, raws = rollout(name)
    assert info.tokens == "grid" and info.obs_shape == (3, view, view)
    e, f = token_shape(info)
    assert (e, f) == (view * view, 5)
    centre = view // 2
    cells = [(centre, centre)] + [
        (r, c) for r in range(view) for c in range(view) if (r, c) != (centre, centre)
    ]
    for raw in raws:
        ts = to_timestep(info, raw)
        check(info, spec, ts, (3,))
        assert ts.obs.shape == (3, 3, 3 * view * view)
        for k, (r, c) in enumerate(cells):
            assert np.array_equal(ts.entities[:, :, k, :3], raw["obs"][:, :, :, r, c])
            offsets = [(r - centre) / centre, (c - centre) / centre]
            assert np.allclose(ts.entities[:, :, k, 3:], offsets)
        assert np.abs(np.asarray(ts.entities[..., 3:])).max() <= 1.0
        kinds = np.asarray(ts.entity_kind)
        assert (kinds[..., 0] == EntityKind.SELF).all()
        assert (kinds[..., 1:] == EntityKind.TASK).all()
        assert (np.asarray(ts.entity_agent)[..., 1:] == -1).all()
        alive = raw["alive"]
        assert np.array_equal(ts.entity_mask[..., 1:], np.repeat(alive[..., None], e - 1, -1))
        assert ts.entity_mask[..., 0].all()
        assert (ts.entities[..., 0, 0] == alive).all()  # channel 0 marks the centre cell


def test_spec_facts_and_unknown_episode_limit():
    info, spec, _ = rollout(f"{TOY}:grid_env,success=metrics.coordinated", 1, 0)
    es = host_spec(info, spec.name)
    assert (es.num_agents, es.num_actions, es.obs_dim, es.state_dim) == (3, 3, 18, 3)
    assert (es.num_entities, es.entity_dim, es.max_steps) == (9, 4, 8)
    assert es.action_entity == (-1, -1, -1) and es.success_metric == "success_rate"
    with pytest.raises(ConfigError, match="steps=<T>"):
        host_spec(info.__class__(**{**info.__dict__, "max_steps": 0}), spec.name)


def test_grid_cells_keep_the_nearest_non_empty_ones():
    info, spec, raws = rollout(f"{TOY}:grid_env,view=5,channels=2,cells=6", steps=1)
    assert info.cells == 6 and token_shape(info) == (7, 4)
    raw = dict(raws[-1])
    obs = raw["obs"].copy()  # (B, N, 2, 5, 5)
    obs[:, :, :, 2, 3] = 0  # an empty cell next to the centre
    obs[:, :, :, 0, :] = 0  # and an empty top row
    raw["obs"] = obs
    full = to_timestep(dataclasses.replace(info, cells=0), raw)
    ts = to_timestep(info, raw)
    check(info, spec, ts, (3,))
    for b in range(3):
        for i in range(3):
            others = np.asarray(full.entities[b, i, 1:])
            filled = np.flatnonzero(np.abs(others[:, :2]).sum(-1) > 0)
            dist = np.hypot(*others[filled, 2:].T)
            keep = filled[np.argsort(dist, kind="stable")][:6]  # nearest, ties row-major
            np.testing.assert_array_equal(ts.entities[b, i, 1 : 1 + len(keep)], others[keep])
            np.testing.assert_array_equal(ts.entities[b, i, 0], full.entities[b, i, 0])
            seen = np.asarray(ts.entity_mask[b, i, 1:])
            assert (seen[: len(keep)] == raw["alive"][b, i]).all()  # the kept cells are seen
            assert not seen[len(keep) :].any()  # fewer non-empty cells: the rest is masked


@pytest.mark.parametrize("cells", [0, 8])
def test_grid_cells_name_the_agent_standing_there(cells):
    name = f"{TOY}:grid_env,leave=0,name_cells=true" + (f",cells={cells}" if cells else "")
    info, spec, raws = rollout(name, steps=2)
    for raw in raws:
        assert raw["view_agents"].shape == (3, 3, 3, 3)  # (B, N, H, W)
        ts = to_timestep(info, raw)
        check(info, spec, ts, (3,))
        agent = np.asarray(ts.entity_agent)  # (B, N, E)
        assert (agent[:, :, 0] == np.arange(3)).all()  # the centre is the agent itself
        for i in range(3):
            # the top-left cell holds agent i + 1: its token names it, and no other does
            assert ((agent[:, i, 1:] == (i + 1) % 3).sum(-1) == 1).all()
            assert ((agent[:, i, 1:] == -1).sum(-1) == agent.shape[-1] - 2).all()
        assert (
            (np.asarray(ts.entity_kind)[:, :, 1:] == EntityKind.PEER) == (agent[:, :, 1:] >= 0)
        ).all()
    unnamed = rollout(f"{TOY}:grid_env,leave=0", steps=0)[2][0]  # the env names nobody
    assert (unnamed["view_agents"] == -1).all()
    assert (np.asarray(to_timestep(info, unnamed).entity_agent)[:, :, 1:] == -1).all()
