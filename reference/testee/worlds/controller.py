"""Controller family: ControllerHook, StopHelper, QueryActionHook, optional barrier."""

from __future__ import annotations

from typing import Any

from reference.barrier_ops import BarrierOp
from reference.controller_hooks import ControllerHook, QueryActionHook, StopHelper
from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession, Session, VariableStore
from reference.testee.world import BarrierRecorder, World, close_error
from reference.testee.worlds.workers import Workers


class ControllerWorld(World):
    def setup(self) -> None:
        c = self.config
        self.store = VariableStore()
        helper = StopHelper() if c.get("stop_helper", False) else None
        barrier_cfg = c.get("barrier")
        barrier = None
        if barrier_cfg is not None:
            callbacks: list[Any] = [BarrierRecorder(self.emit, 0)]
            if helper is not None:
                callbacks.append(helper.create_barrier_callback())
            barrier = BarrierOp(
                int(barrier_cfg["capacity"]),
                wait_seconds=float(barrier_cfg.get("wait_seconds", 1)),
                name_prefix=barrier_cfg.get("name_prefix", "default"),
                barrier_callbacks=callbacks,
                clock=self.clock,
            )
        trigger = self._trigger_save if c.get("trigger_save", True) else None
        self.controller = ControllerHook(
            num_ps=int(c.get("num_ps", 0)),
            barrier_op=barrier,
            trigger_save=trigger,
            clock=self.clock,
        )
        hooks: list[Any] = [self.controller]
        if helper is not None:
            hooks.append(helper.create_stop_hook())
        if c.get("query_action", False):
            hooks.append(
                QueryActionHook(
                    self.model_dir,
                    self.controller,
                    clock=self.clock,
                    query_interval=float(c.get("query_interval", 60)),
                )
            )
        self.fetches = {
            "dummy": Variable("dummy", 1),
            "stop_op": self.controller.stop_op,
            "trigger_save_op": self.controller.trigger_save_op,
        }
        self.session = MonitoredSession(hooks, Session(self.store, worker=0))
        self.session.__enter__()
        self.workers = Workers(
            c.get("workers", []),
            barrier_cfg or {},
            self.store,
            self.clock,
            self.emit,
            stop_helper=helper is not None,
        )
        self.workers.start()

    def _trigger_save(self) -> None:
        self.emit({"event": "trigger_save"})

    def op_run(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", "dummy")
        self.session.run(self.fetches[name])
        self.emit(
            {"event": "run", "worker": 0, "fetch": name, "should_stop": self.session.should_stop()}
        )

    def op_end(self, step: dict[str, Any]) -> None:
        error = close_error(step.get("error"))
        if error is None:
            self.session.__exit__(None, None, None)
        else:
            self.session.__exit__(error[0], error[1], None)

    def op_join_workers(self, step: dict[str, Any]) -> None:
        self.workers.join()
