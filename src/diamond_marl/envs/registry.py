"""One naming scheme for every environment: ``family:variant,key=value,...``.

Examples: ``smax:3m``, ``rware:tiny-4ag``, ``jaxmarl:MPE_simple_spread_v3``, ``xor:n=3,k=3``,
``role:n=4,k=4,t=10``. Python, the CLI and benchmark suites all go through ``make(name)``.

A family registers a builder ``(variant, params) -> Env`` and a listing of its named
instances. Builders raise ``ConfigError`` for unknown variants or impossible parameters.
Families the library does not ship are modules named in ``$DIAMOND_MARL_ENV_MODULES``,
imported after the shipped ones (docs/custom-env.md).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from diamond_marl import env_names
from diamond_marl.envs.base import Env
from diamond_marl.errors import ConfigError, allowed

Builder = Callable[[str | None, dict[str, str]], Env]


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    builder: Builder
    listed: tuple[str, ...]  # full names shown by `diamond-marl envs`
    summary: str
    module: str  # import path, so heavy adapters load only when used


_FAMILIES: dict[str, Family] = {}
_BUILTIN_MODULE = "diamond_marl.envs."  # where the shipped families live


def register(name: str, builder: Builder, listed: tuple[str, ...], summary: str) -> None:
    """Make ``name:...`` build environments with ``builder(variant, params)``.

    ``listed`` are full names ``diamond-marl envs`` shows (and the API tests check);
    ``summary`` is one line on the family and its parameters. Registering a name again
    replaces the family, except that a shipped family cannot be replaced from outside.
    """
    if not name.isidentifier():
        raise ValueError(f"family name {name!r} must be an identifier (letters, digits, _)")
    old = _FAMILIES.get(name)
    if old and old.module.startswith(_BUILTIN_MODULE) and old.module != builder.__module__:
        raise ValueError(f"{name!r} is a family the library ships; choose another name")
    _FAMILIES[name] = Family(name, builder, tuple(listed), summary, builder.__module__)


def parse_name(name: str) -> tuple[str, str | None, dict[str, str]]:
    """Split ``family:variant,k=v`` into (family, variant or None, params)."""
    return env_names.parse_name(name, families())


def families() -> dict[str, Family]:
    _load_builtin()
    return dict(_FAMILIES)


def make(name: str) -> Env:
    """Build the environment a registry name stands for (no wrappers)."""
    family, variant, params = parse_name(name)
    fams = families()
    if family not in fams:
        raise allowed(family, "environment family", list(fams))
    return fams[family].builder(variant, params)


def list_envs() -> list[str]:
    """Every listed environment name, family by family."""
    return [n for fam in families().values() for n in fam.listed]


_BUILTIN_LOADED = False


def _load_builtin() -> None:
    # A flag, not "is _FAMILIES empty": importing one family's module (e.g. the games via
    # envs.reference) must not hide the others.
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    import importlib

    # Importing a module registers its family; this order is the listing order.
    for module in ("games", "smax", "rware", "mpe", "jaxmarl_env", "host.env"):
        importlib.import_module(f"diamond_marl.envs.{module}")
    for module in env_names.env_modules():  # the user's own families, listed last
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(
                f"${env_names.ENV_MODULES_VAR} names module {module!r}, which cannot be "
                f"imported ({err}); allowed: importable module names, comma-separated"
            ) from None


# Parameter parsing shared by builders ------------------------------------------------------


def int_param(params: dict[str, str], key: str, default: int | None, minimum: int, env: str) -> int:
    """Read an integer parameter, defaulting and checking ``>= minimum`` with a clear error."""
    if key not in params and default is None:
        raise ConfigError(f"{env}: parameter {key!r} is required (an integer >= {minimum})")
    return _number(params, key, default, minimum, env, int, "an integer")


def float_param(
    params: dict[str, str],
    key: str,
    default: float | None,
    minimum: float,
    env: str,
    maximum: float | None = None,
) -> float | None:
    """Read a finite number parameter ``>= minimum`` (and ``<= maximum`` if given);
    ``default`` (may be None) when absent."""
    return _number(params, key, default, minimum, env, float, "a number", maximum)


def _number(
    params: dict[str, str],
    key: str,
    default: Any,
    minimum: float,
    env: str,
    kind: type,
    what: str,
    maximum: float | None = None,
) -> Any:
    if key not in params:
        return default
    raw = params[key]
    rule = f"{key} >= {minimum}" if maximum is None else f"{minimum:g} <= {key} <= {maximum:g}"
    try:
        value = kind(raw)
    except ValueError:
        shown = f">= {minimum}" if maximum is None else rule
        raise ConfigError(f"{env}: {key}={raw!r} is not {what} (allowed: {shown})")
    if not math.isfinite(value) or value < minimum or (maximum is not None and value > maximum):
        finite = "finite " if kind is float and maximum is None else ""
        raise ConfigError(f"{env}: {key}={raw} is impossible; allowed: {finite}{rule}")
    return value


def check_no_extra(params: dict[str, str], known: tuple[str, ...], env: str) -> None:
    extra = sorted(set(params) - set(known))
    if extra:
        raise ConfigError(
            f"{env}: unknown parameter(s) {', '.join(extra)}; allowed: {', '.join(known) or 'none'}"
        )
