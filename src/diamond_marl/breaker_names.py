"""The symmetry breakers' registry: every name, and the module that holds it (JAX-free).

``networks.breakers`` imports a breaker's config class from the module named here when it is
first asked for; the benchmark suite validator (``bench.suite``) checks suite files against
these names without importing JAX; the report (``bench.runs`` and the report's sections)
orders its rows by them. Adding a breaker means writing its module under
``diamond_marl/networks/breakers/`` and adding one line here.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """Where a breaker's config class lives, under ``diamond_marl.networks.breakers``."""

    module: str
    config: str
    logit_noise: bool = False  # learned attention-logit noise: its runs log ``sigma``


# In the order tables list them: the baseline first, then the usual fixes, then Diamond
# Attention's forms, then the ablations.
REGISTRY: dict[str, Entry] = {
    "none": Entry("baselines", "NoneConfig"),
    "agent_id": Entry("baselines", "AgentIdConfig"),
    "random_input": Entry("baselines", "RandomInputConfig"),
    "sampled": Entry("baselines", "SampledConfig"),
    "noise": Entry("logit_noise", "NoiseConfig", logit_noise=True),
    "rank": Entry("rank_mask", "RankConfig"),
    "noise+rank": Entry("noise_rank", "NoiseRankConfig", logit_noise=True),
    "dice": Entry("dice_token", "DiceConfig"),
    "dropout": Entry("peer_dropout", "DropoutConfig"),
}
BREAKERS: tuple[str, ...] = tuple(REGISTRY)
# Breakers with learned attention-logit noise: their runs log ``sigma`` over training.
LOGIT_NOISE: tuple[str, ...] = tuple(n for n, e in REGISTRY.items() if e.logit_noise)


def base_name(breaker: str) -> str:
    """``"noise,schedule=cosine"`` -> ``"noise"``: the name without its options."""
    return breaker.split(",")[0]


def breaker_order(breaker: str) -> tuple[int, str]:
    """Sort key: registry order, unknown names last, then the full text (options included)."""
    base = base_name(breaker)
    return (BREAKERS.index(base) if base in BREAKERS else len(BREAKERS), breaker)
