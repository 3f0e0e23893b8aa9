"""Hook-utils family: Before/AfterSaveListener around recording listeners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reference import hook_utils
from reference.runtime.session import CheckpointSaver, Session
from reference.runtime.session_run_hook import CheckpointSaverListener
from reference.testee import inputs
from reference.testee.world import World

WRAPPERS: dict[str, Callable[[CheckpointSaverListener], CheckpointSaverListener]] = {
    "plain": lambda listener: listener,
    "before": hook_utils.BeforeSaveListener,
    "after": hook_utils.AfterSaveListener,
}


class RecordingListener(CheckpointSaverListener):
    """Reports every call it receives as a ``listener`` event."""

    def __init__(self, index: int, emit: Callable[[dict[str, Any]], None]) -> None:
        self._index = index
        self._emit = emit

    def _record(self, method: str, global_step: int | None = None) -> None:
        event: dict[str, Any] = {"event": "listener", "listener": self._index, "method": method}
        if global_step is not None:
            event["global_step"] = global_step
        self._emit(event)

    def begin(self) -> None:
        self._record("begin")

    def before_save(self, session: Any, global_step_value: int) -> None:
        self._record("before_save", global_step_value)

    def after_save(self, session: Any, global_step_value: int) -> None:
        self._record("after_save", global_step_value)

    def end(self, session: Any, global_step_value: int) -> None:
        self._record("end", global_step_value)


class HookUtilsWorld(World):
    def setup(self) -> None:
        self.session = Session()
        self.listeners = [
            WRAPPERS[kind](RecordingListener(i, self.emit))
            for i, kind in enumerate(self.config.get("listeners", ["before", "after"]))
        ]
        self.saver = CheckpointSaver(self.listeners, self.session)

    def op_begin(self, step: dict[str, Any]) -> None:
        self.saver.begin()

    def op_save(self, step: dict[str, Any]) -> None:
        self.saver.save(inputs.parse_int(step["global_step"]))

    def op_end(self, step: dict[str, Any]) -> None:
        self.saver.end(inputs.parse_int(step["global_step"]))

    def op_call(self, step: dict[str, Any]) -> None:
        """One listener method called directly on one wrapper."""
        listener = self.listeners[int(step["listener"])]
        method = step["method"]
        if method == "begin":
            listener.begin()
        else:
            getattr(listener, method)(self.session, inputs.parse_int(step["global_step"]))
