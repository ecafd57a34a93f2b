"""Pictures of role emergence (matplotlib, Agg backend, PNG files).

- ``role_timeline``: agents x time, each cell coloured by the action (role) taken, with the
  rank order (1 = highest draw) or another draw written in the cell when the grid is small;
- ``attention_maps``: one panel per agent, the last layer's attention (mean over heads) of
  every query token to every key token, titled with the draw that shaped it;
- ``noise_over_training``: ``noise_scale`` (and ``sigma`` when logged) against env steps,
  one line per seed, from ``RUN_DIR/metrics.csv``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

from diamond_marl.envs.types import EntityKind  # noqa: E402

_TEXT_CELLS = 600  # write numbers into cells only when the grid has at most this many


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def rank_order(rank: np.ndarray) -> np.ndarray:
    """Position of each agent in the broadcast order, 1 = highest draw: ``(..., N)`` int."""
    order = np.argsort(-np.asarray(rank), axis=-1)
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(1, rank.shape[-1] + 1), axis=-1)
    return pos


def role_timeline(
    actions: np.ndarray,
    valid: np.ndarray,
    num_actions: int,
    path: str | Path,
    *,
    labels: list[str] | None = None,
    draws: dict[str, np.ndarray] | None = None,
    title: str = "",
) -> Path:
    """Agents (rows) x time (columns) coloured by action; ``actions (T, N)``, ``valid (T,)``.

    ``draws``: ``rank (T, N)`` is written in each cell as the agent's order position (#1 =
    highest draw); another single draw (``random_input``, ``dice_norm``) as its value.
    """
    actions, valid = np.asarray(actions), np.asarray(valid, bool)
    t_len = int(valid.sum()) or 1
    grid = np.where(valid[:, None], actions, -1)[:t_len].T  # (N, T)
    n = grid.shape[0]
    base = plt.get_cmap("tab20" if num_actions > 10 else "tab10")
    colours = ["#ffffff"] + [base(a % base.N) for a in range(num_actions)]
    fig, ax = plt.subplots(figsize=(min(2 + 0.45 * t_len, 24), 1 + 0.5 * n))
    ax.imshow(grid + 1, cmap=ListedColormap(colours), vmin=0, vmax=num_actions, aspect="auto")
    ax.set_yticks(range(n), [f"agent {i}" for i in range(n)])
    ax.set_xlabel("step")
    if n * t_len <= _TEXT_CELLS:
        note = None
        if draws and "rank" in draws:
            note = ("#{}", rank_order(np.asarray(draws["rank"])[:t_len]).T)
        elif draws:
            name, value = next(iter(draws.items()))
            note = ("{:.2f}", np.asarray(value)[:t_len].T)
        for i in range(n):
            for t in range(t_len):
                text = str(grid[i, t])
                if note is not None:
                    text += "\n" + note[0].format(note[1][i, t])
                ax.text(t, i, text, ha="center", va="center", fontsize=7)
    names = labels or [str(a) for a in range(num_actions)]
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[a + 1]) for a in range(num_actions)]
    ax.legend(
        handles, names, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, title="action"
    )
    extra = " (cell: action, #rank order)" if draws and "rank" in draws else ""
    ax.set_title((title + extra).strip(), fontsize=9)
    return _save(fig, Path(path))


_KIND_LETTER = {
    EntityKind.SELF: "S",
    EntityKind.PEER: "P",
    EntityKind.ENEMY: "E",
    EntityKind.TASK: "T",
    EntityKind.DICE: "D",
    EntityKind.CHUNK: "C",
}


def attention_maps(
    attention: np.ndarray,
    kinds: np.ndarray,
    mask: np.ndarray,
    path: str | Path,
    *,
    notes: list[str] | None = None,
    title: str = "",
) -> Path:
    """One panel per agent: ``attention (N, E, E)`` query x key weights of the last layer.

    ``kinds``/``mask (N, E)`` label the tokens (S self, P peer, E enemy, T task, D dice) and
    blank the absent ones; ``notes[i]`` (e.g. "rank 0.63 (#1)") titles agent i's panel.
    Tokens the network appends after the environment's (the ``dice`` breaker's token) are
    labelled D and always shown.
    """
    attention = np.asarray(attention)
    n, e = attention.shape[0], attention.shape[-1]
    kinds, mask = np.asarray(kinds), np.asarray(mask, bool)
    extra = e - kinds.shape[-1]
    if extra > 0:  # the observation's tokens come first, appended ones last (append_token)
        kinds = np.concatenate([kinds, np.full((n, extra), int(EntityKind.DICE))], axis=-1)
        mask = np.concatenate([mask, np.ones((n, extra), bool)], axis=-1)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        if i >= n:
            ax.axis("off")
            continue
        present = np.asarray(mask[i], bool)
        shown = np.where(present[:, None] & present[None, :], attention[i], np.nan)
        im = ax.imshow(shown, vmin=0.0, vmax=1.0, cmap="viridis")
        ticks = [f"{_KIND_LETTER.get(int(k), '?')}{j}" for j, k in enumerate(kinds[i])]
        if e <= 24:
            ax.set_xticks(range(e), ticks, fontsize=6, rotation=90)
            ax.set_yticks(range(e), ticks, fontsize=6)
        ax.set_xlabel("key token", fontsize=7)
        ax.set_ylabel("query token", fontsize=7)
        note = f"\n{notes[i]}" if notes else ""
        ax.set_title(f"agent {i}{note}", fontsize=8)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, Path(path))


def noise_over_training(metrics_csv: str | Path, path: str | Path) -> Path | None:
    """``noise_scale`` and ``sigma`` (when logged) over env steps, one line per seed.

    Returns None when the CSV has neither metric (breakers without logit noise log a
    constant ``noise_scale``; it is still drawn, so a flat line is expected there).
    """
    import pandas as pd

    metrics_csv = Path(metrics_csv)
    if not metrics_csv.exists():
        return None
    rows = pd.read_csv(metrics_csv)
    wanted = [m for m in ("noise_scale", "sigma") if m in set(rows["metric"])]
    if not wanted:
        return None
    fig, axes = plt.subplots(1, len(wanted), figsize=(5 * len(wanted), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], wanted, strict=True):
        part = rows[rows["metric"] == metric]
        for seed, group in part.groupby("seed"):
            group = group.sort_values("step")
            ax.plot(group["step"], group["value"], marker="o", ms=3, label=f"seed {seed}")
        ax.set_xlabel("env steps")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    first = rows.iloc[0]
    fig.suptitle(f"{first['algo']} {first['env']} {first['breaker']}", fontsize=9)
    return _save(fig, Path(path))
