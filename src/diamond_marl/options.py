"""One coercer for every option a user types (CLI ``key=value``, YAML files, Python keywords):
the training config's fields and the breaker's alike. JAX-free."""

from __future__ import annotations

import math
from typing import Any

from diamond_marl.errors import ConfigError

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def coerce(value: Any, typ: Any, key: str) -> Any:
    """``value`` as the field's type ``typ`` (a type or its name), or a ``ConfigError`` naming
    ``key=value``. Numbers must be finite; an int may be written as ``1e6``. Types other than
    int, float, bool and str pass the value through."""
    typ = _TYPES.get(typ, typ)
    if typ not in (int, float, bool, str):
        return value
    try:
        if typ is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError
        if typ is str:
            return str(value)
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not math.isfinite(float(number)):
            raise ValueError
        if typ is float:
            return float(number)
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{key}={value!r} is not a valid {typ.__name__}") from None
