"""How the report writes numbers: rates in percent, intervals in brackets, times in the unit
that reads best. Shared by every section."""

from __future__ import annotations

from typing import Any

from diamond_marl.bench.stats import Estimate


def num(v: float, rate: bool) -> str:
    """A score: a rate in percent with one decimal, anything else to 3 significant digits."""
    return f"{100 * v:.1f}" if rate else f"{v:.3g}"


def estimate(est: Estimate, rate: bool, unit: bool = True) -> str:
    """``value [low, high]``, with a % sign for rates unless ``unit`` is False."""
    pct = "%" if rate and unit else ""
    return f"{num(est.value, rate)}{pct} [{num(est.low, rate)}, {num(est.high, rate)}]"


def interval(iqm: float, low: float, high: float, rate: bool) -> str:
    return estimate(Estimate(iqm, low, high), rate)


def cell(v: Any, rate: bool) -> str:
    """An ``Interval`` row field (``iqm``, ``ci_low``, ``ci_high``) as ``iqm [low, high]``, or
    ``-`` when it was not recorded."""
    return "-" if v is None else interval(v.iqm, v.ci_low, v.ci_high, rate)


def duration(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def metric(v: Any) -> str:
    """A specialisation metric (0..1), or n/a."""
    return "n/a" if v is None else f"{v:.3f}"


def score(v: Any, rate: bool, signed: bool = False) -> str:
    """A score (rates in percent) or, ``signed``, a difference (rates in points)."""
    if v is None:
        return "-"
    if rate:
        return f"{100 * v:+.1f}" if signed else f"{100 * v:.1f}%"
    return f"{v:+.3g}" if signed else f"{v:.3g}"
