"""Transfer evaluation: a policy trained on one environment or team size, run on others.

Reuses ``saved_run.evaluate_run`` (which writes ``RUN_DIR/eval/<env>.json``) for each target.
Entity tokens do not depend on the team size, so diagnostic games transfer across N, RWARE
across robot counts and layouts, SMAX across maps with the same unit features. A target the
policy cannot run on (agent-ID inputs for a larger team, another token width) is reported as
``cannot run: <reason>``, never skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from diamond_marl.algos.saved_run import evaluate_run
from diamond_marl.env_names import SUCCESS_METRICS
from diamond_marl.envs import make
from diamond_marl.errors import ConfigError


def evaluate_transfer(
    run_dir: str | Path, envs: list[str], episodes: int | None = None
) -> dict[str, Any]:
    """The run on its own environment, then on each of ``envs``; per-seed and mean scores.

    An unknown environment name raises ``ConfigError`` (a typo, not a finding).
    """
    for env in envs:
        make(env)  # validates the name and its parameters
    own = evaluate_run(run_dir, None, episodes)
    rows = [_row(own, own["env"], trained=True)]
    for env in envs:
        try:
            summary = evaluate_run(run_dir, env, episodes)
        except ConfigError as err:
            rows.append({"env": env, "status": f"cannot run: {err}"})
            continue
        rows.append(_row(summary, env))
    return {"trained_on": own["env"], "breaker": own["breaker"], "algo": own["algo"], "rows": rows}


def _row(summary: dict[str, Any], env: str, trained: bool = False) -> dict[str, Any]:
    metric = next((k for k in SUCCESS_METRICS if k in summary), None)
    return {
        "env": env,
        "status": "trained here" if trained else "ok",
        "return": summary["return"],
        "success_metric": metric,
        "success": summary.get(metric) if metric else None,
        "per_seed": summary["seeds"],
        "episodes_per_seed": summary["episodes_per_seed"],
    }


def transfer_table(result: dict[str, Any]) -> str:
    """A markdown table of ``evaluate_transfer``'s result."""
    lines = ["| environment | status | return | success |", "|---|---|---|---|"]
    for row in result["rows"]:
        if "return" not in row:
            lines.append(f"| {row['env']} | {row['status']} | | |")
            continue
        success = (
            "" if row["success"] is None else f"{row['success']:.3f} ({row['success_metric']})"
        )
        lines.append(f"| {row['env']} | {row['status']} | {row['return']:.3f} | {success} |")
    return "\n".join(lines)
