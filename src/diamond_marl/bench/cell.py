"""One benchmark cell in its own process: ``python -m diamond_marl.bench.cell SPEC_JSON``.

The launcher (``bench.launch``) starts one of these per cell, locally or as a Ray task, so
each training run gets a fresh JAX and the launcher itself never imports JAX. A cell:

1. trains ``RUN_DIR`` with ``runner.train`` (all seeds vmapped in one program); if a
   checkpoint is there from an interrupted attempt it resumes it, and if ``summary.json`` is
   there the training is done and only the evaluations below are redone;
2. evaluates the trained policy zero-shot on each transfer environment
   (``saved_run.evaluate_run``); an environment the policy cannot run on (another entity width,
   agent IDs beyond the trained team size) is recorded as ``{"env": ..., "error": ...}``;
3. if the cell asks for it (``analyze`` in the suite), runs the role analysis
   (``analysis.analyze.analyze``: ``RUN_DIR/analysis/``) and records a compact summary
   (``analysis.summary.compact``), or ``{"error": ...}`` when the analysis refuses the run;
4. writes ``RUN_DIR/cell.json`` atomically, last: a cell is finished iff it exists.

``python -m diamond_marl.bench.cell --check SPECS_JSON`` is the launcher's preflight: it
resolves every cell's training config and builds every environment (no compilation), and
exits with status 2 and one line per problem if any fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from diamond_marl import __version__, setup_jax
from diamond_marl.atomic import atomic_write_json
from diamond_marl.bench.suite import Cell
from diamond_marl.errors import ConfigError

setup_jax()  # the XLA flag the library needs, before JAX computes anything

CELL_FILE = "cell.json"  # written last: the cell is finished
SPEC_FILE = "spec.json"  # what the launcher asked this cell to do
LOG_FILE = "log.txt"  # the cell process's stdout and stderr
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 3
# Test hook: stop training after this many chunks of an attempt, as if the process was killed
# (the checkpoint stays, no cell.json); tests/bench/test_launch.py uses it for kill/resume.
STOP_AFTER_ENV = "DIAMOND_MARL_BENCH_STOP_AFTER_CHUNKS"


def run_cell(cell: Cell, run_dir: Path, suite: str = "") -> dict[str, Any] | None:
    """Train (or resume), evaluate transfers, write cell.json; None if stopped by the hook."""
    from diamond_marl.algos import checkpoint
    from diamond_marl.algos.config import resolve
    from diamond_marl.algos.runner import train

    t0 = time.perf_counter()
    stop = int(os.environ.get(STOP_AFTER_ENV, "0")) or None
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        print(f"training already finished in {run_dir}; redoing the evaluations only")
        summary = json.loads(summary_path.read_text())
    elif checkpoint.has_state(run_dir / "checkpoints"):
        print(f"resuming the interrupted training in {run_dir}", flush=True)
        summary = train(resume=run_dir, progress=False, stop_after_chunks=stop)
    else:
        _clear_partial(run_dir)
        cfg = resolve(cell.train_overrides(run_dir))
        print(f"training {cell.id}: {cell.train_overrides(run_dir)}", flush=True)
        summary = train(cfg, progress=False, stop_after_chunks=stop)
    if summary.get("interrupted"):
        print(f"stopped after chunk {summary['chunk']} ({STOP_AFTER_ENV}={stop})")
        return None
    t1 = time.perf_counter()
    transfer = [_transfer(run_dir, env) for env in cell.transfer]
    transfer_s = time.perf_counter() - t1
    result = _cell_record(cell, suite, summary, transfer, transfer_s)
    if cell.analyze is not None:
        t2 = time.perf_counter()
        result["analysis"] = _analysis(run_dir, cell.analyze)
        result["analysis_wall_s"] = round(time.perf_counter() - t2, 3)
        result["wall_s"] = round(result["wall_s"] + result["analysis_wall_s"], 3)
    result["attempt_wall_s"] = round(time.perf_counter() - t0, 3)
    atomic_write_json(run_dir / CELL_FILE, result)
    return result


def _clear_partial(run_dir: Path) -> None:
    """Drop what an attempt killed before its first checkpoint left (nothing to resume)."""
    for name in ("config.yaml", "metrics.csv"):
        (run_dir / name).unlink(missing_ok=True)
    for name in ("tb", "eval", "checkpoints", "analysis"):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def _transfer(run_dir: Path, env: str) -> dict[str, Any]:
    from diamond_marl.algos.saved_run import evaluate_run

    print(f"zero-shot evaluation on {env}", flush=True)
    try:
        return {**evaluate_run(run_dir, env), "env": env}
    except ConfigError as err:
        print(f"  cannot run on {env}: {err}", flush=True)
        return {"env": env, "error": str(err)}


def _analysis(run_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Role analysis of the trained run into RUN_DIR/analysis/; its compact summary."""
    from diamond_marl.analysis.analyze import analyze
    from diamond_marl.analysis.summary import (
        ANALYSIS_DIR,
        DEFAULT_PICTURES,
        FIRST_TIMELINE,
        compact,
    )

    episodes = int(settings["episodes"])
    print(f"role analysis: {episodes} episodes per seed, attacks {settings['attacks']}", flush=True)
    try:
        result = analyze(
            run_dir,
            episodes=episodes,
            pictures=int(settings.get("pictures", DEFAULT_PICTURES)),
            attacks=list(settings["attacks"]),
        )
    except ConfigError as err:
        print(f"  analysis refused: {err}", flush=True)
        return {"error": str(err)}
    shown = (run_dir / ANALYSIS_DIR / FIRST_TIMELINE).exists() and any(
        f.endswith(FIRST_TIMELINE) for f in result["files"]
    )
    return compact(
        result["metrics"],
        result["adversarial"],
        f"{ANALYSIS_DIR}/{FIRST_TIMELINE}" if shown else None,
    )


