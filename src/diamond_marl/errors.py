"""Errors users can act on. The CLI turns a ``ConfigError`` into one line and exit status 2."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad name or value given by the user: the message names it and what is allowed."""


def allowed(value: object, what: str, choices: list[str] | tuple[str, ...]) -> ConfigError:
    """Build the standard "unknown X 'v'; allowed: a, b, c" error."""
    return ConfigError(f"unknown {what} {value!r}; allowed: {', '.join(sorted(choices))}")
