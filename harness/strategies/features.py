"""Feature values: dense arrays of the five scenario dtypes and ragged rows, as the
feature-dump hook fetches them, and whole batches (a dataset element).

Floats plant NaN (quiet, signalling, with payloads), infinities, -0.0 and the extremes of
each width; arrays may have zero rows or zero columns; ragged rows may be empty.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.strategies.fids import fids
from reference.feature_engineering_hooks import RaggedValue

DTYPES = ("int64", "uint64", "int32", "float32", "float64")
NAN_BITS32 = (0x7FC00000, 0x7F800001, 0x7FA00000, 0xFFC00001, 0x7FFFFFFF)
NAN_BITS64 = (0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000001, 0x7FFFFFFFFFFFFFFF)


@functools.cache
def feature_names() -> st.SearchStrategy[str]:
    """Any encodable unicode (no lone surrogates), empty included."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=10)


def _int_elements(dtype: str, negative: bool) -> st.SearchStrategy[int]:
    info = np.iinfo(np.dtype(dtype))
    low = int(info.min) if negative else 0
    return st.integers(low, int(info.max))


def float_elements(dtype: str) -> st.SearchStrategy[float]:
    width = 32 if dtype == "float32" else 64
    return st.floats(width=width, allow_nan=True, allow_infinity=True) | st.sampled_from(
        [0.0, -0.0, float("inf"), float("-inf"), float("nan")]
        + ([1e300, -1e300, 3.4028235677973366e38, 5e-324] if width == 64 else [1e-45])
    )


@st.composite
def dense_features(
    draw: st.DrawFn,
    dtypes: Sequence[str] = DTYPES,
    max_rows: int = 4,
    max_cols: int = 4,
    negative: bool = False,
) -> np.ndarray:
    """A 2-D array (zero rows or columns possible). Integers are non-negative unless
    ``negative`` (a negative fid is something protobuf rejects); floats plant NaN payloads,
    signalling ones included."""
    dtype = draw(st.sampled_from(list(dtypes)))
    shape = (draw(st.integers(0, max_rows)), draw(st.integers(0, max_cols)))
    if dtype.startswith("float"):
        array = draw(hnp.arrays(np.dtype(dtype), shape, elements=float_elements(dtype)))
        if array.size and draw(st.booleans()):
            bits = NAN_BITS32 if dtype == "float32" else NAN_BITS64
            raw = np.array([draw(st.sampled_from(bits))], dtype=f"u{array.itemsize}")
            array.flat[draw(st.integers(0, array.size - 1))] = raw.view(dtype)[0]
        return array
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=_int_elements(dtype, negative)))


@st.composite
def ragged_features(draw: st.DrawFn, max_rows: int = 4, max_len: int = 4) -> RaggedValue:
    """Rows of one element type (fids, float32 values or float64 values), empty rows
    included, given as Python rows or as flat values plus row splits."""
    kind = draw(st.sampled_from(["uint64", "float32", "float64"]))
    element = fids() if kind == "uint64" else float_elements(kind)
    rows = draw(st.lists(st.lists(element, max_size=max_len), max_size=max_rows))
    if kind == "float32":  # values a float32 ragged tensor can hold
        rows = [np.array(r, dtype=np.float32).tolist() for r in rows]
    if draw(st.booleans()):
        return RaggedValue(rows)
    flat = np.array([v for r in rows for v in r], dtype=kind)
    splits = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    return RaggedValue.from_row_splits(flat, splits)


@functools.cache
def features() -> st.SearchStrategy[Any]:
    return st.one_of(dense_features(), ragged_features())


@st.composite
def batches(draw: st.DrawFn, max_features: int = 4) -> dict[str, Any]:
    """A dataset element as the hook fetches it: names in order, each dense or ragged."""
    names = draw(st.lists(feature_names(), unique=True, max_size=max_features))
    return {name: draw(features()) for name in names}
