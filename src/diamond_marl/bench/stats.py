"""Seed-level statistics in the style of rliable (Agarwal et al. 2021), numpy only.

Scores are final evaluations, one per seed. Several tasks (environments) form the strata of
a stratified bootstrap: seeds are resampled with replacement within each task, never across
tasks, and the statistic is computed on the pooled resample. Intervals are percentile
intervals. Everything is deterministic given ``seed``.

Samples may be given as one 1-D array (one task), a list/tuple or mapping of 1-D arrays
(one per task, lengths may differ), or a 2-D array laid out as rliable's (runs, tasks).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

Samples = np.ndarray | Sequence | Mapping


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate over seeds with its 95% bootstrap interval: the report's one number
    type (a score's IQM, a difference, a probability). ``report.json`` stores it as
    ``{value, ci_low, ci_high, seeds}``."""

    value: float
    low: float = dataclasses.field(metadata={"key": "ci_low"})
    high: float = dataclasses.field(metadata={"key": "ci_high"})
    seeds: int = 0  # how many seeds it is computed from (per side, for a comparison)

    def contains(self, x: float) -> bool:
        return bool(self.low <= x <= self.high)

    def scaled(self, k: float) -> Estimate:
        """The same estimate in another unit (``k * value``, ...; e.g. rates in percent)."""
        return Estimate(k * self.value, k * self.low, k * self.high, self.seeds)


