"""Benchmark suites: a YAML file expanded into cells (env x algo x breaker, all seeds in one run).

JAX-free on purpose: the launcher validates and expands suites without importing JAX (a
launcher holding JAX would take memory its child runs need). What can be checked without
building an environment is checked here (suite keys, algorithms, breakers, environment
families and parameter names, seeds, steps, duplicate cells); ``launch.preflight`` then
resolves every cell's full training config in one child process before any cell starts.
The format is documented in ``src/diamond_marl/suites/README.md`` (beside the shipped suites).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from itertools import product
from pathlib import Path
from typing import Any

import yaml

from diamond_marl.algos.config import ALGOS  # config.py is JAX-free (yaml + dataclasses)
from diamond_marl.analysis.summary import (  # JAX-free too
    DEFAULT_ATTACKS,
    DEFAULT_EPISODES,
    DEFAULT_PICTURES,
    parse_attack_spec,
)
from diamond_marl.bench.contrasts_spec import Contrast, parse_contrasts
from diamond_marl.breaker_names import BREAKERS
from diamond_marl.env_names import env_modules, file_safe, parse_name
from diamond_marl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class _EnvFamily:
    variant: bool  # takes a variant (smax:3m) or only key=value parameters (xor:n=2,k=2)
    params: tuple[str, ...]  # parameter names the family's builder accepts
    ints: tuple[tuple[str, int], ...] = ()  # integer parameters with their minimum
    example: str = ""
    open: bool = False  # any parameter names (pz: passes them to the env's own constructor)


# What diamond_marl.envs.registry's builders accept, without importing them (they import
# JAX). Variants (SMAX maps, rware layouts, jaxmarl ids) are checked by the preflight.
ENV_FAMILIES: dict[str, _EnvFamily] = {
    "xor": _EnvFamily(False, ("n", "k"), (("n", 2), ("k", 1)), "xor:n=2,k=2"),
    "role": _EnvFamily(False, ("n", "k", "t"), (("n", 2), ("k", 1), ("t", 1)), "role:n=4,k=4,t=10"),
    "smax": _EnvFamily(True, ("max_steps",), (("max_steps", 1),), "smax:3m"),
    "rware": _EnvFamily(
        True,
        ("requests", "steps", "collisions", "success", "sense"),
        (("requests", 1), ("steps", 1), ("success", 1), ("sense", 1)),
        "rware:tiny-4ag",
    ),
    "mpe": _EnvFamily(
        True,
        ("n", "landmarks", "spawn", "tie", "sense", "density", "group", "radius"),
        (("n", 2), ("landmarks", 1), ("sense", 1), ("group", 1)),
        "mpe:spread,n=3",
    ),
    "jaxmarl": _EnvFamily(True, ("chunk",), (("chunk", 1),), "jaxmarl:MPE_simple_spread_v3"),
    "pz": _EnvFamily(True, (), example="pz:mpe2.simple_spread_v3,N=3", open=True),
}

SUITE_KEYS = (
    "name", "description", "seeds", "steps", "defaults", "analyze", "experiments", "contrasts",
)  # fmt: skip
EXPERIMENT_KEYS = (
    "envs", "algos", "breakers", "seeds", "steps", "overrides", "transfer", "analyze", "tag",
    "memory_gb",
)  # fmt: skip
# `analyze: {...}`: the role analysis a cell runs after training (diamond-marl analyze)
ANALYZE_KEYS = ("episodes", "attacks", "pictures")
# Set by the suite's own keys (or by the launcher), never through defaults / overrides.
RESERVED_OVERRIDES = ("algo", "env", "breaker", "seeds", "steps", "out")
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_ID_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of a suite: one env x algo x breaker, all seeds vmapped together."""

    id: str
    env: str
    algo: str
    breaker: str
    seeds: int
    steps: int | None  # None: the environment's default budget
    overrides: dict[str, Any]  # dotted train overrides (net.hidden=32, ...), sorted by key
    transfer: tuple[str, ...]  # environments to evaluate the trained policy on, zero-shot
    # role analysis after training: {"episodes", "pictures", "attacks"}; None: no analysis
    analyze: dict[str, Any] | None = None
    # peak resident memory of the cell's process in GB: a scheduling hint for the local
    # executor (cells whose hints add up past its memory budget do not run together); not
    # part of what the cell trains, so it is left out of the suite's fingerprint
    memory_gb: float | None = None

    def train_overrides(self, out: str | Path) -> dict[str, Any]:
        """The ``key=value`` overrides of ``diamond-marl train`` for this cell."""
        fixed: dict[str, Any] = {
            "algo": self.algo,
            "env": self.env,
            "breaker": self.breaker,
            "seeds": self.seeds,
        }
        if self.steps is not None:
            fixed["steps"] = self.steps
        return {**self.overrides, **fixed, "out": str(out)}

    def to_dict(self) -> dict[str, Any]:
        data = {**dataclasses.asdict(self), "transfer": list(self.transfer)}
        for key in ("analyze", "memory_gb"):  # unset: cells keep the form they always had
            if data[key] is None:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        data = {
            **data,
            "transfer": tuple(data.get("transfer", ())),
            "analyze": data.get("analyze"),
            "memory_gb": data.get("memory_gb"),
        }
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    description: str
    cells: tuple[Cell, ...]
    source: str  # the YAML text as given
    # what the report sets against what (bench.contrasts_spec); not part of the fingerprint
    contrasts: tuple[Contrast, ...] = ()

    def fingerprint(self) -> str:
        """Hash of the expanded cells: equal iff every cell would train and evaluate alike."""
        text = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def canonical(self) -> dict[str, Any]:
        cells = [{k: v for k, v in c.to_dict().items() if k != "memory_gb"} for c in self.cells]
        return {"suite": self.name, "cells": cells}


