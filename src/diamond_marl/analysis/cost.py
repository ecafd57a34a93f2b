"""Per-breaker cost, read from the output of ``benchmarks/attention_overhead.py``.

That script prints lines ``overhead <breaker> <env> <fwd+bwd ratio>   (fwd <ratio>; none:
fwd <ms> ms, fwd+bwd <ms> ms)``; ``parse_overhead`` turns a saved copy into rows. The
benchmark is never re-run here: it takes minutes and wants a quiet machine.
"""

from __future__ import annotations

import re
from pathlib import Path

from diamond_marl.errors import ConfigError

_LINE = re.compile(
    r"^overhead\s+(?P<breaker>\S+)\s+(?P<env>\S+)\s+(?P<fwd_bwd>[\d.]+)"
    r"(?:\s+\(fwd\s+(?P<fwd>[\d.]+);\s*none:\s*fwd\s+(?P<none_fwd>[\d.]+)\s*ms,"
    r"\s*fwd\+bwd\s+(?P<none_fwd_bwd>[\d.]+)\s*ms\))?"
)


def parse_overhead(path: str | Path) -> list[dict[str, object]]:
    """Rows ``{breaker, env, fwd_bwd, fwd, none_fwd_ms, none_fwd_bwd_ms}`` (missing = None)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--cost {path}: no such file")
    rows = []
    for line in path.read_text().splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        num = {
            k: float(v) if v else None
            for k, v in m.groupdict().items()
            if k not in ("breaker", "env")
        }
        rows.append(
            {
                "breaker": m["breaker"],
                "env": m["env"],
                "fwd_bwd": num["fwd_bwd"],
                "fwd": num["fwd"],
                "none_fwd_ms": num["none_fwd"],
                "none_fwd_bwd_ms": num["none_fwd_bwd"],
            }
        )
    if not rows:
        raise ConfigError(f"--cost {path}: no 'overhead <breaker> <env> <ratio>' lines found")
    return rows


def cost_table(rows: list[dict[str, object]]) -> str:
    """Markdown: time with each breaker / time with none, forward+backward and forward."""
    lines = ["| breaker | env | fwd+bwd ratio | fwd ratio |", "|---|---|---|---|"]
    for r in rows:
        fwd = "" if r["fwd"] is None else f"{r['fwd']:.3f}"
        lines.append(f"| {r['breaker']} | {r['env']} | {r['fwd_bwd']:.3f} | {fwd} |")
    return "\n".join(lines)


_BATCH = re.compile(r"\bbatch[= ](?P<batch>\d+)")
_SHAPES = re.compile(r"^#\s*(?P<env>\S+):\s*shapes from .*?\(N=(?P<n>\d+)")


def overhead_meta(path: str | Path) -> dict[str, object]:
    """What the saved output says about itself: its comment lines, the batch (envs per call)
    and each environment's team size N, so times can be put per agent
    (``{"comments": [...], "batch": int | None, "agents": {env: N}}``)."""
    comments, batch, agents = [], None, {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line.startswith("#"):
            continue
        comments.append(line.lstrip("#").strip())
        shapes = _SHAPES.match(line)
        if shapes:
            agents[shapes["env"]] = int(shapes["n"])
        found = _BATCH.search(line)
        if found and batch is None:
            batch = int(found["batch"])
    return {"comments": comments, "batch": batch, "agents": agents}


def per_agent_us(row: dict[str, object], meta: dict[str, object]) -> float | None:
    """Forward+backward time per agent (microseconds) with the row's breaker: its ratio times
    ``none``'s time for a batch, over batch x N agents; None when the output lacks a number."""
    n = meta["agents"].get(row["env"])  # type: ignore[union-attr]
    batch, base = meta["batch"], row["none_fwd_bwd_ms"]
    if not n or not batch or base is None:
        return None
    return float(row["fwd_bwd"]) * float(base) * 1000.0 / (int(batch) * int(n))
