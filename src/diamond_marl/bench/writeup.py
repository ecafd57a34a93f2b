"""The write-up's table beside ours: its reference numbers and the comparison rows (JAX-free).

The numbers and their citation are package data (``data/writeup.yaml``): the AINews article
on arXiv 2605.06825 claims these QMIX win rates with and without Diamond Attention. For
each of its rows whose environment our runs include, ``compare`` gives our vanilla and
Diamond scores, the Diamond - vanilla difference with a bootstrap interval, a verdict from
that interval and the seed-paired reading beside it: first with the write-up's algorithm,
then with every other algorithm our runs include there (the claim's direction tested with
another learner: MAPPO is the one that learns RobotWarehouse here). Rendering:
``bench.render.writeup``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from diamond_marl.bench.rows import Score
from diamond_marl.bench.runs import Group, in_seed_order
from diamond_marl.bench.stats import Estimate, bootstrap_ci, difference_ci, paired_difference
from diamond_marl.errors import ConfigError
from diamond_marl.package_data import DATA, package_file

WRITEUP_FILE = "writeup.yaml"
VANILLA = "none"
DIAMOND = ("noise", "rank")  # Diamond Attention's two forms, compared with vanilla
STOCHASTIC = "sampled"  # the stochastic-execution baseline: vanilla acting by sampling


@dataclasses.dataclass(frozen=True)
class WriteupRow:
    """One row of the write-up's table: their vanilla and Diamond QMIX, in percent."""

    label: str
    env: str  # our environment for it
    vanilla: float
    diamond: float


@dataclasses.dataclass(frozen=True)
class Reference:
    """The write-up's table and where it comes from."""

    citation: str
    algo: str  # the algorithm of both columns
    rows: tuple[WriteupRow, ...]


def load_reference(path: Path | None = None) -> Reference:
    """Read the reference numbers (default: the package's ``data/writeup.yaml``)."""
    path = path or package_file(DATA, WRITEUP_FILE)
    try:
        data = yaml.safe_load(path.read_text())
        rows = tuple(WriteupRow(**r) for r in data["rows"])
        return Reference(str(data["citation"]), str(data["algo"]), rows)
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise ConfigError(f"write-up reference {path}: unreadable ({err})")


@dataclasses.dataclass(frozen=True)
class ReturnDiff:
    """Diamond - vanilla in the final return (shown when both rates are 0 everywhere)."""

    diff: float
    ci_low: float
    ci_high: float


@dataclasses.dataclass(frozen=True)
class PairedDiff:
    """Diamond - vanilla seed by seed (seed i of both cells drew the same random keys)."""

    seeds: list[int]
    diffs: list[float]
    mean: float
    ci_low: float
    ci_high: float
    better: int  # seeds where Diamond scored higher
    worse: int
    sign_p: float  # exact two-sided sign test


@dataclasses.dataclass(frozen=True)
class Improvement:
    """IQM(Diamond) - IQM(vanilla), in percentage points for rates."""

    diff: float
    ci_low: float
    ci_high: float
    unit: str  # "pp", or the metric's name
    verdict: str  # supports | contradicts | cannot decide
    their_gain_is: str | None  # inside | above | below our interval (rates only)
    paired: PairedDiff | None
    floor: bool  # both rates 0 on every seed: the row tests nothing
    return_diff: ReturnDiff | None


@dataclasses.dataclass(frozen=True)
class WriteupEntry:
    """One row of the write-up's table with ours beside it."""

    benchmark: str
    env: str
    algo: str  # ours; the write-up's numbers are always its own algorithm's
    their_vanilla: float
    their_diamond: float
    their_gain_pp: float
    ours: dict[str, Score]  # breaker -> score, for none and each Diamond form we ran
    improvement: dict[str, Improvement]  # Diamond form -> difference to none
    # the same under sampled execution (breaker -> score, incl. the `sampled` baseline's own)
    ours_sampled: dict[str, Score] = dataclasses.field(default_factory=dict)
    improvement_sampled: dict[str, Improvement] = dataclasses.field(default_factory=dict)
    # Diamond form (its own execution) -> difference to the stochastic-execution baseline
    vs_stochastic: dict[str, Improvement] = dataclasses.field(default_factory=dict)
    # where that baseline comes from: "cell" (a `sampled` cell ran) or "none sampled" (the
    # `none` cell's sampled readout: the same policy, as `sampled` trains exactly as `none`)
    stochastic_source: str | None = None


def verdict(diff: Estimate) -> str:
    """supports (CI > 0), contradicts (CI < 0: vanilla beats Diamond) or cannot decide."""
    if diff.low > 0:
        return "supports"
    if diff.high < 0:
        return "contradicts"
    return "cannot decide"


