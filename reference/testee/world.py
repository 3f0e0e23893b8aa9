"""The base of a scenario family's simulated world, and the event helpers it uses."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from reference.runtime.session import OutOfRangeError
from reference.runtime.virtual_clock import VirtualClock

# The error texts the hooks themselves define are part of the contract; any other text
# (the interpreter's or protobuf's wording) is not, and only the error's type is compared.
# By type name: each tier (reference, TensorFlow, the original) defines its own classes.
CONTRACT_MESSAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ValueError", re.compile(r"Unable to find hash tables\. It may be caused by .*")),
    ("ValueError", re.compile(r"Index \[-?\d+\] must be non-negative and less than capacity .*")),
    ("BarrierAlreadyPlacedError", re.compile(r".*", re.DOTALL)),
)


class NotApplicable(Exception):
    """Raised by a world's ``setup``: this tier cannot express the scenario (the reason)."""


def error_event(exc: BaseException) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "error", "type": type(exc).__name__}
    message = str(exc)
    if any(type(exc).__name__ == t and p.fullmatch(message) for t, p in CONTRACT_MESSAGES):
        event["message"] = message
    return event


class World:
    """A family's hooks, sessions and inputs for one scenario; steps dispatch to ``op_*``."""

    def __init__(
        self,
        config: dict[str, Any],
        files_dir: str,
        clock: VirtualClock,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.files_dir = files_dir
        self.model_dir = os.path.normpath(os.path.join(files_dir, config.get("model_dir", ".")))
        self.clock = clock
        self.emit = emit
        self.steps: list[dict[str, Any]] = []  # the scenario's script, for a world to inspect

    def setup(self) -> None:
        pass

    def step(self, step: dict[str, Any]) -> None:
        handler = getattr(self, "op_" + step["op"], None)
        if handler is None:
            raise ValueError(f"family does not support op {step['op']!r}")
        for _ in range(int(step.get("count", 1))):
            handler(step)

    def teardown(self) -> None:
        pass


def close_error(name: str | None) -> tuple[type[BaseException], BaseException] | None:
    """The exception a ``with`` block ends with, by scenario name (None: a normal end)."""
    if name is None:
        return None
    types: dict[str, type[BaseException]] = {
        "OutOfRangeError": OutOfRangeError,
        "StopIteration": StopIteration,
        "RuntimeError": RuntimeError,
        "KeyboardInterrupt": KeyboardInterrupt,
    }
    if name not in types:
        raise ValueError(f"unknown close error {name!r}; one of {sorted(types)}")
    return types[name], types[name]("scenario close")


class BarrierRecorder:
    """A barrier callback that reports each call as a ``barrier_callback`` event."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], worker: int) -> None:
        self._emit = emit
        self._worker = worker

    def __call__(self, action: str, session: Any) -> None:
        self._emit({"event": "barrier_callback", "worker": self._worker, "action": action})
