"""The TensorFlow tier's hooks, as the scenario worlds build them.

The worlds of :mod:`reference.tf.executor` never name a hook class: they ask a
:class:`HookSet` for each object (a barrier, a controller hook, a listener, a table), so
one set of worlds drives any tier whose hooks run on TensorFlow: this tier's own modules
(:class:`HookSet`), or the original Monolith modules (:mod:`reference.original`, whose
hook set subclasses this one). A hook set is made for one scenario, on its clock, and
released after the scenario's teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reference.tf import barrier_ops, ckpt_info, controller_hooks, hash_table, hook_utils
from reference.tf import feature_engineering_hooks as feature_hooks

BarrierCallback = Callable[[str, Any], None]


class HookSet:
    """This tier's hook modules (:mod:`reference.tf`), with the scenario's clock injected."""

    name = "tf"

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    # -- barrier_ops ------------------------------------------------------------------
    def barrier_op(
        self,
        capacity: int,
        *,
        is_chief: bool,
        wait_seconds: float,
        name_prefix: str,
        callbacks: Sequence[BarrierCallback],
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

    # -- controller_hooks -------------------------------------------------------------
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

    # -- feature_engineering_hooks ----------------------------------------------------
    def feature_hook(
        self, config: Any, next_element: Any, cap: int, uuid_fn: Callable[[], str]
    ) -> Any:
        return feature_hooks.FeatureEngineeringSaveHook(
            config, next_element, cap=cap, uuid_fn=uuid_fn
        )

    # -- ckpt_info and its tables -----------------------------------------------------
    def hash_table(self, name: str, dim: int, device: str) -> Any:
        return hash_table.HashTable(name, dim=dim, device=device)

    def multi_hash_table(self) -> Any:
        return hash_table.MultiHashTable("multi_hash_table")

    def slot_listener(self, model_dir: str) -> Any:
        return ckpt_info.FidSlotCountSaverListener(model_dir)

    # -- hook_utils -------------------------------------------------------------------
    def wrap_listener(self, kind: str | None, listener: Any) -> Any:
        """``listener`` as the scenario's ``wrap`` / ``listeners`` kind names it."""
        if kind in (None, "plain"):
            return listener
        if kind == "before":
            return hook_utils.BeforeSaveListener(listener)
        if kind == "after":
            return hook_utils.AfterSaveListener(listener)
        raise ValueError(f"unknown listener wrapper {kind!r}")

    def release(self) -> None:
        """Undo what the set changed for its scenario (this tier changes nothing)."""
