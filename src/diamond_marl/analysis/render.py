"""Simple episode renderings from our own env state: SMAX unit positions, RWARE grids.

``snapshot_fn(env)`` returns a jittable ``bare env state -> small dict of arrays`` recorded at
every step by ``rollout``; ``frame_strip`` draws a few of those frames side by side (a PNG
strip). The wrapped libraries' viewers are not used: they need a display or animation
machinery, and a few matplotlib primitives say enough about who went where.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from diamond_marl.envs.base import Env
from diamond_marl.envs.mpe import ACTION_NAMES as MPE_ACTIONS
from diamond_marl.envs.mpe import MpeSpread
from diamond_marl.envs.rware import RwareEnv
from diamond_marl.envs.smax import SmaxEnv

RWARE_ACTIONS = ["noop", "forward", "left", "right", "load"]
SMAX_MOVES = ["north", "east", "south", "west", "stop"]


def action_labels(env: Env) -> list[str]:
    """Human names of an environment's actions (the index when there is none)."""
    env = env.unwrapped if hasattr(env, "unwrapped") else env
    a = env.spec.num_actions
    if isinstance(env, RwareEnv):
        return list(RWARE_ACTIONS)
    if isinstance(env, SmaxEnv):
        return SMAX_MOVES + [f"attack {k}" for k in range(a - len(SMAX_MOVES))]
    if isinstance(env, MpeSpread):
        return list(MPE_ACTIONS)
    if env.spec.name.startswith("role:"):
        return [f"role {k}" for k in range(a)]
    return [str(k) for k in range(a)]


def can_render(env: Env) -> bool:
    return isinstance(env, (RwareEnv, SmaxEnv))


def snapshot_fn(env: Env) -> Callable[[Any], dict[str, Any]]:
    """``state -> arrays`` to draw later; an empty dict for environments we do not draw."""
    if isinstance(env, SmaxEnv):

        def smax(state: Any) -> dict[str, Any]:
            game = state.env_state.state
            return {
                "pos": game.unit_positions,  # (N+M, 2)
                "alive": game.unit_alive,  # (N+M,)
                "health": game.unit_health,  # (N+M,)
                "attack": game.prev_attack_actions,  # (N+M,)
            }

        return smax
    if isinstance(env, RwareEnv):

        def rware(state: Any) -> dict[str, Any]:
            s = state.env
            queue = s.request_queue
            return {
                "robot": jnp.stack([s.agents.position.x, s.agents.position.y], -1),  # (N, 2)
                "direction": s.agents.direction,  # (N,)
                "carrying": s.agents.is_carrying,  # (N,)
                "requested": jnp.stack(
                    [s.shelves.position.x[queue], s.shelves.position.y[queue]], -1
                ),  # (R, 2)
            }

        return rware
    return lambda state: {}


def frame_strip(
    env: Env,
    frames: dict[str, np.ndarray],
    steps: list[int],
    path: str | Path,
    *,
    actions: np.ndarray | None = None,
    title: str = "",
) -> Path:
    """Draw ``frames`` (arrays ``(T, ...)`` from ``snapshot_fn``) at ``steps`` side by side."""
    from diamond_marl.analysis.plots import _save, plt

    fig, axes = plt.subplots(1, len(steps), figsize=(3.2 * len(steps), 3.4), squeeze=False)
    for ax, t in zip(axes[0], steps, strict=True):
        frame = {k: np.asarray(v[t]) for k, v in frames.items()}
        if isinstance(env, SmaxEnv):
            _draw_smax(ax, env, frame)
        else:
            _draw_rware(ax, env, frame)
        acted = "" if actions is None else "\nactions " + " ".join(map(str, actions[t]))
        ax.set_title(f"step {t}{acted}", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, Path(path))


def _draw_smax(ax: Any, env: SmaxEnv, f: dict[str, np.ndarray]) -> None:
    n = env.n
    inner = env._env._env
    pos, alive, health = f["pos"], f["alive"].astype(bool), f["health"]
    colours = ["tab:blue"] * n + ["tab:red"] * (len(pos) - n)
    for u in range(len(pos)):
        if not alive[u]:
            ax.plot(*pos[u], marker="x", color="grey", ms=6)
            continue
        ax.scatter(*pos[u], s=30 + 60 * float(health[u] > 0), color=colours[u], alpha=0.8)
        ax.annotate(str(u if u < n else u - n), pos[u], fontsize=6, ha="center", va="center")
    ax.set_xlim(0, inner.map_width)
    ax.set_ylim(0, inner.map_height)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.02, 0.02, "blue: allies, red: enemies", transform=ax.transAxes, fontsize=6)


_ARROW = {0: (-0.35, 0), 1: (0, 0.35), 2: (0.35, 0), 3: (0, -0.35)}  # (d row, d col)


def _draw_rware(ax: Any, env: RwareEnv, f: dict[str, np.ndarray]) -> None:
    from diamond_marl.envs.rware_layout import layout

    plan = layout(env.shelf_rows, env.shelf_columns)
    floor = np.where(plan["highways"], 1.0, 0.75)  # (H, W) aisles light, shelf cells darker
    ax.imshow(floor, cmap="gray", vmin=0, vmax=1)
    for r, c in plan["goals"]:
        ax.add_patch(_rect(r, c, "gold"))
    for r, c in f["requested"]:
        ax.add_patch(_rect(r, c, "tab:orange", 0.6))
    for i, ((r, c), d, carry) in enumerate(
        zip(f["robot"], f["direction"], f["carrying"], strict=True)
    ):
        ax.scatter(c, r, s=70, color="tab:green" if carry else "tab:blue", zorder=3)
        dr, dc = _ARROW[int(d)]
        ax.arrow(c, r, dc, dr, head_width=0.15, color="k", zorder=4)
        ax.annotate(str(i), (c, r), fontsize=6, ha="center", va="center", color="w", zorder=5)
    ax.set_xticks([])
    ax.set_yticks([])


def _rect(r: int, c: int, colour: str, alpha: float = 1.0) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((c - 0.5, r - 0.5), 1, 1, color=colour, alpha=alpha)
