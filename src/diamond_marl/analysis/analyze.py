"""``analyze RUN_DIR``: specialisation metrics, pictures, adversarial and transfer tables.

Writes into ``RUN_DIR/analysis/`` (or ``out``), every file atomically:

- ``metrics.json``: SND, Jensen-Shannon, role entropy, role persistence, return and win /
  success rate over ``episodes`` execution-mode episodes (keys 0 .. episodes - 1), per seed
  and mean;
- ``timeline-keyK.png`` (role timeline), ``attention-keyK.png`` (per-agent attention maps of
  the last layer at the first step) for the first ``pictures`` episodes of ``seed_index``;
  ``episode-keyK.png`` (frame strip) on SMAX and RWARE; ``noise.png`` from ``metrics.csv``;
- ``adversarial.json`` and, with ``transfer``, ``transfer.json``; with ``cost``, ``cost.json``;
- ``index.md``: every file above with one line each and the tables, for reports to link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from diamond_marl.algos.saved_run import load_run
from diamond_marl.analysis import plots
from diamond_marl.analysis.adversarial import DEFAULT_ATTACKS, attack_table, evaluate_attacks
from diamond_marl.analysis.render import action_labels, can_render, frame_strip
from diamond_marl.analysis.rollout import Recorder
from diamond_marl.atomic import atomic_write_json, atomic_write_text
from diamond_marl.errors import ConfigError


def analyze(
    run_dir: str | Path,
    episodes: int = 32,
    out: str | Path | None = None,
    *,
    pictures: int = 3,
    seed_index: int = 0,
    attacks: list[str] | tuple[str, ...] = DEFAULT_ATTACKS,
    transfer: list[str] | None = None,
    cost: str | Path | None = None,
) -> dict[str, Any]:
    """Analyse a run; returns ``{"metrics": ..., "adversarial": ..., "files": [...]}``."""
    if episodes < 1:
        raise ConfigError(f"--episodes {episodes} must be >= 1")
    if pictures < 0:
        raise ConfigError(f"--pictures {pictures} must be >= 0")
    from diamond_marl.analysis.adversarial import parse_attack

    for attack in attacks:
        parse_attack(attack)  # bad names fail before anything is compiled
    run = load_run(run_dir, seed_index)
    folder = Path(out) if out else run.run_dir / "analysis"
    recorder = Recorder(run)
    spec = recorder.spec
    files: list[tuple[str, str]] = []

    rec = recorder.record(range(episodes))
    metrics = {
        "run": str(run.run_dir),
        "env": spec.name,
        "algo": run.config.algo,
        "breaker": run.config.breaker,
        "env_steps": run.meta.get("env_steps"),
        "episodes_per_seed": episodes,
        "success_metric": spec.success_metric,
        "distribution": "softmax(policy logits)"
        if run.config.is_ppo
        else "one-hot of the greedy action (epsilon-greedy at q.eps_finish for breaker sampled)",
        **rec.metrics(),
    }
    atomic_write_json(folder / "metrics.json", metrics)
    files.append(("metrics.json", "specialisation metrics per seed and mean"))

    shown = min(pictures, episodes)
    if shown:
        files += _pictures(recorder, folder, range(shown), seed_index)
    noise = plots.noise_over_training(run.run_dir / "metrics.csv", folder / "noise.png")
    if noise is not None:
        files.append(("noise.png", "noise_scale (and sigma) over training, per seed"))

    adversarial = evaluate_attacks(run, attacks, episodes, recorder=recorder)
    atomic_write_json(folder / "adversarial.json", adversarial)
    files.append(("adversarial.json", "honest vs attacked team (agent 0 misbehaves)"))
    tables = {"Adversarial evaluation": attack_table(adversarial)}

    result: dict[str, Any] = {"metrics": metrics, "adversarial": adversarial}
    if transfer:
        from diamond_marl.analysis.transfer import evaluate_transfer, transfer_table

        moved = evaluate_transfer(run.run_dir, list(transfer), episodes)
        atomic_write_json(folder / "transfer.json", moved)
        files.append(("transfer.json", "the policy on other team sizes / maps"))
        tables["Transfer"] = transfer_table(moved)
        result["transfer"] = moved
    if cost:
        from diamond_marl.analysis.cost import cost_table, parse_overhead

        rows = parse_overhead(cost)
        atomic_write_json(folder / "cost.json", rows)
        files.append(("cost.json", f"per-breaker overhead parsed from {cost}"))
        tables["Cost (time with breaker / time with none)"] = cost_table(rows)
        result["cost"] = rows

    atomic_write_text(folder / "index.md", _index(metrics, files, tables))
    files.append(("index.md", "this list"))
    result["files"] = [str(folder / name) for name, _ in files]
    return result


def _pictures(
    recorder: Recorder, folder: Path, keys: range, seed_index: int
) -> list[tuple[str, str]]:
    env = recorder.setup.env
    render = can_render(env)
    rec = recorder.record(keys, attention=True, render=render, seeds=[seed_index])
    labels = action_labels(env)
    files = []
    for e, key in enumerate(keys):
        valid = rec["valid"][0, e]
        draws = {
            k: rec[k][0, e]
            for k in ("rank", "random_input", "dice_norm", "noise_scale")
            if k in rec
        }
        title = (
            f"{rec.env} seed index {seed_index} episode key {key}: return {rec['return'][0, e]:.2f}"
        )
        name = f"timeline-key{key}.png"
        plots.role_timeline(
            rec["action"][0, e],
            valid,
            rec.num_actions,
            folder / name,
            labels=labels,
            draws=draws,
            title=title,
        )
        files.append((name, f"role timeline, episode key {key} (replay --episode-key {key})"))
        name = f"attention-key{key}.png"
        plots.attention_maps(
            rec["attention"][0, e, 0],
            rec["entity_kind"][0, e, 0],
            rec["entity_mask"][0, e, 0],
            folder / name,
            notes=_draw_notes({k: v[0] for k, v in draws.items()}),
            title=f"last-layer attention (mean over heads) at step 0, episode key {key}",
        )
        files.append((name, f"per-agent attention maps at step 0, episode key {key}"))
        if render:
            t_len = max(int(valid.sum()), 1)
            steps = sorted({int(s) for s in np.linspace(0, t_len - 1, min(5, t_len))})
            frames = {k: v[0, e] for k, v in rec["frame"].items()}
            name = f"episode-key{key}.png"
            frame_strip(env, frames, steps, folder / name, actions=rec["action"][0, e], title=title)
            files.append((name, f"rendered frames, episode key {key}"))
    return files


def _draw_notes(draws: dict[str, np.ndarray]) -> list[str] | None:
    """One caption per agent from the draws at one step."""
    if not draws:
        return None
    if "rank" in draws:
        order = plots.rank_order(draws["rank"])
        return [f"rank {r:.2f} (#{o})" for r, o in zip(draws["rank"], order, strict=True)]
    name, values = next(iter(draws.items()))
    return [f"{name} {v:.2f}" for v in values]


def _index(metrics: dict[str, Any], files: list[tuple[str, str]], tables: dict[str, str]) -> str:
    keys = ("snd", "js", "role_entropy", "role_entropy_episode", "role_persistence", "return")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        f"# Analysis of {metrics['run']}",
        "",
        f"{metrics['algo']} on {metrics['env']} with breaker {metrics['breaker']}, "
        f"{metrics['env_steps']} env steps; {metrics['episodes_per_seed']} execution-mode "
        "episodes per seed (episode keys 0..episodes-1). See docs/analysis.md.",
        "",
        "| " + " | ".join(keys) + f" | {metrics['success_metric'] or 'won'} |",
        "|" + "---|" * (len(keys) + 1),
        "| " + " | ".join(fmt(metrics[k]) for k in keys) + f" | {fmt(metrics['won'])} |",
        "",
        "## Files",
        "",
    ]
    lines += [f"- [{name}]({name}): {what}" for name, what in files]
    lines.append("- [index.md](index.md): this list")
    for title, table in tables.items():
        lines += ["", f"## {title}", "", table]
    return "\n".join(lines) + "\n"


def load_metrics(folder: str | Path) -> dict[str, Any]:
    """Read a written ``metrics.json`` back."""
    return json.loads((Path(folder) / "metrics.json").read_text())
