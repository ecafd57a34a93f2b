"""The JAX-free side of the analysis, for the benchmark: attack names and a compact summary.

The suite parser (``bench.suite``) checks the attacks a suite asks for without importing JAX,
and a benchmark cell (``bench.cell``) records a compact copy of an analysis in ``cell.json``;
the report (``bench.report``) reads that copy, or builds the same from a folder written by
``diamond-marl analyze`` (``metrics.json``, ``adversarial.json``). Nothing here imports JAX.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from diamond_marl.errors import ConfigError

DEFAULT_ATTACKS = ("noise:5", "rank_first", "rank_last", "random")
ATTACK_KINDS = ("noise", "rank_first", "rank_last", "random")
DEFAULT_EPISODES = 32  # per seed, as `diamond-marl analyze`
DEFAULT_PICTURES = 3
# the specialisation metrics and scores a compact summary keeps (means over seeds)
METRIC_KEYS = (
    "snd", "js", "role_entropy", "role_entropy_episode", "role_persistence", "return", "won",
)  # fmt: skip
ANALYSIS_DIR = "analysis"
FIRST_TIMELINE = "timeline-key0.png"


def parse_attack_spec(text: str) -> tuple[str, str, float]:
    """``noise:F``, ``rank_first``, ``rank_last``, ``random`` or ``random:p`` ->
    ``(name, kind, strength)``; ``ConfigError`` names a bad one."""
    if not isinstance(text, str):
        raise ConfigError(f"attack {text!r} must be a string such as 'noise:5' or 'random'")
    kind, _, value = text.strip().partition(":")
    if kind not in ATTACK_KINDS:
        raise ConfigError(
            f"unknown attack {text!r}; allowed: noise:F, rank_first, rank_last, random[:p]"
        )
    if kind.startswith("rank"):
        if value:
            raise ConfigError(f"attack {kind} takes no value, got {text!r}")
        return text.strip(), kind, 1.0
    default = 5.0 if kind == "noise" else 1.0
    try:
        strength = float(value) if value else default
    except ValueError:
        raise ConfigError(f"attack {text!r}: {value!r} is not a number")
    if not math.isfinite(strength) or strength < 0:
        raise ConfigError(f"attack {text!r}: strength must be a finite number >= 0")
    if kind == "random" and strength > 1:
        raise ConfigError(f"attack {text!r}: a probability must be in [0, 1]")
    return text.strip(), kind, strength


def compact(
    metrics: dict[str, Any], adversarial: dict[str, Any] | None, timeline: str | None = None
) -> dict[str, Any]:
    """A small summary of ``metrics.json`` and ``adversarial.json`` (means over seeds).

    ``{"episodes", "seeds", "success_metric", "metrics": {snd, js, role_entropy,
    role_entropy_episode, role_persistence, return, won}, "adversarial": [...],
    "timeline"}``. Adversarial rows hold the headline metric (the success metric, else the
    return) of the honest and the attacked team and the drop (honest - attacked), plus the
    return's drop: ``{"attack", "applies": true, "metric", "honest", "attacked", "drop",
    "drop_return"}``, or ``{"attack", "applies": false, "reason"}`` for an attack that cannot
    act on the run's breaker. ``timeline`` is the first role timeline's path, relative to the
    run directory, when it was drawn.
    """
    success = metrics.get("success_metric")
    out: dict[str, Any] = {
        "episodes": metrics.get("episodes_per_seed"),
        "seeds": len(metrics.get("per_seed") or []) or None,
        "success_metric": success,
        "metrics": {k: metrics.get(k) for k in METRIC_KEYS},
        "adversarial": [],
        "timeline": timeline,
    }
    if not adversarial:
        return out
    key = "won" if success else "return"
    honest = adversarial.get("honest") or {}
    for row in adversarial.get("attacks") or []:
        if not row.get("applies"):
            out["adversarial"].append(
                {"attack": row.get("attack"), "applies": False, "reason": row.get("reason")}
            )
            continue
        out["adversarial"].append(
            {
                "attack": row.get("attack"),
                "applies": True,
                "metric": success or "return",
                "honest": honest.get(key),
                "attacked": row.get(key),
                "drop": row.get(f"drop_{key}"),
                "drop_return": row.get("drop_return"),
            }
        )
    return out


def read_folder(run_dir: str | Path) -> dict[str, Any] | None:
    """The compact summary of ``RUN_DIR/analysis/`` written by ``diamond-marl analyze``, or
    None when there is no readable ``metrics.json``."""
    import json

    folder = Path(run_dir) / ANALYSIS_DIR
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict):
        return None
    try:
        adversarial = json.loads((folder / "adversarial.json").read_text())
    except (OSError, ValueError):
        adversarial = None
    adversarial = adversarial if isinstance(adversarial, dict) else None
    timeline = folder / FIRST_TIMELINE
    name = f"{ANALYSIS_DIR}/{FIRST_TIMELINE}" if timeline.exists() else None
    return compact(metrics, adversarial, name)
