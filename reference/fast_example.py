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

import array
import functools
import re
import sys
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np

from reference.example_values import RaggedValue, to_example_batch

INT32_MAX = (1 << 31) - 1
_LITTLE = sys.byteorder == "little"

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


@functools.lru_cache(maxsize=1024)
def _row_layout(kind_tag: int, payload: int) -> tuple[np.dtype, np.void]:
    """A packed ``(header, values)`` record dtype for rows of ``payload`` value bytes, and
    the header as a scalar of its first field."""
    header = _row_header(kind_tag, payload)
    layout = np.dtype([("h", f"V{len(header)}"), ("v", f"V{payload}")])
    return layout, np.frombuffer(header, dtype=f"V{len(header)}")[0]


def _dense_block(kind_tag: int, data: np.ndarray) -> np.ndarray:
    """Feature entries of the rows of a 2-D array of little-endian values, as one C-contiguous
    uint8 array: a record per row, its (same) header then its values. Rows are copied as
    opaque ``V<payload>`` items, one ``memcpy`` each (a uint8 matrix copy goes byte by byte,
    about twice as slow)."""
    n = data.shape[0]
    payload = data.shape[1] * data.dtype.itemsize
    layout, header = _row_layout(kind_tag, payload)
    out = np.empty(n, dtype=layout)
    out["h"] = header
    out["v"] = np.ascontiguousarray(data).view(f"V{payload}").reshape(n)
    return out.view(np.uint8)


def _tiny_dense(kind_tag: int, raw: bytes, n: int) -> bytes:
    """Feature entries of ``n`` equal-sized rows of ``raw`` (packed values, row after row),
    without numpy: for a few rows its per-call costs outweigh the copying."""
    payload = len(raw) // n
    header = _row_header(kind_tag, payload)
    return b"".join([header + raw[i : i + payload] for i in range(0, len(raw), payload)])


def _ragged_join(kind_tag: int, lengths: list[int], raw: bytes, size: int) -> bytes:
    """:func:`_ragged_block` row by row in Python: cheaper than its numpy calls up to a few
    thousand rows. ``raw`` holds the packed values (``size`` bytes each), row after row."""
    headers: dict[int, bytes] = {}
    parts = []
    pos = 0
    for k in lengths:
        payload = k * size
        header = headers.get(payload)
        if header is None:
            header = headers[payload] = _row_header(kind_tag, payload)
        parts.append(header)
        parts.append(raw[pos : pos + payload])
        pos += payload
    return b"".join(parts)


def _ragged_block(kind_tag: int, counts: np.ndarray, values: np.ndarray) -> np.ndarray:
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
    return out


def _float32(values: np.ndarray) -> np.ndarray:
    """Float values as protobuf stores them in a float field (via a Python float)."""
    with np.errstate(all="ignore"):
        if values.dtype.itemsize == 4:
            if values.size and np.isnan(values.max()):  # max() propagates a NaN: one read
                # Widening to a Python float quiets a signalling NaN: do the same round trip.
                return values.astype(np.float64).astype("<f4", order="C")
            return values if values.dtype == _LE_F4 else values.astype("<f4")
        # A C double-to-float cast, as protobuf does: rounds to nearest, overflows to inf.
        return values.astype("<f4", order="C")


_LE_U8 = np.dtype("<u8")
_LE_I8 = np.dtype("<i8")
_LE_F4 = np.dtype("<f4")


def _packed_values(values: np.ndarray) -> tuple[int, np.ndarray] | None:
    """``(feature tag, little-endian values)`` of a numeric array as its ``tolist()`` rows
    would be stored, or ``None`` when only protobuf knows (negative fids, half NaNs...)."""
    kind = values.dtype.kind
    if kind in "iu":
        if kind == "i" and values.size and values.min() < 0:
            return None  # protobuf rejects negative fids
        if values.dtype == _LE_U8:
            return _FID_TAG, values
        if values.dtype == _LE_I8:  # non-negative: the same bits as uint64
            return _FID_TAG, values.view(_LE_U8)
        return _FID_TAG, values.astype(_LE_U8)
    if kind == "f" and values.dtype.itemsize in (2, 4, 8):
        if values.dtype.itemsize == 2 and np.isnan(values).any():
            return None  # half NaNs: leave the payload question to protobuf
        return _FLOAT_TAG, _float32(values)
    return None  # bools, complex, strings, objects...


