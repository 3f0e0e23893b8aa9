"""Compares an output directory with its golden directory, artifact by artifact.

Outputs are read without following links (:mod:`harness.safe_fs`): a symbolic link an
implementation leaves is an entry of its own, shown as a link with its target text and
never read through, so it fails the scenario unless the golden has the same link; a fifo,
socket or device is named as such and never opened for reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.artifacts import kind_of
from harness.safe_fs import (
    MAX_READ_BYTES,
    Entry,
    LinkRefused,
    entries_under,
    files_under,
    read_regular,
)

__all__ = ["Difference", "compare_output", "files_under"]


@dataclass(frozen=True)
class Difference:
    path: str
    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.path} [{self.kind}]: {self.explanation}"


def _compare_entries(
    rel: str, golden: Entry, actual: Entry, golden_dir: Path, out_dir: Path
) -> str | None:
    """Why two entries of the same path differ, or None when they are the same."""
    kind = kind_of(rel)
    if not (golden.is_file and actual.is_file):
        if (golden.kind, golden.target) == (actual.kind, actual.target):
            return None
        return f"expected {golden.describe()}, found {actual.describe()}"
    if max(golden.size, actual.size) > MAX_READ_BYTES:
        return (
            f"expected {golden.size} bytes, got {actual.size}: too large to compare "
            f"(at most {MAX_READ_BYTES} bytes are read)"
        )
    try:
        expected = read_regular(golden_dir, rel)
        got = read_regular(out_dir, rel)
    except (LinkRefused, ValueError) as e:
        return f"cannot be read safely: {e}"
    if expected == got:
        return None
    return kind.explain(rel, expected, got)


def compare_output(golden_dir: Path, out_dir: Path) -> list[Difference]:
    """Every difference between ``golden_dir`` and ``out_dir``, in path order."""
    golden, actual = entries_under(golden_dir), entries_under(out_dir)
    if not golden:
        return [Difference(str(golden_dir), "golden", "no golden output: run the regeneration")]
    differences = []
    for rel in sorted(set(golden) | set(actual)):
        kind = kind_of(rel)
        if rel not in actual:
            differences.append(Difference(rel, kind.name, "expected file was not written"))
        elif rel not in golden:
            what = actual[rel]
            note = "" if what.is_file else f" ({what.describe()}; not followed)"
            differences.append(
                Difference(rel, kind.name, f"file was written but not expected{note}")
            )
        else:
            why = _compare_entries(rel, golden[rel], actual[rel], golden_dir, out_dir)
            if why is not None:
                differences.append(Difference(rel, kind.name, why))
    return differences
