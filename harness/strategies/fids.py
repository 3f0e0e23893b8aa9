"""Fids: unsigned 64-bit feature ids, v1 and v2 shaped, and the edges that matter.

A v2 fid is ``(slot << 48) | low`` with a 15-bit slot; a v1 fid ``(slot << 54) | low``
with a 10-bit slot. :data:`FID_EDGES` holds the values a port gets wrong: 0, the slot
boundaries of both layouts (the last fid of a slot and the first of the next), the
signed/unsigned boundary (2**63 - 1, 2**63) and 2**64 - 1.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

U64 = (1 << 64) - 1
I64_MAX = (1 << 63) - 1
JSON_SAFE = (1 << 53) - 1

FID_EDGES = (
    0,
    1,
    (1 << 48) - 1,  # the last fid of v2 slot 0, then the first of slot 1
    1 << 48,
    (2 << 48) - 1,
    (1 << 54) - 1,  # the same boundary in the v1 layout
    1 << 54,
    0x7FFF << 48,  # the highest v2 slot, first and last fid
    (0x8000 << 48) - 1,
    (0x1FF << 54) | ((1 << 54) - 1),  # the last v1 slot below the high bit
    I64_MAX,  # the signed/unsigned boundary
    1 << 63,
    0x8001000000000001,
    U64,
)


@functools.cache
def v2_fids() -> st.SearchStrategy[int]:
    """``(slot << 48) | low`` with a 15-bit slot, sometimes with bit 63 set as well."""
    return st.builds(
        lambda high, slot, low: (high << 63) | (slot << 48) | low,
        st.integers(0, 1),
        st.integers(0, 0x7FFF),
        st.integers(0, (1 << 48) - 1),
    )


@functools.cache
def v1_fids() -> st.SearchStrategy[int]:
    """``(slot << 54) | low`` with a 10-bit slot (slots >= 512 set the high bit)."""
    return st.builds(
        lambda slot, low: (slot << 54) | low,
        st.integers(0, 1023),
        st.integers(0, (1 << 54) - 1),
    )


@functools.cache
def fids() -> st.SearchStrategy[int]:
    """Unsigned 64-bit fids: anywhere, v1 or v2 shaped, or an edge value."""
    return st.one_of(st.integers(0, U64), v2_fids(), v1_fids(), st.sampled_from(FID_EDGES))


@functools.cache
def _fid_lists(max_size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(fids(), max_size=max_size)


@st.composite
def fid_tables(draw: st.DrawFn, max_size: int = 40) -> list[int]:
    """A list of fids, maybe empty; some draws repeat fids (duplicates of earlier ones)."""
    table = draw(_fid_lists(max_size))
    if table and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 5))):
            dup = table[draw(st.integers(0, len(table) - 1))]
            table.insert(draw(st.integers(0, len(table))), dup)
    return table
