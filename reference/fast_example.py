"""A direct wire-format writer for the ``ExampleBatch`` records of the feature dump.

:func:`encode_example_batch` gives exactly ``to_example_batch(batch).SerializeToString()``
(:mod:`reference.example_values`) without building protobuf messages: each
feature's rows are written with numpy, a whole feature at a time.

Wire layout (proto3, fields in number order, defaults omitted)::

    ExampleBatch      := (0a len NamedFeatureList)* [18 varint(batch_size) if non-zero]
    NamedFeatureList  := [0a len name if non-empty] (12 len Feature)*   (type INDIVIDUAL = 0)
    Feature           := 12 len FidList     (fid_v2_list: ints, and every empty row)
                       | 1a len FloatList   (float_list: a row whose first value is a float)
    FidList/FloatList := [0a len packed-values if any]    (fixed64 / float32, little-endian)

An empty row is therefore ``12 00``, and a feature entry ``12 02 12 00``.

Handled directly: a 2-D ``numpy.ndarray`` of integers or floats (16/32/64-bit), a
:class:`RaggedValue` built from such a flat array and row splits, and one built from rows
whose values are all Python ``int`` or all Python ``float``. Any other
feature (a 1-D array, a negative or out-of-range fid, bools, mixed rows, a name that is not a
``str``...) is built by protobuf itself, one feature at a time, so the bytes, and any error
the original raises, are the original's. Float conversion matches protobuf's (a C
``double``-to-``float`` cast, so out-of-range values become infinities and NaN payloads are
quieted the same way).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from reference.example_values import RaggedValue, to_example_batch

INT32_MAX = (1 << 31) - 1

_FID_TAG = 0x12  # Feature.fid_v2_list, and NamedFeatureList.feature
_FLOAT_TAG = 0x1A  # Feature.float_list
_LIST_TAG = 0x0A  # FidList.value / FloatList.value (packed), NamedFeatureList.name
_EMPTY_ROW = b"\x12\x02\x12\x00"  # a feature entry holding an empty fid_v2_list


def varint(value: int) -> bytes:
    """The base-128 varint of a non-negative int."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@functools.lru_cache(maxsize=4096)
def _row_header(kind_tag: int, payload: int) -> bytes:
    """The bytes of a row's feature entry before its packed values (``payload`` bytes)."""
    if payload == 0:
        return _EMPTY_ROW
    inner = bytes([_LIST_TAG]) + varint(payload)
    list_len = len(inner) + payload
    feature = bytes([kind_tag]) + varint(list_len)
    return bytes([_FID_TAG]) + varint(len(feature) + list_len) + feature + inner


def _dense_rows(kind_tag: int, data: np.ndarray) -> bytes:
    """Feature entries of the rows of a C-contiguous 2-D array of little-endian values."""
    n = data.shape[0]
    payload = data.shape[1] * data.dtype.itemsize
    header = np.frombuffer(_row_header(kind_tag, payload), dtype=np.uint8)
    out = np.empty((n, len(header) + payload), dtype=np.uint8)
    out[:, : len(header)] = header
    out[:, len(header) :] = data.view(np.uint8).reshape(n, payload)
    return out.tobytes()


def _ragged_rows(kind_tag: int, counts: np.ndarray, values: np.ndarray) -> bytes:
    """Feature entries of rows of ``counts`` values each, taken in order from ``values``.

    Non-empty rows get ``kind_tag``; empty rows are empty fid lists. A row's header depends
    only on its length, so one header is built per distinct length and the headers are
    scattered between the rows' packed values.
    """
    size = values.dtype.itemsize
    seen = np.bincount(counts)
    lengths = np.flatnonzero(seen)
    which = np.zeros(len(seen), dtype=np.int64)
    which[lengths] = np.arange(len(lengths))
    which = which[counts]  # row -> index of its length in ``lengths``
    headers = [_row_header(kind_tag, k * size) for k in lengths.tolist()]
    header_len = np.array([len(h) for h in headers], dtype=np.int64)
    width = int(header_len.max())
    table = np.frombuffer(b"".join(h.ljust(width, b"\0") for h in headers), dtype=np.uint8)

    head = header_len[which]
    row_end = np.cumsum(head + counts * size)
    head_end = np.cumsum(head)
    # Byte k of row i's header: output position row_start[i] + k, table entry (which[i], k).
    k = np.arange(int(head_end[-1])) - np.repeat(head_end - head, head)
    where = np.repeat(row_end - head - counts * size, head) + k
    out = np.empty(int(row_end[-1]), dtype=np.uint8)
    out[where] = table[np.repeat(which * width, head) + k]
    is_value = np.ones(len(out), dtype=bool)
    is_value[where] = False
    out[is_value] = values.view(np.uint8)
    return out.tobytes()


