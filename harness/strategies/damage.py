"""Damage: arbitrary JSON (for loaders), and byte strings mutated the ways a stream gets
damaged (truncated, bit flips, splices, a length field overwritten)."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import strategies as st

from harness.strategies.fids import U64


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value Python's ``json.loads`` can give (NaN and infinities included)."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 70), 1 << 70),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["run", "advance", "controller", "barrier", "0x10", "../x", "/abs", "."]),
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8) | st.sampled_from(KEYS), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


KEYS = (
    "format",
    "family",
    "description",
    "pins",
    "config",
    "steps",
    "op",
    "count",
    "seconds",
    "text",
    "base64",
    "path",
    "model_dir",
    "capacity",
    "workers",
    "index",
    "global_step",
    "fids",
    "gen",
    "batches",
    "dense",
    "ragged",
    "shape",
    "values",
    "name",
    "dtype",
)


@st.composite
def corrupted(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` damaged once or a few times: truncated, a bit flipped, bytes inserted or
    deleted, or a 64-bit length field overwritten with a large value."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "length"]))
        if how == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif how == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "delete" and data:
            at = draw(st.integers(0, len(data) - 1))
            del data[at : at + draw(st.integers(1, 16))]
        elif how == "length" and len(data) >= 16:
            at = draw(st.integers(0, len(data) - 8))
            big = draw(st.sampled_from([len(data), 1 << 31, 1 << 63, U64]))
            data[at : at + 8] = struct.pack("<Q", big)
    return bytes(data)