def compare(groups: dict[tuple[str, str, str], Group], ref: Reference) -> list[WriteupEntry]:
    """The write-up's rows whose environment has at least one of our cells, ours beside:
    the write-up's algorithm first, then each other algorithm of ours in name order."""
    others = sorted({algo for _, algo, _ in groups} - {ref.algo})
    return [e for algo in (ref.algo, *others) for e in _compare(groups, ref, algo)]


def _compare(
    groups: dict[tuple[str, str, str], Group], ref: Reference, algo: str
) -> list[WriteupEntry]:
    out = []
    for w in ref.rows:
        cells = {b: groups.get((w.env, algo, b)) for b in (VANILLA, *DIAMOND, STOCHASTIC)}
        ran = {b: g for b, g in cells.items() if g is not None}
        if not ran:
            continue
        gain = round(w.diamond - w.vanilla, 1)
        own = {b: _seeds(g, None) for b, g in ran.items()}
        sampled = {b: _seeds(g, "sampled") for b, g in ran.items()}
        sampled = {b: v for b, v in sampled.items() if v[0]}
        # stochastic execution alone: the `sampled` cell, else `none` sampled (the same policy)
        source, base = None, None
        if STOCHASTIC in own:
            source, base = "cell", own[STOCHASTIC]
        elif VANILLA in sampled:
            source, base = "none sampled", sampled[VANILLA]
            sampled[STOCHASTIC] = base
        improvement, improvement_sampled, vs_stochastic = {}, {}, {}
        for b in DIAMOND:
            g = ran.get(b)
            if g is None:
                continue
            if VANILLA in own:
                improvement[b] = _improvement(g, own[b], own[VANILLA], gain)
            if b in sampled and VANILLA in sampled:
                improvement_sampled[b] = _improvement(g, sampled[b], sampled[VANILLA], gain)
            if base is not None:
                vs_stochastic[b] = _improvement(g, own[b], base, gain)
        metric = next(iter(ran.values())).metric
        ours = {b: _score(metric, v[0]) for b, v in own.items() if b != STOCHASTIC}
        ours_sampled = {b: _score(metric, v[0]) for b, v in sampled.items()}
        out.append(
            WriteupEntry(
                w.label,
                w.env,
                algo,
                w.vanilla,
                w.diamond,
                gain,
                ours,
                improvement,
                ours_sampled,
                improvement_sampled,
                vs_stochastic,
                source if vs_stochastic else None,
            )  # fmt: skip
        )
    return out


Seeds = tuple[dict[int, float], dict[int, float]]  # seed -> headline score, seed -> return


def _seeds(g: Group, execution: str | None) -> Seeds:
    """The final scores and returns of ``g``'s seeds under ``execution`` (None: the group's
    own, as in the results table); empty if some seed did not record it."""
    if execution is None:
        return dict(g.values), dict(g.returns)
    scores, returns = g.readout(execution, g.metric), g.readout(execution, "return")
    return (scores, returns) if set(scores) == set(g.values) else ({}, {})


def _score(metric: str, values: dict[int, float]) -> Score:
    est = bootstrap_ci(in_seed_order(values))
    return Score(metric, est.value, est.low, est.high, seeds=len(values))


def _improvement(g: Group, x: Seeds, y: Seeds, gain: float) -> Improvement:
    """``x`` minus ``y`` (seeds of ``g``'s metric): interval, verdict, pairing."""
    (xs, x_ret), (ys, y_ret) = x, y
    d = difference_ci(in_seed_order(xs), in_seed_order(ys))
    scale = 100.0 if g.is_rate else 1.0
    where = None
    # a rate that is 0 on every seed of both cells measures nothing (a floor, not a tie)
    floor = g.is_rate and max([*xs.values(), *ys.values()]) == 0
    if g.is_rate and not floor:
        lo, hi = d.low * scale, d.high * scale
        where = "inside" if lo <= gain <= hi else "above" if gain > hi else "below"
    return_diff = None
    if floor and set(x_ret) == set(xs) and set(y_ret) == set(ys):
        return_diff = ReturnDiff(*difference_ci(in_seed_order(x_ret), in_seed_order(y_ret)))
    paired = None
    pair = paired_difference(xs, ys)
    if pair is not None:  # secondary: the verdict stays the unpaired IQM difference's
        paired = PairedDiff(
            list(pair.seeds), [scale * v for v in pair.diffs], scale * pair.mean.value,
            scale * pair.mean.low, scale * pair.mean.high, pair.better, pair.worse, pair.sign_p,
        )  # fmt: skip
    return Improvement(
        d.value * scale, d.low * scale, d.high * scale, "pp" if g.is_rate else g.metric,
        verdict(d), where, paired, floor, return_diff,
    )  # fmt: skip
