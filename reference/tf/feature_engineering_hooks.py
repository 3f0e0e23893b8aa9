"""TensorFlow tier of ``monolith/native_training/hooks/feature_engineering_hooks.py``.

:class:`FeatureEngineeringSaveHook` fetches a ``tf.data`` iterator's next element (a dict
of dense tensors and ``tf.RaggedTensor`` values) with every run but the first (the
iterator's initialisation), buffers the fetched values (numpy arrays and
``tf.compat.v1.ragged.RaggedTensorValue``) and dumps them as framed ``ExampleBatch``
records to ``<model_dir>/features/`` at ``cap`` buffered batches and at ``end``. Each
record: little-endian uint64 0 (the lagrange header), little-endian uint64 length, the
serialized ``ExampleBatch``.

Files are written through ``tf.io.gfile.GFile``, which creates the file on its first
``write``: a save with nothing buffered creates ``features/`` and logs, but no file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import uuid
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from reference.protos.example_pb2 import ExampleBatch, FeatureListType

log = logging.getLogger(__name__)

LAGRANGE_HEADER = 0


class FeatureEngineeringSaveHook(tf.compat.v1.train.SessionRunHook):
    """Dumps the fetched dataset elements as framed ``ExampleBatch`` files.

    ``config`` needs ``model_dir``, ``server_type`` and ``index`` (like an estimator
    ``RunConfig``); ``uuid_fn`` names the files (``uuid.uuid1`` in the original).
    """

    def __init__(
        self,
        config: Any,
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

    def before_run(self, run_context: Any) -> tf.compat.v1.train.SessionRunArgs | None:
        self._steps += 1
        # Run 1 initialises the iterator; nothing is fetched then.
        if self._steps > 1:
            return tf.compat.v1.train.SessionRunArgs(self._nxt_elem)
        return None

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if self._steps > 1:
            self._batch_list.append(run_values.results)
            if len(self._batch_list) >= self._cap:
                self._save_features()
                self._batch_list.clear()

    def end(self, session: Any) -> None:
        # Always true, as in the original: an empty buffer is "saved" too.
        if len(self._batch_list) >= 0:
            self._save_features()
            self._batch_list.clear()

    def _file_path(self, base_dir: str) -> str:
        uid = str(self._uuid_fn())
        if self._config.server_type == "worker" and self._config.index == 0:
            return os.path.join(base_dir, f"chief_{uid}.pb")
        return os.path.join(base_dir, f"worker{self._config.index}_{uid}.pb")

    @staticmethod
    def _to_example_batch(batch: dict[str, Any]) -> ExampleBatch:
        example_batch = ExampleBatch()
        for name, value in batch.items():
            feature_list = example_batch.named_feature_list.add()
            feature_list.name = name
            feature_list.type = FeatureListType.INDIVIDUAL
            if isinstance(value, tf.compat.v1.ragged.RaggedTensorValue):
                rows = value.to_list()
            else:  # a numpy array
                rows = value.tolist()
            for row in rows:
                feature = feature_list.feature.add()
                # Scalar rows (a 1-D array) make len() raise TypeError, as in the original.
                if len(row) > 0 and isinstance(row[0], float):
                    feature.float_list.value.extend(row)
                else:
                    feature.fid_v2_list.value.extend(row)
            # Set for each key in turn: the last key's row count is what remains.
            example_batch.batch_size = len(rows)
        return example_batch

    def _save_features(self) -> None:
        base_dir = os.path.join(self._config.model_dir, "features")
        with contextlib.suppress(tf.errors.OpError):
            tf.io.gfile.makedirs(base_dir)
        file_path = self._file_path(base_dir)
        batches = [self._to_example_batch(b) for b in self._batch_list]
        with tf.io.gfile.GFile(file_path, "wb") as f:
            for example_batch in batches:
                payload = example_batch.SerializeToString()
                f.write(struct.pack("<Q", LAGRANGE_HEADER))
                f.write(struct.pack("<Q", len(payload)))
                f.write(payload)
        log.info("save to %s", file_path)
