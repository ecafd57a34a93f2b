"""The suite's contrasts, computed (JAX-free): for each ``contrasts:`` entry of the suite
(``bench.contrasts_spec``) and each side it is set against, the difference on every env x
algo where both ran, in the headline metric and in the final return (``stats.Difference``:
IQM difference, probability of improvement, and paired by seed)."""

from __future__ import annotations

import dataclasses

from diamond_marl.bench.contrasts_spec import Contrast, Side
from diamond_marl.bench.runs import Group
from diamond_marl.bench.stats import Difference, compare

Groups = dict[tuple[str, str, str], Group]
Seeds = tuple[dict[int, float], dict[int, float]]  # seed -> headline score, seed -> return


@dataclasses.dataclass(frozen=True)
class ContrastCell:
    """One env x algo of a contrast: ``breaker`` minus ``against`` there."""

    env: str
    algo: str
    metric: str
    headline: Difference
    returns: Difference | None = None  # None: the headline is the return, or not recorded


@dataclasses.dataclass(frozen=True)
class ContrastRow:
    """One side a breaker is set against, on every env x algo where both ran."""

    breaker: str  # the side's label: ``rank``, or ``rank@sampled``
    against: str  # e.g. ``none``, or ``none@sampled``
    execution: str  # the breaker's execution (its own unless the label says)
    against_execution: str
    cells: list[ContrastCell]


def side_seeds(g: Group, execution: str | None) -> Seeds:
    """The final scores and returns of ``g``'s seeds under ``execution`` (None: the group's
    own, as in the results table); empty if some seed did not record it."""
    if execution is None:
        return dict(g.values), dict(g.returns)
    scores, returns = g.readout(execution, g.metric), g.readout(execution, "return")
    return (scores, returns) if set(scores) == set(g.values) else ({}, {})


def _returns(g: Group, x: Seeds, y: Seeds) -> Difference | None:
    (xs, x_ret), (ys, y_ret) = x, y
    if g.metric == "return" or set(x_ret) != set(xs) or set(y_ret) != set(ys):
        return None
    return compare(x_ret, y_ret)


def _cell(groups: Groups, env: str, algo: str, a: Side, b: Side) -> ContrastCell | None:
    ga, gb = groups.get((env, algo, a.breaker)), groups.get((env, algo, b.breaker))
    if ga is None or gb is None:
        return None
    x, y = side_seeds(ga, a.execution), side_seeds(gb, b.execution)
    if not x[0] or not y[0]:
        return None
    return ContrastCell(env, algo, ga.metric, compare(x[0], y[0]), _returns(ga, x, y))


def contrast_rows(groups: Groups, contrasts: tuple[Contrast, ...]) -> list[ContrastRow]:
    """Every entry's breaker against each of its sides, in the suite's order; a side that
    ran nowhere beside the breaker gives a row without cells."""
    pairs = list(dict.fromkeys((env, algo) for env, algo, _ in groups))
    own = {g.breaker: g.execution for g in groups.values()}  # each breaker's own execution
    out = []
    for c in contrasts:
        for other in c.against:
            cells = [_cell(groups, env, algo, c.breaker, other) for env, algo in pairs]
            found = [cell for cell in cells if cell is not None]
            out.append(
                ContrastRow(
                    c.breaker.label, other.label,
                    c.breaker.execution or own.get(c.breaker.breaker, "greedy"),
                    other.execution or own.get(other.breaker, "greedy"), found,
                )
            )  # fmt: skip
    return out
