"""Hook-utils family: Before/AfterSaveListener around recording listeners."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from reference.runtime.session import CheckpointSaver
from reference.testee import inputs
from reference.testee.world import World


class Recording:
    """Reports every listener call it receives as a ``listener`` event (a mixin: the
    tier's ``CheckpointSaverListener`` is the other base, see :func:`recording_listener`)."""

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


# ``object.__repr__``: ``<module.Class object at 0x7f...>``; the module and the address are
# the interpreter's and the tier's, so only the class name is observed.
_DEFAULT_REPR = re.compile(
    r"<(?:[A-Za-z_][A-Za-z0-9_]*\.)*([A-Za-z_][A-Za-z0-9_]*) object at 0x[0-9A-Fa-f]+>"
)


def address_free(text: str) -> str:
    """``text`` with every default object repr replaced by ``<ClassName>``."""
    return _DEFAULT_REPR.sub(r"<\1>", text)


@functools.cache
def recording_listener(base: type) -> type:
    """A recording listener that is a ``base`` (the tier's CheckpointSaverListener)."""
    return type("RecordingListener", (Recording, base), {})


class HookUtilsWorld(World):
    def setup(self) -> None:
        self.session = self.plain_session()
        listener = recording_listener(self.hooks.listener_base)
        self.listeners = [
            self.hooks.wrap_listener(kind, listener(i, self.emit))
            for i, kind in enumerate(self.config.get("listeners", ["before", "after"]))
        ]
        self.saver = CheckpointSaver(self.listeners, self.session)

    def op_begin(self, step: dict[str, Any]) -> None:
        self.saver.begin()

    def op_save(self, step: dict[str, Any]) -> None:
        self.saver.save(inputs.parse_int(step["global_step"]))

    def op_end(self, step: dict[str, Any]) -> None:
        self.saver.end(inputs.parse_int(step["global_step"]))

    def op_repr(self, step: dict[str, Any]) -> None:
        """The listener's ``repr``, address-free (see :func:`address_free`)."""
        index = int(step["listener"])
        text = address_free(repr(self.listeners[index]))
        self.emit({"event": "repr", "listener": index, "repr": text})

    def op_call(self, step: dict[str, Any]) -> None:
        """One listener method called directly on one wrapper."""
        listener = self.listeners[int(step["listener"])]
        method = step["method"]
        if method == "begin":
            listener.begin()
        else:
            getattr(listener, method)(self.session, inputs.parse_int(step["global_step"]))
