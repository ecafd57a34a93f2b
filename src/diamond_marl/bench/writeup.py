"""A write-up's table beside ours: its reference numbers and the comparison rows (JAX-free).

The numbers, their citation and which of our breakers their columns stand for are package
data (``data/writeup.yaml``). A suite asks for the comparison with ``writeup: true`` on a
contrast entry (``bench.contrasts_spec``): that entry's breaker is set beside the write-up's
treated column. For each of its rows whose environment our runs include, ``compare`` gives
our scores, the difference to our vanilla (``stats.Difference``), a verdict from the IQM
difference's interval and the seed-paired reading beside it; first with the write-up's
algorithm, then with every other algorithm our runs include there. Rendering:
``bench.render.writeup``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from diamond_marl.bench.contrast import Seeds, side_seeds
from diamond_marl.bench.runs import Group
from diamond_marl.bench.stats import Difference, Estimate, bootstrap_ci, compare
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import DATA, package_file

WRITEUP_FILE = "writeup.yaml"


@dataclasses.dataclass(frozen=True)
class WriteupRow:
    """One row of the write-up's table: their vanilla and treated columns, in percent."""

    label: str
    env: str  # our environment for it
    vanilla: float
    diamond: float


@dataclasses.dataclass(frozen=True)
class Reference:
    """The write-up's table, where it comes from and what its columns mean in our terms."""

    citation: str
    algo: str  # the algorithm of both columns
    rows: tuple[WriteupRow, ...]
    method: str  # the name of the treated column ("Diamond")
    vanilla: str  # our breaker for the write-up's vanilla column
    stochastic: str  # our breaker for stochastic execution alone
    note: str  # what their numbers are and how ours compare (the section's first paragraph)


def load_reference(path: Path | None = None) -> Reference:
    """Read the reference numbers (default: the package's ``data/writeup.yaml``)."""
    path = path or package_file(DATA, WRITEUP_FILE)
    try:
        data = yaml.safe_load(path.read_text())
        rows = tuple(WriteupRow(**r) for r in data["rows"])
        ours = data["ours"]
        return Reference(
            str(data["citation"]), str(data["algo"]), rows, str(data["method"]),
            str(ours["vanilla"]), str(ours["stochastic"]), " ".join(str(data["note"]).split()),
        )  # fmt: skip
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise ConfigError(f"write-up reference {path}: unreadable ({err})")


@dataclasses.dataclass(frozen=True)
class Reading:
    """A form minus our vanilla (``difference``, in the metric's units) with the write-up's
    reading of it: the verdict from the IQM difference's interval, where their claimed gain
    falls, and whether both rates sit at 0 (then the return's difference says more)."""

    difference: Difference
    verdict: str  # supports | contradicts | cannot decide
    their_gain_is: str | None  # inside | above | below our interval (rates only)
    floor: bool  # both rates 0 on every seed: the row tests nothing
    return_difference: Difference | None  # the final return's, on a floor


@dataclasses.dataclass(frozen=True)
class WriteupEntry:
    """One row of the write-up's table with ours beside it."""

    benchmark: str
    env: str
    algo: str  # ours; the write-up's numbers are always its own algorithm's
    their_vanilla: float
    their_diamond: float
    their_gain_pp: float
    metric: str
    ours: dict[str, Estimate]  # breaker -> score, for our vanilla and each form we ran
    improvement: dict[str, Reading]  # form -> difference to our vanilla
    # the same under sampled execution (breaker -> score, incl. the stochastic baseline's own)
    ours_sampled: dict[str, Estimate] = dataclasses.field(default_factory=dict)
    improvement_sampled: dict[str, Reading] = dataclasses.field(default_factory=dict)
    # form (its own execution) -> difference to the stochastic-execution baseline
    vs_stochastic: dict[str, Reading] = dataclasses.field(default_factory=dict)
    # where that baseline comes from: "cell" (a stochastic cell ran) or "<vanilla> sampled"
    # (the vanilla cell's sampled readout: the same policy, when the stochastic breaker
    # trains exactly as vanilla)
    stochastic_source: str | None = None


