"""``listing.txt``: every path under ``files/``, one a line, sorted; directories end in
``/``, symbolic links read ``name -> target``."""

from __future__ import annotations


def entries(data: bytes) -> set[str]:
    return set(data.decode("utf-8", "replace").splitlines())


def explain(expected: bytes, actual: bytes) -> str:
    """``missing: ...; unexpected: ...`` (empty when the same entries are listed)."""
    exp, act = entries(expected), entries(actual)
    parts = []
    if exp - act:
        parts.append("missing: " + ", ".join(sorted(exp - act)))
    if act - exp:
        parts.append("unexpected: " + ", ".join(sorted(act - exp)))
    return "; ".join(parts)
