"""TensorFlow tier of ``monolith/native_training/hooks/ckpt_info.py``.

:class:`FidSlotCountSaverListener` finds the default graph's hash tables (the stand-ins
of :mod:`reference.tf.hash_table`) and builds, per device, a 102400-long int64 count
variable plus the ops that fill it: decode each entry's id, take the v2 slot, clamp it
to 102399, ``tf.scatter_nd`` ones into a vector and ``assign_add`` it. ``before_save``
zeroes the counters, runs the counting, sums the per-device vectors and writes
``<model_dir>/ckpt.info-<step>`` with ``str(CkptInfo)`` through ``tf.io.gfile``.

Like the original, the count variables come from ``tf.compat.v1.get_variable`` with a
fixed name per device, so building a second listener in the same graph raises
``ValueError`` ("Variable monolith_fid_slot_count/... already exists").
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import numpy as np
import tensorflow as tf

from reference.protos import ckpt_info_pb2
from reference.tf.hash_table import (
    HASH_TABLE_COLLECTION,
    MULTI_HASH_TABLE_COLLECTION,
    extract_slot_from_entry,
)

MAX_SLOT = 102400


class FidSlotCountSaverListener(tf.compat.v1.train.CheckpointSaverListener):
    """Writes per-slot fid counts next to each checkpoint."""

    def __init__(self, model_dir: str) -> None:
        self._model_dir = model_dir
        all_tables = tf.compat.v1.get_collection(HASH_TABLE_COLLECTION)
        self.all_multi_hash_tables = tf.compat.v1.get_collection(MULTI_HASH_TABLE_COLLECTION)
        if not all_tables and not self.all_multi_hash_tables:
            raise ValueError(
                "Unable to find hash tables. "
                "It may be caused by creating the listener before calling model_fn"
            )
        device_to_tables: dict[str, list[Any]] = defaultdict(list)
        for table in all_tables:
            device_to_tables[table.table.device].append(table)

        self._count_vars: dict[str, tf.Variable] = {}
        count_ops = []
        for device, tables in device_to_tables.items():
            with tf.device(device):
                count_var = tf.compat.v1.get_variable(
                    "monolith_fid_slot_count/" + str(device).replace(":", "_"),
                    shape=[MAX_SLOT],
                    dtype=tf.int64,
                    initializer=tf.compat.v1.zeros_initializer(),
                    collections=[],
                )
                self._count_vars[device] = count_var
                for table in tables:
                    slot = tf.minimum(extract_slot_from_entry(table.dump()), MAX_SLOT - 1)
                    ones = tf.ones_like(slot, dtype=tf.int64)
                    scattered = tf.scatter_nd(tf.reshape(slot, [-1, 1]), ones, [MAX_SLOT])
                    count_ops.append(count_var.assign_add(scattered, use_locking=True))
        self._count_op = tf.group(count_ops)
        self._init_op = tf.group([v.initializer for v in self._count_vars.values()])

    def before_save(self, session: Any, global_step_value: int) -> None:
        if self.all_multi_hash_tables:
            return
        session.run(self._init_op)
        session.run(self._count_op)
        counts = np.sum(session.run(list(self._count_vars.values())), axis=0)
        info = ckpt_info_pb2.CkptInfo()
        for slot in np.flatnonzero(counts):
            info.slot_counts[int(slot)] = int(counts[slot])
        tf.io.gfile.makedirs(self._model_dir)
        path = os.path.join(self._model_dir, f"ckpt.info-{global_step_value}")
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(str(info))
