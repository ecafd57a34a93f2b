"""The symmetry dial: final scores against an environment parameter that sets how much of the
task is symmetric (JAX-free).

A *dial group* is every env x algo x breaker group whose environment names differ only in a
dial parameter (``DIALS``: ``tie`` of ``mpe:spread``, the share of episodes that start with
every agent at one point, or ``spawn``, the start radius), with at least two values of it.
For each breaker and dial value the report shows the group's execution row (the final
headline metric and the return under both executions, IQM with its 95% bootstrap interval)
and the breaker's differences from ``none`` (``stats.Difference``), in the headline metric
and in the return, each under its own execution (as in the results table). Contrasts between
other breakers are the suite's (``bench.contrast``).
"""

from __future__ import annotations

import dataclasses

from diamond_marl.bench.rows import FLAT, ExecutionRow
from diamond_marl.bench.runs import Group
from diamond_marl.bench.stats import Difference, compare
from diamond_marl.breaker_names import breaker_order
from diamond_marl.env_names import parse_name

# parameter -> what its value means, as an axis label
DIALS = {
    "tie": "share of episodes that start tied (identical observations)",
    "spawn": "start radius R (0: every agent at one point)",
}


@dataclasses.dataclass(frozen=True)
class DialPoint:
    value: float  # the dial parameter's value
    # the group's readouts under both executions (its row of "Greedy and sampled execution")
    readouts: ExecutionRow = dataclasses.field(metadata=FLAT)
    vs_none: Difference | None  # headline, each under its own execution
    return_vs_none: Difference | None = None  # the same for the final return


@dataclasses.dataclass(frozen=True)
class DialLine:
    """One breaker along one dial: a point per dial value, in increasing order."""

    env: str  # the environment name without the dial parameter
    algo: str
    dial: str
    breaker: str
    metric: str
    points: list[DialPoint]


def split_dial(name: str) -> tuple[str, str, float] | None:
    """``mpe:spread,n=3,tie=0.5`` -> (``mpe:spread,n=3``, ``tie``, 0.5); None without a dial."""
    family, variant, params = parse_name(name, ())
    found = [k for k in DIALS if k in params]
    if len(found) != 1:
        return None
    dial = found[0]
    try:
        value = float(params.pop(dial))
    except ValueError:
        return None
    items = ([variant] if variant else []) + [f"{k}={v}" for k, v in params.items()]
    return f"{family}:{','.join(items)}", dial, value


def _vs_none(g: Group, none: Group | None, returns: bool = False) -> Difference | None:
    if none is None or g.breaker == "none":
        return None
    if returns and not (g.has_returns and none.has_returns):
        return None
    return compare(*((g.returns, none.returns) if returns else (g.values, none.values)))


def _along_dials(
    groups: dict[tuple[str, str, str], Group], executions: list[ExecutionRow]
) -> dict[tuple[str, str, str], dict[str, dict[float, Group]]]:
    """(base env, algo, dial) -> breaker -> dial value -> group, for every dial that has at
    least two values among the groups whose runs recorded both executions."""
    readouts = {(r.env, r.algo, r.breaker) for r in executions}
    found: dict[tuple[str, str, str], dict[str, dict[float, Group]]] = {}
    for key, g in groups.items():
        split = split_dial(g.env)
        if split is not None and key in readouts:
            base, dial, value = split
            found.setdefault((base, g.algo, dial), {}).setdefault(g.breaker, {})[value] = g
    return {
        k: by_breaker
        for k, by_breaker in sorted(found.items())
        if len({v for per_value in by_breaker.values() for v in per_value}) >= 2
    }


def dial_lines(
    groups: dict[tuple[str, str, str], Group], executions: list[ExecutionRow]
) -> list[DialLine]:
    """Every breaker's line along every dial that has at least two values; a point for each
    group whose runs recorded both executions (``executions``: the report's rows)."""
    readouts = {(r.env, r.algo, r.breaker): r for r in executions}
    lines = []
    for (base, algo, dial), by_breaker in _along_dials(groups, executions).items():
        nones = by_breaker.get("none", {})
        for breaker in sorted(by_breaker, key=breaker_order):
            per_value = by_breaker[breaker]
            points = [
                DialPoint(
                    v,
                    readouts[(g.env, g.algo, g.breaker)],
                    _vs_none(g, nones.get(v)),
                    _vs_none(g, nones.get(v), returns=True),
                )
                for v, g in sorted(per_value.items())
            ]
            metric = next(iter(per_value.values())).metric
            lines.append(DialLine(base, algo, dial, breaker, metric, points))
    return lines
