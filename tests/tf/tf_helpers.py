"""Helpers shared by the TensorFlow-tier tests (no TensorFlow import here)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.adapters.tf_tier import TensorFlowTier


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.01) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` real seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(interval)


class FakeClock:
    """Virtual ``time``/``sleep`` (sleep only advances the clock) over real threads.

    ``on_sleep(clock)`` runs after every sleep, so a test can act at a virtual instant.
    Works for both tiers (the reference's and the TF tier's ``clock=`` parameters).
    """

    def __init__(self, on_sleep: Callable[[FakeClock], None] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(self)
        time.sleep(0)

    def event(self) -> threading.Event:
        return threading.Event()

    def lock(self) -> threading.Lock:
        return threading.Lock()

    def thread(self, target: Callable[[], None], name: str, daemon: bool = True) -> Any:
        return threading.Thread(target=target, name=name, daemon=daemon)


class LogCapture(logging.Handler):
    """Collects records of the given loggers (from any thread)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def messages(self, prefix: str = "") -> list[tuple[str, str]]:
        """``(level, message)`` of the records whose logger name starts with ``prefix``."""
        with self._lock_records:
            return [
                (r.levelname, r.getMessage()) for r in self.records if r.name.startswith(prefix)
            ]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (directories map to None) with the file contents."""
    out: dict[str, bytes | None] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel + "/" if path.is_dir() else rel] = None if path.is_dir() else path.read_bytes()
    return out


def counter_uuids(prefix: str = "") -> Callable[[], str]:
    """A deterministic ``uuid_fn``: ``00000000-0000-1000-8000-000000000000``, then 1, 2..."""
    state = {"k": 0}

    def next_uuid() -> str:
        k = state["k"]
        state["k"] += 1
        return f"{prefix}{k:08x}-0000-1000-8000-000000000000"

    return next_uuid


TFTier = TensorFlowTier  # the harness adapter of the TF tier
