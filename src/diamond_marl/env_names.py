"""Environment names, ``family:variant,key=value,...``, split without importing JAX.

The registry (``envs.registry``) and the JAX-free benchmark-suite validator
(``bench.suite``) both parse names here, so they accept and reject the same spellings.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterable

from diamond_marl.errors import ConfigError

# What ``EnvSpec.success_metric`` may name: the key of the rate or fraction in [0, 1] that
# summaries, transfer tables and reports show beside the return (``extras["won"]``).
SUCCESS_METRICS = ("win_rate", "success_rate", "coverage")

# Comma-separated modules the registry imports after its own families: how environments the
# library does not ship reach the CLI, benchmark cells and every child process
# (docs/custom-env.md). Each module registers its family when imported.
ENV_MODULES_VAR = "DIAMOND_MARL_ENV_MODULES"


def env_modules() -> list[str]:
    """The modules named by ``$DIAMOND_MARL_ENV_MODULES``, in order (empty if unset)."""
    return [m.strip() for m in os.environ.get(ENV_MODULES_VAR, "").split(",") if m.strip()]


def parse_name(name: str, families: Iterable[str]) -> tuple[str, str | None, dict[str, str]]:
    """Split ``family:variant,k=v`` into (family, variant or None, params).

    ``families`` only serves the error message; whether the family exists is the caller's
    question.
    """
    if not isinstance(name, str) or ":" not in name:
        raise ConfigError(
            f"environment name {name!r} must look like 'family:variant[,key=value...]', "
            f"e.g. 'smax:3m' or 'xor:n=2,k=2'; families: {', '.join(sorted(families))}"
        )
    family, _, rest = name.partition(":")
    variant: str | None = None
    params: dict[str, str] = {}
    items = [p.strip() for p in rest.split(",")]
    if rest.strip() and not all(items):
        raise ConfigError(
            f"environment name {name!r} has an empty item between commas; e.g. 'xor:n=3,k=3'"
        )
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        if sep:
            if not key.strip() or not value.strip():
                raise ConfigError(f"bad parameter {item!r} in environment name {name!r}")
            params[key.strip()] = value.strip()
        elif variant is None:
            variant = item
        else:
            raise ConfigError(f"environment name {name!r} has two variants: {variant!r}, {item!r}")
    return family.strip(), variant, params


def file_safe(name: str) -> str:
    """A name as a file or directory name: ``smax:3m`` -> ``smax-3m``, ``xor:n=2,k=2`` ->
    ``xor-n2_k2``, ``noise+rank`` -> ``noise_rank`` (run dirs, eval files, cell ids, plots).
    A ``python=PATH`` parameter (``pz:`` names: where the workers run, not what is trained)
    is left out."""
    name = ",".join(p for p in name.split(",") if not p.strip().startswith("python="))
    return name.replace(":", "-").replace(",", "_").replace("=", "").replace("+", "_")


# Names longer than this are shortened in reports (``short_names``).
SHORT_NAME_CHARS = 40


def short_names(names: Iterable[str]) -> dict[str, str]:
    """Labels for reports: each name, or for a name over ``SHORT_NAME_CHARS`` characters, the
    name without the parameters every long name of its family shares. A ``pz:`` module path
    keeps its last part (``pz:pkg.envs.pogema_env:named_env,...`` ->
    ``pz:pogema_env:named_env``) and ``python=`` goes. A label two names would share stays
    the full name, as does a name that does not parse. The report lists every shortened name
    in full."""
    names = list(dict.fromkeys(names))
    split = {}
    for name in names:
        if len(name) > SHORT_NAME_CHARS:
            with contextlib.suppress(ConfigError):
                split[name] = parse_name(name, ())
    shared: dict[str, set[tuple[str, str]]] = {}
    for family, _, params in split.values():
        params.pop("python", None)
        shared[family] = shared.get(family, set(params.items())) & set(params.items())
    labels = {}
    for name in names:
        if name not in split:
            labels[name] = name
            continue
        family, variant, params = split[name]
        if family == "pz" and variant and ":" in variant:  # pz:<module>:<callable>
            module, _, factory = variant.rpartition(":")
            variant = f"{module.rpartition('.')[2]}:{factory}"
        kept = [variant] if variant else []
        kept += [f"{k}={v}" for k, v in params.items() if (k, v) not in shared[family]]
        labels[name] = f"{family}:{','.join(kept)}" if kept else name
    counts = collections.Counter(labels.values())
    return {n: (label if counts[label] == 1 else n) for n, label in labels.items()}
