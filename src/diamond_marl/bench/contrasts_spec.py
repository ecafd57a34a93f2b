"""A suite's ``contrasts:``: which breakers the report sets against which (JAX-free).

Each entry names one breaker and what to set it against; the report computes, on every
env x algo where both sides ran, the first minus the second paired by seed (``bench.contrast``)
and leads with a summary of them. A side is a breaker name, read under its own execution, or
``name@greedy`` / ``name@sampled``: that breaker's readout under the given execution
(``none@sampled``: the no-breaker policy acting by sampling, stochastic execution alone)::

    contrasts:
      - {breaker: rank, against: [none, agent_id, "none@sampled"]}
      - {breaker: noise, against: none, writeup: true}

``writeup: true`` also sets the entry's breaker beside the write-up's reference table
(``data/writeup.yaml``, ``bench.writeup``); a suite without such an entry has no write-up
section.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from diamond_marl.breaker_names import BREAKERS
from diamond_marl.errors import ConfigError

EXECUTIONS = ("greedy", "sampled")  # the readouts every evaluation records (networks.acting)
CONTRAST_KEYS = ("breaker", "against", "writeup")


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a contrast: a breaker, under its own execution or under ``execution``."""

    breaker: str
    execution: str | None = None

    @property
    def label(self) -> str:
        return self.breaker if self.execution is None else f"{self.breaker}@{self.execution}"


@dataclasses.dataclass(frozen=True)
class Contrast:
    """``breaker`` minus each of ``against``, paired by seed, wherever both ran."""

    breaker: Side
    against: tuple[Side, ...]
    writeup: bool = False  # also set beside the write-up's reference table


def parse_side(text: Any, where: str) -> Side:
    """``agent_id`` -> Side("agent_id"); ``none@sampled`` -> Side("none", "sampled")."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{where} must be a breaker name (or name@execution), got {text!r}")
    name, at, execution = text.partition("@")
    if name not in BREAKERS:
        raise ConfigError(f"{where}: unknown breaker {name!r}; allowed: {', '.join(BREAKERS)}")
    if at and execution not in EXECUTIONS:
        raise ConfigError(
            f"{where}: unknown execution {execution!r} in {text!r}; allowed: "
            f"{', '.join(EXECUTIONS)}"
        )
    return Side(name, execution or None)


def parse_contrasts(value: Any, trained: set[str] | None = None) -> tuple[Contrast, ...]:
    """Validate a suite's ``contrasts:`` list; ``trained``: the suite's breakers (each side
    must be one of them, when given)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(
            f"contrasts must be a list of {{breaker: NAME, against: [NAME, ...]}}, got {value!r}"
        )
    out = []
    for i, entry in enumerate(value):
        where = f"contrasts[{i}]"
        if not isinstance(entry, dict) or "breaker" not in entry or "against" not in entry:
            raise ConfigError(f"{where} must be a mapping with 'breaker' and 'against'")
        unknown = [str(k) for k in entry if k not in CONTRAST_KEYS]
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                f"{', '.join(CONTRAST_KEYS)}"
            )
        breaker = parse_side(entry["breaker"], f"{where}.breaker")
        raw = entry["against"]
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.against must be a name or a non-empty list of names")
        against = tuple(parse_side(a, f"{where}.against") for a in items)
        for side in (breaker, *against):
            if trained is not None and side.breaker not in trained:
                raise ConfigError(
                    f"{where}: breaker {side.breaker!r} is trained by no experiment of this "
                    f"suite; its breakers: {', '.join(sorted(trained))}"
                )
        twice = sorted({s.label for s in against if against.count(s) > 1 or s == breaker})
        if twice:
            raise ConfigError(f"{where}.against repeats {', '.join(twice)}")
        writeup = entry.get("writeup", False)
        if not isinstance(writeup, bool):
            raise ConfigError(f"{where}.writeup must be true or false, got {writeup!r}")
        out.append(Contrast(breaker, against, writeup))
    return tuple(out)
