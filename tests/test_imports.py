"""The package's module-level import graph has no cycle (issue 28): every module under
src/diamond_marl is parsed, its module-level imports of diamond_marl resolved to module names
(relative ones too; ``from diamond_marl.x import y`` imports ``diamond_marl.x`` and, when
``diamond_marl.x.y`` is a module, that too), and the graph searched for a cycle. Imports
inside functions (deferred on purpose) and under ``if TYPE_CHECKING:`` do not count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "diamond_marl"


def modules(src: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` under ``src/package`` (``__init__`` names the
    package itself)."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _top_level(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements run when the module is imported: at module level, also inside
    module-level ``if`` (not ``if TYPE_CHECKING``), ``try`` and ``with`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                found += _top_level(node.body)
            found += _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                found += _top_level(block)
            for handler in node.handlers:
                found += _top_level(handler.body)
        elif isinstance(node, ast.With):
            found += _top_level(node.body)
    return found


def imports_of(name: str, path: Path, known: set[str], package: str = PACKAGE) -> set[str]:
    """The package's modules that module ``name`` (file ``path``) imports at module level."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in _top_level(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
            base = None
        else:
            if node.level:  # relative: from the module's package, up level - 1 packages
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target != package and not target.startswith(package + "."):
                continue
            # `import diamond_marl.a.b` runs diamond_marl.a.b; keep the longest known prefix
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts:
                out.add(".".join(parts))
    out.discard(name)
    return out


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    found = modules(src, package)
    known = set(found)
    return {name: imports_of(name, path, known, package) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "diamond_marl.bench.report" in graph
    assert "diamond_marl.bench.rows" in graph["diamond_marl.bench.collect"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.fixture
def planted(tmp_path):
    """A small package: a -> b (relative) -> c (package import of a module) -> a."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("import os\n\nfrom pkg.sub.c import VALUE\n")
    (pkg / "sub" / "c.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg import d\n"
        "VALUE = 1\n\n\ndef late():\n    from pkg import d\n\n\nfrom pkg import a\n"
    )
    (pkg / "d.py").write_text("from pkg.sub import c\n")  # only reached lazily: no cycle
    return tmp_path


def test_the_checker_finds_a_planted_cycle(planted):
    graph = import_graph(planted, "pkg")
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg", "pkg.a"}  # the lazy and TYPE_CHECKING ones: not
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert {"pkg.a", "pkg.sub.b", "pkg.sub.c"} <= set(cycle)
    # break it: c no longer imports a at module level
    (planted / "pkg" / "sub" / "c.py").write_text("VALUE = 1\n")
    assert find_cycle(import_graph(planted, "pkg")) is None
