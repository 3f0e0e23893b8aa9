"""The interface every implementation under test is driven through."""

from __future__ import annotations

from typing import Any, Protocol

from harness.scenario import Scenario

Events = list[dict[str, Any]]


class ImplementationFailure(Exception):
    """The implementation under test crashed, hung or broke the protocol (not a mismatch)."""


class NotApplicable(Exception):
    """Raised by ``setup``: this implementation cannot run this scenario, for a stated reason."""


class Implementation(Protocol):
    """Runs scenarios one at a time; each call returns the events observed during it."""

    name: str

    def capabilities(self) -> dict[str, Any]: ...
    def setup(self, scenario: Scenario, files_dir: str) -> Events: ...
    def step(self, index: int, step: dict[str, Any]) -> Events: ...
    def teardown(self) -> Events: ...
    def close(self) -> None: ...
