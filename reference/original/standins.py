"""Stand-ins for what the original hooks import but cannot have here.

Each is the smallest thing that behaves as the original does for these hooks, built on
the TensorFlow tier (:mod:`reference.tf`):

* ``monolith.native_training.hash_table_ops``: Monolith's tables are custom C++
  resources. :class:`HashTable` is the TF tier's table (entries as serialized
  ``EntryDump``), registered under the original's graph key ``monolith_hash_tables``,
  with ``save_as_tensor(shard_idx, num_shards, limit, offset)`` as the original's
  ``iterate_table_and_apply`` calls it: shard ``s`` holds every entry whose position in
  the table is ``s`` modulo ``num_shards``; each call returns up to ``limit`` of them
  from ``offset`` and the offset to go on from, which is one past the shard's end once
  it is exhausted (the original's C++ iterator position is likewise never 0 after a
  call, which is what ends ``iterate_table_and_apply``'s loop on an empty shard).
  :func:`extract_slot_from_entry` is ``MonolithExtractSlotFromEntry``: the v2 slot
  ``(id >> 48) & 0x7FFF`` of each entry's id, as int32.
* ``monolith.native_training.multi_hash_table_ops``: only the graph key
  ``monolith_multi_hash_tables`` and a :class:`MultiHashTable` that registers there.
* ``monolith.native_training.utils``: only ``ps_device``.
* ``monolith.native_training.basic_restore_hook``: imported by ``barrier_ops`` and not
  used by it; an empty module.
* ``hash_table_utils.iterate_table_and_apply`` runs as the original, but is called
  through :func:`returning_call_op`: it is a ``tf.function`` without outputs, and
  ``ckpt_info`` groups what it returns. The TensorFlow Monolith was built on returned the
  function's call operation from such a call in graph mode; TensorFlow 2.21 returns
  ``None`` (and ``tf.group`` refuses it), so the wrapper returns the call operation.
* ``tf.estimator``: gone from TensorFlow 2.21; the three names the hooks use, from
  ``tf.compat.v1.train`` (:func:`estimator_shim`).
* the ``_pb2`` modules: this project's own, generated from its wire-identical ``.proto``
  files, under the originals' module names (:data:`PB2_MODULES`). Ours define
  ``EntryDump`` but not ``EmbeddingHashTableConfig``, which ``hash_table_utils`` names
  only in the annotation of ``infer_dim_size`` (never called by these hooks): the
  ``embedding_hash_table_pb2`` stand-in adds an empty class of that name.
"""

from __future__ import annotations

import types
from typing import Any

import tensorflow as tf

from reference.protos import (
    ckpt_info_pb2,
    controller_hooks_pb2,
    embedding_hash_table_pb2,
    example_pb2,
    line_id_pb2,
)
from reference.tf import hash_table as tf_hash_table

HASH_TABLE_GRAPH_KEY = "monolith_hash_tables"
MULTI_HASH_TABLE_GRAPH_KEY = "monolith_multi_hash_tables"
PS_JOB_NAME = "ps"


def _embedding_hash_table_pb2() -> types.ModuleType:
    module = types.ModuleType(
        "monolith.native_training.runtime.hash_table.embedding_hash_table_pb2"
    )
    module.__dict__.update(
        {k: v for k, v in vars(embedding_hash_table_pb2).items() if not k.startswith("__")}
    )
    module.EmbeddingHashTableConfig = type("EmbeddingHashTableConfig", (), {})  # type: ignore[attr-defined]
    return module


PB2_MODULES: dict[str, types.ModuleType] = {
    "monolith.native_training.proto.ckpt_info_pb2": ckpt_info_pb2,
    "monolith.native_training.hooks.controller_hooks_pb2": controller_hooks_pb2,
    "monolith.native_training.runtime.hash_table.embedding_hash_table_pb2": (
        _embedding_hash_table_pb2()
    ),
    "idl.matrix.proto.example_pb2": example_pb2,
    "idl.matrix.proto.line_id_pb2": line_id_pb2,
}


