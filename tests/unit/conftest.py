"""Fixtures shared by the unit tests of the reference hooks and the simulated runtime.

No TensorFlow here: everything runs on ``reference.runtime`` (simulated sessions and a
virtual clock). Time never passes on the wall clock; waits happen on virtual time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from reference.runtime.virtual_clock import VirtualClock

# A simulated thread that keeps its turn this long (real seconds) makes the driver raise
# ``Hang``: a broken test fails fast instead of waiting for the global pytest timeout.
REAL_TIMEOUT = 5.0


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """A virtual clock driven by the test's thread; shut down (threads unwound) afterwards.

    A test that expects errors in simulated threads must inspect and clear
    ``clock.thread_errors``; anything left there fails the test at teardown.
    """
    vclock = VirtualClock(real_timeout=REAL_TIMEOUT)
    yield vclock
    errors = list(vclock.thread_errors)
    vclock.shutdown()
    assert errors == [], f"unexpected errors in simulated threads: {errors!r}"


class LogView:
    """The ``reference.*`` log records captured by caplog, as plain tuples."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def records(self, logger: str | None = None) -> list[logging.LogRecord]:
        return [
            r
            for r in self._caplog.records
            if r.name.startswith("reference") and (logger is None or r.name == logger)
        ]

    def messages(self, logger: str | None = None, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records(logger) if level is None or r.levelno == level]

    def clear(self) -> None:
        self._caplog.clear()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> LogView:
    """INFO and above from the ``reference`` loggers."""
    caplog.set_level(logging.INFO, logger="reference")
    return LogView(caplog)
