"""The TensorFlow tier's hooks (:mod:`reference.tf`), as the scenario worlds build them.

The reference's :class:`~reference.testee.hookset.HookSet` over this tier's modules (they
take the same arguments, clock included); only the tables, the listener that counts them
and the listener base class differ. The original tier's
:class:`reference.original.hookset.OriginalHookSet` subclasses this one.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from reference.testee import hookset
from reference.tf import barrier_ops, ckpt_info, controller_hooks, hash_table, hook_utils
from reference.tf import feature_engineering_hooks as feature_hooks


class HookSet(hookset.HookSet):
    """This tier's hook modules, with the scenario's clock injected."""

    name = "tf"
    barrier_ops = barrier_ops
    controller_hooks = controller_hooks
    feature_hooks = feature_hooks
    hook_utils = hook_utils
    listener_base = tf.compat.v1.train.CheckpointSaverListener

    def __init__(self, clock: Any) -> None:
        self.clock = clock  # tables register in TensorFlow's default graph, not a model one

    def hash_table(self, name: str, dim: int, device: str) -> Any:
        return hash_table.HashTable(name, dim=dim, device=device)

    def assign_op(self, table: Any, fids: Any) -> Any:
        return table.assign(fids).as_op()

    def multi_hash_table(self) -> Any:
        return hash_table.MultiHashTable("multi_hash_table")

    def slot_listener(self, model_dir: str) -> Any:
        return ckpt_info.FidSlotCountSaverListener(model_dir)