def _float32(values: np.ndarray) -> np.ndarray:
    """Float values as protobuf stores them in a float field (via a Python float)."""
    with np.errstate(all="ignore"):
        if values.dtype.itemsize == 4 and np.isnan(values).any():
            # Widening to a Python float quiets a signalling NaN: do the same round trip.
            return values.astype(np.float64).astype("<f4", order="C")
        # A C double-to-float cast, as protobuf does: rounds to nearest, overflows to inf.
        return values.astype("<f4", order="C")


def _packed_values(values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(feature tag, little-endian values)`` of a numeric array as its ``tolist()`` rows
    would be stored, or ``None`` when only protobuf knows (negative fids, half NaNs...)."""
    kind = values.dtype.kind
    if kind in "iu":
        if kind == "i" and values.size and (values < 0).any():
            return None  # protobuf rejects negative fids
        return _FID_TAG, values.astype("<u8", order="C")
    if kind == "f" and values.dtype.itemsize in (2, 4, 8):
        if values.dtype.itemsize == 2 and np.isnan(values).any():
            return None  # half NaNs: leave the payload question to protobuf
        return _FLOAT_TAG, _float32(values)
    return None  # bools, complex, strings, objects...


def _dense_feature(value: np.ndarray) -> bytes | None:
    """Feature entries of a 2-D array's rows, or ``None`` to let protobuf do it."""
    if value.ndim != 2:
        return None  # 1-D: scalar rows (len() fails); 3-D: lists in a fid list
    n, k = value.shape
    if n > INT32_MAX:
        return None
    if k == 0:
        return _EMPTY_ROW * n  # every row is [] whatever the dtype
    packed = _packed_values(value)
    return None if packed is None else _dense_rows(*packed)


def _rows_from_counts(tag: int, counts: np.ndarray, values: np.ndarray) -> bytes:
    n = len(counts)
    if len(values) == 0:
        return _EMPTY_ROW * n
    if (counts == counts[0]).all():
        return _dense_rows(tag, values.reshape(n, int(counts[0])))
    return _ragged_rows(tag, counts, values)


def _split_feature(values: np.ndarray, row_splits: np.ndarray) -> bytes | None:
    """Feature entries of a flat-values ragged value, or ``None`` to let protobuf do it."""
    n = len(row_splits) - 1
    if values.ndim != 1 or n > INT32_MAX:
        return None  # nested values: rows of lists
    if len(values) == 0:
        return _EMPTY_ROW * n
    packed = _packed_values(values)
    if packed is None:
        return None
    return _rows_from_counts(packed[0], np.diff(row_splits), packed[1])


def _ragged_feature(rows: list[list[Any]]) -> bytes | None:
    """Feature entries of ragged Python rows, or ``None`` to let protobuf do it."""
    n = len(rows)
    if n > INT32_MAX:
        return None
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    total = int(counts.sum())
    if total == 0:
        return _EMPTY_ROW * n
    types = set(map(type, chain.from_iterable(rows)))
    if types == {int}:
        try:
            values = np.fromiter(chain.from_iterable(rows), dtype="<u8", count=total)
        except (OverflowError, ValueError, TypeError):
            return None  # negative or past 2**64: protobuf raises
        tag = _FID_TAG
    elif types == {float}:
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=total)
        values = _float32(flat)
        tag = _FLOAT_TAG
    else:
        return None  # mixed, bools, numpy scalars...: exactly as protobuf takes them
    return _rows_from_counts(tag, counts, values)


def _slow_feature(name: Any, value: Any) -> tuple[bytes, int]:
    """One feature built by protobuf: its serialized ``NamedFeatureList`` and row count."""
    example_batch = to_example_batch({name: value})
    return example_batch.named_feature_list[0].SerializeToString(), example_batch.batch_size


def encode_feature(name: Any, value: Any) -> tuple[bytes, int]:
    """A serialized ``NamedFeatureList`` for one fetched feature, and its row count."""
    if type(name) is not str:
        return _slow_feature(name, value)
    try:
        name_bytes = name.encode("utf-8")
    except UnicodeEncodeError:
        return _slow_feature(name, value)
    if type(value) is np.ndarray:
        body = _dense_feature(value)
        rows = value.shape[0] if value.ndim else 0
    elif type(value) is RaggedValue:
        py_rows, flat, splits = value.rows, value.values, value.row_splits
        if py_rows is not None:
            body = _ragged_feature(py_rows)
            rows = len(py_rows)
        else:
            assert flat is not None and splits is not None
            body = _split_feature(flat, splits)
            rows = len(splits) - 1
    else:
        body = None
    if body is None:
        return _slow_feature(name, value)
    head = bytes([_LIST_TAG]) + varint(len(name_bytes)) + name_bytes if name_bytes else b""
    return head + body, rows


def encode_example_batch(batch: Mapping[str, Any]) -> bytes:
    """``to_example_batch(batch).SerializeToString()``, written directly."""
    parts: list[bytes] = []
    batch_size = 0
    for name, value in batch.items():
        body, batch_size = encode_feature(name, value)
        parts.append(bytes([_LIST_TAG]) + varint(len(body)))
        parts.append(body)
    if batch_size:
        parts.append(b"\x18" + varint(batch_size))
    return b"".join(parts)
