"""The packages depend one way: harness -> reference -> reference.runtime (a leaf), and
both harness and reference may use testee_protocol (a leaf: the protocol's definition).

Checked on the source (every import statement, deferred ones included), so a cycle cannot
creep back in through an import inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[str, int, str]]:
    """(file, line, imported module) for every import under ``package``."""
    found = []
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), node.lineno, n) for n in names]
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("reference", ("harness",)),
        ("testee_protocol", ("harness", "reference", "tensorflow")),
        ("reference.runtime", ("harness", "reference.testee", "reference.tf", "tensorflow")),
    ],
)
def test_package_does_not_import(package: str, forbidden: tuple[str, ...]) -> None:
    bad = [
        f"{file}:{line} imports {name}"
        for file, line, name in _imports(package)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert not bad, "\n".join(bad)


def test_runtime_imports_only_itself_from_the_project() -> None:
    own = [
        f"{file}:{line} imports {name}"
        for file, line, name in _imports("reference.runtime")
        if name.split(".")[0] in ("reference", "harness")
        and not name.startswith("reference.runtime")
    ]
    assert not own, "\n".join(own)


def test_testee_protocol_imports_only_the_standard_library() -> None:
    import sys

    outside = [
        f"{file}:{line} imports {name}"
        for file, line, name in _imports("testee_protocol")
        if name.split(".")[0] not in sys.stdlib_module_names and name != "__future__"
    ]
    assert not outside, "\n".join(outside)


def _module_graph(package: str) -> dict[str, set[str]]:
    """Module -> the project modules it imports (deferred imports included), for every
    module under ``package``; ``from harness import x`` counts as importing ``harness.x``."""
    graph: dict[str, set[str]] = {}
    base = ROOT / package
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in base.rglob("*.py")
    }
    for path in sorted(base.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_import_cycle_in_the_harness() -> None:
    """Every import of harness/ points one way: no module reaches itself again (cli and
    fuzz used to import each other; the implementation factory has a module of its own)."""
    graph = _module_graph("harness")
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert not cycles, "\n".join(sorted(set(cycles)))