def verdict(diff: Estimate) -> str:
    """supports (CI > 0), contradicts (CI < 0: vanilla beats the form) or cannot decide."""
    if diff.low > 0:
        return "supports"
    if diff.high < 0:
        return "contradicts"
    return "cannot decide"


def writeup_rows(
    groups: dict[tuple[str, str, str], Group], ref: Reference, forms: tuple[str, ...]
) -> list[WriteupEntry]:
    """The write-up's rows whose environment has at least one of our cells, ours beside
    (``forms``: our breakers for its treated column; none: no rows): the write-up's
    algorithm first, then each other algorithm of ours in name order."""
    if not forms:
        return []
    others = sorted({algo for _, algo, _ in groups} - {ref.algo})
    return [e for algo in (ref.algo, *others) for e in _compare(groups, ref, forms, algo)]


def _compare(
    groups: dict[tuple[str, str, str], Group], ref: Reference, forms: tuple[str, ...], algo: str
) -> list[WriteupEntry]:
    vanilla, stochastic = ref.vanilla, ref.stochastic
    out = []
    for w in ref.rows:
        cells = {b: groups.get((w.env, algo, b)) for b in (vanilla, *forms, stochastic)}
        ran = {b: g for b, g in cells.items() if g is not None}
        if not ran:
            continue
        gain = round(w.diamond - w.vanilla, 1)
        own = {b: side_seeds(g, None) for b, g in ran.items()}
        sampled = {b: side_seeds(g, "sampled") for b, g in ran.items()}
        sampled = {b: v for b, v in sampled.items() if v[0]}
        # stochastic execution alone: its own cell, else vanilla sampled (the same policy)
        source, base = None, None
        if stochastic in own:
            source, base = "cell", own[stochastic]
        elif vanilla in sampled:
            source, base = f"{vanilla} sampled", sampled[vanilla]
            sampled[stochastic] = base
        improvement, improvement_sampled, vs_stochastic = {}, {}, {}
        for b in forms:
            g = ran.get(b)
            if g is None:
                continue
            if vanilla in own:
                improvement[b] = _improvement(g, own[b], own[vanilla], gain)
            if b in sampled and vanilla in sampled:
                improvement_sampled[b] = _improvement(g, sampled[b], sampled[vanilla], gain)
            if base is not None:
                vs_stochastic[b] = _improvement(g, own[b], base, gain)
        metric = next(iter(ran.values())).metric
        ours = {b: _score(v[0]) for b, v in own.items() if b != stochastic}
        ours_sampled = {b: _score(v[0]) for b, v in sampled.items()}
        out.append(
            WriteupEntry(
                w.label,
                w.env,
                algo,
                w.vanilla,
                w.diamond,
                gain,
                metric,
                ours,
                improvement,
                ours_sampled,
                improvement_sampled,
                vs_stochastic,
                source if vs_stochastic else None,
            )  # fmt: skip
        )
    return out


def _score(values: dict[int, float]) -> Estimate:
    return bootstrap_ci([values[s] for s in sorted(values)])


def _improvement(g: Group, x: Seeds, y: Seeds, gain: float) -> Reading:
    """``x`` minus ``y`` (seeds of ``g``'s metric): the difference, verdict, floor."""
    (xs, x_ret), (ys, y_ret) = x, y
    diff = compare(xs, ys)
    d = diff.iqm
    where = None
    # a rate that is 0 on every seed of both cells measures nothing (a floor, not a tie)
    floor = g.is_rate and max([*xs.values(), *ys.values()]) == 0
    if g.is_rate and not floor:
        lo, hi = d.low * 100.0, d.high * 100.0
        where = "inside" if lo <= gain <= hi else "above" if gain > hi else "below"
    return_diff = None
    if floor and set(x_ret) == set(xs) and set(y_ret) == set(ys):
        return_diff = compare(x_ret, y_ret)
    return Reading(diff, verdict(d), where, floor, return_diff)
