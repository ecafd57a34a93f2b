"""Replay one execution-mode episode from its key: who took which role, and why.

``replay(run_dir, episode_key=K)`` re-runs episode K (``rollout``: ``PRNGKey(K)`` split into
reset, episode and run keys) of one seed from the run's latest checkpoint and returns its
per-step table (agent x time: action, and the rank order / draw each agent had), identical
every time; it also writes the role timeline PNG to ``RUN_DIR/analysis/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from diamond_marl.algos.saved_run import LoadedRun, load_run
from diamond_marl.analysis import plots
from diamond_marl.analysis.render import action_labels
from diamond_marl.analysis.rollout import Recorder
from diamond_marl.env_names import file_safe
from diamond_marl.errors import ConfigError

DRAW_FIELDS = ("rank", "random_input", "dice_norm", "noise_scale")


@dataclasses.dataclass
class Replay:
    """One replayed episode: arrays over valid steps ``(T, N)`` and its outcome."""

    env: str
    seed_index: int
    episode_key: int
    actions: np.ndarray  # (T, N) int
    probs: np.ndarray  # (T, N, A)
    draws: dict[str, np.ndarray]  # name -> (T, N)
    rewards: np.ndarray  # (T,)
    episode_return: float
    won: float
    labels: list[str]
    timeline: Path | None = None

    def table(self) -> str:
        """Rows = steps, columns = agents: ``action`` and the draw (rank order ``#k (r)``)."""
        n = self.actions.shape[1]
        head = f"{'step':>4} | " + " | ".join(f"{f'agent {i}':^18}" for i in range(n))
        head += " | reward"
        lines = [head, "-" * len(head)]
        order = plots.rank_order(self.draws["rank"]) if "rank" in self.draws else None
        for t in range(len(self.actions)):
            cells = []
            for i in range(n):
                cell = self.labels[self.actions[t, i]]
                if order is not None:
                    cell += f" #{order[t, i]} ({self.draws['rank'][t, i]:.2f})"
                else:
                    for name in DRAW_FIELDS:
                        if name in self.draws:
                            cell += f" {name[0]}={self.draws[name][t, i]:.2f}"
                            break
                cells.append(f"{cell:^18}")
            lines.append(f"{t:>4} | " + " | ".join(cells) + f" | {self.rewards[t]:.3f}")
        lasting = [np.bincount(self.actions[:, i]).argmax() for i in range(n)]
        lines.append(
            f"return {self.episode_return:.3f}  won {self.won:.3g}  steps {len(self.actions)}"
            f"  most frequent action per agent: "
            + ", ".join(f"{i}:{self.labels[a]}" for i, a in enumerate(lasting))
        )
        if order is not None:
            lines.append("#k = the agent's place in the broadcast rank order (#1 = highest draw)")
        return "\n".join(lines)


def replay(
    run: str | Path | LoadedRun,
    episode_key: int,
    env: str | None = None,
    seed_index: int = 0,
    out: str | Path | None = None,
    recorder: Recorder | None = None,
) -> Replay:
    """Replay episode ``episode_key`` of seed ``seed_index`` (on ``env``, default the run's);
    writes the role timeline PNG to ``out`` (default ``RUN_DIR/analysis``)."""
    if episode_key < 0:
        raise ConfigError(f"--episode-key {episode_key} must be >= 0")
    loaded = run if isinstance(run, LoadedRun) else load_run(run, seed_index)
    recorder = recorder or Recorder(loaded, env)
    rec = recorder.record([episode_key], seeds=[seed_index])
    valid = rec["valid"][0, 0]  # (T,)
    t_len = int(valid.sum())
    draws = {k: rec[k][0, 0, :t_len] for k in DRAW_FIELDS if k in rec}
    labels = action_labels(recorder.setup.env)
    result = Replay(
        env=rec.env,
        seed_index=seed_index,
        episode_key=episode_key,
        actions=rec["action"][0, 0, :t_len],
        probs=rec["probs"][0, 0, :t_len],
        draws=draws,
        rewards=rec["reward"][0, 0, :t_len],
        episode_return=float(rec["return"][0, 0]),
        won=float(rec["won"][0, 0]),
        labels=labels,
    )
    folder = Path(out) if out else loaded.run_dir / "analysis"
    name = f"replay-{file_safe(rec.env)}-seed{seed_index}-key{episode_key}.png"
    result.timeline = plots.role_timeline(
        result.actions,
        np.ones(t_len, bool),
        rec.num_actions,
        folder / name,
        labels=labels,
        draws=draws,
        title=f"{rec.env} seed index {seed_index} episode key {episode_key}: "
        f"return {result.episode_return:.2f}",
    )
    return result
