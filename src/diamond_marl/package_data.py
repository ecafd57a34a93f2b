"""Files shipped inside the package: the benchmark suites (``suites/``), the write-up's
reference numbers and the saved cost benchmark (``data/``), the training defaults
(``configs/``).

Read through ``importlib.resources``, never from the source tree, so a package installed
from a wheel finds them as a checkout does (``tests/test_wheel.py`` checks it).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SUITES = "suites"
DATA = "data"


def package_file(*parts: str) -> Path:
    """The path of a file shipped in the package, e.g. ``package_file("data", "x.yaml")``.

    A wheel installs package data as plain files, so this is a real path (it may not exist:
    check before reading)."""
    return Path(str(resources.files("diamond_marl").joinpath(*parts)))


def shipped_suites() -> list[str]:
    """The names of the suites the package ships (``quick``, ``paper``, ``symmetry``, ...)."""
    return sorted(p.stem for p in package_file(SUITES).glob("*.yaml"))
