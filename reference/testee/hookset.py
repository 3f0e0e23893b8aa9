"""The hooks a tier's scenario worlds build, behind one interface.

The worlds (:mod:`reference.testee.worlds`) never name a hook class: they ask the
scenario's :class:`HookSet` for each object (a barrier, a controller hook, a listener, a
table), so one world per family drives every tier. This module's :class:`HookSet` builds
the pure-Python reference hooks with the scenario's clock injected;
:class:`reference.tf.hookset.HookSet` builds the TensorFlow tier's, and
:class:`reference.original.hookset.OriginalHookSet` the original Monolith modules. A
hook set is made for one scenario and released after its teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reference import barrier_ops, ckpt_info, controller_hooks, hook_utils
from reference import feature_engineering_hooks as feature_hooks
from reference.hash_table import MULTI_HASH_TABLE_COLLECTION, HashTable
from reference.runtime.graph import Graph
from reference.runtime.session_run_hook import CheckpointSaverListener

BarrierCallback = Callable[[str, Any], None]


class HookSet:
    """The reference hooks (:mod:`reference`), on the scenario's clock and graph.

    A tier whose hook modules take the same arguments (the TensorFlow tier's) subclasses
    this and names its own modules in the class attributes below.
    """

    name = "reference"
    barrier_ops: Any = barrier_ops
    controller_hooks: Any = controller_hooks
    feature_hooks: Any = feature_hooks
    hook_utils: Any = hook_utils
    # The base class a listener the worlds record calls with must have in this tier.
    listener_base: type = CheckpointSaverListener

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.graph = Graph()  # the scenario's default graph: where tables register

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
        return self.barrier_ops.BarrierOp(
            capacity,
            is_chief=is_chief,
            wait_seconds=wait_seconds,
            name_prefix=name_prefix,
            barrier_callbacks=list(callbacks),
            clock=self.clock,
        )

    def barrier_hook(self, index: int, op: Any) -> Any:
        return self.barrier_ops.BarrierHook(index, op)

    # -- controller_hooks -------------------------------------------------------------
    def stop_helper(self) -> Any:
        return self.controller_hooks.StopHelper()

    def controller_hook(
        self, num_ps: int, barrier_op: Any, trigger_save: Callable[[], Any] | None
    ) -> Any:
        return self.controller_hooks.ControllerHook(
            num_ps=num_ps, barrier_op=barrier_op, trigger_save=trigger_save, clock=self.clock
        )

    def query_action_hook(self, model_dir: str, controller: Any, interval: float) -> Any:
        return self.controller_hooks.QueryActionHook(
            model_dir, controller, clock=self.clock, query_interval=interval
        )

    # -- feature_engineering_hooks ----------------------------------------------------
    def feature_hook(
        self, config: Any, next_element: Any, cap: int, uuid_fn: Callable[[], str]
    ) -> Any:
        return self.feature_hooks.FeatureEngineeringSaveHook(
            config, next_element, cap=cap, uuid_fn=uuid_fn
        )

    # -- ckpt_info and its tables -----------------------------------------------------
    def hash_table(self, name: str, dim: int, device: str) -> Any:
        return HashTable(name, dim=dim, device=device, graph=self.graph)

    def assign_op(self, table: Any, fids: Any) -> Any:
        """What ``session.run`` takes to insert ``fids`` into ``table``."""
        return table.assign(fids)

    def multi_hash_table(self) -> Any:
        self.graph.add_to_collection(MULTI_HASH_TABLE_COLLECTION, object())

    def slot_listener(self, model_dir: str) -> Any:
        return ckpt_info.FidSlotCountSaverListener(model_dir, self.graph)

    # -- hook_utils -------------------------------------------------------------------
    def wrap_listener(self, kind: str | None, listener: Any) -> Any:
        """``listener`` as the scenario's ``wrap`` / ``listeners`` kind names it."""
        if kind in (None, "plain"):
            return listener
        if kind == "before":
            return self.hook_utils.BeforeSaveListener(listener)
        if kind == "after":
            return self.hook_utils.AfterSaveListener(listener)
        raise ValueError(f"unknown listener wrapper {kind!r}")

    def release(self) -> None:
        """Undo what the set changed for its scenario (the reference changes nothing)."""
