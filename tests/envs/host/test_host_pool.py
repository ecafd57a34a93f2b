"""The host pool end to end: worker processes, auto-reset, episode statistics, seeds, another
interpreter, failures (a worker that raises, dies or is interrupted) without orphans, bad
envs as one-line ``ConfigError``s, and mpe2's simple_spread as ``TimeStep``s."""

import gc
import os
import signal
import sys
import threading
import types

import numpy as np
import psutil
import pytest

from diamond_marl.envs.check import check_timestep
from diamond_marl.envs.host import HostEnvError, HostPool, host_spec, to_timestep
from diamond_marl.envs.tokens import chunk_shape
from diamond_marl.errors import ConfigError

TOY = "pz:diamond_marl.envs.host.toy:parallel_env"
NAME = f"{TOY},late=1,leave=0.15,success=metrics.coordinated"
STEPS = 40


def play(pool, steps=STEPS, seed=0):
    """Raw batches of a reset and ``steps`` steps of random valid actions (seeded)."""
    rng = np.random.default_rng(seed)
    raws = [pool.reset()]
    for _ in range(steps):
        mask = raws[-1]["action_mask"]
        raws.append(pool.step(np.argmax(rng.random(mask.shape) * mask, axis=-1)))
    return raws


def assert_gone(pids):
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    assert not children & set(pids)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.fixture(scope="module")
def toy_run():
    with HostPool(NAME, num_envs=4, workers=2, seed=3) as pool:
        yield pool, play(pool)
    assert_gone(pool.pids)


def test_batch_shapes_and_info(toy_run):
    pool, raws = toy_run
    info = pool.info()
    assert info.agents == ("agent_0", "agent_1", "agent_2") and info.num_actions == 3
    assert (info.tokens, info.obs_shape, info.state_dim, info.max_steps) == ("flat", (13,), 39, 8)
    assert info.success_metric == "success_rate" and len(pool.pids) == 2
    want = {
        "obs": ((4, 3, 13), np.float32),
        "action_mask": ((4, 3, 3), np.bool_),
        "alive": ((4, 3), np.bool_),
        "reward": ((4, 3), np.float32),
        "terminated": ((4,), np.bool_),
        "truncated": ((4,), np.bool_),
        "state": ((4, 39), np.float32),
        "won": ((4,), np.float32),
        "episode_return": ((4,), np.float32),
        "episode_length": ((4,), np.int32),
    }
    for raw in raws:
        assert {k: (v.shape, v.dtype) for k, v in raw.items()} == want


def test_auto_reset_and_episode_statistics(toy_run):
    _, raws = toy_run
    ret, length, episodes = np.zeros(4), np.zeros(4, int), 0
    for raw in raws[1:]:
        ret += raw["reward"].sum(-1)  # individual rewards: the team's is their sum
        length += 1
        assert np.allclose(raw["episode_return"], ret) and (raw["episode_length"] == length).all()
        done = raw["terminated"] | raw["truncated"]
        assert not (raw["terminated"] & raw["truncated"]).any()
        assert (length[raw["truncated"]] == 8).all()  # the toy's horizon
        # a done row already holds the next episode's first step: agent_2 not yet arrived,
        # no previous actions, t = 0
        first = raw["obs"][done]
        assert not raw["alive"][done, 2].any() and not first[..., :9].any()
        assert not first[..., -1].any()
        assert (raw["won"][~done] == 0).all() and ((raw["won"] >= 0) & (raw["won"] <= 1)).all()
        # won: the fraction of steps on which all present agents agreed (reward 1 each)
        agreed = raw["episode_return"][done] > 0
        assert ((raw["won"][done] > 0) == agreed).all()
        episodes += done.sum()
        ret[done], length[done] = 0, 0
    assert episodes >= 8 and any(r["terminated"].any() for r in raws)


def test_absent_agents_and_masks(toy_run):
    _, raws = toy_run
    left_mid_episode = 0
    for prev, raw in zip(raws, raws[1:], strict=False):
        gone = ~raw["alive"]
        assert not raw["obs"][gone].any() and not raw["state"].reshape(4, 3, 13)[gone].any()
        assert (raw["action_mask"][gone] == [True, False, False]).all()
        live = raw["action_mask"][raw["alive"]]
        odd = raw["obs"][raw["alive"]][:, -1] * 8 % 2 == 1  # t / horizon is the last feature
        assert (live[:, -1] == ~odd).all() and live[:, :2].all()
        done = raw["terminated"] | raw["truncated"]
        left_mid_episode += (prev["alive"] & gone & ~done[:, None]).sum()
        assert (raw["reward"][~prev["alive"]] == 0).all()  # only agents that acted are paid
    assert left_mid_episode > 0


