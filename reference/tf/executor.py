"""Runs scenario steps against the TensorFlow tier, inside real TF1-style sessions.

Same interface and events as :class:`reference.testee.executor.Executor`, over the
TensorFlow worlds of :mod:`reference.tf.worlds`, each scenario on its own graph (made
the default around every call into the world). Time is the scenario's
:class:`~reference.runtime.virtual_clock.VirtualClock`, injected into every hook that
sleeps, polls, waits or starts a thread; TensorFlow's own session calls never block on
it, so threads interleave exactly as in the reference. Scenarios this tier cannot
express raise :class:`reference.testee.world.NotApplicable` from :meth:`Executor.setup`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, ClassVar

from reference.testee.executor import Executor as ReferenceExecutor
from reference.testee.hookset import HookSet as ReferenceHookSet
from reference.testee.world import World
from reference.tf.hookset import HookSet
from reference.tf.worlds import WORLDS, TFWorld


class Executor(ReferenceExecutor):
    """The reference executor's protocol over the TF worlds, each on its own graph."""

    worlds: ClassVar[dict[str, type[World]]] = WORLDS  # type: ignore[assignment]
    capabilities: ClassVar[dict[str, Any]] = {"virtual_clock": True, "families": sorted(WORLDS)}
    hookset: ClassVar[type[ReferenceHookSet]] = HookSet

    def _scope(self) -> AbstractContextManager[Any]:
        assert isinstance(self._world, TFWorld)
        return self._world.graph.as_default()

    def _release(self, world: World) -> None:
        assert isinstance(world, TFWorld)
        try:
            world.close_tf()
        finally:
            super()._release(world)
