"""Controller family: ControllerHook, StopHelper, QueryActionHook, optional barrier."""

from __future__ import annotations

from typing import Any

from reference.testee.world import BarrierRecorder, World
from reference.testee.worlds.workers import Workers


class ControllerWorld(World):
    def setup(self) -> None:
        c = self.config
        with self.building():
            helper = self.hooks.stop_helper() if c.get("stop_helper", False) else None
            barrier_cfg = c.get("barrier")
            barrier = None
            if barrier_cfg is not None:
                callbacks: list[Any] = [BarrierRecorder(self.emit, 0)]
                if helper is not None:
                    callbacks.append(helper.create_barrier_callback())
                barrier = self.hooks.barrier_op(
                    int(barrier_cfg["capacity"]),
                    is_chief=True,
                    wait_seconds=float(barrier_cfg.get("wait_seconds", 1)),
                    name_prefix=barrier_cfg.get("name_prefix", "default"),
                    callbacks=callbacks,
                )
            trigger = self._trigger_save if c.get("trigger_save", True) else None
            self.controller = self.hooks.controller_hook(int(c.get("num_ps", 0)), barrier, trigger)
            hooks: list[Any] = [self.controller]
            if helper is not None:
                hooks.append(helper.create_stop_hook())
            if c.get("query_action", False):
                interval = float(c.get("query_interval", 60))
                hooks.append(
                    self.hooks.query_action_hook(self.model_dir, self.controller, interval)
                )
            self.fetches = {
                "dummy": self.constant("dummy"),
                "stop_op": self.controller.stop_op,
                "trigger_save_op": self.controller.trigger_save_op,
            }
            self.workers = Workers(self, c.get("workers", []), barrier_cfg or {})
        self.session = self.chief_monitored(hooks)
        self.workers.start()

    def _trigger_save(self) -> None:
        self.emit({"event": "trigger_save"})

    def _run_once(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", "dummy")
        self.run_fetch(self.session, self.fetches[name], assigns=name != "dummy")
        self.emit(
            {"event": "run", "worker": 0, "fetch": name, "should_stop": self.session.should_stop()}
        )

    def op_run(self, step: dict[str, Any]) -> None:
        self.in_block(self.session, step, lambda: self._run_once(step))

    def op_run_while_not_stopped(self, step: dict[str, Any]) -> None:
        self.run_while_not_stopped(self.session, step, lambda: self._run_once(step))

    def op_end(self, step: dict[str, Any]) -> None:
        self.end(self.session, step)

    def op_join_workers(self, step: dict[str, Any]) -> None:
        self.workers.join()
