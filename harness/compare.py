"""Compares an output directory with its golden directory, artifact by artifact.

Outputs are read without following links (:mod:`harness.safe_fs`): a symbolic link an
implementation leaves is an entry of its own, shown as a link with its target text and
never read through, so it fails the scenario unless the golden has the same link; a fifo,
socket or device is named as such and never opened for reading.

Every byte is compared strictly unless the implementation declares a named relaxation
(:data:`RELAXATIONS`, declared in its deviations file: docs/deviations.md). The only one,
``protobuf-error-wording``, accepts a different wording of a protobuf parse error in a
``monolith_action_response``: where the golden response is the parse error's text
(:func:`harness.formats.action_file.is_error_text`), any response that is also an error
text matches -- non-blank UTF-8, not ``OK``. It relaxes that file's bytes and nothing
else: the listing (so the action file must be gone), the trace (so every event of every
step is the same) and every other file are still compared byte for byte. What a relaxation
accepted is returned apart (:attr:`Comparison.relaxed`), so reports can count it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from harness.artifacts import ActionResponseKind, kind_of
from harness.formats.action_file import is_error_text
from harness.safe_fs import (
    MAX_READ_BYTES,
    Entry,
    LinkRefused,
    Tree,
    entries_under,
    files_under,
    open_dir_beneath,
    read_regular,
    walk,
)

__all__ = ["RELAXATIONS", "Comparison", "Difference", "compare", "compare_output", "files_under"]

PROTOBUF_ERROR_WORDING = "protobuf-error-wording"
# Every relaxation a deviations file may declare, with what it accepts (the schema's
# "relax" enum lists the same names: tests/harness/test_relaxations.py checks it).
RELAXATIONS = {
    PROTOBUF_ERROR_WORDING: (
        "a monolith_action_response whose golden is a protobuf parse error matches any "
        "error text (non-blank UTF-8, not OK); every other byte stays strict"
    ),
}
MAX_SHOWN_CHARS = 200  # of a relaxed response, in a report (a testee's text may be huge)
MAX_UNEXPECTED = 20  # files written but not expected, named one by one


@dataclass(frozen=True)
class Difference:
    path: str
    kind: str
    explanation: str

    def __str__(self) -> str:
        return f"{self.path} [{self.kind}]: {self.explanation}"


@dataclass(frozen=True)
class Comparison:
    """What differs, and what differs but a declared relaxation accepted."""

    differences: list[Difference] = field(default_factory=list)
    relaxed: list[Difference] = field(default_factory=list)


def _shown(data: bytes) -> str:
    text = json.dumps(data.decode("utf-8"))
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    return f"{text[: MAX_SHOWN_CHARS - 30]}... ({len(data)} bytes in all)"


def _relaxed(rel: str, expected: bytes, got: bytes, relax: Collection[str]) -> str | None:
    """Why a declared relaxation accepts ``got`` in place of ``expected`` (None: it does
    not)."""
    if (
        PROTOBUF_ERROR_WORDING in relax
        and kind_of(rel).name == ActionResponseKind.name
        and is_error_text(expected)
        and is_error_text(got)
    ):
        return (
            f"{PROTOBUF_ERROR_WORDING}: the parse error is worded differently: expected "
            f"{_shown(expected)}, got {_shown(got)}"
        )
    return None


def _compare_entries(
    rel: str,
    golden: Entry,
    actual: Entry,
    golden_dir: Path | int,
    out_dir: Path | int,
    relax: Collection[str] = (),
) -> tuple[str | None, str | None]:
    """Why two entries of the same path differ (None when they are the same), and why a
    relaxation accepts the difference (None when none does)."""
    kind = kind_of(rel)
    if not (golden.is_file and actual.is_file):
        if (golden.kind, golden.target) == (actual.kind, actual.target):
            return None, None
        return f"expected {golden.describe()}, found {actual.describe()}", None
    if max(golden.size, actual.size) > MAX_READ_BYTES:
        return (
            f"expected {golden.size} bytes, got {actual.size}: too large to compare "
            f"(at most {MAX_READ_BYTES} bytes are read)"
        ), None
    try:
        expected = read_regular(golden_dir, rel)
        got = read_regular(out_dir, rel)
    except (LinkRefused, ValueError) as e:
        return f"cannot be read safely: {e}", None
    if expected == got:
        return None, None
    return kind.explain(rel, expected, got), _relaxed(rel, expected, got, relax)


def compare_output(golden_dir: Path, out_dir: Path | int) -> list[Difference]:
    """Every difference between ``golden_dir`` and ``out_dir``, in path order (strict)."""
    return compare(golden_dir, out_dir).differences


def _files(tree: Tree) -> dict[str, Entry]:
    return {rel: e for rel, e in sorted(tree.entries.items()) if e.kind != "directory"}


def compare(golden_dir: Path, out_dir: Path | int, relax: Collection[str] = ()) -> Comparison:
    """Every difference between ``golden_dir`` and ``out_dir`` (a path, or a directory fd
    opened from the work directory), in path order; those the declared relaxations
    ``relax`` (names from :data:`RELAXATIONS`) accept are apart. The output side is
    walked within bounds (:func:`harness.safe_fs.walk`): past them, one difference says
    so; files written but not expected are named up to :data:`MAX_UNEXPECTED`, then
    counted."""
    unknown = sorted(set(relax) - set(RELAXATIONS))
    if unknown:
        raise ValueError(f"unknown relaxation(s) {unknown} (known: {sorted(RELAXATIONS)})")
    # The golden directory is opened once and its files read beneath that fd, rather than
    # resolving its whole path again for every file. Missing, or a link: no entries, as
    # entries_under(golden_dir) has.
    try:
        golden_fd: int | None = open_dir_beneath(golden_dir)
    except (FileNotFoundError, NotADirectoryError, LinkRefused):
        golden_fd = None
    try:
        return _compare_trees(golden_dir, golden_fd, out_dir, relax)
    finally:
        if golden_fd is not None:
            os.close(golden_fd)


def _compare_trees(
    golden_dir: Path, golden_fd: int | None, out_dir: Path | int, relax: Collection[str]
) -> Comparison:
    """:func:`compare` with the golden directory open as ``golden_fd`` (None: missing)."""
    golden = entries_under(golden_fd) if golden_fd is not None else {}
    golden_root = golden_dir if golden_fd is None else golden_fd  # has no files when None
    tree = walk(out_dir)
    actual = _files(tree)
    if not golden:
        return Comparison(
            [Difference(str(golden_dir), "golden", "no golden output: run the regeneration")]
        )
    differences, relaxed = [], []
    unexpected = 0
    for rel in sorted(set(golden) | set(actual)):
        kind = kind_of(rel)
        if rel not in actual:
            if not tree.complete and rel not in tree.entries:
                continue  # beyond what the walk describes: said once, below
            differences.append(Difference(rel, kind.name, "expected file was not written"))
        elif rel not in golden:
            unexpected += 1
            if unexpected > MAX_UNEXPECTED:
                continue
            what = actual[rel]
            note = "" if what.is_file else f" ({what.describe()}; not followed)"
            differences.append(
                Difference(rel, kind.name, f"file was written but not expected{note}")
            )
        else:
            why, accepted = _compare_entries(
                rel, golden[rel], actual[rel], golden_root, out_dir, relax
            )
            if accepted is not None:
                relaxed.append(Difference(rel, kind.name, accepted))
            elif why is not None:
                differences.append(Difference(rel, kind.name, why))
    if unexpected > MAX_UNEXPECTED:
        differences.append(
            Difference(
                "...",
                "output",
                f"and {unexpected - MAX_UNEXPECTED} more files written but not expected",
            )
        )
    if not tree.complete:
        problems = tree.problems(subject="the output directory")
        differences.append(Difference(".", "output", "; ".join(problems)))
    return Comparison(differences, relaxed)
