"""A TensorFlow stand-in for Monolith's embedding hash tables (fid -> ``EntryDump``).

Monolith's tables are custom C++ resources; this stand-in keeps only what the slot-count
listener needs, in plain TensorFlow:

* the table state is two resource variables: the ids (int64) and, in the same order, the
  entries serialized as ``monolith.hash_table.EntryDump`` (id as sfixed64, embedding in
  ``num``), encoded in the graph by ``tf.io.encode_proto`` from the reference proto's
  descriptor (byte-identical to the reference's ``SerializeToString``, tested);
* ``assign(ids, values)`` inserts or overwrites entries by id: ``tf.unique`` over old then
  new ids keeps each id at its first position and takes its last value, so the dump is in
  insertion order like the reference's dict; like the original, ``assign`` returns a copy
  of the table whose :meth:`HashTable.as_op` runs the update;
* :meth:`HashTable.dump` is a string tensor of every entry;
* :func:`extract_slot_from_entry` decodes the ids with ``tf.io.decode_proto`` and takes
  the v2 slot ``(id >> 48) & 0x7FFF``.

The variables are in no collection and read as empty until first assigned, so a table
needs no initializer (the original's tables are created by their first op) and is not
saved by a ``Saver``. Tables register in :data:`HASH_TABLE_COLLECTION` of the default
graph; :class:`MultiHashTable` only registers in :data:`MULTI_HASH_TABLE_COLLECTION`.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import tensorflow as tf
from google.protobuf import descriptor_pb2

from reference.hash_table import to_int64
from reference.protos import embedding_hash_table_pb2

# Graph collection keys of this tier (the original keeps its own private keys).
HASH_TABLE_COLLECTION = "monolith_tf_hash_tables"
MULTI_HASH_TABLE_COLLECTION = "monolith_tf_multi_hash_tables"

ENTRY_DUMP_TYPE = "monolith.hash_table.EntryDump"


def _descriptor_source() -> bytes:
    files = descriptor_pb2.FileDescriptorSet()
    embedding_hash_table_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    return b"bytes://" + files.SerializeToString()


# ``tf.io.decode_proto`` reads the schema from this serialized FileDescriptorSet.
DESCRIPTOR_SOURCE = _descriptor_source()


def decode_entry_ids(entries: tf.Tensor) -> tf.Tensor:
    """The ``id`` of each serialized ``EntryDump`` (0 when absent), as int64 ``[n]``.

    ``decode_proto`` rejects an empty batch ("Bufs argument must contain at least one
    value"), so an empty message is appended and its row dropped again.
    """
    bufs = tf.concat([entries, tf.constant([b""])], axis=0)
    _, (ids,) = tf.io.decode_proto(
        bufs,
        ENTRY_DUMP_TYPE,
        ["id"],
        [tf.int64],
        descriptor_source=DESCRIPTOR_SOURCE,
    )
    # ids is [n + 1, max occurrences]; a trailing zero column gives absent ids their default.
    padded = tf.concat([ids, tf.zeros([tf.shape(ids)[0], 1], tf.int64)], axis=1)
    return padded[:-1, 0]


def extract_slot_from_entry(entries: tf.Tensor) -> tf.Tensor:
    """The v2 slot ``(id >> 48) & 0x7FFF`` of each serialized ``EntryDump``, int64 ``[n]``.

    The shift is arithmetic on the signed id, so ids with the top bit set keep bits
    48..62 after the mask, exactly as the reference's Python ints do.
    """
    ids = decode_entry_ids(entries)
    return tf.bitwise.bitwise_and(tf.bitwise.right_shift(ids, 48), tf.constant(0x7FFF, tf.int64))


def encode_entries(ids: tf.Tensor, nums: tf.Tensor) -> tf.Tensor:
    """Serialized ``EntryDump(id=ids[i], num=nums[i])`` for each row, string ``[n]``."""
    n = tf.shape(ids)[0]
    sizes = tf.stack([tf.ones([n], tf.int32), tf.fill([n], tf.shape(nums)[1])], axis=1)
    return tf.io.encode_proto(
        sizes,
        [ids[:, None], nums],
        ["id", "num"],
        ENTRY_DUMP_TYPE,
        descriptor_source=DESCRIPTOR_SOURCE,
    )


def _as_int64_ids(ids: Any) -> tf.Tensor:
    """Fids as the signed int64 an sfixed64 holds (uint64 values keep their bits)."""
    if isinstance(ids, (tf.Tensor, tf.Variable)):
        if ids.dtype == tf.uint64:
            return tf.bitcast(ids, tf.int64)
        return tf.reshape(tf.cast(ids, tf.int64), [-1])
    if isinstance(ids, np.ndarray) and ids.dtype == np.uint64:
        return tf.constant(ids.reshape(-1).view(np.int64))
    if isinstance(ids, np.ndarray) and ids.dtype.kind == "i":
        return tf.constant(ids.reshape(-1).astype(np.int64))
    # Python ints one by one: numpy would turn a list mixing ints below and above 2**63
    # into float64 and lose bits.
    values = ids.reshape(-1).tolist() if isinstance(ids, np.ndarray) else list(ids)
    return tf.constant(np.array([to_int64(int(f)) for f in values], dtype=np.int64))


class _Store:
    """A resource variable that reads as empty until first assigned."""

    def __init__(self, dtype: tf.DType, name: str) -> None:
        self.var = tf.compat.v1.Variable(
            tf.zeros([0], dtype),
            shape=tf.TensorShape([None]),
            trainable=False,
            collections=[],
            use_resource=True,
            name=name,
        )
        self._dtype = dtype

    def read(self) -> tf.Tensor:
        initialized = tf.compat.v1.is_variable_initialized(self.var)
        return tf.cond(initialized, self.var.read_value, lambda: tf.zeros([0], self._dtype))


class HashTable:
    """Entries keyed by fid, on ``device``; registers in :data:`HASH_TABLE_COLLECTION`."""

    def __init__(self, name: str, dim: int = 1, device: str = "") -> None:
        self.name = name
        self.dim = dim
        self.device = device
        with tf.device(device), tf.name_scope(name):
            self._entries = _Store(tf.string, "entries")
            self._ids = _Store(tf.int64, "ids")
            self._noop = tf.no_op(name="noop")
        self._table = self._entries.var.handle
        self._update: Any = self._noop
        tf.compat.v1.add_to_collection(HASH_TABLE_COLLECTION, self)

    @property
    def table(self) -> tf.Tensor:
        """The table's resource tensor (its ``device`` groups tables in the listener)."""
        return self._table

    @property
    def dim_size(self) -> int:
        return self.dim

    def as_op(self) -> Any:
        """The op that applies the updates this copy was made by (a no-op for a new table)."""
        return self._update

    def dump(self) -> tf.Tensor:
        """Every entry once, in insertion order, as a 1-D string tensor of ``EntryDump``."""
        with tf.device(self.device), tf.name_scope(f"{self.name}_dump"):
            return self._entries.read()

    def assign(self, ids: Any, values: Any = None) -> HashTable:
        """Insert or overwrite ``ids`` with ``values`` (``[n, dim]``; zeros when ``None``).

        Returns a copy whose :meth:`as_op` runs the update. ``ids`` may be a tensor, a
        numpy array (uint64 fids keep their bits) or Python ints.
        """
        with tf.device(self.device), tf.name_scope(f"{self.name}_assign"):
            new_ids = _as_int64_ids(ids)
            if values is None:
                nums = tf.zeros([tf.shape(new_ids)[0], self.dim], tf.float32)
            else:
                nums = tf.reshape(tf.cast(values, tf.float32), [-1, self.dim])
            all_ids = tf.concat([self._ids.read(), new_ids], axis=0)
            all_entries = tf.concat([self._entries.read(), encode_entries(new_ids, nums)], 0)
            # First position, last value: the reference's dict semantics.
            unique_ids, slot_of = tf.unique(all_ids)
            last = tf.math.unsorted_segment_max(
                tf.range(tf.size(all_ids)), slot_of, tf.size(unique_ids)
            )
            update = tf.group(
                self._ids.var.assign(unique_ids, read_value=False),
                self._entries.var.assign(tf.gather(all_entries, last), read_value=False),
            )
        copied = copy.copy(self)
        copied._update = update
        return copied


class MultiHashTable:
    """Only registers in :data:`MULTI_HASH_TABLE_COLLECTION` (the listener then skips)."""

    def __init__(self, name: str) -> None:
        self.name = name
        tf.compat.v1.add_to_collection(MULTI_HASH_TABLE_COLLECTION, self)