#: Up to this many rows a dense feature is written without numpy (see :func:`_tiny_dense`).
TINY_ROWS = 8
_NAN_OR_INF_TOP = re.compile(b"[\x7f\xff]")  # top byte of a float32 that may be NaN/inf


def _tiny_feature(value: np.ndarray) -> bytes | None:
    """A few rows of native-layout int64/uint64/float32: the bytes, or ``None`` for numpy."""
    dtype = value.dtype
    raw = value.tobytes()  # C order, whatever the strides
    if dtype == _LE_U8:
        return _tiny_dense(_FID_TAG, raw, value.shape[0])
    if dtype == _LE_I8:
        # Little-endian: every 8th byte from the 7th holds a sign bit.
        return _tiny_dense(_FID_TAG, raw, value.shape[0]) if raw[7::8].isascii() else None
    if dtype == _LE_F4 and not _NAN_OR_INF_TOP.search(raw[3::4]):
        return _tiny_dense(_FLOAT_TAG, raw, value.shape[0])  # no NaN: stored as is
    return None


Body = bytes | np.ndarray  # a feature's entries: bytes, or a C-contiguous uint8 array


def _dense_feature(value: np.ndarray) -> Body | None:
    """Feature entries of a 2-D array's rows, or ``None`` to let protobuf do it."""
    if value.ndim != 2:
        return None  # 1-D: scalar rows (len() fails); 3-D: lists in a fid list
    n, k = value.shape
    if n > INT32_MAX:
        return None
    if k == 0:
        return _EMPTY_ROW * n  # every row is [] whatever the dtype
    if n == 0:
        return b""
    if n <= TINY_ROWS:
        tiny = _tiny_feature(value)
        if tiny is not None:
            return tiny
    packed = _packed_values(value)
    return None if packed is None else _dense_block(*packed)


#: Below this many rows a ragged feature is written row by row in Python (fewer fixed costs
#: than the numpy scatter; measured to break even near 1000 rows).
RAGGED_JOIN_ROWS = 512


def _rows_from_counts(tag: int, counts: np.ndarray, values: np.ndarray) -> Body:
    n = len(counts)
    if len(values) == 0:
        return _EMPTY_ROW * n
    if n < RAGGED_JOIN_ROWS:
        return _ragged_join(tag, counts.tolist(), values.tobytes(), values.dtype.itemsize)
    if (counts == counts[0]).all():
        return _dense_block(tag, values.reshape(n, int(counts[0])))
    return _ragged_block(tag, counts, values)


def _split_feature(values: np.ndarray, row_splits: np.ndarray) -> Body | None:
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


#: Up to this many values a check over them is done in Python (numpy's fixed costs dominate).
_SMALL_VALUES = 256


def _few_python_rows(rows: list[list[Any]]) -> bytes | None:
    """A few Python rows, row by row as protobuf takes them (each row's first value picks
    its list), with the checks of :func:`_ragged_feature`; ``None`` to let protobuf do it."""
    parts = []
    for row in rows:
        if not row:
            parts.append(_EMPTY_ROW)
            continue
        first = type(row[0])
        if first is int:
            try:
                packed = array.array("Q", row)
            except (OverflowError, ValueError, TypeError):
                return None
            if min(packed) <= 1 and bool in set(map(type, row)):
                return None
            tag = _FID_TAG
        elif first is float and set(map(type, row)) == {float}:
            packed = array.array("f", row)
            tag = _FLOAT_TAG
        else:
            return None
        if not _LITTLE:  # pragma: no cover - big-endian hosts
            packed.byteswap()
        raw = packed.tobytes()
        parts.append(_row_header(tag, len(raw)) + raw)
    return b"".join(parts)


