"""A peer comparison you can run here: JaxMARL's own MAPPO beside ours on SMAX 3m.

Trains, one after the other in this process on this machine, with the same env-step budget:

- ours: ``dm.train(algo="mappo", env="smax:3m", breaker="none")`` with our smax defaults,
  all seeds vmapped in one program (run directory ``<out>/ours-run``, resumable);
- theirs: JaxMARL's ``baselines/MAPPO/mappo_rnn_smax.py`` with its config
  ``baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml`` (MAP_NAME set to 3m,
  TOTAL_TIMESTEPS to our run's env steps, which their script rounds down to whole updates of
  NUM_ENVS x NUM_STEPS), read at run time from a JaxMARL git checkout at a recorded commit
  (never copied here), ``SEED`` split into one key per seed, vmapped as JaxMARL's IPPO does.

and prints, per side and then the ratio of training speeds::

    peer <side> smax:3m steps=<env steps per seed> seeds=<n> win_rate=<x> steps_per_s=<y> wall_s=<w>

``win_rate``: the final greedy (arg-max) evaluation, mean over seeds, on as many episodes per
seed as our final evaluation plays (320 by default). Ours is our own final evaluation; theirs
plays their trained actor (GRU state carried, unavailable actions masked as in training) on
their env (HeuristicEnemySMAX with their ENV_KWARGS, which equal our SMAX settings); a win is
all enemies dead with an ally alive. Their own training metric (``win_rate`` logged to wandb:
sampled actions, episodes ending in the last rollout) is kept in the JSON as
``train_win_rate_last``. ``steps_per_s``: env steps summed over seeds per second of
training after compilation (theirs: the compiled program's run; ours: the training chunks
after the first, which compiles; evaluations and checkpoints excluded). ``wall_s``: ours, the
training loop's wall time (compilation, periodic evaluations and checkpoints included, final
evaluation not); theirs, compilation plus training.

Results go to ``<out>/ours.json`` and ``<out>/jaxmarl.json``, each written atomically when its
side finishes; a side whose result is there already is skipped, so an interrupted comparison
resumes (ours from its last checkpoint). Run-time patches to their script: ``wandb``,
``hydra`` and ``omegaconf`` are stub modules while it is imported (not installed here; the
stub's ``wandb.log`` records the logged metrics instead of sending them). Nothing else.

Get their code with ``git clone https://github.com/FLAIROx/JaxMARL``, then::

    .venv/bin/python benchmarks/jaxmarl_peer.py --jaxmarl-src ../JaxMARL --out runs/peer-jaxmarl

(defaults: 1,000,000 env steps per seed, 5 seeds; ``--their-set NUM_ENVS=16`` changes their
config, ``--ours-set ppo.epochs=4`` ours, for smoke tests only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import diamond_marl as dm
from diamond_marl import setup_jax
from diamond_marl.atomic import atomic_write_json
from diamond_marl.envs.jaxmarl_env import quiet_import_jaxmarl

setup_jax()  # the XLA flag the library needs, before JAX computes anything (both sides)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

SCRIPT = "baselines/MAPPO/mappo_rnn_smax.py"
CONFIG = "baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml"
MAP = "3m"
CLONE = "git clone https://github.com/FLAIROx/JaxMARL"


def fail(msg: str) -> None:
    print(f"jaxmarl_peer: {msg}", file=sys.stderr)
    sys.exit(2)


def read_peer(src: str, ref: str) -> tuple[str, str, str]:
    """(commit, script text, config text) from a JaxMARL checkout or bare git dir."""
    path = Path(src)
    if not path.exists():
        fail(f"--jaxmarl-src {src}: no such path (get one with: {CLONE})")
    git = ["git", "-C", str(path)] if (path / ".git").exists() else ["git", f"--git-dir={path}"]

    def show(what: str) -> subprocess.CompletedProcess:
        return subprocess.run(git + what.split(), capture_output=True, text=True)

    got = show(f"rev-parse --verify {ref}^{{commit}}")
    if got.returncode:
        fail(f"--jaxmarl-src {src}: not a git checkout or git dir with {ref} ({CLONE})")
    commit = got.stdout.strip()
    texts = []
    for rel in (SCRIPT, CONFIG):
        got = show(f"show {commit}:{rel}")
        if got.returncode:
            fail(f"--jaxmarl-src {src}: not a JaxMARL checkout (no {rel} at {commit[:12]})")
        texts.append(got.stdout)
    return commit, texts[0], texts[1]


def import_peer(script: str, log) -> types.ModuleType:
    """Their training script as a module, with wandb/hydra/omegaconf stubbed while it loads."""
    stubs = {name: types.ModuleType(name) for name in ("wandb", "hydra", "omegaconf")}
    stubs["wandb"].log, stubs["wandb"].init = log, lambda *a, **k: None
    stubs["hydra"].main = lambda *a, **k: lambda f: f
    stubs["omegaconf"].OmegaConf = types.SimpleNamespace(to_container=lambda c: c)
    saved = {name: sys.modules.get(name) for name in stubs}
    quiet_import_jaxmarl()
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "mappo_rnn_smax.py"
        file.write_text(script)
        spec = importlib.util.spec_from_file_location("jaxmarl_mappo_rnn_smax", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules.update(stubs)
        try:
            spec.loader.exec_module(module)
        finally:
            for name, old in saved.items():
                if old is None:
                    del sys.modules[name]
                else:
                    sys.modules[name] = old
    return module


def evaluate_theirs(mod, config: dict, actor_params, episodes: int, key, greedy: bool):
    """Win rate per seed of their actor, ``episodes`` episodes each (one per env, no reset)."""
    from jaxmarl.environments.smax import HeuristicEnemySMAX, map_name_to_scenario

    env = HeuristicEnemySMAX(scenario=map_name_to_scenario(MAP), **config["ENV_KWARGS"])
    agents, n = env.agents, env.num_agents
    actor = mod.ActorRNN(env.action_space(agents[0]).n, config=config)

    def one_seed(params, key):
        key, reset_key = jax.random.split(key)
        obs, state = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
        hidden = mod.ScannedRNN.initialize_carry(n * episodes, config["GRU_HIDDEN_DIM"])
        done = jnp.zeros(n * episodes, bool)
        over = won = jnp.zeros(episodes, bool)

        def step(carry, _):
            key, obs, state, hidden, done, over, won = carry
            key, act_key, step_key = jax.random.split(key, 3)
            avail = mod.batchify(jax.vmap(env.get_avail_actions)(state), agents, n * episodes)
            x = mod.batchify(obs, agents, n * episodes)
            hidden, pi = actor.apply(params, hidden, (x[None], done[None], avail[None]))
            action = pi.mode() if greedy else pi.sample(seed=act_key)
            action = mod.unbatchify(action[0], agents, episodes, n)
            obs, state, _, dones, _ = jax.vmap(env.step_env)(
                jax.random.split(step_key, episodes), state, {a: v[:, 0] for a, v in action.items()}
            )
            alive = state.state.unit_alive  # (episodes, allies + enemies)
            win_now = ~jnp.any(alive[:, env.num_allies :], 1) & jnp.any(alive[:, :n], 1)
            ends = dones["__all__"] & ~over
            won, over = jnp.where(ends, win_now, won), over | dones["__all__"]
            done = mod.batchify(dones, agents, n * episodes).squeeze(-1)
            return (key, obs, state, hidden, done, over, won), None

        carry = (key, obs, state, hidden, done, over, won)
        # jaxmarl sets done before counting the step: a time-out ends after max_steps + 1 steps
        carry, _ = jax.lax.scan(step, carry, None, env.max_steps + 1)
        return carry[-1].mean(), carry[-2].mean()

    keys = jax.random.split(key, jax.tree.leaves(actor_params)[0].shape[0])
    win, ended = jax.jit(jax.vmap(one_seed))(actor_params, keys)
    assert np.all(np.asarray(ended) == 1.0), "an evaluation episode did not end"
    return [round(float(w), 4) for w in win]


def run_theirs(args, key: dict, episodes: int) -> dict:
    _, script, config_text = read_peer(args.jaxmarl_src, args.jaxmarl_ref)
    steps = key["requested_steps"]
    logged: list[dict] = []
    mod = import_peer(script, lambda d: logged.append({k: float(v) for k, v in d.items()}))
    config = yaml.safe_load(config_text) | {"MAP_NAME": MAP, "TOTAL_TIMESTEPS": steps}
    config |= {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.their_set)}
    train = mod.make_train(config)  # fills NUM_UPDATES, NUM_ACTORS, MINIBATCH_SIZE
    keys = jax.random.split(jax.random.PRNGKey(config["SEED"]), args.seeds)
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()
    actor_params = out["runner_state"][0][0][0].params
    eval_key = jax.random.PRNGKey(config["SEED"] + 1)
    greedy = evaluate_theirs(mod, config, actor_params, episodes, eval_key, greedy=True)
    sampled = evaluate_theirs(mod, config, actor_params, episodes, eval_key, greedy=False)
    done_steps = config["NUM_UPDATES"] * config["NUM_STEPS"] * config["NUM_ENVS"]
    last = [d for d in logged if d["env_step"] == max(d["env_step"] for d in logged)]
    return {
        "side": "jaxmarl",
        "script": SCRIPT,
        **key,
        "config": config,
        "steps": int(done_steps),
        "win_rate": float(np.mean(greedy)),
        "win_rate_per_seed": greedy,
        "sampled_win_rate": float(np.mean(sampled)),
        "eval_episodes_per_seed": episodes,
        "train_win_rate_last": float(np.mean([d["win_rate"] for d in last])),
        "steps_per_s": done_steps * args.seeds / (t2 - t1),
        "compile_s": round(t1 - t0, 3),
        "train_s": round(t2 - t1, 3),
        "wall_s": round(t2 - t0, 3),
    }


def ours_options(args) -> dict:
    return dict(s.split("=", 1) for s in args.ours_set)


def run_ours(args, run_dir: Path) -> dict:
    options = ours_options(args)
    if (run_dir / "config.yaml").exists():  # an interrupted (or finished) run: resume it
        cfg = dm.load(run_dir).config
        if (cfg.steps, cfg.seeds) != (args.steps, args.seeds):
            fail(f"{run_dir} holds a run of steps={cfg.steps} seeds={cfg.seeds}; use another --out")
        if not dm.load(run_dir).finished:
            dm.train(resume=run_dir)
    else:
        dm.train(
            algo="mappo",
            env=f"smax:{MAP}",
            breaker="none",
            steps=args.steps,
            seeds=args.seeds,
            out=str(run_dir),
            **options,
        )
    run = dm.load(run_dir)
    summary, cfg = run.summary, run.config
    times = summary["time_s"]
    steps = summary["env_steps"]
    after_first = steps - int(run.metrics.step.min())  # the first chunk compiles
    if after_first > 0 and times["train"] > 0:
        sps, timed = after_first * cfg.seeds / times["train"], "train chunks after the first"
    else:  # one chunk only: its time includes compilation
        sps, timed = steps * cfg.seeds / times["first_chunk"], "first chunk, compile included"
    greedy = summary["executions"]["greedy"]["win_rate"]
    return {
        "side": "ours",
        "run_dir": str(run_dir),
        "options": options,
        "requested_steps": args.steps,
        "steps": int(steps),
        "seeds": cfg.seeds,
        "win_rate": float(greedy),
        "win_rate_per_seed": [s["greedy"]["win_rate"] for s in summary["seeds"]],
        "sampled_win_rate": float(summary["executions"]["sampled"]["win_rate"]),
        "eval_episodes_per_seed": int(summary["episodes_per_seed"]),
        "steps_per_s": sps,
        "steps_per_s_timed": timed,
        "time_s": times,
        "wall_s": float(summary["wall_s"]),
    }


def line(result: dict) -> str:
    return (
        f"peer {result['side']} smax:{MAP} steps={result['steps']} seeds={result['seeds']} "
        f"win_rate={result['win_rate']:.3f} steps_per_s={result['steps_per_s']:.0f} "
        f"wall_s={result['wall_s']:.1f}"
    )


def resume_or_run(file: Path, key: dict, run) -> dict:
    """The finished result in ``file`` if it was made with ``key``; else run and write it."""
    if not file.exists():
        result = run()
        atomic_write_json(file, result)
        return result
    result = json.loads(file.read_text())
    if any(result.get(k) != v for k, v in key.items()):
        made = {k: result.get(k) for k in key}
        fail(f"{file} was made with {made}, not {key}; use another --out")
    print(f"{result['side']}: finished result in {file}, not training again")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--jaxmarl-src", required=True, help=f"JaxMARL checkout or git dir ({CLONE})"
    )
    parser.add_argument("--jaxmarl-ref", default="HEAD", help="commit to run (default HEAD)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", required=True, help="directory for both sides' results")
    parser.add_argument("--their-set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--ours-set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.steps <= 0 or args.seeds <= 0:
        fail("--steps and --seeds must be positive")
    if any("=" not in s for s in args.their_set + args.ours_set):
        fail("--their-set and --ours-set take KEY=VALUE items")
    commit = read_peer(args.jaxmarl_src, args.jaxmarl_ref)[0]  # bad input fails before training
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    key = {"requested_steps": args.steps, "seeds": args.seeds, "options": ours_options(args)}
    ours = resume_or_run(out / "ours.json", key, lambda: run_ours(args, out / "ours-run"))
    print(line(ours), flush=True)
    # their budget: our run's env steps, rounded down to their whole updates
    key = {"commit": commit, "requested_steps": ours["steps"], "seeds": args.seeds}
    key["their_set"] = args.their_set
    episodes = ours["eval_episodes_per_seed"]
    theirs = resume_or_run(out / "jaxmarl.json", key, lambda: run_theirs(args, key, episodes))
    c = theirs["config"]
    print(
        f"jaxmarl commit={theirs['commit']} LR={c['LR']} CLIP_EPS={c['CLIP_EPS']} "
        f"ENT_COEF={c['ENT_COEF']} NUM_ENVS={c['NUM_ENVS']} NUM_STEPS={c['NUM_STEPS']} "
        f"UPDATE_EPOCHS={c['UPDATE_EPOCHS']} NUM_MINIBATCHES={c['NUM_MINIBATCHES']} "
        f"train_win_rate_last={theirs['train_win_rate_last']:.3f} "
        f"sampled_win_rate={theirs['sampled_win_rate']:.3f}"
    )
    print(line(theirs))
    print(f"peer ratio steps_per_s ours/jaxmarl={ours['steps_per_s'] / theirs['steps_per_s']:.2f}")


if __name__ == "__main__":
    main()