def iqm(x: Samples, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean: ``scipy.stats.trim_mean(x, 0.25)`` (what rliable calls IQM).

    Like scipy, it cuts ``floor(0.25 * n)`` values from each end and averages the rest
    (no fractional weights); ``axis=None`` pools everything.
    """
    a = np.asarray(x, dtype=float)
    if axis is None:
        a, axis = a.ravel(), 0
    if a.shape[axis] == 0:
        raise ValueError("iqm of an empty sample")
    a = np.sort(a, axis=axis)
    n = a.shape[axis]
    cut = int(0.25 * n)
    kept = np.take(a, np.arange(cut, n - cut), axis=axis)
    out = kept.mean(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def _tasks(samples: Samples) -> list[np.ndarray]:
    """Split samples into one 1-D float array per task (stratum)."""
    if isinstance(samples, Mapping):
        parts = list(samples.values())
    elif isinstance(samples, np.ndarray):
        if samples.ndim == 1:
            parts = [samples]
        elif samples.ndim == 2:  # rliable layout: (runs, tasks)
            parts = list(samples.T)
        else:
            raise ValueError(f"samples must be 1-D or 2-D (runs, tasks), got {samples.shape}")
    elif len(samples) > 0 and all(np.ndim(s) == 0 for s in samples):
        parts = [samples]
    else:
        parts = list(samples)
    tasks = [np.asarray(p, dtype=float).ravel() for p in parts]
    if not tasks or any(t.size == 0 for t in tasks):
        raise ValueError("every task needs at least one score")
    return tasks


def _resample(tasks: list[np.ndarray], reps: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified resample: (reps, total seeds), seeds drawn with replacement per task."""
    cols = [t[rng.integers(0, t.size, size=(reps, t.size))] for t in tasks]
    return np.concatenate(cols, axis=1)


def _apply(stat: Callable, rows: np.ndarray) -> np.ndarray:
    """``stat`` on each row; vectorised when ``stat`` takes an ``axis`` argument."""
    try:
        takes_axis = "axis" in inspect.signature(stat).parameters
    except (TypeError, ValueError):
        takes_axis = False
    if takes_axis:
        return np.asarray(stat(rows, axis=1), dtype=float)
    return np.array([stat(r) for r in rows], dtype=float)


def _interval(boot: np.ndarray, conf: float) -> tuple[float, float]:
    if not 0 < conf < 1:
        raise ValueError(f"conf={conf} must lie in (0, 1)")
    alpha = 100 * (1 - conf) / 2
    low, high = np.percentile(boot, [alpha, 100 - alpha])
    return float(low), float(high)


def bootstrap_ci(
    samples_by_task: Samples,
    stat: Callable = iqm,
    reps: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """``stat`` of the pooled scores with a stratified-bootstrap percentile interval."""
    tasks = _tasks(samples_by_task)
    rng = np.random.default_rng(seed)
    pooled = np.concatenate(tasks)
    value = float(stat(pooled))
    boot = _apply(stat, _resample(tasks, reps, rng))
    return Estimate(value, *_interval(boot, conf), seeds=pooled.size)


def _paired_tasks(x: Samples, y: Samples) -> tuple[list[np.ndarray], list[np.ndarray]]:
    xs, ys = _tasks(x), _tasks(y)
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} tasks but y has {len(ys)}")
    return xs, ys


def _prob_improvement(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
    per_task = [
        np.mean((a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :]))
        for a, b in zip(xs, ys, strict=True)
    ]
    return float(np.mean(per_task))


def prob_improvement(
    x: Samples, y: Samples, reps: int = 2000, conf: float = 0.95, seed: int = 0
) -> Estimate:
    """P(X > Y) + 0.5 P(X = Y) over all pairs of seeds, averaged over tasks.

    The Mann-Whitney form rliable uses per task. The interval resamples x's and y's seeds
    independently within each task.
    """
    xs, ys = _paired_tasks(x, y)
    value = _prob_improvement(xs, ys)
    rng = np.random.default_rng(seed)
    per_task = []
    for a, b in zip(xs, ys, strict=True):
        ra = a[rng.integers(0, a.size, size=(reps, a.size))]  # (reps, n)
        rb = b[rng.integers(0, b.size, size=(reps, b.size))]  # (reps, m)
        gt = ra[:, :, None] > rb[:, None, :]  # (reps, n, m)
        eq = ra[:, :, None] == rb[:, None, :]
        per_task.append((gt + 0.5 * eq).mean(axis=(1, 2)))
    boot = np.mean(per_task, axis=0)
    return Estimate(value, *_interval(boot, conf), seeds=sum(a.size for a in xs))


def difference_ci(
    x: Samples,
    y: Samples,
    stat: Callable = iqm,
    reps: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """``stat(x) - stat(y)`` (IQM by default) with a bootstrap interval.

    x and y are resampled independently, each stratified by task.
    """
    xs, ys = _paired_tasks(x, y)
    rng = np.random.default_rng(seed)
    value = float(stat(np.concatenate(xs))) - float(stat(np.concatenate(ys)))
    bx = _apply(stat, _resample(xs, reps, rng))
    by = _apply(stat, _resample(ys, reps, rng))
    return Estimate(value, *_interval(bx - by, conf), seeds=sum(a.size for a in xs))


@dataclasses.dataclass(frozen=True)
class Difference:
    """x minus y, two groups of seeds: the report's one comparison type.

    ``iqm``: IQM(x) - IQM(y) over all seeds of each, x and y resampled independently;
    ``p_improvement``: P(a seed of x beats a seed of y). Then seed by seed over the seed
    indices both have (``seeds``, ``diffs`` = x[s] - y[s]): the mean difference with a
    percentile-bootstrap interval over seeds (None with fewer than 2 shared seeds), how many
    seeds are higher / lower, and the exact two-sided sign test over the untied ones.
    """

    iqm: Estimate
    p_improvement: Estimate
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]
    mean: Estimate | None
    better: int  # shared seeds with x > y
    worse: int  # shared seeds with x < y
    sign_p: float


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact sign test: P(a split at least this uneven) under a fair coin."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(better, worse) + 1)) / 2**n
    return float(min(1.0, 2 * tail))


def compare(
    x: Mapping[int, float],
    y: Mapping[int, float],
    reps: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> Difference:
    """``x - y`` for two ``{seed: score}`` maps (each non-empty), unpaired and paired by seed.

    The pairing is meaningful when seed ``s`` of both runs used the same random keys (common
    random numbers: ``diamond-marl`` derives every key of seed ``s`` from ``PRNGKey(s)``
    whatever the breaker), so a seed that is hard for one breaker tends to be hard for the
    other and the pairing removes that shared part of the spread.
    """
    xs = np.array([float(x[s]) for s in sorted(x)])
    ys = np.array([float(y[s]) for s in sorted(y)])
    iqm_diff = difference_ci(xs, ys, reps=reps, conf=conf, seed=seed)
    p = prob_improvement(xs, ys, reps=reps, conf=conf, seed=seed)
    common = sorted(set(x) & set(y))
    d = np.array([float(x[s]) - float(y[s]) for s in common])
    mean = None
    if len(common) >= 2:
        mean = bootstrap_ci(d, stat=np.mean, reps=reps, conf=conf, seed=seed)
    better, worse = int((d > 0).sum()), int((d < 0).sum())
    diffs = tuple(float(v) for v in d)
    return Difference(
        iqm_diff, p, tuple(common), diffs, mean, better, worse, sign_test(better, worse)
    )


def mean_band(
    values: np.ndarray, reps: int = 1000, conf: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Learning-curve band: mean over seeds and a percentile-bootstrap interval per step.

    ``values`` is (seeds, steps); returns (mean, low, high), each (steps,).
    """
    v = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.shape[0], size=(reps, v.shape[0]))  # (reps, seeds)
    boot = v[idx].mean(axis=1)  # (reps, seeds, steps) -> (reps, steps)
    alpha = 100 * (1 - conf) / 2
    low, high = np.percentile(boot, [alpha, 100 - alpha], axis=0)
    return v.mean(axis=0), low, high
