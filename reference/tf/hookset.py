"""The TensorFlow tier's hooks (:mod:`reference.tf`), as the scenario worlds build them.

Same interface as :class:`reference.testee.hookset.HookSet`; the original tier's
:class:`reference.original.hookset.OriginalHookSet` subclasses this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from reference.testee import hookset
from reference.tf import barrier_ops, ckpt_info, controller_hooks, hash_table, hook_utils
from reference.tf import feature_engineering_hooks as feature_hooks


class HookSet(hookset.HookSet):
    """This tier's hook modules, with the scenario's clock injected."""

    name = "tf"
    listener_base = tf.compat.v1.train.CheckpointSaverListener
    before_save_listener = hook_utils.BeforeSaveListener
    after_save_listener = hook_utils.AfterSaveListener

    def __init__(self, clock: Any) -> None:
        self.clock = clock  # tables register in TensorFlow's default graph, not a model one

    def barrier_op(
        self,
        capacity: int,
        *,
        is_chief: bool,
        wait_seconds: float,
        name_prefix: str,
        callbacks: Sequence[hookset.BarrierCallback],
    ) -> Any:
        return barrier_ops.BarrierOp(
            capacity,
            is_chief=is_chief,
            wait_seconds=wait_seconds,
            name_prefix=name_prefix,
            barrier_callbacks=list(callbacks),
            clock=self.clock,
        )

    def barrier_hook(self, index: int, op: Any) -> Any:
        return barrier_ops.BarrierHook(index, op)

    def stop_helper(self) -> Any:
        return controller_hooks.StopHelper()

    def controller_hook(
        self, num_ps: int, barrier_op: Any, trigger_save: Callable[[], Any] | None
    ) -> Any:
        return controller_hooks.ControllerHook(
            num_ps=num_ps, barrier_op=barrier_op, trigger_save=trigger_save, clock=self.clock
        )

    def query_action_hook(self, model_dir: str, controller: Any, interval: float) -> Any:
        return controller_hooks.QueryActionHook(
            model_dir, controller, clock=self.clock, query_interval=interval
        )

    def feature_hook(
        self, config: Any, next_element: Any, cap: int, uuid_fn: Callable[[], str]
    ) -> Any:
        return feature_hooks.FeatureEngineeringSaveHook(
            config, next_element, cap=cap, uuid_fn=uuid_fn
        )

    def hash_table(self, name: str, dim: int, device: str) -> Any:
        return hash_table.HashTable(name, dim=dim, device=device)

    def assign_op(self, table: Any, fids: Any) -> Any:
        return table.assign(fids).as_op()

    def multi_hash_table(self) -> Any:
        return hash_table.MultiHashTable("multi_hash_table")

    def slot_listener(self, model_dir: str) -> Any:
        return ckpt_info.FidSlotCountSaverListener(model_dir)
