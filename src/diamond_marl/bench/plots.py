"""The report's figures (learning curves with bands, sigma over training, final IQM with CI)
and the page they go on (``Doc``: Markdown, and HTML with the images embedded).

Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, never through
``pyplot``: no global state, no display needed, safe in a headless launcher process.
"""

from __future__ import annotations

import base64
import html
import re
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


# -- the page: one list of blocks, written as Markdown and as self-contained HTML ------------
_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr:nth-child(even) td{background:#fafafa}
img{max-width:100%;margin:.4em 0;border:1px solid #eee}
code{background:#f3f3f3;padding:0 .2em}
"""


class Doc:
    """Headings, paragraphs, tables, lists and images, rendered to Markdown and HTML."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", header, rows))

    def img(self, path: Path | None, alt: str) -> None:
        if path is not None:
            self.blocks.append(("img", path, " ".join(alt.split())))

    def markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for kind, *rest in self.blocks:
            if kind == "h":
                out += ["#" * rest[0] + " " + rest[1], ""]
            elif kind == "p":
                out += [rest[0], ""]
            elif kind == "ul":
                out += [f"- {item}" for item in rest[0]] + [""]
            elif kind == "table":
                header, rows = rest

                def line(cells: list[str]) -> str:
                    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

                out += [line(header), "|" + "---|" * len(header)]
                out += [line(r) for r in rows] + [""]
            elif kind == "img":
                out += [f"![{rest[1]}]({rest[0].relative_to(base).as_posix()})", ""]
        return "\n".join(out)

    def html(self) -> str:
        def inline(text: str) -> str:
            return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(text)))

        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for kind, *rest in self.blocks:
            if kind == "h":
                out.append(f"<h{rest[0]}>{inline(rest[1])}</h{rest[0]}>")
            elif kind == "p":
                out.append(f"<p>{inline(rest[0])}</p>")
            elif kind == "ul":
                out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in rest[0]) + "</ul>")
            elif kind == "table":
                header, rows = rest
                head = "".join(f"<th>{inline(c)}</th>" for c in header)
                body = "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode(rest[0].read_bytes()).decode("ascii")
                alt = html.escape(rest[1], quote=True)
                out.append(f'<div><img alt="{alt}" src="data:image/png;base64,{data}"></div>')
        out.append("</body></html>")
        return "\n".join(out)