def _ragged_feature(rows: list[list[Any]]) -> Body | None:
    """Feature entries of ragged Python rows, or ``None`` to let protobuf do it."""
    n = len(rows)
    if n > INT32_MAX:
        return None
    if n <= TINY_ROWS:
        return _few_python_rows(rows)
    flat = list(chain.from_iterable(rows))
    if not flat:
        return _EMPTY_ROW * n
    if type(flat[0]) is int:
        # ``array('Q')`` takes exactly what protobuf's uint64 field takes (ints, numpy ints,
        # anything with ``__index__``, in [0, 2**64)) with the same values, and raises on
        # the rest (floats, negatives, numpy bools...) -- except Python bools, which
        # protobuf refuses: they are looked for only when a 0 or 1 was stored.
        try:
            packed = array.array("Q", flat)
        except (OverflowError, ValueError, TypeError):
            return None
        small = len(flat) <= _SMALL_VALUES
        low = min(packed) if small else int(np.frombuffer(packed, dtype=np.uint64).min())
        if low <= 1 and bool in set(map(type, flat)):
            return None
        tag = _FID_TAG
    elif set(map(type, flat)) == {float}:
        # A C double-to-float cast per value, as protobuf's (and numpy's ``astype``) is.
        packed = array.array("f", flat)
        tag = _FLOAT_TAG
    else:
        return None  # mixed, bools, numpy scalars...: exactly as protobuf takes them
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        packed.byteswap()
    if n < RAGGED_JOIN_ROWS:
        return _ragged_join(tag, list(map(len, rows)), packed.tobytes(), packed.itemsize)
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=n)
    values = np.frombuffer(packed, dtype=np.uint64 if tag == _FID_TAG else np.float32)
    return _rows_from_counts(tag, counts, values)


def _slow_feature(name: Any, value: Any) -> tuple[bytes, int]:
    """One feature built by protobuf: its serialized ``NamedFeatureList`` and row count."""
    example_batch = to_example_batch({name: value})
    return example_batch.named_feature_list[0].SerializeToString(), example_batch.batch_size


def _feature(name: Any, value: Any) -> tuple[bytes, Body, int]:
    """One fetched feature: the start of its ``NamedFeatureList`` (the name field), the rest
    of it (its feature entries), and its row count."""
    if type(name) is not str:
        return (b"", *_slow_feature(name, value))
    try:
        name_bytes = name.encode("utf-8")
    except UnicodeEncodeError:
        return (b"", *_slow_feature(name, value))
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
            rows = len(splits) - 1
            if rows <= TINY_ROWS:
                # The very rows protobuf is given: exact by construction, and for a few rows
                # cheaper than numpy's fixed costs.
                body = _ragged_feature(value.to_list())
            else:
                body = _split_feature(flat, splits)
    else:
        body = None
    if body is None:
        return (b"", *_slow_feature(name, value))
    head = b"\x0a" + varint(len(name_bytes)) + name_bytes if name_bytes else b""
    return head, body, rows


def _nbytes(body: Body) -> int:
    return body.nbytes if type(body) is np.ndarray else len(body)


def encode_example_batch(batch: Mapping[str, Any]) -> bytes:
    """``to_example_batch(batch).SerializeToString()``, written directly.

    Each feature's entries are built once (a numpy matrix, or bytes) and copied once more,
    into the result, by ``bytes.join``.
    """
    parts: list[Body] = []
    batch_size = 0
    for name, value in batch.items():
        head, body, batch_size = _feature(name, value)
        parts.append(b"\x0a" + varint(len(head) + _nbytes(body)) + head)
        parts.append(body)
    if batch_size:
        parts.append(b"\x18" + varint(batch_size))
    return b"".join(parts)
