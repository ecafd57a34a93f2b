"""The report's figures: learning curves with bands, sigma over training, final IQM with CI.

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never through
``pyplot``: no global state, no display needed, safe in a headless launcher process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from diamond_marl.bench.stats import Estimate, mean_band

_DPI = 110


def _new_figure(width: float = 6.4, height: float = 3.8) -> Figure:
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def band_plot(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    title: str,
    ylabel: str,
    xlabel: str = "env steps (per seed)",
    colors: Mapping[str, str] | None = None,
) -> Path | None:
    """One line per label: mean over seeds and its 95% bootstrap band.

    ``curves[label] = (steps, values)`` with steps (T,) and values (seeds, T); ``colors``
    maps labels to matplotlib colours. Returns None (and writes nothing) when there is no
    line to draw.
    """
    drawable = {k: v for k, v in curves.items() if len(v[0]) > 0}
    if not drawable:
        return None
    fig = _new_figure()
    ax = fig.add_subplot()
    for i, (label, (steps, values)) in enumerate(drawable.items()):
        mean, low, high = mean_band(values, seed=i)
        color = (colors or {}).get(label, f"C{i % 10}")
        n = values.shape[0]
        marker = "o" if len(steps) < 3 else None
        ax.plot(steps, mean, color=color, marker=marker, label=f"{label} (n={n})")
        ax.fill_between(steps, low, high, color=color, alpha=0.2, linewidth=0)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def final_plot(
    rows: Sequence[tuple[str, Estimate, np.ndarray]],
    path: Path,
    title: str,
    ylabel: str,
    colors: Mapping[str, str] | None = None,
) -> Path | None:
    """Per breaker: the IQM with its 95% CI as a point and error bar, seeds as dots."""
    if not rows:
        return None
    fig = _new_figure(max(5.0, 1.5 + 0.8 * len(rows)), 3.8)
    ax = fig.add_subplot()
    rng = np.random.default_rng(0)
    for i, (label, est, values) in enumerate(rows):
        color = (colors or {}).get(label, f"C{i % 10}")
        jitter = rng.uniform(-0.12, 0.12, size=len(values))
        ax.scatter(i + jitter, values, s=12, color=color, alpha=0.45, zorder=2)
        err = [[est.value - est.low], [est.high - est.value]]
        ax.errorbar(
            [i], [est.value], yerr=err, fmt="D", color=color, capsize=5, markersize=6, zorder=3
        )
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[0] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def dial_plot(
    panels: Sequence[tuple[str, Mapping[str, Sequence[tuple[float, Estimate]]]]],
    path: Path,
    title: str,
    xlabel: str,
    ylabel: str,
    colors: Mapping[str, str] | None = None,
) -> Path | None:
    """Side-by-side panels sharing the y axis; in each, one line per label through its
    points ``(x, IQM with 95% CI)``, the interval as a band. Returns None when no panel has a
    point."""
    if not any(lines for _, lines in panels):
        return None
    fig = _new_figure(4.2 * len(panels) + 1.0, 4.0)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (panel_title, lines) in zip(axes, panels, strict=True):
        for i, (label, points) in enumerate(lines.items()):
            if not points:
                continue
            color = (colors or {}).get(label, f"C{i % 10}")
            x = np.array([p[0] for p in points])
            est = np.array([(e.value, e.low, e.high) for _, e in points])  # (P, 3)
            ax.plot(x, est[:, 0], color=color, marker="o", markersize=4, label=label)
            ax.fill_between(x, est[:, 1], est[:, 2], color=color, alpha=0.15, linewidth=0)
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
