"""MPE cooperative navigation (``mpe:spread``): faithful to jaxmarl, tokens of a fixed width."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diamond_marl.envs import EntityKind, make
from diamond_marl.envs.check import check_timestep, env_check, random_actions, symmetric_share
from diamond_marl.envs.jaxmarl_env import quiet_import_jaxmarl, strong_types
from diamond_marl.envs.mpe import COVER_DISTANCE, ENTITY_DIM, MpeSpread, MpeState, contact_force
from diamond_marl.errors import ConfigError

STEPS = 30  # longer than an episode (26 steps): jaxmarl keeps stepping, so do we
ENVS = 16


def _jaxmarl(n: int, m: int):
    quiet_import_jaxmarl()
    import jaxmarl
    from jaxmarl.environments.mpe.simple_spread import SimpleSpreadMPE

    if (n, m) == (3, 3):
        return jaxmarl.make("MPE_simple_spread_v3")
    return SimpleSpreadMPE(num_agents=n, num_landmarks=m)


def _side_by_side(env: MpeSpread, raw, steps: int):
    """Both envs' per-step outputs on the same reset keys and random actions, ``ENVS``
    environments side by side (one jitted step each, looped in Python: quick to compile)."""
    agents = raw.agents

    @jax.jit
    def reset(keys):
        state, ts = jax.vmap(env.reset)(keys)
        raw_obs, raw_state = jax.vmap(raw.reset)(keys)
        raw_obs = jnp.stack([raw_obs[a] for a in agents], axis=1)
        return state, ts, strong_types(raw_state), (ts.obs, raw_obs)

    @jax.jit
    def step(state, ts, raw_state, key):
        actions = random_actions(key, ts.action_mask)  # (B, N)
        state, ts = jax.vmap(env.step)(state, actions)
        act = {a: actions[:, i] for i, a in enumerate(agents)}
        step_keys = jax.random.split(key, ENVS)
        raw_obs, raw_state, rew, done, _ = jax.vmap(raw.step_env)(step_keys, raw_state, act)
        out = {
            "ts": ts,
            "pos": state.agent_pos,
            "vel": state.agent_vel,
            "raw_pos": raw_state.p_pos[:, : env.n],
            "raw_vel": raw_state.p_vel[:, : env.n],
            "raw_obs": jnp.stack([raw_obs[a] for a in agents], axis=1),
            "raw_reward": jnp.stack([rew[a] for a in agents], axis=1),
            "raw_done": done["__all__"],
        }
        return state, ts, strong_types(raw_state), out

    state, ts, raw_state, first = reset(jax.random.split(jax.random.PRNGKey(7), ENVS))
    outs = []
    for key in jax.random.split(jax.random.PRNGKey(8), steps):
        state, ts, raw_state, out = step(state, ts, raw_state, key)
        outs.append(out)
    traj = jax.tree.map(lambda *x: np.stack(x, axis=1), *outs)  # (ENVS, steps, ...)
    return jax.tree.map(np.asarray, first), traj


def _assert_same(env: MpeSpread, first, traj) -> None:
    # Summing contact forces in another order changes the last bit, and stiff contacts
    # (force slope ~1e5 per unit of overlap) amplify it: ~1e-6 at n=3, ~3e-5 at n=5 by step 30.
    close = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(first[0], first[1])  # the same reset draws
    np.testing.assert_allclose(traj["pos"], traj["raw_pos"], **close)
    np.testing.assert_allclose(traj["vel"], traj["raw_vel"], **close)
    np.testing.assert_allclose(traj["ts"].obs, traj["raw_obs"], **close)
    np.testing.assert_allclose(traj["ts"].reward, traj["raw_reward"], **close)
    np.testing.assert_array_equal(traj["ts"].done, traj["raw_done"])
    assert check_timestep(env, traj["ts"], (ENVS, STEPS)) == []


@pytest.fixture(scope="module")
def spread3() -> MpeSpread:
    return make("mpe:spread,n=3")


@pytest.fixture(scope="module")
def step3(spread3):
    return jax.jit(spread3.step)


def test_matches_jaxmarl_simple_spread_v3(spread3):
    first, traj = _side_by_side(spread3, _jaxmarl(3, 3), STEPS)
    _assert_same(spread3, first, traj)
    ts = traj["ts"]
    # jaxmarl's episode lasts max_steps + 1 = 26 steps and ends by the time limit
    assert spread3.spec.max_steps == 26
    assert np.all(np.argmax(np.asarray(ts.done), axis=1) + 1 == 26)
    assert ts.truncated[:, 25].all() and not ts.terminated.any()
    # the rewards included collision penalties: the contact physics was exercised
    global_part = ts.reward.max(axis=-1, keepdims=True)
    assert np.any(ts.reward < global_part - 0.25)


def test_matches_jaxmarl_at_other_team_and_landmark_counts():
    env = make("mpe:spread,n=5,landmarks=2")
    assert (env.n, env.m, env.spec.name) == (5, 2, "mpe:spread,n=5,landmarks=2")
    first, traj = _side_by_side(env, _jaxmarl(5, 2), STEPS)
    _assert_same(env, first, traj)


def test_contact_forces_match_jaxmarl_when_agents_overlap(step3):
    raw = _jaxmarl(3, 3)
    from jaxmarl.environments.mpe.simple import State

    pos = jnp.array([[0.0, 0.0], [0.1, 0.05], [-0.05, 0.2]])  # all three overlap
    marks = jnp.array([[0.5, 0.5], [-0.5, 0.5], [0.0, -0.5]])
    vel = jnp.array([[0.1, 0.0], [0.0, -0.2], [0.3, 0.1]])
    state = MpeState(pos, vel, marks, jnp.zeros((), jnp.int32))
    raw_state = State(
        p_pos=jnp.concatenate([pos, marks]),
        p_vel=jnp.concatenate([vel, jnp.zeros((3, 2))]),
        c=jnp.zeros((3, 2)),
        done=jnp.array(False),
        step=jnp.array(0),
    )
    actions = jnp.array([2, 0, 3])
    state, ts = step3(state, actions)
    _, raw_state, rew, _, _ = raw.step_env(
        jax.random.PRNGKey(0), raw_state, dict(zip(raw.agents, actions, strict=True))
    )
    np.testing.assert_allclose(state.agent_pos, raw_state.p_pos[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.agent_vel, raw_state.p_vel[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ts.reward, jnp.stack([rew[a] for a in raw.agents]), rtol=1e-6)
    assert float(jnp.abs(state.agent_vel - vel * 0.75).max()) > 1.0  # pushed hard apart


def test_agents_at_one_point_get_no_force_and_no_nan():
    force = contact_force(jnp.zeros((4, 2)))
    assert np.all(np.asarray(force) == 0)


def test_tokens_have_a_fixed_width_and_follow_the_positions():
    for n, m in [(2, 2), (3, 1), (8, 8), (20, 5)]:
        spec = make(f"mpe:spread,n={n},landmarks={m}").spec
        assert (spec.num_entities, spec.entity_dim, spec.num_actions) == (n + m, ENTITY_DIM, 5)
        assert (spec.obs_dim, spec.state_dim) == (4 * n + 2 * m, 4 * n + 2 * m + 1)
    n, m = 5, 3
    env = make(f"mpe:spread,n={n},landmarks={m}")
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(n))
    state, ts = jax.jit(env.step)(state, jnp.arange(n) % 5)
    pos, vel, marks = map(np.asarray, (state.agent_pos, state.agent_vel, state.landmark_pos))
    ent = np.asarray(ts.entities)  # (N, E, F)
    for i in range(n):
        peers = [j for j in range(n) if j != i]
        np.testing.assert_allclose(ent[i, 0], [0, 0, *vel[i], *pos[i]], atol=1e-7)
        np.testing.assert_allclose(ent[i, 1:n, :2], pos[peers] - pos[i], atol=1e-6)
        np.testing.assert_allclose(ent[i, n:, :2], marks - pos[i], atol=1e-6)
        assert not ent[i, 1:, 2:].any()
        assert list(ts.entity_agent[i]) == [i, *peers] + [-1] * m
    kinds = [EntityKind.SELF] + [EntityKind.PEER] * (n - 1) + [EntityKind.TASK] * m
    assert (np.asarray(ts.entity_kind) == kinds).all() and np.asarray(ts.entity_mask).all()
    np.testing.assert_allclose(
        ts.state, np.concatenate([pos.ravel(), vel.ravel(), marks.ravel(), [1 / 26]]), atol=1e-6
    )


def test_coverage_counts_landmarks_with_an_agent_closer_than_the_distance(spread3, step3):
    marks = jnp.array([[0.5, 0.5], [-0.5, 0.5], [0.0, -0.5]])
    near = marks + jnp.array([[0.0, COVER_DISTANCE * 0.9], [0.0, 0.0], [COVER_DISTANCE * 1.1, 0]])
    zero = jnp.zeros((3, 2))
    last = MpeState(near, zero, marks, jnp.asarray(25, jnp.int32))  # the next step is the last
    state, ts = step3(last, jnp.zeros(3, jnp.int32))
    assert bool(ts.truncated) and float(ts.extras["won"]) == pytest.approx(2 / 3)
    assert float(spread3.coverage(state)) == pytest.approx(2 / 3)
    early = MpeState(marks, zero, marks, jnp.asarray(3, jnp.int32))
    _, ts = step3(early, jnp.zeros(3, jnp.int32))
    assert float(spread3.coverage(early)) == 1.0
    assert not bool(ts.done) and float(ts.extras["won"]) == 0.0  # only on the final step


def test_spawn_radius_is_a_symmetry_dial():
    together = make("mpe:spread,n=4,spawn=0")
    assert together.spec.name == "mpe:spread,n=4,spawn=0"
    state, ts = jax.jit(together.reset)(jax.random.PRNGKey(0))
    obs = np.asarray(ts.obs)
    assert (obs == obs[0]).all()  # every agent sees exactly the same thing
    pos = np.asarray(state.agent_pos)
    assert (pos == pos[0]).all() and np.all(np.abs(pos) <= 1)
    close = make("mpe:spread,n=5,spawn=0.25")
    states, _ = jax.vmap(close.reset)(jax.random.split(jax.random.PRNGKey(1), 64))
    pos = np.asarray(states.agent_pos)  # (64, N, 2)
    apart = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1)  # (64, N, N)
    assert apart.max() <= 0.5 + 1e-6 and apart.max() > 0.3  # within one disc of radius 0.25
    with pytest.raises(ConfigError, match="spawn=-0.1 is impossible; allowed: finite spawn"):
        make("mpe:spread,n=3,spawn=-0.1")
    with pytest.raises(ConfigError, match="spawn='wide' is not a number"):
        make("mpe:spread,n=3,spawn=wide")
    with pytest.raises(ConfigError, match="spawn=inf is impossible"):
        make("mpe:spread,n=3,spawn=inf")


def test_tie_is_the_share_of_starts_that_trap_a_deterministic_policy():
    """``tie=p``: a start has every agent at one point (identical observations) with
    probability p, else the usual draw; env-check's ``tied_starts`` reads the dial back."""
    for p, share in ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0)):
        env = make(f"mpe:spread,n=3,tie={p:g}")
        assert env.spec.name == f"mpe:spread,n=3,tie={p:g}"
        _, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(2), 400))
        obs = np.asarray(ts.obs)  # (400, N, O)
        tied = (obs == obs[:, :1]).all(axis=(1, 2))  # every agent sees what agent 0 sees
        apart = (obs[:, 0] != obs[:, 1]).any(-1) & (obs[:, 0] != obs[:, 2]).any(-1)
        assert (tied | apart).all()  # a start is either tied for all or for none
        assert tied.mean() == pytest.approx(share, abs=0.07)
        assert symmetric_share(ts.obs, ts.action_mask) == tied.mean()
    # a tie stays a tie while every agent does the same: no force between agents at one point
    env = make("mpe:spread,n=3,tie=1")
    state, _ = env.reset(jax.random.PRNGKey(3))
    for action in (4, 4, 1, 0, 2):
        state, ts = env.step(state, jnp.full(3, action, jnp.int32))
    obs = np.asarray(ts.obs)
    assert (obs == obs[0]).all()
    report = env_check(env, num_envs=16, steps=2)
    assert report.tied_starts == 1.0 and not report.problems


