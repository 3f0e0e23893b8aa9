"""``listing.txt``: every path under ``files/``, one a line, sorted; directories end in
``/``, symbolic links read ``name -> target``."""

from __future__ import annotations


def entries(data: bytes) -> set[str]:
    return set(data.decode("utf-8", "replace").splitlines())


MAX_NAMES = 20  # names shown per side; a testee may write millions


def _names(names: set[str]) -> str:
    shown = sorted(names)[:MAX_NAMES]
    more = f" ... and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
    return ", ".join(n if len(n) <= 200 else n[:197] + "..." for n in shown) + more


def explain(expected: bytes, actual: bytes) -> str:
    """``missing: ...; unexpected: ...`` (empty when the same entries are listed), at most
    :data:`MAX_NAMES` names a side."""
    exp, act = entries(expected), entries(actual)
    parts = []
    if exp - act:
        parts.append("missing: " + _names(exp - act))
    if act - exp:
        parts.append("unexpected: " + _names(act - exp))
    return "; ".join(parts)
