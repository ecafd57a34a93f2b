"""Worker side of the host envs, in process: ``pz:`` names, the adapter's rules, bad envs
refused in one line, the wire format, and a worker that never imports JAX."""

import subprocess
import sys

import numpy as np
import pytest
from mpe2 import simple_adversary_v3, simple_speaker_listener_v4, simple_spread_v3

from diamond_marl.envs.host import toy, worker
from diamond_marl.envs.host.adapter import Adapter, AdapterError
from diamond_marl.envs.host.names import FactorySpec, parse_pz_name
from diamond_marl.errors import ConfigError

TOY = "diamond_marl.envs.host.toy"


def test_pz_names_parse_values_callables_and_host_keys():
    spec = parse_pz_name("pz:mpe2.simple_spread_v3,N=3,max_cycles=25,continuous_actions=False")
    assert spec == FactorySpec(
        "mpe2.simple_spread_v3",
        "parallel_env",
        (("N", 3), ("max_cycles", 25), ("continuous_actions", False)),
    )
    spec = parse_pz_name(f"pz:{TOY}:grid_env,leave=0.5,layout=hwc,tag=x,success=metrics.c,steps=4")
    assert (spec.module, spec.callable) == (TOY, "grid_env")
    assert spec.kwargs == (("leave", 0.5), ("tag", "x"))
    assert (spec.success, spec.success_metric, spec.steps, spec.layout) == (
        "metrics.c",
        "success_rate",
        4,
        "hwc",
    )
    assert parse_pz_name(spec.name) == spec  # the canonical name reads back the same
    assert isinstance(hash(spec), int)


@pytest.mark.parametrize(
    "name, words",
    [
        ("pz:", "names no module"),
        ("pz:mpe2.simple spread", "not a module path"),
        ("pz:a.b:c:d", "not a module path"),
        ("pz:m,success_metric=coverage", "needs success"),
        ("pz:m,success=x,success_metric=wins", "success_metric"),
        ("pz:m,layout=whc", "layout"),
        ("pz:m,steps=0", "steps"),
        ("smax:3m", "family"),
    ],
)
def test_bad_pz_names_are_one_line_config_errors(name, words):
    with pytest.raises(ConfigError, match=words) as err:
        parse_pz_name(name)
    assert "\n" not in str(err.value)


def test_toy_adapter_arrays_absent_agents_masks_and_won():
    ad = Adapter(toy.parallel_env(late=1, leave=0.3), success="metrics.coordinated")
    info = ad.info()
    assert (info["tokens"], info["obs_shape"], info["num_actions"]) == ("flat", [13], 3)
    assert (info["state_source"], info["state_dim"], info["max_steps"]) == ("obs", 39, 8)
    first = ad.reset(seed=5)
    assert first["obs"].shape == (3, 13) and first["obs"].dtype == np.float32
    assert first["alive"].tolist() == [True, True, False]  # agent_2 arrives after step 1
    assert not first["obs"][2].any() and first["action_mask"][2].tolist() == [True, False, False]
    assert np.array_equal(first["state"], first["obs"].reshape(-1))
    steps, alive_before = [], first["alive"]
    while True:
        raw = ad.step(np.zeros(3, int))  # everyone present agrees: reward 1 each
        steps.append(raw)
        acted = alive_before
        assert np.array_equal(raw["reward"], acted.astype(np.float32))  # leavers keep theirs
        assert not raw["obs"][~raw["alive"]].any()
        odd = len(steps) % 2 == 1  # the last action is unavailable on odd steps
        assert (raw["action_mask"][raw["alive"], -1] == (not odd)).all()
        alive_before = raw["alive"]
        if raw["terminated"] or raw["truncated"]:
            break
        assert raw["won"] == 0.0
    assert steps[-1]["won"] == 1.0  # every step agreed
    assert any(0 < s["alive"].sum() < 3 for s in steps[1:])  # someone left mid-episode


def test_success_terminated_counts_every_agent_that_terminated():
    for leave, seed in [(0.0, 0), (1.0, 0), (0.3, 0), (0.3, 1)]:
        raw_env = toy.parallel_env(leave=leave)  # the count the adapter must reproduce
        raw_env.reset(seed=seed)
        ended = set()
        while raw_env.agents:
            _, _, term, _, _ = raw_env.step({a: 0 for a in raw_env.agents})
            ended |= {a for a, t in term.items() if t}
        ad = Adapter(toy.parallel_env(leave=leave), success="terminated")
        ad.reset(seed=seed)
        while not ((raw := ad.step(np.zeros(3, int)))["terminated"] or raw["truncated"]):
            assert raw["won"] == 0.0
        assert raw["won"] == pytest.approx(len(ended) / 3)
    assert len(ended) not in (0, 3)  # seed 1 at leave=0.3 is a mixed episode