# Loading ---------------------------------------------------------------------------------------


def load_suite(path: str | Path) -> Suite:
    """Read, validate and expand a suite file; ``ConfigError`` names any bad value."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"suite file {path} does not exist")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"suite {path} is not valid YAML: {err}")
    return parse_suite(data, default_name=path.stem, source=text)


def parse_suite(data: Any, default_name: str = "suite", source: str = "") -> Suite:
    """Validate and expand an already-parsed suite (a mapping)."""
    if not isinstance(data, dict):
        raise ConfigError("a suite must be a mapping with at least an 'experiments' list")
    _check_keys(data, SUITE_KEYS, "suite key", "suite")
    name = str(data.get("name", default_name))
    if not _ID_SAFE.match(name):
        raise ConfigError(
            f"suite name {name!r} must be filesystem-safe (letters, digits, '.', '_', '-')"
        )
    seeds = _positive_int(data.get("seeds", 1), "seeds")
    steps = _steps(data.get("steps"), "steps")
    defaults = _flat_overrides(data.get("defaults", {}), "defaults")
    analyze = parse_analyze(data.get("analyze"), "analyze")
    experiments = data.get("experiments")
    if not isinstance(experiments, list) or not experiments:
        raise ConfigError("the suite needs 'experiments': a non-empty list of mappings")
    cells: list[Cell] = []
    where: dict[str, str] = {}
    for i, exp in enumerate(experiments):
        label = f"experiments[{i}]"
        for cell in _expand(exp, label, seeds, steps, defaults, analyze):
            if cell.id in where:
                raise ConfigError(
                    f"duplicate cell {cell.id!r} (from {where[cell.id]} and {label}); give one "
                    "of the experiments a distinct 'tag' or remove the repeated combination"
                )
            where[cell.id] = label
            cells.append(cell)
    contrasts = parse_contrasts(data.get("contrasts"), {c.breaker for c in cells})
    return Suite(name, str(data.get("description", "")), tuple(cells), source, contrasts)


def _expand(
    exp: Any,
    label: str,
    seeds: int,
    steps: int | None,
    defaults: dict[str, Any],
    analyze: dict[str, Any] | None,
) -> list[Cell]:
    if not isinstance(exp, dict):
        raise ConfigError(f"{label} must be a mapping with envs, algos and breakers")
    _check_keys(exp, EXPERIMENT_KEYS, "key", label)
    for key in ("envs", "algos"):
        if key not in exp:
            raise ConfigError(f"{label} needs '{key}'")
    envs = _names(exp["envs"], f"{label}.envs")
    algos = _names(exp["algos"], f"{label}.algos")
    breakers = _names(exp.get("breakers", ["none"]), f"{label}.breakers")
    transfer = _names(exp.get("transfer", []), f"{label}.transfer", empty_ok=True)
    for env in (*envs, *transfer):
        check_env_name(env)
    for algo in algos:
        if algo not in ALGOS:
            raise _unknown(algo, "algorithm", f"{label}.algos", ALGOS)
    for breaker in breakers:
        if breaker not in BREAKERS:
            raise _unknown(breaker, "breaker", f"{label}.breakers", BREAKERS)
    seeds = _positive_int(exp.get("seeds", seeds), f"{label}.seeds")
    steps = _steps(exp.get("steps", steps), f"{label}.steps")
    overrides = {**defaults, **_flat_overrides(exp.get("overrides", {}), f"{label}.overrides")}
    overrides = dict(sorted(overrides.items()))
    if "analyze" in exp:  # the experiment's own setting replaces the suite's
        analyze = parse_analyze(exp["analyze"], f"{label}.analyze")
    memory_gb = _memory_gb(exp.get("memory_gb"), f"{label}.memory_gb")
    tag = exp.get("tag")
    if tag is not None and not (isinstance(tag, str) and _ID_SAFE.match(tag)):
        raise ConfigError(
            f"{label}.tag={tag!r} must be a filesystem-safe word (letters, digits, '.', '_', '-')"
        )
    cells = []
    for env, algo, breaker in product(envs, algos, breakers):
        cells.append(
            Cell(
                id=cell_id(env, algo, breaker, tag),
                env=env,
                algo=algo,
                breaker=breaker,
                seeds=seeds,
                steps=steps,
                overrides=overrides,
                transfer=tuple(t for t in transfer if t != env),
                analyze=None if analyze is None else {**analyze, "attacks": [*analyze["attacks"]]},
                memory_gb=memory_gb,
            )
        )
    return cells


def parse_analyze(value: Any, where: str) -> dict[str, Any] | None:
    """``analyze: true | false | {episodes, attacks, pictures}`` -> the settings, or None.

    ``true`` (or ``{}``) means the defaults of ``diamond-marl analyze``: 32 episodes per seed,
    3 pictures, attacks noise:5, rank_first, rank_last, random. Attacks are a list or a
    comma-separated string, checked here without JAX.
    """
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} must be true, false or a mapping with {', '.join(ANALYZE_KEYS)}; "
            f"got {value!r}"
        )
    unknown = [str(k) for k in value if k not in ANALYZE_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(ANALYZE_KEYS)}"
        )
    episodes = _positive_int(value.get("episodes", DEFAULT_EPISODES), f"{where}.episodes")
    pictures = _as_int(value.get("pictures", DEFAULT_PICTURES))
    if pictures is None or pictures < 0:
        raise ConfigError(f"{where}.pictures={value.get('pictures')!r} must be an integer >= 0")
    attacks = value.get("attacks", list(DEFAULT_ATTACKS))
    if isinstance(attacks, str):
        attacks = [a.strip() for a in attacks.split(",") if a.strip()]
    if attacks is None:
        attacks = []
    if not isinstance(attacks, list):
        raise ConfigError(
            f"{where}.attacks must be a list of attacks (noise:F, rank_first, rank_last, "
            f"random[:p]), got {attacks!r}"
        )
    names = []
    for attack in attacks:
        try:
            names.append(parse_attack_spec(attack)[0])
        except ConfigError as err:
            raise ConfigError(f"{where}.attacks: {err}")
    twice = sorted({a for a in names if names.count(a) > 1})
    if twice:
        raise ConfigError(f"{where}.attacks lists {', '.join(twice)} more than once")
    return {"episodes": episodes, "pictures": pictures, "attacks": names}


def cell_id(env: str, algo: str, breaker: str, tag: str | None = None) -> str:
    """``smax:3m`` x ``qmix`` x ``noise+rank`` -> ``smax-3m__qmix__noise_rank`` (a dir name)."""
    parts = [file_safe(env), algo, file_safe(breaker)] + ([tag] if tag else [])
    ident = "__".join(parts)
    if not _ID_SAFE.match(ident):
        raise ConfigError(
            f"cell {env} x {algo} x {breaker} gives the directory name {ident!r}, which is not "
            "filesystem-safe; use plain letters, digits, '_' and '-' in environment names"
        )
    return ident


# Environment names, checked without importing JAX -----------------------------------------------


def check_env_name(name: str) -> None:
    """Family, variant and parameter names of ``family:variant,key=value``, as the registry."""
    family, variant, params = parse_name(name, ENV_FAMILIES)
    if family not in ENV_FAMILIES and env_modules():
        return  # maybe a family of $DIAMOND_MARL_ENV_MODULES: the preflight builds it
    if family not in ENV_FAMILIES:
        raise _unknown(family, "environment family", repr(name), list(ENV_FAMILIES))
    spec = ENV_FAMILIES[family]
    if spec.variant and variant is None:
        raise ConfigError(f"{name!r}: {family} needs a variant, e.g. {spec.example!r}")
    if not spec.variant and variant is not None:
        raise ConfigError(
            f"{name!r}: {family} takes only key=value parameters, e.g. {spec.example!r}"
        )
    extra = [] if spec.open else sorted(set(params) - set(spec.params))
    if extra:
        raise ConfigError(
            f"{name!r}: unknown parameter(s) {', '.join(extra)}; allowed: {', '.join(spec.params)}"
        )
    for key, minimum in spec.ints:
        if key in params:
            raw = params[key]
            if not re.fullmatch(r"[+-]?\d+", raw) or int(raw) < minimum:
                raise ConfigError(
                    f"{name!r}: {key}={raw!r} is impossible; allowed: integers >= {minimum}"
                )


# Small validators ----------------------------------------------------------------------------


def _unknown(value: str, what: str, where: str, choices: Any) -> ConfigError:
    return ConfigError(f"{where}: unknown {what} {value!r}; allowed: {', '.join(choices)}")


def _check_keys(data: dict, known: tuple[str, ...], what: str, where: str) -> None:
    for key in data:
        if key not in known:
            raise _unknown(key, what, where, known)


def _names(value: Any, where: str, empty_ok: bool = False) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(f"{where} must be a name or a list of names, got {value!r}")
    if not items and not empty_ok:
        raise ConfigError(f"{where} must not be empty")
    if len(set(items)) != len(items):
        twice = sorted({v for v in items if items.count(v) > 1})
        raise ConfigError(f"{where} lists {', '.join(twice)} more than once")
    return items


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.replace("_", ""))
        except ValueError:
            return None
        return int(number) if number.is_integer() else None
    return None


def _positive_int(value: Any, where: str) -> int:
    number = _as_int(value)
    if number is None or number < 1:
        raise ConfigError(f"{where}={value!r} must be an integer >= 1")
    return number


def _memory_gb(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}={value!r} must be a number of GB > 0")
    return float(value)


def _steps(value: Any, where: str) -> int | None:
    if value is None:
        return None
    number = _as_int(value)
    if number is None or number < 1:
        raise ConfigError(
            f"{where}={value!r} must be a positive number of env steps per seed "
            "(omit it for the environment's default budget)"
        )
    return number


def _flat_overrides(data: Any, where: str, prefix: str = "") -> dict[str, Any]:
    """``{net: {hidden: 32}}`` -> ``{"net.hidden": 32}``, rejecting the suite's own keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of train overrides, got {data!r}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_overrides(value, where, f"{full}."))
            continue
        if full in RESERVED_OVERRIDES:
            raise ConfigError(
                f"{where}: {full!r} is set by the suite itself (envs/algos/breakers/seeds/steps; "
                "out by the launcher), not as an override"
            )
        if not isinstance(value, str | int | float | bool):
            raise ConfigError(f"{where}: {full}={value!r} must be a number, string or boolean")
        out[full] = value
    return out
