"""Generic jaxmarl adapter: reproduces the raw env, chunk tokens, padding, episode ends."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import EntityKind, make
from diamond_marl.envs.check import check_timestep, random_actions
from diamond_marl.envs.jaxmarl_env import JaxMarlEnv
from diamond_marl.errors import ConfigError

STEPS = 30  # longer than an MPE episode (26 steps)


def _side_by_side(env: JaxMarlEnv, steps: int):
    """Jitted key -> per-step outputs of the adapter and the raw jaxmarl env on the same actions."""
    raw, agents = env._env, env._agents

    def run(key):
        state, ts = env.reset(key)
        carried, reset_key = jax.random.split(key)  # the adapter's key discipline
        raw_obs, raw_state = raw.reset(reset_key)
        first = {"obs": ts.obs, "raw_obs": jnp.stack([raw_obs[a] for a in agents])}

        def body(carry, act_key):
            state, ts, raw_state, carried = carry
            actions = random_actions(act_key, ts.action_mask)  # (N,)
            state, ts = env.step(state, actions)
            carried, step_key = jax.random.split(carried)
            act = {a: actions[i] for i, a in enumerate(agents)}
            raw_obs, raw_state, raw_rew, raw_done, _ = raw.step_env(step_key, raw_state, act)
            out = {
                "ts": ts,
                "raw_obs": jnp.stack([raw_obs[a] for a in agents]),
                "raw_reward": jnp.stack([raw_rew[a] for a in agents]),
                "raw_done": raw_done["__all__"],
            }
            return (state, ts, raw_state, carried), out

        keys = jax.random.split(jax.random.fold_in(key, 1), steps)
        _, traj = jax.lax.scan(body, (state, ts, raw_state, carried), keys)
        return first, traj

    return jax.jit(run)


@pytest.fixture(scope="module")
def spread() -> JaxMarlEnv:
    return make("jaxmarl:MPE_simple_spread_v3")


@pytest.fixture(scope="module")
def spread_traj(spread):
    first, traj = _side_by_side(spread, STEPS)(jax.random.PRNGKey(3))
    return jax.tree.map(np.asarray, (first, traj))


def test_spread_spec(spread):
    s = spread.spec
    assert s.name == "jaxmarl:MPE_simple_spread_v3"
    assert (s.num_agents, s.num_actions, s.obs_dim) == (3, 5, 18)
    assert (s.num_entities, s.entity_dim) == (3, 8 + 3)  # ceil(18 / 8) chunks; C + E features
    assert s.state_dim == 3 * 18 and s.max_steps == 26
    assert s.action_entity == (-1,) * 5 and s.success_metric is None and not s.team_reward


def test_reproduces_raw_mpe(spread, spread_traj):
    first, traj = spread_traj
    ts = traj["ts"]
    np.testing.assert_array_equal(first["obs"], first["raw_obs"])
    np.testing.assert_array_equal(ts.obs, traj["raw_obs"])
    np.testing.assert_array_equal(ts.reward, traj["raw_reward"])
    np.testing.assert_array_equal(ts.done, traj["raw_done"])
    np.testing.assert_array_equal(ts.state, ts.obs.reshape(STEPS, -1))
    assert np.all(ts.action_mask) and np.all(ts.extras["won"] == 0)
    assert check_timestep(spread, ts, (STEPS,)) == []
    # jaxmarl's MPE ends after max_steps + 1 = 26 steps, by the time limit
    done_at = int(np.argmax(ts.done)) + 1
    assert done_at == spread.spec.max_steps == 26
    assert ts.truncated[done_at - 1] and not ts.terminated.any()


def test_chunk_tokens(spread, spread_traj):
    _, traj = spread_traj
    ts = traj["ts"]
    ent = ts.entities  # (T, N, E, F) with E = 3, F = 8 + 3
    padded = np.pad(ts.obs, ((0, 0), (0, 0), (0, 24 - 18))).reshape(STEPS, 3, 3, 8)
    np.testing.assert_array_equal(ent[..., :8], padded)
    np.testing.assert_array_equal(ent[..., 8:], np.broadcast_to(np.eye(3), ent[..., 8:].shape))
    kinds = [EntityKind.SELF, EntityKind.CHUNK, EntityKind.CHUNK]
    np.testing.assert_array_equal(ts.entity_kind[0], np.tile(kinds, (3, 1)))
    np.testing.assert_array_equal(ts.entity_agent[0], [[0, -1, -1], [1, -1, -1], [2, -1, -1]])
    assert ts.entity_mask.all()
    chunked = make("jaxmarl:MPE_simple_spread_v3,chunk=4").spec
    assert (chunked.name, chunked.num_entities, chunked.entity_dim) == (
        "jaxmarl:MPE_simple_spread_v3,chunk=4",
        5,
        4 + 5,
    )


def test_step_does_not_retrace(spread):
    traces = []

    @jax.jit
    def step(state, actions):
        traces.append(1)
        return spread.step(state, actions)

    state, ts = spread.reset(jax.random.PRNGKey(0))
    for i in range(2):  # MPE's done is weakly typed after step_env, not after reset
        state, ts = step(state, random_actions(jax.random.PRNGKey(i), ts.action_mask))
    assert len(traces) == 1


def test_heterogeneous_agents_are_padded():
    env = make("jaxmarl:MPE_simple_speaker_listener_v4")  # speaker: 3 actions, obs 3
    s = env.spec
    assert (s.num_actions, s.obs_dim, s.num_entities, s.state_dim) == (5, 11, 2, 3 + 11)
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    assert check_timestep(env, ts) == []
    np.testing.assert_array_equal(np.asarray(ts.action_mask), [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(np.asarray(ts.entity_mask), [[True, False], [True, True]])
    assert not np.asarray(ts.obs[0, 3:]).any()


def test_switch_riddle_terminates_and_wins_only_by_reward():
    env = make("jaxmarl:switch_riddle")
    assert env.spec.team_reward and env.spec.success_metric == "win_rate"
    state, ts = env.reset(jax.random.PRNGKey(0))
    tell = jnp.full((3,), 2, jnp.int32)  # whoever is in the room tells at once: wrong
    state, ts = jax.jit(env.step)(state, tell)
    assert ts.terminated and not ts.truncated
    assert float(ts.reward[0]) < 0 and float(ts.extras["won"]) == 0.0


@pytest.mark.parametrize(
    "name, needle",
    [
        ("jaxmarl:nope", "nope"),
        ("jaxmarl:MPE_simple_facmac_v1", "discrete"),
        ("jaxmarl:SMAX", "smax:"),
        ("jaxmarl:hanabi", "max_steps"),
        ("jaxmarl:MPE_simple_spread_v3,chunk=0", "chunk"),
        ("jaxmarl:MPE_simple_spread_v3,foo=1", "foo"),
        ("jaxmarl:", "MPE_simple_spread_v3"),
    ],
)
def test_bad_names(name, needle):
    with pytest.raises(ConfigError, match=needle):
        make(name)
