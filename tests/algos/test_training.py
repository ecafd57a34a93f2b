"""The training program's mechanics: resume, retracing, outputs, bad input, NaN handling."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import pandas as pd
import pytest

from diamond_marl.algos import checkpoint
from diamond_marl.algos.config import resolve
from diamond_marl.algos.runner import TrainingDiverged, build_program, train
from diamond_marl.algos.saved_run import evaluate_run, load_act_params
from diamond_marl.cli import main
from diamond_marl.errors import ConfigError

TINY = {
    "env": "xor:n=2,k=2",
    "seeds": "2",
    "num_envs": "8",
    "net.hidden": "16",
    "net.heads": "2",
    "net.blocks": "1",
    "eval_episodes": "16",
    "chunks": "4",
}


def _cfg(tmp_path, name, **extra):
    return resolve({**TINY, "out": str(tmp_path / name), **extra})


# Two small runs that several tests share: the same config builds the same programs, which
# XLA's persistent compilation cache (tests/conftest.py) then compiles once.
MAPPO_RUN = {"algo": "mappo", "ppo.rollout_len": "4", "steps": "512", "breaker": "noise"}
QMIX_RUN = {
    "algo": "qmix",
    "steps": "256",
    "q.learning_starts": "32",
    "q.batch_episodes": "8",
    "q.buffer_episodes": "64",
    "breaker": "rank",
}


@pytest.mark.parametrize("extra", [MAPPO_RUN, QMIX_RUN], ids=["mappo", "qmix"])
def test_resumed_run_equals_uninterrupted_run(tmp_path, extra):
    full = _cfg(tmp_path, "full", **extra)
    train(full, progress=False)
    part = _cfg(tmp_path, "part", **extra)
    out = train(part, progress=False, stop_after_chunks=2)
    assert out["interrupted"] and not (tmp_path / "part" / "summary.json").exists()
    train(resume=tmp_path / "part", progress=False)
    a = pd.read_csv(tmp_path / "full" / "metrics.csv")
    b = pd.read_csv(tmp_path / "part" / "metrics.csv")
    assert set(a.metric) >= {"wall_s", "eval_return_greedy", "eval_return_sampled"}
    a, b = (x[x.metric != "wall_s"].reset_index(drop=True) for x in (a, b))  # time differs
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a, b)
    sa = json.loads((tmp_path / "full" / "summary.json").read_text())
    sb = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert sa["seeds"] == sb["seeds"] and sa["env_steps"] == sb["env_steps"]
    # where the time went (summed over both calls when resumed), within the run's clock
    ta, tb = sa["time_s"], sb["time_s"]
    assert set(ta) == set(tb) == {"first_chunk", "train", "eval", "checkpoint", "final_eval"}
    assert all(v > 0 for v in ta.values()) and all(v > 0 for v in tb.values())
    assert sum(ta.values()) - ta["final_eval"] <= sa["wall_s"]


def test_run_directory_outputs(tmp_path):
    cfg = _cfg(
        tmp_path,
        "run",
        algo="vdn",
        steps="128",
        **{"q.learning_starts": "16", "q.buffer_episodes": "32"},
    )
    summary = train(cfg, progress=False)
    run = tmp_path / "run"
    for name in ("config.yaml", "metrics.csv", "summary.json", "checkpoints/policy.npz"):
        assert (run / name).exists(), name
    assert any((run / "tb").iterdir())
    rows = pd.read_csv(run / "metrics.csv")
    # several chunks saved two generations of training state; the finished run keeps the policy
    assert rows.step.nunique() > 1
    ckpts = sorted(f.name for f in (run / "checkpoints").iterdir())
    assert ckpts == ["policy.json", "policy.npz"]
    assert list(rows.columns) == ["env", "algo", "breaker", "seed", "step", "metric", "value"]
    assert set(rows.seed) == {0, 1}
    assert {"loss", "eval_return", "eval_success_rate"} <= set(rows.metric)
    assert set(summary) >= {"return", "success_rate", "env_steps", "wall_s", "seeds"}
    assert len(summary["seeds"]) == 2 and summary["env_steps"] >= 128
    # both executions on the same episodes; the headline is the breaker's own (greedy here)
    assert summary["execution"] == "greedy"
    assert set(summary["executions"]) == {"greedy", "sampled"}
    assert summary["return"] == summary["executions"]["greedy"]["return"]
    for seed in summary["seeds"]:
        assert seed["success_rate"] == seed["greedy"]["success_rate"]
        assert set(seed["sampled"]) == {"return", "success_rate", "episode_length"}
    assert {"eval_success_rate_greedy", "eval_success_rate_sampled", "wall_s"} <= set(rows.metric)


def test_finished_run_keeps_the_final_policy_and_not_the_buffer(tmp_path):
    """Stopped after its last chunk, a run holds its final training state; finishing it
    replaces that by the acting parameters alone, which load to the same values."""
    cfg = _cfg(tmp_path, "fin", **QMIX_RUN)
    program = build_program(cfg)
    run, ckpts = tmp_path / "fin", tmp_path / "fin" / "checkpoints"
    done = train(cfg, progress=False, stop_after_chunks=program.setup.chunks)
    assert done["interrupted"] and checkpoint.has_state(ckpts)
    from_state, meta = load_act_params(program, ckpts)
    state_bytes = (ckpts / "latest.npz").stat().st_size
    summary = train(resume=run, progress=False)
    assert sorted(f.name for f in ckpts.iterdir()) == ["policy.json", "policy.npz"]
    assert (ckpts / "policy.npz").stat().st_size * 4 < state_bytes  # the buffer is gone
    from_policy, policy_meta = load_act_params(program, ckpts)
    assert policy_meta["env_steps"] == meta["env_steps"] == summary["env_steps"]
    same = jax.tree.map(lambda a, b: bool((a == b).all()), from_state, from_policy)
    assert all(jax.tree.leaves(same))
    # resuming a finished run returns its summary and trains nothing
    metrics = (run / "metrics.csv").read_text()
    assert train(resume=run, progress=False) == summary
    assert (run / "metrics.csv").read_text() == metrics
    assert evaluate_run(run)["env_steps"] == summary["env_steps"]


def test_no_retracing_after_the_first_chunk(tmp_path):
    cfg = _cfg(tmp_path, "trace", **MAPPO_RUN)
    program = build_program(cfg)
    state = program.init(program.seed_keys)
    for _ in range(3):
        state, _ = program.chunk(state)
    assert program.chunk._cache_size() == 1


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = _cfg(
        tmp_path,
        "nan",
        algo="mappo",
        steps="2048",
        lr="1e38",
        **{"ppo.rollout_len": "4", "ppo.max_grad_norm": "1e38", "ppo.anneal_lr": "false"},
    )
    with pytest.raises(TrainingDiverged, match="env step"):
        train(cfg, progress=False)
    assert not (tmp_path / "nan" / "summary.json").exists()


@pytest.mark.parametrize(
    "override,fragment",
    [
        ({"algo": "ddpg"}, "ddpg"),
        ({"env": "smax:99z"}, "99z"),
        ({"breaker": "magic"}, "magic"),
        ({"steps": "-5"}, "steps=-5"),
        ({"lr": "0"}, "lr=0"),
        ({"num_envs": "0"}, "num_envs=0"),
        ({"q.batch_episodes": "0", "algo": "qmix"}, "batch_episodes=0"),
        ({"q.mixer_init_scale": "-1", "algo": "qmix"}, "q.mixer_init_scale=-1.0"),
        ({"q.microbatches": "0", "algo": "qmix"}, "q.microbatches=0"),
        ({"q.microbatches": "5", "algo": "qmix"}, "q.microbatches=5 must divide"),
        ({"nonsense": "1"}, "nonsense"),
        ({"ppo.clip": "1"}, "ppo.clip"),
        ({"breaker": "agent_id", "breaker.max_agents": "1"}, "max_agents"),
        # an option of the other algorithm family's section would be silently ignored
        ({"algo": "mappo", "q.gamma": "0.9"}, "q.gamma=0.9: algo=mappo does not read q.*"),
        ({"algo": "qmix", "ppo.epochs": "2"}, "ppo.epochs=2: algo=qmix does not read ppo.*"),
        ({"algo": "qmix", "q.gamma": "1.5"}, "q.gamma=1.5: a discount must lie in (0, 1]"),
        ({"ppo.gamma": "0"}, "ppo.gamma=0.0: a discount must lie in (0, 1]"),
        ({"ppo.gae_lambda": "1.2"}, "ppo.gae_lambda=1.2: a lambda must lie in [0, 1]"),
        ({"algo": "qmix", "q.td_lambda": "-0.1"}, "q.td_lambda=-0.1: a lambda"),
        ({"env": "xor:n=3,,k=3"}, "'xor:n=3,,k=3' has an empty item"),
    ],
)
def test_bad_config_is_rejected_before_anything_is_written(tmp_path, capfd, override, fragment):
    out = tmp_path / "bad" / "run"  # nothing may be created, not even its parent
    args = ["train", f"out={out}", "--no-progress", *[f"{k}={v}" for k, v in override.items()]]
    assert main(args) == 2
    err = capfd.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.parent.exists()


@pytest.mark.parametrize("where", ["below_a_file", "proc"])
def test_an_unwritable_out_is_one_line_before_anything_is_written(tmp_path, capfd, where):
    if where == "proc":
        if not Path("/proc").is_dir():
            pytest.skip("no /proc on this system")
        out = Path("/proc/forbidden/x")
    else:
        (tmp_path / "file").write_text("")
        out = tmp_path / "file" / "x"
    args = ["train", f"out={out}", "--no-progress", "steps=64", "ppo.rollout_len=4"]
    assert main(args) == 2
    err = capfd.readouterr().err
    assert f"out={out}: cannot create this directory" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.parent.is_dir()
    assert sorted(tmp_path.iterdir()) == ([tmp_path / "file"] if where == "below_a_file" else [])


def test_resolve_layers_files_and_overrides():
    cfg = resolve({"algo": "qmix", "env": "xor:n=2,k=2", "q.target_update": "7"})
    assert cfg.q.target_update == 7  # override beats the env file (20)
    assert cfg.q.eps_anneal_steps == 5000  # env file beats the algo file (100000)
    assert cfg.steps == 20000
    with pytest.raises(ConfigError):
        resolve({"seeds": "0"})
    # the env file's per-algorithm sections hold q.* for qmix beside ppo.* for mappo: fine
    assert resolve({"algo": "mappo", "env": "smax:3m", "ppo.gamma": "1"}).ppo.epochs == 2


def test_eval_on_another_team_size(tmp_path):
    cfg = _cfg(
        tmp_path, "ev", algo="mappo", env="xor:n=2,k=3", steps="128", **{"ppo.rollout_len": "4"}
    )
    train(cfg, progress=False)
    assert main(["eval", str(tmp_path / "ev"), "env=xor:n=3,k=3", "episodes=32"]) == 0
    saved = json.loads((tmp_path / "ev" / "eval" / "xor-n3_k3.json").read_text())
    assert saved["env"] == "xor:n=3,k=3" and saved["trained_on"] == "xor:n=2,k=3"
    assert 0.0 <= saved["success_rate"] <= 1.0
    jax.clear_caches()


def test_sampled_breaker_trains_exactly_as_none(tmp_path):
    # why a suite may skip the `sampled` cell and read stochastic execution from `none`'s
    # sampled readout (docs/breakers.md): same keys, same updates, same weights
    runs = {}
    for breaker in ("none", "sampled"):
        train(_cfg(tmp_path, breaker, **{**MAPPO_RUN, "breaker": breaker}), progress=False)
        runs[breaker] = json.loads((tmp_path / breaker / "summary.json").read_text())
    none, sampled = runs["none"]["seeds"], runs["sampled"]["seeds"]
    assert [s["sampled"] for s in sampled] == [s["sampled"] for s in none]
    assert [s["greedy"] for s in sampled] == [s["greedy"] for s in none]
    assert runs["sampled"]["execution"] == "sampled" and runs["none"]["execution"] == "greedy"

    # every training and evaluation metric but the clock and the own-execution headline
    # (eval_return, eval_success_rate: greedy for none, sampled for sampled)
    def same_in_both(x):
        own = x.metric.str.startswith("eval_") & ~x.metric.str.endswith(("_greedy", "_sampled"))
        keep = x[(x.metric != "wall_s") & ~own]
        return keep.drop(columns="breaker").reset_index(drop=True)

    a, b = (same_in_both(pd.read_csv(tmp_path / b / "metrics.csv")) for b in ("none", "sampled"))
    assert {"loss", "entropy", "eval_return_greedy", "eval_return_sampled"} <= set(a.metric)
    pd.testing.assert_frame_equal(a, b)
