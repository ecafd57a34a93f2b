"""SMAX adapter: reproduces jaxmarl's HeuristicEnemySMAX, token layout, masks, episode ends."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import EntityKind, make
from diamond_marl.envs.check import check_timestep, random_actions
from diamond_marl.envs.smax import ENTITY_DIM, SmaxEnv
from diamond_marl.errors import ConfigError

STEPS = 30
SIGHT = 9.0  # marine sight range in SMAX


def _side_by_side(env: SmaxEnv, steps: int):
    """Jitted key -> per-step outputs of the adapter and the raw jaxmarl env on the same actions."""
    raw = env._env

    def run(key):
        state, ts = env.reset(key)
        carried, reset_key = jax.random.split(key)  # the adapter's key discipline
        raw_obs, raw_state = raw.reset(reset_key)
        first = {
            "obs": ts.obs,
            "raw_obs": jnp.stack([raw_obs[a] for a in raw.agents]),
            "state": ts.state,
            "raw_state": raw_obs["world_state"],
        }

        def body(carry, act_key):
            state, ts, raw_state, carried = carry
            actions = random_actions(act_key, ts.action_mask)  # (N,)
            state, ts = env.step(state, actions)
            carried, step_key = jax.random.split(carried)
            act = {a: actions[i] for i, a in enumerate(raw.agents)}
            raw_obs, raw_state, raw_rew, raw_done, _ = raw.step_env(step_key, raw_state, act)
            avail = raw.get_avail_actions(raw_state)
            out = {
                "ts": ts,
                "actions": actions,
                "raw_obs": jnp.stack([raw_obs[a] for a in raw.agents]),
                "raw_state": raw_obs["world_state"],
                "raw_reward": jnp.stack([raw_rew[a] for a in raw.agents]),
                "raw_done": raw_done["__all__"],
                "raw_avail": jnp.stack([avail[a] for a in raw.agents]),
                "positions": state.env_state.state.unit_positions,
                "alive": state.env_state.state.unit_alive,
            }
            return (state, ts, raw_state, carried), out

        keys = jax.random.split(jax.random.fold_in(key, 1), steps)
        _, traj = jax.lax.scan(body, (state, ts, raw_state, carried), keys)
        return first, traj

    return jax.jit(run)


@pytest.fixture(scope="module")
def env3() -> SmaxEnv:
    return make("smax:3m")


@pytest.fixture(scope="module")
def traj3(env3):
    first, traj = _side_by_side(env3, STEPS)(jax.random.PRNGKey(7))
    return jax.tree.map(np.asarray, (first, traj))


@pytest.fixture(scope="module")
def step3(env3):
    return jax.jit(env3.step)


def test_spec_and_token_sizes_do_not_depend_on_team_size(env3):
    big = make("smax:5m_vs_6m")
    s3, s5 = env3.spec, big.spec
    assert (s3.num_agents, s3.num_actions, s3.num_entities) == (3, 8, 6)
    assert (s5.num_agents, s5.num_actions, s5.num_entities) == (5, 11, 11)
    assert s3.entity_dim == s5.entity_dim == ENTITY_DIM == 15
    assert s3.action_entity == (-1, -1, -1, -1, -1, 3, 4, 5)
    assert s5.action_entity == (-1,) * 5 + tuple(range(5, 11))
    assert s3.name == "smax:3m" and s3.success_metric == "win_rate" and s3.team_reward
    assert s3.max_steps == 100
    assert make("smax:3m,max_steps=7").spec.name == "smax:3m,max_steps=7"


def test_reproduces_raw_heuristic_smax(env3, traj3):
    first, traj = traj3
    ts = traj["ts"]
    np.testing.assert_array_equal(first["obs"], first["raw_obs"])
    np.testing.assert_array_equal(first["state"], first["raw_state"])
    np.testing.assert_array_equal(ts.obs, traj["raw_obs"])
    np.testing.assert_array_equal(ts.state, traj["raw_state"])
    np.testing.assert_array_equal(ts.reward, traj["raw_reward"])
    np.testing.assert_array_equal(ts.done, traj["raw_done"])
    np.testing.assert_array_equal(ts.action_mask, traj["raw_avail"].astype(bool))
    # one team reward, replicated; the rollout saw some damage and an episode end
    np.testing.assert_array_equal(ts.reward, np.repeat(ts.reward[:, :1], 3, axis=1))
    assert ts.reward.max() > 0 and ts.done.any()
    assert check_timestep(env3, ts, (STEPS,)) == []


def test_token_layout(env3, traj3):
    _, traj = traj3
    ts, pos, alive = traj["ts"], traj["positions"], traj["alive"]  # (T, ...)
    n, m = 3, 3
    kinds = [EntityKind.SELF, EntityKind.PEER, EntityKind.PEER] + [EntityKind.ENEMY] * m
    np.testing.assert_array_equal(ts.entity_kind[0], np.tile(kinds, (n, 1)))
    np.testing.assert_array_equal(
        ts.entity_agent[0], [[0, 1, 2, -1, -1, -1], [1, 0, 2, -1, -1, -1], [2, 0, 1, -1, -1, -1]]
    )
    ent, mask = ts.entities, ts.entity_mask  # (T, N, E, F), (T, N, E)
    # SELF: own health, zero relative position, absolute position / map size (32)
    own = ts.obs[..., -10:]
    np.testing.assert_array_equal(ent[:, :, 0, 0], own[..., 0])
    np.testing.assert_allclose(ent[:, :, 0, 13:15] * 32, pos[:, :n] * alive[:, :n, None], atol=1e-4)
    assert np.all(ent[:, :, 0, 1:6] == 0) and np.all(mask[:, :, 0])
    # others: present exactly where SMAX shows a (living, visible) unit, zeros elsewhere
    np.testing.assert_array_equal(mask[..., 1:], ent[..., 1:, 0] > 0)
    assert np.all(ent[..., 1:, 13:] == 0)
    assert np.all(np.where(mask[..., None], 0, ent)[..., 1:, :] == 0)
    # token N + k is enemy k: relative position matches the game state
    for k in range(m):
        rel = (pos[:, n + k][:, None] - pos[:, :n]) / SIGHT  # (T, N, 2)
        seen = mask[:, :, n + k]
        np.testing.assert_allclose(ent[:, :, n + k, 1:3][seen], rel[seen], atol=1e-5)
    # ... so attack action 5 + k (available only in range) points at a visible token
    attack = ts.action_mask[..., 5:]  # (T, N, M)
    assert attack.any(), "the rollout never brought an enemy into range"
    assert np.all(mask[..., n:][attack])
    # peers in ascending ally order
    rel_peer = (pos[:, 2] - pos[:, 0]) / SIGHT
    seen = mask[:, 0, 2]
    np.testing.assert_allclose(ent[:, 0, 2, 1:3][seen], rel_peer[seen], atol=1e-5)


def _kill(env, state, units, health=0.0):
    game = state.env_state.state
    game = game.replace(unit_health=game.unit_health.at[jnp.asarray(units)].set(health))
    return state.replace(env_state=state.env_state.replace(state=game))


def test_dead_units_are_masked(env3, step3):
    state, _ = env3.reset(jax.random.PRNGKey(3))
    state = _kill(env3, state, [1, 3])  # ally 1 and enemy 0 (unit 3)
    stop = jnp.full((3,), 4, jnp.int32)
    state, ts = step3(state, stop)
    mask = np.asarray(ts.entity_mask)
    assert not mask[1, 1:].any(), "a dead agent sees nothing but itself"
    assert mask[1, 0] and not np.asarray(ts.entities[1]).any()
    assert not mask[0, 1] and not mask[2, 2], "the dead ally's peer token (ally 1)"
    assert not mask[:, 3].any(), "the dead enemy's token"
    assert not np.asarray(ts.action_mask[:, 5]).any()
    np.testing.assert_array_equal(np.asarray(ts.action_mask[1]), np.eye(8)[4].astype(bool))
    assert not ts.done


def test_win_draw_and_time_limit(env3, step3):
    stop = jnp.full((3,), 4, jnp.int32)
    state, _ = env3.reset(jax.random.PRNGKey(4))
    _, ts = step3(_kill(env3, state, [3, 4, 5]), stop)
    assert ts.terminated and not ts.truncated and float(ts.extras["won"]) == 1.0
    assert float(ts.reward[0]) >= 1.0  # jaxmarl's win bonus
    _, ts = step3(_kill(env3, state, [0, 1, 2, 3, 4, 5]), stop)
    assert ts.terminated and not ts.truncated and float(ts.extras["won"]) == 0.0  # a draw
    short = make("smax:3m,max_steps=2")
    state, ts = short.reset(jax.random.PRNGKey(4))
    assert not ts.done and ts.extras.keys() == {"won"}
    step = jax.jit(short.step)
    state, ts = step(state, stop)
    assert not ts.done
    state, ts = step(state, stop)
    assert ts.truncated and not ts.terminated and float(ts.extras["won"]) == 0.0


def test_step_does_not_retrace(env3):
    traces = []

    @jax.jit
    def step(state, actions):
        traces.append(1)
        return env3.step(state, actions)

    state, ts = env3.reset(jax.random.PRNGKey(0))  # jaxmarl's reset state has weak types
    for i in range(2):
        state, ts = step(state, random_actions(jax.random.PRNGKey(i), ts.action_mask))
    assert len(traces) == 1


def test_jit_and_vmap_over_keys():
    env = make("smax:5m_vs_6m")

    @jax.jit
    def run(keys):
        state, ts = jax.vmap(env.reset)(keys)
        state, ts = jax.vmap(env.step)(state, random_actions(keys[0], ts.action_mask))
        return ts

    ts = run(jax.random.split(jax.random.PRNGKey(0), 2))
    assert check_timestep(env, ts, (2,)) == []
    assert ts.entities.shape == (2, 5, 11, ENTITY_DIM)
    assert not np.array_equal(np.asarray(ts.obs[0]), np.asarray(ts.obs[1]))


@pytest.mark.parametrize(
    "name, needle",
    [
        ("smax:nope", "nope"),
        ("smax:3m,foo=1", "foo"),
        ("smax:3m,max_steps=0", "max_steps"),
        ("smax", "smax"),
        ("smax:", "3m"),
    ],
)
def test_bad_names(name, needle):
    with pytest.raises(ConfigError, match=needle):
        make(name)
