"""Reference of ``monolith/native_training/hooks/feature_engineering_hooks.py``.

:class:`FeatureEngineeringSaveHook` buffers the dataset elements fetched by each run
(skipping the first run, the iterator's initialisation) and dumps them as a stream of
``ExampleBatch`` records to ``<model_dir>/features/``: each record is a little-endian
uint64 0 (the lagrange header), a little-endian uint64 length, then the serialized
``ExampleBatch``. It flushes at ``cap`` buffered batches and at ``end``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reference.protos.example_pb2 import ExampleBatch, FeatureListType
from reference.runtime.session_run_hook import (
    Session,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

log = logging.getLogger(__name__)

LAGRANGE_HEADER = 0


@dataclass(frozen=True)
class RunConfig:
    """The parts of an estimator ``RunConfig`` the hook reads."""

    model_dir: str
    server_type: str = "worker"
    index: int = 0


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

    def to_list(self) -> list[list[Any]]:
        if self._rows is None:
            assert self._values is not None and self._row_splits is not None
            flat = self._values.tolist()
            splits = self._row_splits.tolist()
            return [flat[splits[i] : splits[i + 1]] for i in range(len(splits) - 1)]
        return [list(r) for r in self._rows]


def feature_file_name(config: RunConfig, uid: str) -> str:
    """``chief_<uid>.pb`` for worker 0, else ``worker<index>_<uid>.pb``."""
    if config.server_type == "worker" and config.index == 0:
        return f"chief_{uid}.pb"
    return f"worker{config.index}_{uid}.pb"


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


def frame(serialized: bytes) -> bytes:
    """One record of the dump stream: lagrange header, length, payload."""
    return struct.pack("<Q", LAGRANGE_HEADER) + struct.pack("<Q", len(serialized)) + serialized


class FeatureEngineeringSaveHook(SessionRunHook):
    """Dumps the fetched dataset elements as framed ``ExampleBatch`` files."""

    def __init__(
        self,
        config: RunConfig,
        nxt_elem: Any,
        cap: int = 100,
        uuid_fn: Callable[[], object] = uuid.uuid1,
    ) -> None:
        self._config = config
        self._nxt_elem = nxt_elem
        self._cap = cap
        self._uuid_fn = uuid_fn

    def begin(self) -> None:
        self._batch_list: list[dict[str, Any]] = []
        self._steps = 0

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._steps += 1
        # The first run initialises the iterator: nothing is fetched.
        if self._steps > 1:
            return SessionRunArgs(self._nxt_elem)
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._steps > 1:
            self._batch_list.append(run_values.results)
            if len(self._batch_list) >= self._cap:
                self._save_features()
                self._batch_list.clear()

    def end(self, session: Session) -> None:
        # Always true in the original (len >= 0): an empty buffer is "saved" too.
        if len(self._batch_list) >= 0:
            self._save_features()
            self._batch_list.clear()

    def _save_features(self) -> None:
        base_dir = os.path.join(self._config.model_dir, "features")
        # The original ignores a failure here (a file in the way, no permission): the
        # error, if any, comes when the file is opened for the first record.
        with contextlib.suppress(OSError):
            os.makedirs(base_dir, exist_ok=True)
        file_path = os.path.join(base_dir, feature_file_name(self._config, str(self._uuid_fn())))
        # Written directly (byte-identical to ``to_example_batch(b).SerializeToString()``);
        # imported here because the encoder builds on this module.
        from reference.fast_example import encode_example_batch

        records = [frame(encode_example_batch(b)) for b in self._batch_list]
        # The original's file object opens lazily on the first write: no records, no file.
        if records:
            with open(file_path, "wb") as f:
                for record in records:
                    f.write(record)
        log.info("save to %s", file_path)
