"""``ckpt.info-<step>``: a ``CkptInfo`` message in protobuf text format (slot -> fid count).

:func:`parse` reads the canonical form the hooks write (``slot_counts { key: K value: V }``
blocks, two-space indent) with one linear regular-expression pass, and anything else with
protobuf's own text parser, so both give the same counts; errors carry protobuf's
``line:column``. :func:`first_difference` names the first slot whose count differs.
"""

from __future__ import annotations

import re

from google.protobuf import text_format

from reference.protos.ckpt_info_pb2 import CkptInfo

_INT64 = (-(1 << 63), (1 << 63) - 1)
_CANONICAL = re.compile(rb"(?:slot_counts \{\n  key: -?\d{1,19}\n  value: -?\d{1,19}\n\}\n)*")
_ENTRY = re.compile(rb"  key: (-?\d+)\n  value: (-?\d+)\n")


def _fast(data: bytes) -> dict[int, int] | None:
    """The canonical form, checked by one C-speed full match, then read by ``findall``;
    None for anything else (an omitted default, other spacing, comments, ...)."""
    if _CANONICAL.fullmatch(data) is None:
        return None
    pairs = _ENTRY.findall(data)
    counts = dict(
        zip(map(int, (k for k, _ in pairs)), map(int, (v for _, v in pairs)), strict=True)
    )
    lo, hi = _INT64
    if counts and not (
        lo <= min(counts)
        and max(counts) <= hi
        and lo <= min(counts.values()) <= max(counts.values()) <= hi
    ):
        return None  # out of range: let protobuf say so
    return counts


def parse(data: bytes) -> dict[int, int]:
    """Slot -> count; ValueError (with protobuf's line:column) when it is not CkptInfo."""
    fast = _fast(data)
    if fast is not None:
        return fast
    info = CkptInfo()
    try:
        text_format.Parse(data.decode("utf-8"), info)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 at byte offset {e.start}") from e
    except text_format.ParseError as e:
        raise ValueError(f"not CkptInfo text: {e}") from e
    return dict(info.slot_counts)


def first_difference(expected: dict[int, int], actual: dict[int, int]) -> str | None:
    """``slot_counts[K]: expected X, got Y`` for the smallest slot that differs, or None."""
    if expected == actual:
        return None
    key = min(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    return (
        f"slot_counts[{key!r}]: expected {expected.get(key, '(absent)')}, "
        f"got {actual.get(key, '(absent)')}"
    )


def summary(counts: dict[int, int]) -> str:
    return f"CkptInfo: {len(counts)} slots, {sum(counts.values())} fids"
