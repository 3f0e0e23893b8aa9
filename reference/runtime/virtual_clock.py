"""A deterministic virtual clock: a cooperative scheduler over virtual time.

Every thread that uses the clock (the driver that created it, and threads started with
:meth:`VirtualClock.thread`) is a *participant*. Exactly one participant runs at a time;
it gives up its turn only when it blocks on the clock (``sleep``, an event ``wait``, a
contended lock, ``join``) or finishes. The next participant to run is one whose wait is
over at the current virtual time: threads before the driver, and among them the one that
started waiting first; when none can go on, virtual time jumps to the earliest deadline.
So when the driver advances time, everything due up to the end of that span has run
before the driver's next step. So a 60 s poll or a 30 s barrier wait costs
no real time, and every run of a scenario interleaves its threads identically.

If every participant waits with no deadline, nothing can ever happen again: the clock
raises :class:`Deadlock` in the driver. A participant that holds its turn for more than
``real_timeout`` wall-clock seconds, or simulated threads taking ``max_turns_per_wait``
turns while the driver waits (a tiny poll period over a long advance), make the driver
raise :class:`Hang`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from reference.runtime.clock import Event, Lock, Thread


class ClockError(RuntimeError):
    """The simulated world cannot go on."""


class Deadlock(ClockError):
    """Every participant waits and no deadline is pending."""


class Hang(ClockError):
    """A participant kept its turn longer than the real-time bound."""


class Shutdown(BaseException):
    """Raised in participants still waiting when the clock shuts down."""


@dataclass
class _Waiter:
    seq: int
    ident: int
    ready: Callable[[], bool]
    deadline: float | None
    woke_by_deadline: bool = field(default=False)


class VirtualClock:
    """Deterministic time and threads for the simulated runtime (see module docstring)."""

    def __init__(
        self, start: float = 0.0, real_timeout: float = 30.0, max_turns_per_wait: int = 100_000
    ) -> None:
        self._now = start
        self._max_turns = max_turns_per_wait
        self._turns_without_driver = 0
        self._real_timeout = real_timeout
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        # One condition a participant, all on _cv's lock: a turn handed over wakes only
        # the thread that gets it (not every participant, each to find it is not its turn).
        self._turn_cvs: dict[int, threading.Condition] = {}
        # When a participant was last woken: the driver's real-time bound runs from there
        # (as it did when every hand-over woke the driver too).
        self._woken_at = time.monotonic()
        self._seq = itertools.count()
        self._driver = threading.get_ident()
        self._runner: int | None = self._driver
        self._participants: set[int] = {self._driver}
        self._waiters: list[_Waiter] = []
        self._shutdown = False
        self._failure: BaseException | None = None
        self.thread_errors: list[tuple[str, BaseException]] = []

    # -- time -------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._block(lambda: False, max(0.0, seconds))

    # -- primitives -------------------------------------------------------------------
    def event(self) -> Event:
        return _VirtualEvent(self)

    def lock(self) -> Lock:
        return _VirtualLock(self)

    def thread(self, target: Callable[[], None], name: str, daemon: bool = True) -> Thread:
        return _VirtualThread(self, target, name)

    # -- scheduling -------------------------------------------------------------------
    def yield_turn(self) -> None:
        """Let every participant that is ready now run first (e.g. a just-started thread)."""
        self._block(lambda: True, None, force=True)

    def _block(self, ready: Callable[[], bool], timeout: float | None, force: bool = False) -> bool:
        """Give up the turn until ``ready()`` or ``timeout``; True if ready, False on timeout."""
        with self._cv:
            me = threading.get_ident()
            if me not in self._participants:
                raise ClockError("a thread not started by the virtual clock used it")
            if self._shutdown:
                raise Shutdown()
            if ready() and not force:
                return True
            deadline = None if timeout is None else self._now + timeout
            waiter = _Waiter(next(self._seq), me, ready, deadline)
            self._waiters.append(waiter)
            self._schedule()
            self._await_turn(me)
            return not waiter.woke_by_deadline

    def _turn_cv(self, ident: int) -> threading.Condition:
        """The condition ``ident`` waits on for its turn (holding ``_cv``)."""
        cv = self._turn_cvs.get(ident)
        if cv is None:
            cv = self._turn_cvs[ident] = threading.Condition(self._lock)
        return cv

    def _notify(self, ident: int | None = None) -> None:
        """Wake ``ident`` (holding ``_cv``) to check whether it may go on; None: everyone."""
        self._woken_at = time.monotonic()
        if ident is None:
            for cv in self._turn_cvs.values():
                cv.notify_all()
        elif ident in self._turn_cvs:
            self._turn_cvs[ident].notify()

    def _await_turn(self, me: int) -> None:
        """Wait (holding ``_cv``) until ``me`` is the runner; the driver bounds the wait."""
        cv = self._turn_cv(me)
        while True:
            if self._shutdown and me != self._driver:
                self._remove_waiter(me)
                raise Shutdown()
            if me == self._driver and self._failure is not None:
                failure, self._failure = self._failure, None
                self._remove_waiter(me)
                self._runner = me
                raise failure
            if self._runner == me:
                return
            if me != self._driver:
                cv.wait()
                continue
            left = self._woken_at + self._real_timeout - time.monotonic()
            if left > 0:
                cv.wait(timeout=left)
            else:
                self._failure = Hang(
                    f"a simulated thread held its turn for over {self._real_timeout}s of real time"
                )

    def _remove_waiter(self, ident: int) -> None:
        self._waiters = [w for w in self._waiters if w.ident != ident]

    def _schedule(self) -> None:
        """Pick the next runner (holding ``_cv``) and wake it.

        Of the waiters that can go on now (condition met, or deadline reached), threads go
        before the driver, then earlier waits first; so the driver's next step starts only
        once everything due at this instant has run. With none, time jumps to the earliest
        deadline and the same rule picks among the waiters due then.
        """
        self._runner = None
        if self._turns_without_driver >= self._max_turns:
            # A poller with a tiny period (or none) over a long wait: unbounded real work.
            self._failure = Hang(
                f"the simulated threads took over {self._max_turns} turns while the driver "
                f"waited (virtual time {self._now}): a poll period too short for the wait?"
            )
            self._turns_without_driver = 0
            self._runner = self._driver
            self._notify(self._driver)
            return
        order = lambda w: (w.ident == self._driver, w.seq)  # noqa: E731
        due = [w for w in self._waiters if w.ready() or self._expired(w)]
        if not due:
            timed = [w.deadline for w in self._waiters if w.deadline is not None]
            if not timed:
                self._failure = Deadlock(
                    "every simulated thread is waiting and no deadline is pending"
                )
                self._runner = self._driver
                self._notify(self._driver)
                return
            self._now = max(self._now, min(timed))
            due = [w for w in self._waiters if self._expired(w)]
        chosen = min(due, key=order)
        self._turns_without_driver = (
            0 if chosen.ident == self._driver else self._turns_without_driver + 1
        )
        self._wake(chosen, by_deadline=not chosen.ready())

    def _expired(self, w: _Waiter) -> bool:
        return w.deadline is not None and w.deadline <= self._now

    def _wake(self, w: _Waiter, by_deadline: bool) -> None:
        self._waiters.remove(w)
        w.woke_by_deadline = by_deadline
        self._runner = w.ident
        self._notify(w.ident)

    def _start_participant(self, ident: int) -> None:
        with self._cv:
            self._participants.add(ident)

    def _finish_participant(self) -> None:
        with self._cv:
            self._participants.discard(threading.get_ident())
            if self._runner == threading.get_ident():
                self._schedule()

    def notify(self) -> None:
        """State others may wait on changed; nothing to do until the runner blocks."""

    def shutdown(self) -> None:
        """Unwind every participant still waiting (they raise :class:`Shutdown`)."""
        with self._cv:
            self._shutdown = True
            self._notify()

    @property
    def driver_ident(self) -> int:
        return self._driver


class _VirtualEvent:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._flag = False

    def set(self) -> None:
        self._flag = True

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        self._clock._block(lambda: self._flag, timeout)
        return self._flag


class _VirtualLock:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._owner: int | None = None

    def acquire(self) -> bool:
        self._clock._block(lambda: self._owner is None, None)
        self._owner = threading.get_ident()
        return True

    def release(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("release of a virtual lock not held by this thread")
        self._owner = None

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class _VirtualThread:
    def __init__(self, clock: VirtualClock, target: Callable[[], None], name: str) -> None:
        self._clock = clock
        self._target = target
        self.name = name
        self._done = False
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()
        # Like a real thread, the new one gets going at once: it runs until it first blocks.
        self._clock.yield_turn()

    def _run(self) -> None:
        clock = self._clock
        me = threading.get_ident()
        with clock._cv:
            clock._participants.add(me)
            clock._waiters.append(_Waiter(next(clock._seq), me, lambda: True, None))
            self._started.set()
            try:
                clock._await_turn(me)
            except Shutdown:
                clock._participants.discard(me)
                self._done = True
                return
        try:
            self._target()
        except Shutdown:
            pass
        except BaseException as e:  # recorded for the driver to report
            clock.thread_errors.append((self.name, e))
        finally:
            self._done = True
            clock._finish_participant()

    def join(self, timeout: float | None = None) -> None:
        if threading.get_ident() == self._thread.ident:
            raise RuntimeError("cannot join current thread")
        self._clock._block(lambda: self._done, timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive() and not self._done
