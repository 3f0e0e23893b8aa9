"""A bounded, tolerant wait for real-time conditions (a file appearing, a thread acting).

Tests never sleep a fixed time hoping something happened: they poll with
:func:`wait_until`, which returns as soon as the condition holds and fails with a clear
message once ``timeout`` real seconds have passed. The poll interval backs off from
``interval`` to ``max_interval``, so a busy machine only makes the wait longer, never
wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """The condition did not hold within the bound."""


def wait_until(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "the condition",
    interval: float = 0.005,
    max_interval: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``condition`` until it returns a truthy value (returned); raise
    :class:`WaitTimeout` once ``timeout`` seconds of ``clock`` have passed.

    The one bounded poll of the harness: for harness-side code and tests that watch
    another process or a real-time thread (the protocol itself never needs it: a testee
    answers only once the effects of a step are complete).
    """
    deadline = clock() + timeout
    delay = interval
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"gave up after {timeout}s waiting for {what}")
        sleep(min(delay, remaining))
        delay = min(delay * 2, max_interval)