def test_episode_end_rules_and_steps_limit():
    ad = Adapter(toy.parallel_env(leave=1.0))  # every agent leaves on the first step
    ad.reset(seed=0)
    raw = ad.step(np.zeros(3, int))
    assert (raw["terminated"], raw["truncated"]) == (True, False) and not raw["alive"].any()
    with pytest.raises(RuntimeError, match="reset"):
        ad.step(np.zeros(3, int))
    ad = Adapter(toy.parallel_env(leave=0.0, horizon=3))
    ad.reset(seed=0)
    ends = [ad.step(np.zeros(3, int)) for _ in range(3)]
    assert [bool(r["truncated"]) for r in ends] == [False, False, True]
    assert not ends[-1]["terminated"]
    ad = Adapter(toy.parallel_env(leave=0.0, horizon=30), steps=2)  # the host's own limit
    assert ad.info()["max_steps"] == 2
    ad.reset(seed=0)
    assert [bool(ad.step(np.zeros(3, int))["truncated"]) for _ in range(2)] == [False, True]


def test_dict_observations_grid_layouts_and_state():
    plain, boxed = Adapter(toy.parallel_env()), Adapter(toy.parallel_env(dict_obs=True))
    a, b = plain.reset(seed=1), boxed.reset(seed=1)
    for _ in range(2):
        assert all(np.array_equal(a[k], b[k]) for k in a)
        a, b = plain.step(np.ones(3, int)), boxed.step(np.ones(3, int))
    chw = Adapter(toy.grid_env(view=5, channels=3))
    hwc = Adapter(toy.grid_env(view=5, channels=3, channels_last=True))  # auto: (H, W, C)
    forced = Adapter(toy.grid_env(view=5, channels=3, channels_last=True), layout="hwc")
    square = Adapter(toy.grid_env(view=3, channels=3, channels_last=True), layout="hwc")
    assert forced.info()["obs_shape"] == [3, 5, 5] and square.info()["obs_shape"] == [3, 3, 3]
    assert chw.info()["obs_shape"] == hwc.info()["obs_shape"] == [3, 5, 5]
    assert chw.info()["state_source"] == "state()" and chw.info()["state_dim"] == 3
    assert np.array_equal(chw.reset(seed=2)["obs"], hwc.reset(seed=2)["obs"])
    mpe = Adapter(simple_spread_v3.parallel_env(N=3, continuous_actions=False))
    assert (mpe.info()["state_source"], mpe.info()["state_dim"], mpe.info()["max_steps"]) == (
        "state()",
        54,
        25,
    )
    uneven = Adapter(simple_adversary_v3.parallel_env(continuous_actions=False))
    assert uneven.info()["obs_sizes"] == [8, 10, 10] and uneven.info()["obs_shape"] == [10]
    assert not uneven.reset(seed=0)["obs"][0, 8:].any()  # zero-padded to the longest


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: simple_spread_v3.env(), "AEC env"),
        (lambda: {"possible_agents": []}, "lacks possible_agents"),
        (lambda: simple_spread_v3.parallel_env(continuous_actions=True), "allowed: Discrete"),
        (lambda: toy.parallel_env(bad="continuous"), "action space Box"),
        (lambda: simple_speaker_listener_v4.parallel_env(continuous_actions=False), "differ"),
        (lambda: toy.parallel_env(bad="sizes"), "Discrete\\(4\\)"),
        (lambda: toy.parallel_env(bad="obs"), "observation space Box"),
    ],
)
def test_bad_envs_are_refused_in_one_line(make, words):
    with pytest.raises(AdapterError, match=words) as err:
        Adapter(make())
    assert "\n" not in str(err.value) and "allowed" in str(err.value)


@pytest.mark.parametrize(
    "module, fn, kwargs, words",
    [
        ("no_such_module_xyz", "parallel_env", [], "cannot import module 'no_such_module_xyz'"),
        (TOY, "nope", [], "no callable 'nope'; allowed: Coord.*, grid_env, parallel_env$"),
        (TOY, "parallel_env", [["colour", "red"]], "colour='red'"),
    ],
)
def test_unknown_modules_callables_and_arguments(module, fn, kwargs, words):
    with pytest.raises(AdapterError, match=words) as err:
        worker.build_env({"module": module, "callable": fn, "kwargs": kwargs})
    assert "\n" not in str(err.value)


def test_wire_format_carries_arrays_as_bytes_and_refuses_objects():
    import io
    import pickle

    msg = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": [np.bool_(True), 1.5, "x"]}
    buf = io.BytesIO()
    worker.write_msg(buf, msg)
    assert b"numpy" not in buf.getvalue()  # no numpy object is pickled
    buf.seek(0)
    back = worker.read_msg(buf)
    assert np.array_equal(back["a"], msg["a"]) and back["a"].dtype == np.int32
    assert back["b"] == [True, 1.5, "x"]
    payload = pickle.dumps(np.zeros(2), protocol=4)
    buf = io.BytesIO(len(payload).to_bytes(8, "little") + payload)
    with pytest.raises(pickle.UnpicklingError, match="only plain values"):
        worker.read_msg(buf)


def test_worker_side_never_imports_jax_or_the_library():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('w', {worker.__file__!r})\n"
        "w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)\n"
        f"env = w.build_env({{'module': {TOY!r}, 'callable': 'grid_env', 'kwargs': []}})\n"
        "w.sibling('adapter').Adapter(env).reset(seed=0)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'diamond_marl')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = eval(out.stdout)
    assert loaded == ["diamond_marl.envs.host.adapter", "diamond_marl.envs.host.toy"], loaded