class HashTable(tf_hash_table.HashTable):
    """The TF tier's table under the original's collection key, with ``save_as_tensor``."""

    def __init__(self, name: str, dim: int = 1, device: str = "") -> None:
        super().__init__(name, dim=dim, device=device)
        tf.compat.v1.add_to_collection(HASH_TABLE_GRAPH_KEY, self)

    def save_as_tensor(
        self, shard_idx: Any, num_shards: Any, limit: Any, offset: Any
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(new offset, up to ``limit`` serialized entries of shard ``shard_idx``)."""
        with tf.device(self.device):
            entries = self.dump()
            n = tf.size(entries)
            in_shard = tf.equal(
                tf.math.floormod(tf.range(n), tf.cast(num_shards, tf.int32)),
                tf.cast(shard_idx, tf.int32),
            )
            mine = tf.boolean_mask(entries, in_shard)
            size = tf.size(mine, out_type=tf.int64)
            start = tf.minimum(tf.cast(offset, tf.int64), size)
            end = tf.minimum(start + tf.cast(limit, tf.int64), size)
            part = mine[start:end]
            new_offset = end + tf.cast(end >= size, tf.int64)
        return new_offset, part


class MultiHashTable:
    """Registers under the original's multi-hash-table key (the listener then skips)."""

    def __init__(self, name: str) -> None:
        self.name = name
        tf.compat.v1.add_to_collection(MULTI_HASH_TABLE_GRAPH_KEY, self)


def extract_slot_from_entry(entry: tf.Tensor, fid_v2: bool = True) -> tf.Tensor:
    """``MonolithExtractSlotFromEntry``: the slot of each serialized entry's id, int32."""
    if not fid_v2:
        raise NotImplementedError("the stand-in extracts v2 slots only (what ckpt_info uses)")
    return tf.cast(tf_hash_table.extract_slot_from_entry(entry), tf.int32)


def returning_call_op(function: Any) -> Any:
    """``function`` (a ``tf.function``), returning its call operation when it returns
    ``None`` in graph mode, as older TensorFlow did."""

    def call(*args: Any, **kwargs: Any) -> Any:
        graph = tf.compat.v1.get_default_graph()
        before = len(graph.get_operations())
        result = function(*args, **kwargs)
        if result is not None or tf.executing_eagerly():
            return result
        calls = [
            op
            for op in graph.get_operations()[before:]
            if op.type in ("StatefulPartitionedCall", "PartitionedCall")
        ]
        return tf.group(calls)

    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call


def ps_device(index: int) -> str:
    return f"/job:{PS_JOB_NAME}/task:{index}/device:CPU:0"


def modules() -> dict[str, types.ModuleType]:
    """The stand-in modules, by the original module names they stand for."""
    hash_table_ops = types.ModuleType("monolith.native_training.hash_table_ops")
    hash_table_ops._HASH_TABLE_GRAPH_KEY = HASH_TABLE_GRAPH_KEY  # type: ignore[attr-defined]
    hash_table_ops.HashTable = HashTable  # type: ignore[attr-defined]
    hash_table_ops.extract_slot_from_entry = extract_slot_from_entry  # type: ignore[attr-defined]
    multi = types.ModuleType("monolith.native_training.multi_hash_table_ops")
    multi._MULTI_HASH_TABLE_GRAPH_KEY = MULTI_HASH_TABLE_GRAPH_KEY  # type: ignore[attr-defined]
    multi.MultiHashTable = MultiHashTable  # type: ignore[attr-defined]
    utils = types.ModuleType("monolith.native_training.utils")
    utils.PS_JOB_NAME = PS_JOB_NAME  # type: ignore[attr-defined]
    utils.ps_device = ps_device  # type: ignore[attr-defined]
    restore = types.ModuleType("monolith.native_training.basic_restore_hook")
    made = {m.__name__: m for m in (hash_table_ops, multi, utils, restore)}
    return {**made, **PB2_MODULES}


def estimator_shim() -> types.SimpleNamespace:
    """The ``tf.estimator`` names the original hooks use, from ``tf.compat.v1.train``."""
    train = tf.compat.v1.train
    return types.SimpleNamespace(
        SessionRunHook=train.SessionRunHook,
        SessionRunArgs=train.SessionRunArgs,
        CheckpointSaverListener=train.CheckpointSaverListener,
    )
