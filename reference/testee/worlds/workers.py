"""Simulated non-chief workers: each runs its own hooked session on its own thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reference.barrier_ops import BarrierHook, BarrierOp
from reference.controller_hooks import StopHelper
from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession, Session, VariableStore
from reference.runtime.virtual_clock import VirtualClock
from reference.testee.world import BarrierRecorder

Emit = Callable[[dict[str, Any]], None]


class Workers:
    """Worker threads sharing the chief's variable store (the barrier vector)."""

    def __init__(
        self,
        specs: list[dict[str, Any]],
        barrier: dict[str, Any],
        store: VariableStore,
        clock: VirtualClock,
        emit: Emit,
        stop_helper: bool,
    ) -> None:
        self._specs = specs
        self._barrier = barrier
        self._store = store
        self._clock = clock
        self._emit = emit
        self._stop_helper = stop_helper
        self._threads: list[Any] = []
        self._dummy = Variable("dummy", 1)

    def start(self) -> None:
        for spec in self._specs:
            thread = self._clock.thread(
                lambda spec=spec: self._loop(spec), name=f"worker{spec['index']}"
            )
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _loop(self, spec: dict[str, Any]) -> None:
        index = int(spec["index"])
        helper = StopHelper() if self._stop_helper else None
        callbacks: list[Any] = [BarrierRecorder(self._emit, index)]
        if helper is not None:
            callbacks.append(helper.create_barrier_callback())
        op = BarrierOp(
            int(self._barrier["capacity"]),
            is_chief=False,
            wait_seconds=float(self._barrier.get("wait_seconds", 1)),
            name_prefix=self._barrier.get("name_prefix", "default"),
            barrier_callbacks=callbacks,
            clock=self._clock,
        )
        hooks: list[Any] = [BarrierHook(index, op)]
        if helper is not None:
            hooks.append(helper.create_stop_hook())
        with MonitoredSession(hooks, Session(self._store, worker=index)) as sess:
            for _ in range(int(spec.get("runs", 1))):
                if sess.should_stop():
                    break
                self._clock.sleep(float(spec.get("run_seconds", 1)))
                sess.run(self._dummy)
                self._emit({"event": "run", "worker": index, "should_stop": sess.should_stop()})
        self._emit({"event": "worker_done", "worker": index})
