"""Compares an output directory with its golden directory, artifact by artifact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.artifacts import kind_of


@dataclass(frozen=True)
class Difference:
    path: str
    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.path} [{self.kind}]: {self.explanation}"


def files_under(root: Path) -> dict[str, Path]:
    """Relative posix path -> file, for every regular file under ``root``."""
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def compare_output(golden_dir: Path, out_dir: Path) -> list[Difference]:
    """Every difference between ``golden_dir`` and ``out_dir``, in path order."""
    golden, actual = files_under(golden_dir), files_under(out_dir)
    if not golden:
        return [Difference(str(golden_dir), "golden", "no golden output: run the regeneration")]
    differences = []
    for rel in sorted(set(golden) | set(actual)):
        kind = kind_of(rel)
        if rel not in actual:
            differences.append(Difference(rel, kind.name, "expected file was not written"))
        elif rel not in golden:
            differences.append(Difference(rel, kind.name, "file was written but not expected"))
        else:
            expected, got = golden[rel].read_bytes(), actual[rel].read_bytes()
            if expected != got:
                differences.append(Difference(rel, kind.name, kind.explain(rel, expected, got)))
    return differences