def _cell_record(
    cell: Cell, suite: str, summary: dict, transfer: list[dict], transfer_s: float
) -> dict[str, Any]:
    import jax

    from diamond_marl.envs import make

    metric = make(cell.env).spec.success_metric or "return"
    train_s = float(summary.get("wall_s") or 0.0)
    env_steps = int(summary.get("env_steps", 0)) * cell.seeds  # every seed's steps
    return {
        "suite": suite,
        "id": cell.id,
        "env": cell.env,
        "algo": cell.algo,
        "breaker": cell.breaker,
        "cell": cell.to_dict(),
        "summary": summary,
        "headline": {"metric": metric, "value": summary.get(metric)},
        "transfer": transfer,
        "train_wall_s": round(train_s, 3),
        "transfer_wall_s": round(transfer_s, 3),
        "wall_s": round(train_s + transfer_s, 3),
        "env_sps": round(env_steps / train_s, 1) if train_s > 0 else None,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"diamond_marl": __version__, "jax": jax.__version__},
        "device": jax.devices()[0].platform,
    }


def check_cells(cells: list[Cell]) -> list[str]:
    """Every problem a cell's config or environments have, as ``"<cell id>: <message>"``."""
    from diamond_marl.algos.common import build_setup
    from diamond_marl.algos.config import resolve
    from diamond_marl.envs import make
    from diamond_marl.envs.host.names import is_pz_name

    problems: list[str] = []
    envs_seen: dict[str, str | None] = {}
    for cell in cells:
        try:
            build_setup(resolve(cell.train_overrides("unused")))
        except ConfigError as err:
            problems.append(f"{cell.id}: {err}")
            continue
        if is_pz_name(cell.env) and cell.analyze is not None:
            problems.append(
                f"{cell.id}: the role analysis rolls episodes out inside JAX; a 'pz:' cell "
                "cannot have analyze (drop it)"
            )
        for env in cell.transfer:
            if is_pz_name(env) != is_pz_name(cell.env):
                problems.append(
                    f"{cell.id}: transfer environment {env!r}: a policy trained "
                    + (
                        "on the host transfers to 'pz:' names only"
                        if is_pz_name(cell.env)
                        else "inside JAX does not transfer to 'pz:' names"
                    )
                )
                continue
            if env not in envs_seen:
                try:
                    make(env)
                    envs_seen[env] = None
                except ConfigError as err:
                    envs_seen[env] = str(err)
            if envs_seen[env]:
                problems.append(f"{cell.id}: transfer environment {env!r}: {envs_seen[env]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diamond_marl.bench.cell")
    parser.add_argument("spec", help="a cell's spec.json (or, with --check, a list of cells)")
    parser.add_argument("--check", action="store_true", help="validate configs only")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.spec).read_text())
    if args.check:
        problems = check_cells([Cell.from_dict(c) for c in data])
        for line in problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG if problems else 0
    try:
        result = run_cell(Cell.from_dict(data["cell"]), Path(data["run_dir"]), data["suite"])
    except ConfigError as err:
        print(f"diamond-marl: error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    if result is None:
        return EXIT_INTERRUPTED
    print(json.dumps({k: result[k] for k in ("id", "headline", "wall_s", "env_sps")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
