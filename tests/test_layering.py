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