@pytest.mark.parametrize(
    "name,needle",
    [
        ("mpe:spread,n=0", "n=0 is impossible; allowed: n >= 2"),
        ("mpe:spread,n=1", "n=1 is impossible; allowed: n >= 2"),
        ("mpe:spread,n=3,landmarks=-1", "landmarks=-1 is impossible; allowed: landmarks >= 1"),
        ("mpe:spread,n=3,landmarks=0", "landmarks=0 is impossible"),
        ("mpe:spread,n=x", "n='x' is not an integer"),
        ("mpe:spread,agents=3", "unknown parameter(s) agents; allowed: n, landmarks, spawn, tie"),
        ("mpe:spread,n=3,tie=1.5", "tie=1.5 is impossible; allowed: 0 <= tie <= 1"),
        ("mpe:spread,n=3,tie=-0.5", "tie=-0.5 is impossible; allowed: 0 <= tie <= 1"),
        ("mpe:spread,n=3,tie=nan", "tie=nan is impossible; allowed: 0 <= tie <= 1"),
        ("mpe:spread,n=3,tie=half", "tie='half' is not a number (allowed: 0 <= tie <= 1)"),
        ("mpe:tag", "unknown MPE task 'tag'; allowed: spread"),
        ("mpe:n=3", "mpe needs a task"),
    ],
)
def test_bad_names_say_what_is_allowed(name, needle):
    with pytest.raises(ConfigError, match=None) as err:
        make(name)
    assert needle in str(err.value)


