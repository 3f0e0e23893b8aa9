"""Executors called in this process: the reference, and the TensorFlow tier."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.adapters.base import Events, ImplementationFailure, NotApplicable
from harness.scenario import Scenario


class InProcess:
    """Drives an executor object (``setup``/``step``/``teardown``, events to ``emit``)."""

    def __init__(self, name: str, make_executor: Callable[[Callable[[dict], None]], Any]) -> None:
        self.name = name
        self._events: Events = []
        self._executor = make_executor(self._events.append)

    def capabilities(self) -> dict[str, Any]:
        return dict(self._executor.capabilities)

    def _call(self, fn: Any, *args: Any) -> Events:
        try:
            fn(*args)
        except NotApplicable:
            self._events.clear()
            raise
        except Exception as e:
            raise ImplementationFailure(
                f"{self.name} executor crashed: {type(e).__name__}: {e}"
            ) from e
        events = list(self._events)
        self._events.clear()
        return events

    def setup(self, scenario: Scenario, files_dir: str) -> Events:
        return self._call(self._executor.setup, scenario.to_json(), files_dir)

    def step(self, index: int, step: dict[str, Any]) -> Events:
        return self._call(self._executor.step, step)

    def teardown(self) -> Events:
        return self._call(self._executor.teardown)

    def close(self) -> None:
        pass


class InProcessReference(InProcess):
    """The pure-Python reference (:class:`reference.testee.executor.Executor`)."""

    def __init__(self) -> None:
        from reference.testee.executor import Executor

        super().__init__("reference", Executor)
