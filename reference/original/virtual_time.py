"""Points the original modules' time, threads and absl's log throttle at a virtual clock.

The originals call ``time.time``, ``time.sleep``, ``threading.Lock``, ``threading.Event``
and ``threading.Thread`` through their module globals ``time`` and ``threading``, and
``barrier_ops`` throttles its waiting line with absl's ``log_every_n_seconds``. For one
scenario, :class:`VirtualTime` replaces those globals of the given modules with views of
the scenario's :class:`~reference.runtime.virtual_clock.VirtualClock`, and absl's
throttle check with one on the same clock; :meth:`VirtualTime.restore` puts everything
back. Anything else the modules take from ``time`` or ``threading`` is the real thing.

absl keys its throttle on the call site, so all waiters of one process share it; in a
real job every worker is its own process. The simulation runs the chief and its workers
in one process, so the replacement keys the throttle on the call site AND the simulated
process: a worker's thread (named ``worker<i>`` by the worlds) is its own process,
every other thread belongs to the chief. That is the convention every tier follows
(``docs/conventions.md``, rule 8).
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from absl import logging as absl_logging


class _TimeView:
    """``time`` as the originals use it: ``time()`` and ``sleep()`` on the clock."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.time()

    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _ThreadingView:
    """``threading`` as the originals use it: locks, events and threads of the clock."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def Lock(self) -> Any:
        return self._clock.lock()

    def Event(self) -> Any:
        return self._clock.event()

    def Thread(
        self,
        group: None = None,
        target: Callable[..., Any] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> Any:
        call_args, call_kwargs = tuple(args), dict(kwargs or {})

        def run() -> None:
            if target is not None:
                target(*call_args, **call_kwargs)

        return self._clock.thread(run, name=name or "Thread", daemon=bool(daemon))

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def simulated_process() -> str:
    """The simulated process the running thread belongs to (see the module docstring)."""
    name = threading.current_thread().name
    return name if name.startswith("worker") else "chief"


class VirtualTime:
    """The patches for one scenario; :meth:`restore` undoes them."""

    def __init__(self, clock: Any, modules: Iterable[types.ModuleType]) -> None:
        self._saved: list[tuple[Any, str, Any]] = []
        time_view, threading_view = _TimeView(clock), _ThreadingView(clock)
        for module in modules:
            if hasattr(module, "time"):
                self._set(module, "time", time_view)
            if hasattr(module, "threading"):
                self._set(module, "threading", threading_view)
        last: dict[tuple[Any, str], float] = {}

        def seconds_have_elapsed(token: Any, num_seconds: float) -> bool:
            # absl's rule (the first call logs, then once num_seconds have passed), on the
            # virtual clock, per call site and simulated process.
            key, now = (token, simulated_process()), clock.time()
            then = last.get(key)
            if then is None or now - then >= num_seconds:
                last[key] = now
                return True
            return False

        self._set(absl_logging, "_seconds_have_elapsed", seconds_have_elapsed)

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def set(self, owner: Any, name: str, value: Any) -> None:
        """Another module global to change for this scenario (restored with the rest)."""
        self._set(owner, name, value)

    def restore(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()
