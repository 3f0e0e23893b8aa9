"""Bounded explanations of two byte strings: the first differing byte offset with a hex
view, and a unified text diff whose cost does not grow with the size of the files.

Both are near-linear: the first difference is found by comparing large blocks (C-speed
``==``), and the text diff trims the common leading and trailing lines first, then runs
``difflib`` only on a bounded window of what is left. When the differing middle is
larger than that window, the diff says it was cut; the exact first difference is always
in it, and the structural explanation a kind gives before it says what differs.
"""

from __future__ import annotations

import difflib
import re

MAX_DIFF_LINES = 40
WINDOW_LINES = 400  # lines of each side's differing middle handed to difflib at most
_BLOCK = 1 << 16


def first_difference_offset(a: bytes, b: bytes) -> int:
    """The first offset where ``a`` and ``b`` differ (the shorter length if one is a
    prefix of the other)."""
    n = min(len(a), len(b))
    view_a, view_b = memoryview(a), memoryview(b)
    start = 0
    while start < n:
        end = min(n, start + _BLOCK)
        if view_a[start:end] != view_b[start:end]:
            # narrow down by halves: each comparison is C-speed
            lo, hi = start, end
            while hi - lo > 64:
                mid = (lo + hi) // 2
                if view_a[lo:mid] != view_b[lo:mid]:
                    hi = mid
                else:
                    lo = mid
            return next(i for i in range(lo, hi) if a[i] != b[i])
        start = end
    return n


def hex_context(data: bytes, offset: int, width: int = 16) -> str:
    start = max(0, offset - offset % width - width)
    lines = []
    for row in range(start, min(len(data), start + 3 * width), width):
        chunk = data[row : row + width]
        marker = " <--" if row <= offset < row + width else ""
        lines.append(f"  {row:08x}  {chunk.hex(' '):<{width * 3}}{marker}")
    return "\n".join(lines) if lines else "  (no bytes)"


def explain_bytes(expected: bytes, actual: bytes) -> str:
    """The first differing offset, with a hex view of both sides around it."""
    offset = first_difference_offset(expected, actual)
    return (
        f"first difference at byte offset {offset} (expected {len(expected)} bytes, "
        f"got {len(actual)})\n expected:\n{hex_context(expected, offset)}\n"
        f" actual:\n{hex_context(actual, offset)}"
    )


_HUNK = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def _shift(line: str, by: int) -> str:
    """A hunk header of a diff of a window, renumbered to the whole file."""
    m = _HUNK.match(line)
    if not m or by == 0:
        return line
    a, b = int(m.group(1)) + by, int(m.group(3)) + by  # (an empty range too: start - 1)
    return f"@@ -{a}{m.group(2) or ''} +{b}{m.group(4) or ''} @@" + line[m.end() :]


def _common_suffix(a: bytes, b: bytes) -> int:
    """How many trailing bytes ``a`` and ``b`` share."""
    return first_difference_offset(a[::-1], b[::-1])


def unified(
    expected: bytes, actual: bytes, name: str, labels: tuple[str, str] | None = None
) -> str:
    """A unified diff (at most :data:`MAX_DIFF_LINES` lines), or :func:`explain_bytes`
    when either side is not UTF-8 or only line endings differ. The sides are labelled
    ``labels`` (default ``golden/<name>``, ``actual/<name>``).

    The common leading and trailing lines are found on the bytes (C speed); ``difflib``
    sees only the differing middle, with three lines of context, cut to
    :data:`WINDOW_LINES` lines a side (the output then says so)."""
    before, after = labels or (f"golden/{name}", f"actual/{name}")
    try:
        expected.decode("utf-8")
        actual.decode("utf-8")
    except UnicodeDecodeError:
        return explain_bytes(expected, actual)
    off = first_difference_offset(expected, actual)
    # the differing middle, widened to whole lines: [start, end) on each side
    start = expected.rfind(b"\n", 0, max(off - 1, 0)) + 1
    rev = min(_common_suffix(expected, actual), len(expected) - start, len(actual) - start)
    end_e, end_a = len(expected) - rev, len(actual) - rev
    if end_e > start and expected[end_e - 1 : end_e] != b"\n":
        nl = expected.find(b"\n", end_e)
        grow = (len(expected) if nl < 0 else nl + 1) - end_e
        end_e, end_a = end_e + grow, end_a + grow
    mid_e, mid_a = expected[start:end_e].decode(), actual[start:end_a].decode()
    if mid_e.splitlines() == mid_a.splitlines():
        return "texts differ only in line endings or a final newline:\n" + explain_bytes(
            expected, actual
        )
    exp_mid, act_mid = mid_e.splitlines(keepends=True), mid_a.splitlines(keepends=True)
    cut = max(len(exp_mid), len(act_mid)) > WINDOW_LINES
    context = 3
    lead = start
    for _ in range(context):
        if lead == 0:
            break
        lead = expected.rfind(b"\n", 0, lead - 1) + 1
    head = expected[lead:start].decode().splitlines(keepends=True)
    tail: list[str] = []
    if not cut:
        stop = end_e
        for _ in range(context):
            nl = expected.find(b"\n", stop)
            if stop >= len(expected):
                break
            stop = len(expected) if nl < 0 else nl + 1
        tail = expected[end_e:stop].decode().splitlines(keepends=True)
    first_line = expected.count(b"\n", 0, lead)
    diff = [
        _shift(line, first_line)
        for line in difflib.unified_diff(
            head + exp_mid[:WINDOW_LINES] + tail,
            head + act_mid[:WINDOW_LINES] + tail,
            before,
            after,
        )
    ]
    shown = "".join(line if line.endswith("\n") else line + "\n" for line in diff[:MAX_DIFF_LINES])
    if len(diff) > MAX_DIFF_LINES:
        shown += f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)\n"
    if cut:
        shown += (
            f"... (diff cut: {len(exp_mid)} golden and {len(act_mid)} actual lines differ from "
            f"line {first_line + len(head) + 1} on; only the first {WINDOW_LINES} of each were "
            "compared)\n"
        )
    return shown.rstrip("\n")
