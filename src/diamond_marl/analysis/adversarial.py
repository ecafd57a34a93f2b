"""Adversarial evaluation: one team member (agent 0) misbehaves, the others stay honest.

Attacks (names as given to ``analyze --attacks`` and ``evaluate_attacks``):

- ``noise:F`` (noise breakers): agent 0's logit-noise gain becomes F. When the run evaluates
  with noise (``eval_noise=true``) honest agents keep gain 1, so ``noise:1`` changes nothing;
  when it evaluates without noise, noise is switched on for agent 0 alone, at F times the
  run's current (schedule or adaptive) scale, honest agents keep gain 0 (``noise:0`` = honest).
- ``rank_first`` / ``rank_last`` (rank breakers, ranks drawn at evaluation): agent 0's
  broadcast draw is forced to 1.0 / 0.0 at every step, so it always tops / trails the order
  (everyone sees the forced value: a consistent but no longer random number).
- ``random`` or ``random:p``: with probability p (default 1) agent 0 takes a uniformly random
  available action instead of its own.

Honest and attacked teams play the same episode keys (0 .. episodes - 1), so a zero-strength
attack gives exactly the honest score. An attack that does not apply to the run's breaker is
reported as ``n/a`` with the reason.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from diamond_marl.algos.saved_run import LoadedRun, load_run
from diamond_marl.analysis.rollout import Recorder, Tamper
from diamond_marl.analysis.summary import ATTACK_KINDS, DEFAULT_ATTACKS, parse_attack_spec
from diamond_marl.errors import ConfigError
from diamond_marl.networks.breakers import BreakerConfig

KINDS = ATTACK_KINDS


@dataclasses.dataclass(frozen=True)
class Attack:
    """A parsed attack: its name, kind and strength."""

    name: str
    kind: str
    strength: float

    def tamper(self) -> Tamper:
        if self.kind == "noise":
            return Tamper(noise_gain0=self.strength)
        if self.kind == "rank_first":
            return Tamper(rank0=1.0)
        if self.kind == "rank_last":
            return Tamper(rank0=0.0)
        return Tamper(random_prob=self.strength)

    def not_applicable(self, breaker: BreakerConfig) -> str | None:
        """Why this attack cannot act on ``breaker`` (None when it can)."""
        if self.kind == "noise" and not breaker.has_logit_noise:
            return f"breaker {breaker.name} has no logit noise"
        if self.kind.startswith("rank"):
            if not breaker.broadcasts_rank:
                return f"breaker {breaker.name} broadcasts no rank"
            if not breaker.rank_at_eval:
                return "ranks are not drawn at evaluation (eval_rank=false)"
        return None


def parse_attack(text: str) -> Attack:
    """``noise:F``, ``rank_first``, ``rank_last``, ``random`` or ``random:p``."""
    return Attack(*parse_attack_spec(text))


def _scores(rec) -> list[dict[str, float]]:
    return [
        {"return": float(r.mean()), "won": float(w.mean())}
        for r, w in zip(rec["return"], rec["won"], strict=True)
    ]


def evaluate_attacks(
    run: str | Path | LoadedRun,
    attacks: list[str] | tuple[str, ...] = DEFAULT_ATTACKS,
    episodes: int = 64,
    env: str | None = None,
    recorder: Recorder | None = None,
) -> dict[str, Any]:
    """Honest vs attacked team on the same episode keys, per seed and mean, for each attack.

    Returns ``{"env", "breaker", "episodes", "success_metric", "honest": {...},
    "attacks": [{"attack", "applies", "reason", "per_seed", "return", "won", "drop_return",
    "drop_won"}]}``; ``won`` is the win or success rate (``success_metric``).
    """
    if episodes < 1:
        raise ConfigError(f"episodes={episodes} must be >= 1")
    parsed = [parse_attack(a) for a in attacks]
    loaded = run if isinstance(run, LoadedRun) else load_run(run)
    recorder = recorder or Recorder(loaded, env)
    breaker = recorder.setup.breaker
    keys = range(episodes)
    honest = _scores(recorder.record(keys))
    mean = lambda rows, k: float(np.mean([r[k] for r in rows]))  # noqa: E731
    out: dict[str, Any] = {
        "env": recorder.spec.name,
        "breaker": breaker.name,
        "episodes": episodes,
        "success_metric": recorder.spec.success_metric,
        "honest": {
            "per_seed": honest,
            "return": mean(honest, "return"),
            "won": mean(honest, "won"),
        },
        "attacks": [],
    }
    for attack in parsed:
        reason = attack.not_applicable(breaker)
        row: dict[str, Any] = {"attack": attack.name, "applies": reason is None, "reason": reason}
        if reason is None:
            force = attack.kind == "noise" and not breaker.noise_at_eval
            rows = _scores(recorder.record(keys, attack.tamper(), force_noise=force))
            row["per_seed"] = [
                {**r, "drop_return": h["return"] - r["return"], "drop_won": h["won"] - r["won"]}
                for r, h in zip(rows, honest, strict=True)
            ]
            row |= {"return": mean(rows, "return"), "won": mean(rows, "won")}
            row["drop_return"] = out["honest"]["return"] - row["return"]
            row["drop_won"] = out["honest"]["won"] - row["won"]
        out["attacks"].append(row)
    return out


def attack_table(result: dict[str, Any]) -> str:
    """A markdown table of ``evaluate_attacks``' result (means over seeds)."""
    won = result["success_metric"] or "won"
    lines = [
        f"| attack on agent 0 | return | drop | {won} | drop |",
        "|---|---|---|---|---|",
        f"| none (honest) | {result['honest']['return']:.3f} | | {result['honest']['won']:.3f} | |",
    ]
    for row in result["attacks"]:
        if not row["applies"]:
            lines.append(f"| {row['attack']} | n/a: {row['reason']} | | | |")
            continue
        lines.append(
            f"| {row['attack']} | {row['return']:.3f} | {row['drop_return']:+.3f} | "
            f"{row['won']:.3f} | {row['drop_won']:+.3f} |"
        )
    return "\n".join(lines)