def test_same_seed_same_batches_under_any_worker_count_and_python(toy_run, monkeypatch):
    _, raws = toy_run
    monkeypatch.setenv("DM_TEST_PYTHON", sys.executable)  # python= expands $VARIABLES
    with HostPool(NAME, num_envs=4, workers=1, seed=3, python="$DM_TEST_PYTHON") as pool:
        again = play(pool)
    for a, b in zip(raws, again, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    with HostPool(NAME, num_envs=4, workers=1, seed=4) as pool:
        other = play(pool)
    assert any(not np.array_equal(a["alive"], b["alive"]) for a, b in zip(raws, other, strict=True))


@pytest.mark.parametrize(
    "option, words",
    [
        ("crash_at=3", r"worker \d: RuntimeError: toy env crashed at step 3"),
        ("exit_at=2", r"worker \d \(pid \d+\) exited with status 3"),
    ],
)
def test_a_failing_worker_raises_and_leaves_no_process(option, words):
    pool = HostPool(f"{TOY},leave=0,{option}", num_envs=2, workers=2)
    pool.reset()
    with pytest.raises(HostEnvError, match=words) as err:
        for _ in range(3):
            pool.step(np.zeros((2, 3), int))
    if option.startswith("crash"):
        assert "Traceback" in err.value.trace and "toy.py" in err.value.trace
    assert pool.closed
    assert_gone(pool.pids)
    with pytest.raises(HostEnvError, match="closed after an earlier failure"):
        pool.reset()


def test_keyboard_interrupt_ends_the_workers():
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT does not raise KeyboardInterrupt in this process")
    pool = HostPool(f"{TOY},sleep=0.6", num_envs=2, workers=2)
    pool.reset()
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pool.step(np.zeros((2, 3), int))
    finally:
        timer.cancel()
    assert pool.closed
    assert_gone(pool.pids)


def test_a_forgotten_pool_ends_its_workers():
    pool = HostPool(TOY, num_envs=1, workers=1)
    pids = pool.pids
    del pool
    gc.collect()
    assert_gone(pids)


@pytest.mark.parametrize(
    "name, words",
    [
        ("pz:no_such_module_xyz", "cannot import module 'no_such_module_xyz'"),
        (f"{TOY[: -len('parallel_env')]}nope", "has no callable 'nope'"),
        ("pz:mpe2.simple_spread_v3:env", "AEC env"),
        ("pz:mpe2.simple_spread_v3,continuous_actions=true", "allowed: Discrete"),
    ],
)
def test_bad_envs_are_one_line_config_errors(name, words):
    with pytest.raises(ConfigError, match=words) as err:
        HostPool(name, num_envs=1, workers=1)
    assert "\n" not in str(err.value) and not isinstance(err.value, HostEnvError)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"num_envs": 3, "workers": 2}, "dividing num_envs"),
        ({"num_envs": 2, "workers": 0}, "workers >= 1"),
        ({"num_envs": 2, "seed": -1}, "seed=-1"),
        ({"num_envs": 2, "python": "/no/such/python"}, "not an executable"),
        ({"num_envs": 2, "python": "$DM_UNSET_VARIABLE/python"}, "is not set"),
    ],
)
def test_bad_pool_settings(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        HostPool(TOY, **kwargs)


def test_mpe_simple_spread_through_the_pool():
    name = "pz:mpe2.simple_spread_v3,N=3,max_cycles=25,continuous_actions=False"
    with HostPool(name, num_envs=2, workers=2, seed=1) as pool:
        info = pool.info()
        spec = host_spec(info, name)
        raws = play(pool, steps=26)
    assert (info.num_actions, info.obs_shape, info.state_source) == (5, (18,), "state()")
    assert (spec.num_entities, spec.entity_dim) == chunk_shape(18)
    assert (spec.state_dim, spec.max_steps, spec.obs_dim) == (54, 25, 18)
    env = types.SimpleNamespace(spec=spec)
    for raw in raws:
        assert check_timestep(env, to_timestep(info, raw), (2,)) == []
    ends = raws[25]
    assert ends["truncated"].all() and not ends["terminated"].any()
    assert (ends["episode_length"] == 25).all() and (raws[26]["episode_length"] == 1).all()
    assert all(raw["alive"].all() for raw in raws)  # nobody leaves simple_spread
    assert_gone(pool.pids)


def test_env_check_plays_host_envs_through_a_pool():
    from diamond_marl.envs import make
    from diamond_marl.envs.check import env_check

    env = make("pz:diamond_marl.envs.host.toy:parallel_env,agents=3,success=metrics.coordinated")
    report = env_check(env, num_envs=4, steps=20)
    assert report.problems == [] and report.episodes > 0 and report.steps_per_s > 0
    assert 0 <= report.success <= 1
    assert report.symmetric == 0 and report.tied_starts == 0  # the toy shows each agent's index
