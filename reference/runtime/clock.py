"""Time and threading primitives, injectable so tests can run on virtual time.

Every reference hook that sleeps, polls, waits on an event or starts a thread does so
through a :class:`Clock`. :data:`REAL_CLOCK` uses the wall clock and real threads; the
harness supplies a deterministic virtual clock with the same surface.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Event(Protocol):
    def set(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class Thread(Protocol):
    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def is_alive(self) -> bool: ...


class Lock(Protocol):
    def acquire(self) -> bool: ...
    def release(self) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, *exc: object) -> None: ...


class Clock(Protocol):
    """What hooks need from time: now, sleep, events, lock and threads."""

    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...
    def event(self) -> Event: ...
    def lock(self) -> Lock: ...
    def thread(self, target: Callable[[], None], name: str, daemon: bool = True) -> Thread: ...


class RealClock:
    """The wall clock and real threads."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def event(self) -> Event:
        return threading.Event()

    def lock(self) -> Lock:
        return threading.Lock()

    def thread(self, target: Callable[[], None], name: str, daemon: bool = True) -> Thread:
        return threading.Thread(target=target, name=name, daemon=daemon)


REAL_CLOCK: Clock = RealClock()
