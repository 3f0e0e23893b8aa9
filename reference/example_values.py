"""The values of a feature dump and their framing: a leaf both writers of ``ExampleBatch`` use.

* :class:`RaggedValue` -- a fetched ragged feature (rows of varying length), held either as
  Python rows or as one flat value array and its row splits (how TensorFlow hands one back).
  Its storage is read through :attr:`RaggedValue.rows`, :attr:`RaggedValue.values` and
  :attr:`RaggedValue.row_splits`.
* :func:`to_example_batch` -- one fetched dataset element as an ``ExampleBatch`` message,
  built row by row exactly as the original hook builds it (the ground truth the direct
  encoder, :mod:`reference.fast_example`, is checked against and falls back to).
* :func:`frame` -- one record of the dump stream: a little-endian uint64 0 (the lagrange
  header), a little-endian uint64 length, then the payload.

It imports nothing from the hook module or the encoder, so
:mod:`reference.feature_engineering_hooks` and :mod:`reference.fast_example` both import it
and neither imports the other's internals.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from reference.protos.example_pb2 import ExampleBatch, FeatureListType

LAGRANGE_HEADER = 0


class RaggedValue:
    """A fetched ragged tensor (like ``RaggedTensorValue``): rows of varying length.

    Either rows given as Python sequences, or (:meth:`from_row_splits`) one flat value array
    and its row boundaries, the way TensorFlow hands a ragged tensor back; ``to_list`` then
    works like ``RaggedTensorValue.to_list``: ``values.tolist()`` cut at the splits.
    """

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self._rows: list[list[Any]] | None = [list(r) for r in rows]
        self._values: np.ndarray | None = None
        self._row_splits: np.ndarray | None = None

    @classmethod
    def from_row_splits(cls, values: Any, row_splits: Any) -> RaggedValue:
        """Rows ``values[row_splits[i]:row_splits[i + 1]]``; the splits must start at 0, never
        decrease and end at ``len(values)`` (``ValueError`` otherwise)."""
        flat = np.asarray(values)
        splits = np.asarray(row_splits)
        if flat.ndim < 1:
            raise ValueError("values must have at least one dimension")
        if splits.ndim != 1 or splits.dtype.kind not in "iu" or len(splits) < 1:
            raise ValueError("row_splits must be a non-empty 1-D integer array")
        if splits[0] != 0 or splits[-1] != len(flat) or (np.diff(splits) < 0).any():
            raise ValueError("row_splits must start at 0, not decrease, end at len(values)")
        value = cls([])
        value._rows = None
        value._values = flat
        value._row_splits = splits.astype(np.int64)
        return value

    @property
    def rows(self) -> list[list[Any]] | None:
        """The Python rows it was built from (not copied), or ``None`` for flat values."""
        return self._rows

    @property
    def values(self) -> np.ndarray | None:
        """The flat value array of :meth:`from_row_splits`, or ``None`` for Python rows."""
        return self._values

    @property
    def row_splits(self) -> np.ndarray | None:
        """The int64 row boundaries of :meth:`from_row_splits`, or ``None`` for Python rows."""
        return self._row_splits

    def to_list(self) -> list[list[Any]]:
        if self._rows is None:
            assert self._values is not None and self._row_splits is not None
            flat = self._values.tolist()
            splits = self._row_splits.tolist()
            return [flat[splits[i] : splits[i + 1]] for i in range(len(splits) - 1)]
        return [list(r) for r in self._rows]


def to_example_batch(batch: dict[str, Any]) -> ExampleBatch:
    """One fetched dataset element as an ``ExampleBatch``, exactly as the original builds it."""
    example_batch = ExampleBatch()
    for name, value in batch.items():
        named_feature_list = example_batch.named_feature_list.add()
        named_feature_list.name = name
        named_feature_list.type = FeatureListType.INDIVIDUAL
        rows = value.to_list() if isinstance(value, RaggedValue) else value.tolist()
        for row in rows:
            feature = named_feature_list.feature.add()
            # A 1-D array gives scalar rows: len() raises TypeError, as in the original.
            if len(row) > 0 and isinstance(row[0], float):
                feature.float_list.value.extend(row)
            else:
                feature.fid_v2_list.value.extend(row)
        # Set for every key in turn: the last key's row count wins.
        example_batch.batch_size = len(rows)
    return example_batch


_RECORD_HEAD = struct.Struct("<QQ")


def frame(serialized: bytes) -> bytes:
    """One record of the dump stream: lagrange header, length, payload."""
    return _RECORD_HEAD.pack(LAGRANGE_HEADER, len(serialized)) + serialized
