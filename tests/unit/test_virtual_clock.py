"""The virtual clock: deterministic turn-taking over virtual time.

Only real waits here are bounded ``threading.Event.wait`` calls on real threads that must
be unwound (Hang, shutdown, a foreign thread); every simulated wait is on virtual time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from reference.runtime.virtual_clock import (
    ClockError,
    Deadlock,
    Hang,
    Shutdown,
    VirtualClock,
)

# Bound for real waits on real threads (they normally finish in microseconds).
REAL_BOUND = 5.0


def _real_join(name: str) -> None:
    """Join the real thread behind a simulated one (bounded), so it is really gone."""
    for th in threading.enumerate():
        if th.name == name:
            th.join(REAL_BOUND)
            assert not th.is_alive(), f"real thread {name} did not finish"


def test_time_starts_at_start_and_sleep_advances_exactly() -> None:
    c = VirtualClock(start=100.0)
    assert c.time() == 100.0
    c.sleep(2.5)
    assert c.time() == 102.5
    c.sleep(0)
    assert c.time() == 102.5
    c.sleep(-3)  # negative sleeps are no-ops, like time.sleep would refuse them
    assert c.time() == 102.5


def test_sleeping_costs_no_real_time(clock: VirtualClock) -> None:
    real_start = time.monotonic()
    clock.sleep(10**6)
    assert clock.time() == 10**6
    assert time.monotonic() - real_start < 1.0


def test_new_thread_runs_until_it_first_blocks(clock: VirtualClock) -> None:
    trace: list[str] = []

    def body() -> None:
        trace.append("thread: before sleep")
        clock.sleep(1)
        trace.append("thread: after sleep")

    t = clock.thread(body, "starter")
    t.start()
    trace.append("driver: after start")
    assert t.is_alive()
    t.join()
    assert trace == ["thread: before sleep", "driver: after start", "thread: after sleep"]
    assert clock.time() == 1
    assert not t.is_alive()


@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_threads_due_at_the_same_instant_run_in_the_order_they_started_waiting(
    clock: VirtualClock, order: tuple[str, str]
) -> None:
    trace: list[tuple[str, float]] = []

    def sleeper(name: str) -> Callable[[], None]:
        def body() -> None:
            clock.sleep(10)
            trace.append((name, clock.time()))

        return body

    threads = [clock.thread(sleeper(name), name) for name in order]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert trace == [(order[0], 10.0), (order[1], 10.0)]


def test_advance_of_60s_with_a_60s_poller_runs_the_poll_first(clock: VirtualClock) -> None:
    polls: list[float] = []
    stop = clock.event()

    def poller() -> None:
        while not stop.wait(timeout=60):
            polls.append(clock.time())

    t = clock.thread(poller, "poller")
    t.start()
    clock.sleep(60)
    # The poll due at 60 ran before the driver's own 60 s sleep returned.
    assert polls == [60.0]
    clock.sleep(59)
    assert polls == [60.0]
    clock.sleep(1)
    assert polls == [60.0, 120.0]
    stop.set()
    t.join()
    assert clock.time() == 120.0
    assert not t.is_alive()


def test_event_wait_times_out_at_the_deadline(clock: VirtualClock) -> None:
    ev = clock.event()
    assert ev.wait(timeout=7.5) is False
    assert clock.time() == 7.5
    assert not ev.is_set()


def test_event_set_by_another_thread_wakes_the_waiter_at_that_time(clock: VirtualClock) -> None:
    ev = clock.event()

    def setter() -> None:
        clock.sleep(3)
        ev.set()

    clock.thread(setter, "setter").start()
    assert ev.wait(timeout=100) is True
    assert clock.time() == 3


def test_waiting_on_a_set_event_returns_at_once(clock: VirtualClock) -> None:
    ev = clock.event()
    ev.set()
    assert ev.wait(timeout=50) is True
    assert ev.wait() is True
    assert clock.time() == 0


def test_setting_an_event_does_not_give_up_the_turn_until_yield(clock: VirtualClock) -> None:
    ev = clock.event()
    trace: list[str] = []

    def waiter() -> None:
        ev.wait()
        trace.append("waiter")

    clock.thread(waiter, "waiter").start()
    ev.set()
    trace.append("driver: set")
    clock.yield_turn()
    trace.append("driver: yielded")
    assert trace == ["driver: set", "waiter", "driver: yielded"]


def test_contended_lock_blocks_until_released_and_is_handed_out_in_wait_order(
    clock: VirtualClock,
) -> None:
    lock = clock.lock()
    trace: list[tuple[str, float]] = []

    def contender(name: str) -> Callable[[], None]:
        def body() -> None:
            with lock:
                trace.append((name, clock.time()))
                clock.sleep(1)

        return body

    lock.acquire()
    threads = [clock.thread(contender(n), n) for n in ("first", "second")]
    for t in threads:
        t.start()
    clock.sleep(5)
    assert trace == []
    lock.release()
    for t in threads:
        t.join()
    assert trace == [("first", 5.0), ("second", 6.0)]
    assert clock.time() == 7.0


def test_releasing_a_lock_held_by_another_thread_raises(clock: VirtualClock) -> None:
    lock = clock.lock()
    with pytest.raises(RuntimeError) as exc:
        lock.release()
    assert str(exc.value) == "release of a virtual lock not held by this thread"


def test_join_with_timeout_returns_at_the_deadline_while_the_thread_lives(
    clock: VirtualClock,
) -> None:
    t = clock.thread(lambda: clock.sleep(10), "long")
    t.start()
    t.join(timeout=4)
    assert clock.time() == 4
    assert t.is_alive()
    t.join()
    assert clock.time() == 10
    assert not t.is_alive()


def test_a_thread_cannot_join_itself(clock: VirtualClock) -> None:
    seen: list[str] = []
    holder: list[object] = []

    def body() -> None:
        try:
            holder[0].join()  # type: ignore[attr-defined]
        except RuntimeError as e:
            seen.append(str(e))

    t = clock.thread(body, "self-joiner")
    holder.append(t)
    t.start()
    t.join()
    assert seen == ["cannot join current thread"]


def test_errors_in_simulated_threads_are_recorded(clock: VirtualClock) -> None:
    def body() -> None:
        clock.sleep(1)
        raise ValueError("boom")

    t = clock.thread(body, "failing")
    t.start()
    t.join()
    assert [(name, type(e), str(e)) for name, e in clock.thread_errors] == [
        ("failing", ValueError, "boom")
    ]
    clock.thread_errors.clear()
    assert not t.is_alive()


def _interleaving() -> list[tuple[str, float]]:
    clock = VirtualClock(real_timeout=REAL_BOUND)
    trace: list[tuple[str, float]] = []
    ev = clock.event()

    def periodic(name: str, period: float, times: int) -> Callable[[], None]:
        def body() -> None:
            for _ in range(times):
                clock.sleep(period)
                trace.append((name, clock.time()))

        return body

    def on_event() -> None:
        ev.wait()
        trace.append(("T3", clock.time()))

    threads = [
        clock.thread(periodic("T1", 2, 3), "T1"),
        clock.thread(periodic("T2", 3, 2), "T2"),
        clock.thread(on_event, "T3"),
    ]
    for t in threads:
        t.start()
    clock.sleep(5)
    ev.set()
    for t in threads:
        t.join()
    clock.shutdown()
    return trace


def test_interleaving_is_deterministic_and_exact() -> None:
    expected = [
        ("T1", 2.0),
        ("T2", 3.0),
        ("T1", 4.0),
        ("T3", 5.0),  # woken by the driver's set at 5, runs when the driver blocks
        ("T2", 6.0),  # T2 has been sleeping since 3, T1 only since 4
        ("T1", 6.0),
    ]
    assert _interleaving() == expected
    assert _interleaving() == expected


def test_an_earlier_waiter_whose_deadline_passed_runs_before_a_later_ready_one(
    clock: VirtualClock,
) -> None:
    trace: list[str] = []
    ev = clock.event()

    def a() -> None:
        clock.sleep(10)
        trace.append("A")
        ev.set()
        clock.sleep(5)

    def b() -> None:
        clock.sleep(10)
        trace.append("B")

    ta, tb = clock.thread(a, "A"), clock.thread(b, "B")
    ta.start()
    tb.start()
    ev.wait()  # started waiting after B; both waits are over at t=10
    trace.append("driver")
    ta.join()
    tb.join()
    assert trace == ["A", "B", "driver"]


def test_a_thread_the_clock_did_not_start_cannot_use_it(clock: VirtualClock) -> None:
    errors: list[BaseException] = []

    def foreign() -> None:
        try:
            clock.sleep(1)
        except BaseException as e:
            errors.append(e)

    th = threading.Thread(target=foreign, name="foreign")
    th.start()
    th.join(REAL_BOUND)
    assert not th.is_alive()
    assert [(type(e), str(e)) for e in errors] == [
        (ClockError, "a thread not started by the virtual clock used it")
    ]


def test_driver_waiting_alone_forever_raises_deadlock(clock: VirtualClock) -> None:
    ev = clock.event()
    with pytest.raises(Deadlock) as exc:
        ev.wait()
    assert str(exc.value) == "every simulated thread is waiting and no deadline is pending"


def test_joining_a_thread_that_waits_forever_raises_deadlock(clock: VirtualClock) -> None:
    ev = clock.event()
    t = clock.thread(ev.wait, "forever")
    t.start()
    with pytest.raises(Deadlock):
        t.join()


def test_a_thread_holding_its_turn_past_real_timeout_raises_hang_in_the_driver() -> None:
    clock = VirtualClock(real_timeout=0.2)
    gate = threading.Event()
    finished = threading.Event()

    def hog() -> None:
        try:
            gate.wait(REAL_BOUND)  # a real blocking wait: the turn is never given back
        finally:
            finished.set()

    t = clock.thread(hog, "hog")
    real_start = time.monotonic()
    with pytest.raises(Hang) as exc:
        t.start()
    elapsed = time.monotonic() - real_start
    assert str(exc.value) == "a simulated thread held its turn for over 0.2s of real time"
    assert 0.2 <= elapsed < REAL_BOUND
    assert not finished.is_set()
    gate.set()
    assert finished.wait(REAL_BOUND)
    _real_join("hog")
    clock.shutdown()
    assert clock.thread_errors == []


def test_shutdown_unwinds_threads_waiting_on_sleep_lock_event_and_join(
    clock: VirtualClock,
) -> None:
    lock = clock.lock()
    ev = clock.event()
    unwound: list[str] = []
    finished: dict[str, threading.Event] = {}

    def participant(name: str, body: Callable[[], None]) -> Callable[[], None]:
        finished[name] = threading.Event()

        def run() -> None:
            try:
                body()
                unwound.append(f"{name}: returned")
            except Shutdown:
                unwound.append(name)
                raise
            finally:
                finished[name].set()

        return run

    def holder() -> None:
        with lock:
            ev.wait()

    t_holder = clock.thread(participant("sd-holder", holder), "sd-holder")
    t_holder.start()
    bodies: dict[str, Callable[[], None]] = {
        "sd-lock": lock.acquire,
        "sd-event": ev.wait,
        "sd-join": t_holder.join,
        "sd-sleep": lambda: clock.sleep(1000),
    }
    threads = [t_holder]
    for name, body in bodies.items():
        t = clock.thread(participant(name, body), name)
        t.start()
        threads.append(t)
    assert clock.time() == 0
    assert unwound == []

    clock.shutdown()
    for name, done in finished.items():
        assert done.wait(REAL_BOUND), name
        _real_join(name)
    assert sorted(unwound) == ["sd-event", "sd-holder", "sd-join", "sd-lock", "sd-sleep"]
    assert not any(t.is_alive() for t in threads)
    assert clock.thread_errors == []
    # After shutdown the clock refuses further waits, in the driver too.
    with pytest.raises(Shutdown):
        clock.sleep(1)
