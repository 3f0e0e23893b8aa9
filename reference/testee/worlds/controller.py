"""Controller family: ControllerHook, StopHelper, QueryActionHook, optional barrier."""

from __future__ import annotations

from typing import Any

from reference.testee.world import BarrierRecorder, ChiefSessionWorld
from reference.testee.worlds.workers import PlaceRace, Workers


class ControllerWorld(ChiefSessionWorld):
    default_fetch = "dummy"
    assigning = frozenset({"stop_op", "trigger_save_op"})

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
        if c.get("place_race") == "together" and barrier is not None:
            PlaceRace(self.clock, [barrier, *self.workers.racing_ops])
        self.session = self.chief_monitored(hooks)
        self.workers.start()

    def _trigger_save(self) -> None:
        self.emit({"event": "trigger_save"})

    def op_join_workers(self, step: dict[str, Any]) -> None:
        self.workers.join()
