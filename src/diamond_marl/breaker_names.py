"""The symmetry breakers' names: the one list every part of the package reads (JAX-free).

``networks.breakers`` maps each name to its config class, the benchmark suite validator
(``bench.suite``) checks suite files against it without importing JAX, and the report
(``bench.runs`` and the report's sections) orders its rows by it. Adding a breaker means adding
its name here and its config to ``networks.breakers`` (a test checks the two agree).
"""

from __future__ import annotations

# In the order tables list them: the baseline first, then the usual fixes, then Diamond
# Attention's forms, then the dice token.
BREAKERS: tuple[str, ...] = (
    "none", "agent_id", "random_input", "sampled", "noise", "rank", "noise+rank", "dice",
)  # fmt: skip
# Breakers with learned attention-logit noise: their runs log ``sigma`` over training.
LOGIT_NOISE: tuple[str, ...] = ("noise", "noise+rank")


def base_name(breaker: str) -> str:
    """``"noise,schedule=cosine"`` -> ``"noise"``: the name without its options."""
    return breaker.split(",")[0]


def breaker_order(breaker: str) -> tuple[int, str]:
    """Sort key: registry order, unknown names last, then the full text (options included)."""
    base = base_name(breaker)
    return (BREAKERS.index(base) if base in BREAKERS else len(BREAKERS), breaker)