def test_cli_rejects_an_impossible_team_before_writing_anything(tmp_path, capsys):
    from diamond_marl.cli import main

    out = tmp_path / "run"
    assert main(["train", "env=mpe:spread,n=0", f"out={out}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["diamond-marl: error: mpe:spread: n=0 is impossible; allowed: n >= 2"]
    assert not out.exists()


@pytest.mark.slow
def test_a_policy_trained_at_one_team_size_runs_at_others(tmp_path):
    from diamond_marl.algos.config import resolve
    from diamond_marl.algos.runner import train
    from diamond_marl.analysis.transfer import evaluate_transfer

    run = tmp_path / "rank"
    tiny = {
        "algo": "mappo",
        "env": "mpe:spread,n=3",
        "breaker": "rank",
        "steps": "64",
        "num_envs": "8",
        "ppo.rollout_len": "8",
        "net.hidden": "16",
        "net.heads": "2",
        "eval_episodes": "4",
        "out": str(run),
    }
    train(resolve(tiny), progress=False)
    moved = evaluate_transfer(run, ["mpe:spread,n=2", "mpe:spread,n=5,landmarks=4"], 4)
    assert [r["status"] for r in moved["rows"]] == ["trained here", "ok", "ok"]
    for row in moved["rows"]:
        assert row["success_metric"] == "coverage" and 0 <= row["success"] <= 1
        assert np.isfinite(row["return"])
    assert (run / "eval" / "mpe-spread_n5_landmarks4.json").exists()
