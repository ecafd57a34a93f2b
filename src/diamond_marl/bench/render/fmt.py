"""How the report writes numbers: rates in percent, intervals in brackets, times in the unit
that reads best. Shared by every section."""

from __future__ import annotations

from typing import Any

from diamond_marl.bench.stats import Difference, Estimate


def num(v: float, rate: bool) -> str:
    """A score: a rate in percent with one decimal, anything else to 3 significant digits."""
    return f"{100 * v:.1f}" if rate else f"{v:.3g}"


def estimate(est: Estimate, rate: bool, unit: bool = True) -> str:
    """``value [low, high]``, with a % sign for rates unless ``unit`` is False."""
    pct = "%" if rate and unit else ""
    return f"{num(est.value, rate)}{pct} [{num(est.low, rate)}, {num(est.high, rate)}]"


def cell(v: Estimate | None, rate: bool) -> str:
    """An estimate as ``value [low, high]``, or ``-`` when it was not recorded."""
    return "-" if v is None else estimate(v, rate)


def difference(d: Difference | None, rate: bool) -> str:
    """A paired difference: ``mean [low, high] (better/worse)``, rates in points; ``-`` when
    there is none or fewer than 2 seeds pair."""
    if d is None or d.mean is None:
        return "-"
    m = d.mean
    lo, hi = score(m.low, rate, signed=True), score(m.high, rate, signed=True)
    return f"{score(m.value, rate, signed=True)} [{lo}, {hi}] ({d.better}/{d.worse})"


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
