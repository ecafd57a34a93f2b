"""Recurrent agents (``net.recurrent=true``): a GRU between the torso and the heads, carried
through training rollouts, the replay, PPO's sequence minibatches, evaluation and analysis."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import train
from diamond_marl.algos.saved_run import evaluate_run, load_run
from diamond_marl.analysis.rollout import Recorder
from diamond_marl.cli import main
from diamond_marl.envs import make
from diamond_marl.networks import NetworkConfig, from_timestep, make_network

TINY = {
    "env": "role:n=3,k=3,t=6",
    "seeds": "1",
    "num_envs": "8",
    "net.hidden": "16",
    "net.heads": "2",
    "net.blocks": "1",
    "net.recurrent": "true",
    "eval_episodes": "8",
    "chunks": "3",
}
CASES = [
    ("mappo", {"ppo.rollout_len": "8", "steps": "512", "breaker": "noise"}),
    (
        "qmix",
        {
            "steps": "384",
            "q.segment_len": "6",
            "q.learning_starts": "48",
            "q.batch_episodes": "8",
            "q.buffer_episodes": "64",
            "breaker": "rank",
        },
    ),
]


def test_sequence_equals_steps_with_carry_and_resets():
    env = make("role:n=3,k=3,t=6")
    keys = jax.random.split(jax.random.PRNGKey(0), 5)
    ts = jax.vmap(lambda k: env.reset(k)[1])(keys)  # 5 "time steps" of (N, ...)
    obs = jax.tree.map(lambda x: x[None], from_timestep(ts))  # (1, T=5, N, ...)
    cfg = NetworkConfig(hidden=16, heads=2, blocks=1, recurrent=True)
    net = make_network(env.spec, "noise", cfg)
    params = net.init(jax.random.PRNGKey(1), from_timestep(ts))
    net_keys = jax.random.split(jax.random.PRNGKey(2), 5)[None]  # (1, T, 2)
    resets = jnp.array([[False, False, True, False, False]])
    carry0 = jnp.ones((1, 3, 16)) * 0.3
    seq = net.apply_sequence(params, obs, net_keys, 0, "train", carry0, resets)
    h = carry0
    for t in range(5):
        o = jax.tree.map(lambda x, t=t: x[:, t], obs)
        h = jnp.where(resets[:, t, None, None], 0.0, h)
        out = net.apply(params, o, net_keys[:, t], 0, "train", h)
        np.testing.assert_allclose(seq.logits[:, t], out.logits, rtol=1e-5, atol=1e-6)
        h = out.carry
    # the memory matters: another start state changes the first steps' outputs
    other = net.apply_sequence(params, obs, net_keys, 0, "train", carry0 * 0, resets)
    assert not np.allclose(other.logits[:, 0], seq.logits[:, 0])
    np.testing.assert_allclose(other.logits[:, 2:], seq.logits[:, 2:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo,extra", CASES, ids=[c[0] for c in CASES])
def test_recurrent_run_resumes_exactly_and_evaluates(tmp_path, algo, extra):
    base = {**TINY, "algo": algo, **extra}
    train(resolve({**base, "out": str(tmp_path / "full")}), progress=False)
    part = resolve({**base, "out": str(tmp_path / "part")})
    assert train(part, progress=False, stop_after_chunks=1)["interrupted"]
    train(resume=tmp_path / "part", progress=False)
    a, b = (pd.read_csv(tmp_path / r / "metrics.csv") for r in ("full", "part"))
    a, b = (x[x.metric != "wall_s"].reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(a, b)
    # analysis acts through the same recurrent actor, carrying its memory over the episode
    rec = Recorder(load_run(tmp_path / "full")).record(range(4), reference=True)
    np.testing.assert_array_equal(rec["action"], rec["reference_action"])
    if algo == "mappo":  # eval and replay run the same evaluation and recorder: once is enough
        summary = json.loads((tmp_path / "full" / "summary.json").read_text())
        assert evaluate_run(tmp_path / "full")["env_steps"] == summary["env_steps"]
        out = tmp_path / "replay"
        args = ["replay", str(tmp_path / "full"), "--episode-key", "1", "--out", str(out)]
        assert main(args) == 0


def test_recurrent_ppo_needs_envs_divisible_by_minibatches(tmp_path, capfd):
    code = main(
        ["train", "algo=mappo", "env=xor:n=2,k=2", "net.recurrent=true", "num_envs=6",
         "ppo.minibatches=4", f"out={tmp_path / 'x'}"]
    )  # fmt: skip
    assert code == 2
    assert "num_envs=6 is not divisible by ppo.minibatches=4" in capfd.readouterr().err
    assert not (tmp_path / "x").exists()
