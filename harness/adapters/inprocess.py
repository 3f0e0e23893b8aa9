"""The reference implementation, called in this process."""

from __future__ import annotations

from typing import Any

from harness.adapters.base import Events, ImplementationFailure
from harness.scenario import Scenario
from reference.testee.executor import Executor


class InProcessReference:
    """Drives :class:`reference.testee.executor.Executor` directly."""

    name = "reference"

    def __init__(self) -> None:
        self._events: Events = []
        self._executor = Executor(self._events.append)

    def capabilities(self) -> dict[str, Any]:
        return dict(Executor.capabilities)

    def _drain(self) -> Events:
        events = list(self._events)
        self._events.clear()
        return events

    def _call(self, fn: Any, *args: Any) -> Events:
        try:
            fn(*args)
        except Exception as e:
            raise ImplementationFailure(
                f"reference executor crashed: {type(e).__name__}: {e}"
            ) from e
        return self._drain()

    def setup(self, scenario: Scenario, files_dir: str) -> Events:
        return self._call(self._executor.setup, scenario.to_json(), files_dir)

    def step(self, index: int, step: dict[str, Any]) -> Events:
        return self._call(self._executor.step, step)

    def teardown(self) -> Events:
        return self._call(self._executor.teardown)

    def close(self) -> None:
        pass
