"""The original Monolith hooks, as the TF tier's scenario worlds build them.

:class:`OriginalHookSet` answers the same calls as :class:`reference.tf.hookset.HookSet`
with the original classes, called exactly as Monolith's own code and tests call them
(no clock arguments: the originals have none). What the originals take from module
globals is set for the scenario instead, and restored by :meth:`release`: their time and
threads (:mod:`.virtual_time`), ``controller_hooks.QUERY_INTERVAL`` (the scenario's
``query_interval``; Monolith's own test patches it the same way) and
``feature_engineering_hooks.gen_uid`` (so ``uuid1()`` yields the scenario's uuids).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import tensorflow as tf

from reference.original.loader import OriginalModules
from reference.original.virtual_time import VirtualTime
from reference.tf.hookset import HookSet


class _Uuids:
    """Stands for the ``uuid`` module: ``uuid1()`` is the scenario's next uuid."""

    def __init__(self, next_uuid: Callable[[], str]) -> None:
        self._next = next_uuid

    def uuid1(self) -> str:
        return self._next()


class OriginalHookSet(HookSet):
    """The originals of :attr:`modules` (bound by :func:`reference.original.executor.executor`)."""

    name = "original"
    modules: ClassVar[OriginalModules]

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        m = self.modules
        self._time = VirtualTime(
            clock, [m.barrier_ops, m.controller_hooks, m.feature_engineering_hooks]
        )

    def barrier_op(
        self,
        capacity: int,
        *,
        is_chief: bool,
        wait_seconds: float,
        name_prefix: str,
        callbacks: Sequence[Callable[[str, Any], None]],
    ) -> Any:
        # The simulation's workers share the chief's graph, so a worker's BarrierOp reuses
        # the chief's variables (the worlds open a reusing scope). The original names no
        # dtype for ``barrier_var`` (its bool initializer decides it on creation); a reuse
        # checks the scope's dtype, so the reuse happens in a bool-typed scope.
        scope = tf.compat.v1.get_variable_scope()
        with tf.compat.v1.variable_scope(scope, dtype=None if is_chief else tf.bool):
            return self.modules.barrier_ops.BarrierOp(
                capacity,
                is_chief=is_chief,
                wait_seconds=wait_seconds,
                name_prefix=name_prefix,
                barrier_callbacks=list(callbacks),
            )

    def controller_hook(
        self, num_ps: int, barrier_op: Any, trigger_save: Callable[[], Any] | None
    ) -> Any:
        return self.modules.controller_hooks.ControllerHook(
            num_ps=num_ps, barrier_op=barrier_op, trigger_save=trigger_save
        )

    def query_action_hook(self, model_dir: str, controller: Any, interval: float) -> Any:
        hooks = self.modules.controller_hooks
        self._time.set(hooks, "QUERY_INTERVAL", interval)
        return hooks.QueryActionHook(model_dir, controller)

    def feature_hook(
        self, config: Any, next_element: Any, cap: int, uuid_fn: Callable[[], str]
    ) -> Any:
        hooks = self.modules.feature_engineering_hooks
        self._time.set(hooks, "gen_uid", _Uuids(uuid_fn))
        return hooks.FeatureEngineeringSaveHook(config, next_element, cap=cap)

    def hash_table(self, name: str, dim: int, device: str) -> Any:
        return self.modules.hash_table_ops.HashTable(name, dim=dim, device=device)

    def multi_hash_table(self) -> Any:
        return self.modules.multi_hash_table_ops.MultiHashTable("multi_hash_table")

    def slot_listener(self, model_dir: str) -> Any:
        return self.modules.ckpt_info.FidSlotCountSaverListener(model_dir)

    def release(self) -> None:
        self._time.restore()


def bind(modules: OriginalModules) -> type[OriginalHookSet]:
    """An :class:`OriginalHookSet` class over ``modules``."""
    return types.new_class(
        "BoundOriginalHookSet",
        (OriginalHookSet,),
        exec_body=lambda ns: ns.update(
            modules=modules,
            # Called with the same arguments in every tier: the base class's methods serve.
            barrier_ops=modules.barrier_ops,
            controller_hooks=modules.controller_hooks,
            hook_utils=modules.hook_utils,
        ),
    )
