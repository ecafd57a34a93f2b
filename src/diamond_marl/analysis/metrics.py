"""Specialisation metrics: how differently the agents of one team behave, and how stably.

All functions are pure numpy/jnp (they accept either) and take agent-stacked arrays with any
leading batch dims (episodes, time). ``valid`` masks select the steps that count (steps of a
running episode); a metric with no valid sample returns ``nan``. docs/analysis.md gives each
formula.

- ``snd``: System Neural Diversity (Bettini et al.), mean pairwise W1 distance between
  agents' action distributions at the same state; with the discrete ground metric on
  categorical actions W1 equals the total-variation distance, so the value lies in [0, 1].
- ``pairwise_js``: mean pairwise Jensen-Shannon divergence, base 2, in [0, 1].
- ``role_entropy``: entropy of the team's role histogram at a step, normalised by
  ``log min(N, R)`` (1 = agents spread as evenly over roles as N agents can).
- ``role_persistence``: share of consecutive step pairs in which an agent keeps its role.
"""

from __future__ import annotations

import math

import numpy as np

ArrayLike = np.ndarray


def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j) of the N (N - 1) / 2 unordered agent pairs, i < j."""
    i, j = np.triu_indices(n, k=1)
    return i, j


def _masked_mean(values: np.ndarray, valid: np.ndarray | None) -> float:
    """Mean of ``values (...)`` over entries where ``valid (...)`` holds; nan if none."""
    values = np.asarray(values, np.float64)
    if valid is None:
        valid = np.ones(values.shape, bool)
    valid = np.broadcast_to(np.asarray(valid, bool), values.shape)
    if not valid.any():
        return float("nan")
    return float(values[valid].mean())


def tv_distance(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Total variation ``0.5 sum_a |p_a - q_a|`` over the last axis: W1 under the discrete
    metric (every two different actions are at distance 1)."""
    return 0.5 * np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64)).sum(-1)


def js_divergence(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Jensen-Shannon divergence in bits over the last axis, in [0, 1]."""
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        ratio = np.where(a > 0, a / np.where(m > 0, m, 1.0), 1.0)
        return np.where(a > 0, a * np.log2(ratio), 0.0).sum(-1)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def pairwise(fn, probs: ArrayLike) -> np.ndarray:
    """``fn(p_i, p_j)`` for every agent pair: ``probs (..., N, A)`` -> ``(..., P)``."""
    probs = np.asarray(probs, np.float64)
    i, j = _pairs(probs.shape[-2])
    return fn(probs[..., i, :], probs[..., j, :])


def snd(probs: ArrayLike, valid: ArrayLike | None = None) -> float:
    """System Neural Diversity: mean over valid states and agent pairs of W1 = TV distance.

    ``probs (..., N, A)`` rows sum to one; ``valid (...)`` marks states that count.
    0 when all agents act alike, 1 when their supports are disjoint at every state.
    """
    d = pairwise(tv_distance, probs)  # (..., P)
    return _masked_mean(d.mean(-1), valid) if d.shape[-1] else 0.0


def pairwise_js(probs: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Mean over valid states and agent pairs of the base-2 Jensen-Shannon divergence."""
    d = pairwise(js_divergence, probs)  # (..., P)
    return _masked_mean(d.mean(-1), valid) if d.shape[-1] else 0.0


def role_histogram(roles: ArrayLike, num_roles: int) -> np.ndarray:
    """Agents per role at each state: ``roles (..., N)`` int -> ``(..., R)`` counts."""
    roles = np.asarray(roles)
    return (roles[..., None] == np.arange(num_roles)).sum(-2)


def role_entropy(roles: ArrayLike, num_roles: int, valid: ArrayLike | None = None) -> float:
    """Mean over valid states of ``H(team role histogram) / log min(N, R)``, in [0, 1].

    ``roles (..., N)`` int (an agent's role = the action it takes, or its dominant action).
    1 when the N agents spread as evenly as possible (N distinct roles when R >= N), 0 when
    all share one role. With ``min(N, R) == 1`` the team cannot spread and the value is 0.
    """
    roles = np.asarray(roles)
    n = roles.shape[-1]
    top = math.log(min(n, num_roles))
    counts = role_histogram(roles, num_roles).astype(np.float64)  # (..., R)
    p = counts / n
    h = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(-1)  # (...)
    return _masked_mean(h / top if top > 0 else np.zeros_like(h), valid)


def role_persistence(roles: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Share of consecutive valid step pairs (t, t+1) in which an agent keeps its role.

    ``roles (..., T, N)`` (time on the second-to-last axis), ``valid (..., T)``; a pair counts
    when both steps are valid. 1 = no agent ever switches; nan for one-step episodes.
    """
    roles = np.asarray(roles)
    same = roles[..., 1:, :] == roles[..., :-1, :]  # (..., T-1, N)
    if valid is None:
        both = np.ones(same.shape[:-1], bool)
    else:
        valid = np.asarray(valid, bool)
        both = valid[..., 1:] & valid[..., :-1]  # (..., T-1)
    return _masked_mean(same, both[..., None])


def dominant_roles(probs: ArrayLike) -> np.ndarray:
    """An agent's dominant action at each state: ``probs (..., N, A)`` -> ``(..., N)``."""
    return np.asarray(probs).argmax(-1)


def episode_roles(roles: ArrayLike, valid: ArrayLike, num_roles: int) -> np.ndarray:
    """Each agent's most frequent role over an episode's valid steps.

    ``roles (..., T, N)``, ``valid (..., T)`` -> ``(..., N)``; ties go to the lower role.
    """
    roles = np.asarray(roles)
    onehot = roles[..., None] == np.arange(num_roles)  # (..., T, N, R)
    counts = (onehot & np.asarray(valid, bool)[..., None, None]).sum(-3)  # (..., N, R)
    return counts.argmax(-1)


def specialisation(
    probs: ArrayLike, actions: ArrayLike, valid: ArrayLike, num_roles: int
) -> dict[str, float]:
    """All four metrics from one recorded evaluation.

    ``probs (..., T, N, A)``, ``actions (..., T, N)``, ``valid (..., T)``. Roles are the
    actions taken. Also reports ``role_entropy_episode``: the role entropy of each episode's
    per-agent most frequent role (how many distinct lasting roles a team forms).
    """
    actions = np.asarray(actions)
    valid = np.asarray(valid, bool)
    lasting = episode_roles(actions, valid, num_roles)  # (..., N)
    return {
        "snd": snd(probs, valid),
        "js": pairwise_js(probs, valid),
        "role_entropy": role_entropy(actions, num_roles, valid),
        "role_entropy_episode": role_entropy(lasting, num_roles),
        "role_persistence": role_persistence(actions, valid),
    }
