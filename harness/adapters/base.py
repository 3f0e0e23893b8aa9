"""The interface every implementation under test is driven through."""

from __future__ import annotations

from typing import Any, Protocol

from harness.scenario import Scenario
from reference.testee.world import NotApplicable

__all__ = ["Events", "Implementation", "ImplementationFailure", "NotApplicable"]

Events = list[dict[str, Any]]


class ImplementationFailure(Exception):
    """The implementation under test crashed, hung or broke the protocol (not a mismatch)."""


class Implementation(Protocol):
    """Runs scenarios one at a time; each call returns the events observed during it.

    Optional, looked up by the runner with ``getattr``: ``watch(work_dir)`` (the directory
    to check for writes outside ``files/``), ``cannot_start`` (a reason, once the
    implementation failed to start: its scenarios are then *not run*), and
    ``scenario_stderr()`` (its log for a scenario that did not pass).
    """

    name: str

    def capabilities(self) -> dict[str, Any]: ...
    def setup(self, scenario: Scenario, files_dir: str) -> Events: ...
    def step(self, index: int, step: dict[str, Any]) -> Events: ...
    def teardown(self) -> Events: ...
    def close(self) -> None: ...
