"""``reference.barrier_ops``: every operation of the barrier, its callbacks, its hook.

Follows FACTS.md (a newer original than the stored one): ``place_barrier`` refuses a
placed barrier, ``wait_until_barrier_removed`` needs ``0 < index < capacity``, and
``BarrierHook`` only ever waits for an index above 0.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from reference import barrier_ops
from reference.barrier_ops import BarrierAlreadyPlacedError, BarrierHook, BarrierOp
from reference.runtime.session import MonitoredSession, Session, VariableStore
from reference.runtime.session_run_hook import SessionRunContext, SessionRunValues
from reference.runtime.virtual_clock import VirtualClock

WAIT_MESSAGE = "The worker {} waits until barrier removed."


class Calls:
    """A barrier callback recording ``(name, action, session)``."""

    def __init__(self, name: str, log: list[tuple[str, str, Any]]) -> None:
        self.name = name
        self.log = log

    def __call__(self, action: str, session: Any) -> None:
        self.log.append((self.name, action, session))


class ClockedHandler(logging.Handler):
    """Records (virtual time, message) of each log line."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(level=logging.INFO)
        self.clock = clock
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.clock.time(), record.getMessage()))


@pytest.fixture
def clocked_log(clock: VirtualClock) -> Any:
    logger = logging.getLogger("reference.barrier_ops")
    handler = ClockedHandler(clock)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_a_new_barrier_is_not_placed_and_blocks_nobody() -> None:
    op = BarrierOp(3)
    sess = Session()
    assert op.capacity == 3
    assert op.is_barrier_placed(sess) is False
    assert op.is_barrier_removed(sess) is True
    assert op.is_none_blocked(sess) is True
    assert op.is_all_blocked(sess) is False
    assert op.get_blocked_indices(sess) == []
    assert op.get_unblocked_indices(sess) == [0, 1, 2]


def test_place_sets_flag_zero_stores_the_action_and_runs_every_callback_in_order() -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(3, barrier_callbacks=[Calls("c1", log), Calls("c2", log)])
    sess = Session()
    op.place_barrier(sess, action="Stop")
    assert log == [("c1", "Stop", sess), ("c2", "Stop", sess)]
    assert op.is_barrier_placed(sess) is True
    assert op.is_barrier_removed(sess) is False
    assert op.get_blocked_indices(sess) == [0]
    assert op.get_unblocked_indices(sess) == [1, 2]
    assert op.is_none_blocked(sess) is False
    assert op.is_all_blocked(sess) is False


def test_the_callers_callback_list_is_kept_not_copied_unless_empty() -> None:
    """As in the original (``barrier_callbacks or []``): a callback appended to the
    caller's non-empty list after construction runs; one appended to an empty list does
    not (the empty list is replaced). Found running the original's own tests on our tiers."""
    log: list[tuple[str, str, Any]] = []
    callbacks: list[Any] = [Calls("first", log)]
    empty: list[Any] = []
    op, other = BarrierOp(2, barrier_callbacks=callbacks), BarrierOp(2, barrier_callbacks=empty)
    callbacks.append(Calls("later", log))
    empty.append(Calls("never", log))
    sess = Session()
    op.place_barrier(sess, action="Stop")
    other.place_barrier(Session(), action="Stop")
    assert log == [("first", "Stop", sess), ("later", "Stop", sess)]


def test_place_defaults_to_an_empty_action() -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(2, barrier_callbacks=[Calls("c", log)])
    sess = Session()
    op.place_barrier(sess)
    assert log == [("c", "", sess)]


def test_with_capacity_one_the_placed_barrier_is_all_blocked() -> None:
    op = BarrierOp(1)
    sess = Session()
    op.place_barrier(sess)
    assert op.is_all_blocked(sess) is True
    assert op.get_unblocked_indices(sess) == []


def test_placing_a_placed_barrier_raises_without_callbacks_or_new_action() -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(2, barrier_callbacks=[Calls("c", log)])
    sess = Session()
    op.place_barrier(sess, action="first")
    with pytest.raises(BarrierAlreadyPlacedError):
        op.place_barrier(sess, action="second")
    assert issubclass(BarrierAlreadyPlacedError, Exception)
    assert log == [("c", "first", sess)]
    # The lock was released and the stored action is still the first one: a worker
    # arriving now (after removal, so it returns at once) sees "first".
    op.remove_barrier(sess)
    op.wait_until_barrier_removed(sess, 1)
    assert log == [("c", "first", sess), ("c", "first", sess)]
    op.place_barrier(sess, action="third")
    assert log[-1] == ("c", "third", sess)


def test_remove_clears_flag_zero_without_checking_and_leaves_workers_alone() -> None:
    op = BarrierOp(2)
    sess = Session()
    op.remove_barrier(sess)  # nothing placed: no error
    assert op.is_barrier_removed(sess) is True
    op.place_barrier(sess)
    op.remove_barrier(sess)
    assert op.is_barrier_placed(sess) is False
    assert op.get_blocked_indices(sess) == []


@pytest.mark.parametrize("index", [0, 2, 3, -1])
def test_wait_index_must_be_above_zero_and_below_capacity(index: int) -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(2, barrier_callbacks=[Calls("c", log)])
    sess = Session()
    op.place_barrier(sess, action="a")
    log.clear()
    with pytest.raises(ValueError) as exc:
        op.wait_until_barrier_removed(sess, index)
    assert str(exc.value) == (f"Index [{index}] must be non-negative and less than capacity [2]. ")
    assert log == []
    assert op.get_blocked_indices(sess) == [0]
    # The lock was released: a valid call still works (returns once removed).
    op.remove_barrier(sess)
    op.wait_until_barrier_removed(sess, 1)
    assert log == [("c", "a", sess)]


def test_wait_index_zero_message_is_exact() -> None:
    with pytest.raises(ValueError) as exc:
        BarrierOp(2).wait_until_barrier_removed(Session(), 0)
    assert exc.value.args == ("Index [0] must be non-negative and less than capacity [2]. ",)


def test_wait_when_not_placed_runs_callbacks_and_returns_at_once(clock: VirtualClock) -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(3, barrier_callbacks=[Calls("c", log)], clock=clock)
    sess = Session()
    op.wait_until_barrier_removed(sess, 2)
    assert log == [("c", "", sess)]
    assert clock.time() == 0
    assert op.get_blocked_indices(sess) == []


def test_a_worker_waits_polling_every_wait_seconds_with_the_stored_action(
    clock: VirtualClock, clocked_log: ClockedHandler
) -> None:
    store = VariableStore()
    chief_sess, worker_sess = Session(store, 0), Session(store, 1)
    log: list[tuple[str, str, Any]] = []
    chief = BarrierOp(3, barrier_callbacks=[Calls("chief", log)], clock=clock)
    worker = BarrierOp(
        3, False, wait_seconds=5, barrier_callbacks=[Calls("worker", log)], clock=clock
    )
    returned: list[float] = []

    def wait() -> None:
        worker.wait_until_barrier_removed(worker_sess, 2)
        returned.append(clock.time())

    chief.place_barrier(chief_sess, action="act")
    t = clock.thread(wait, "worker2")
    t.start()
    assert log == [("chief", "act", chief_sess), ("worker", "act", worker_sess)]
    assert chief.get_blocked_indices(chief_sess) == [0, 2]
    assert chief.get_unblocked_indices(chief_sess) == [1]
    clock.sleep(12)
    assert returned == []
    chief.remove_barrier(chief_sess)
    t.join()
    assert returned == [15.0]  # polls at 0, 5, 10, 15
    assert chief.is_none_blocked(chief_sess) is True
    assert clocked_log.lines == [(0.0, WAIT_MESSAGE.format(2))]


@pytest.mark.parametrize(
    ("remove_at", "logged_at"),
    [(60, [0.0, 60.0]), (61, [0.0, 60.0]), (120, [0.0, 60.0, 120.0]), (121, [0.0, 60.0, 120.0])],
)
def test_the_waiting_log_line_repeats_at_most_once_a_minute(
    clock: VirtualClock, clocked_log: ClockedHandler, remove_at: int, logged_at: list[float]
) -> None:
    store = VariableStore()
    chief_sess = Session(store, 0)
    chief = BarrierOp(2, clock=clock)
    worker = BarrierOp(2, False, wait_seconds=1, clock=clock)
    chief.place_barrier(chief_sess)
    t = clock.thread(lambda: worker.wait_until_barrier_removed(Session(store, 1), 1), "w1")
    t.start()
    # The worker's poll due at the same instant as the driver's wake-up runs first (threads
    # go before the driver): it still sees the barrier, and only its next poll sees it gone.
    clock.sleep(remove_at)
    chief.remove_barrier(chief_sess)
    t.join()
    assert clock.time() == remove_at + 1
    assert barrier_ops.WAIT_LOG_EVERY_SECONDS == 60
    assert clocked_log.lines == [
        (at, "The worker 1 waits until barrier removed.") for at in logged_at
    ]


def test_all_blocked_only_once_every_worker_waits(clock: VirtualClock) -> None:
    store = VariableStore()
    chief_sess = Session(store, 0)
    chief = BarrierOp(3, clock=clock)
    chief.place_barrier(chief_sess)

    def worker(index: int, arrive_at: float) -> Any:
        def body() -> None:
            clock.sleep(arrive_at)
            BarrierOp(3, False, clock=clock).wait_until_barrier_removed(
                Session(store, index), index
            )

        return body

    threads = [clock.thread(worker(1, 1), "w1"), clock.thread(worker(2, 3), "w2")]
    for t in threads:
        t.start()
    clock.sleep(2)
    assert chief.get_blocked_indices(chief_sess) == [0, 1]
    assert chief.is_all_blocked(chief_sess) is False
    clock.sleep(2)
    assert chief.get_blocked_indices(chief_sess) == [0, 1, 2]
    assert chief.is_all_blocked(chief_sess) is True
    chief.remove_barrier(chief_sess)
    for t in threads:
        t.join()
    assert chief.is_none_blocked(chief_sess) is True


def test_barriers_with_the_same_prefix_share_state_and_other_prefixes_do_not() -> None:
    store = VariableStore()
    a0, a1 = BarrierOp(2, name_prefix="a"), BarrierOp(2, False, name_prefix="a")
    b = BarrierOp(2, name_prefix="b")
    a0.place_barrier(Session(store, 0))
    assert a1.is_barrier_placed(Session(store, 1)) is True
    assert b.is_barrier_placed(Session(store, 0)) is False


def test_barrier_hook_fetches_flag_zero() -> None:
    op = BarrierOp(2)
    hook = BarrierHook(1, op)
    ctx = SessionRunContext(original_args=None, session=Session())  # type: ignore[arg-type]
    args = hook.before_run(ctx)
    assert args.fetches is op.barrier_placed_tensor


def test_barrier_hook_of_index_zero_never_waits() -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(2, barrier_callbacks=[Calls("c", log)])
    sess = Session()
    op.place_barrier(sess, action="a")
    log.clear()
    hook = BarrierHook(0, op)
    ctx = SessionRunContext(original_args=None, session=sess)  # type: ignore[arg-type]
    hook.after_run(ctx, SessionRunValues(results=True))  # would block forever if it waited
    assert log == []
    assert op.get_blocked_indices(sess) == [0]


def test_barrier_hook_waits_only_when_the_fetched_flag_is_set(clock: VirtualClock) -> None:
    log: list[tuple[str, str, Any]] = []
    op = BarrierOp(2, False, barrier_callbacks=[Calls("c", log)], clock=clock)
    sess = Session()
    hook = BarrierHook(1, op)
    ctx = SessionRunContext(original_args=None, session=sess)  # type: ignore[arg-type]
    hook.after_run(ctx, SessionRunValues(results=False))
    assert log == []
    # The fetched value decides, not the current state: a stale True makes it wait (and,
    # the barrier being gone, return at once after running the callbacks).
    hook.after_run(ctx, SessionRunValues(results=True))
    assert log == [("c", "", sess)]
    assert clock.time() == 0


def test_workers_block_in_their_monitored_sessions_until_removal(clock: VirtualClock) -> None:
    store = VariableStore()
    chief_sess = Session(store, 0)
    log: list[tuple[str, str, Any]] = []
    chief = BarrierOp(2, barrier_callbacks=[Calls("chief", log)], clock=clock)
    steps: list[float] = []

    def worker() -> None:
        op = BarrierOp(2, False, barrier_callbacks=[Calls("worker", log)], clock=clock)
        session = Session(store, 1)
        with MonitoredSession([BarrierHook(1, op)], session) as sess:
            for _ in range(4):
                sess.run(op.barrier_placed_tensor)
                steps.append(clock.time())
                clock.sleep(1)

    t = clock.thread(worker, "worker")
    t.start()
    clock.sleep(1.5)
    chief.place_barrier(chief_sess, action="pause")
    clock.sleep(10)
    assert steps == [0.0, 1.0]
    assert chief.is_all_blocked(chief_sess) is True
    chief.remove_barrier(chief_sess)
    t.join()
    # The step at 2 blocked (polls every second) until 12 (removed at 11.5).
    assert steps == [0.0, 1.0, 12.0, 13.0]
    assert [(name, action) for name, action, _ in log] == [("chief", "pause"), ("worker", "pause")]
    assert chief.is_none_blocked(chief_sess) is True


def test_one_barrier_object_locks_only_the_arrival_not_the_wait(clock: VirtualClock) -> None:
    """Two workers sharing one ``BarrierOp`` object: the lock covers the arrival (flag,
    action, callbacks) only, so the second marks itself blocked while the first polls, and
    ``remove_barrier`` (which takes the lock) is not held up by either waiter."""
    store = VariableStore()
    chief_sess = Session(store, 0)
    log: list[tuple[str, str, Any]] = []
    chief = BarrierOp(3, clock=clock)
    shared = BarrierOp(3, False, barrier_callbacks=[Calls("shared", log)], clock=clock)
    returned: list[tuple[int, float]] = []

    def worker(index: int) -> Any:
        def body() -> None:
            shared.wait_until_barrier_removed(Session(store, index), index)
            returned.append((index, clock.time()))

        return body

    chief.place_barrier(chief_sess, action="x")
    threads = [clock.thread(worker(1), "w1"), clock.thread(worker(2), "w2")]
    for t in threads:
        t.start()
    clock.sleep(5)
    assert chief.get_blocked_indices(chief_sess) == [0, 1, 2]
    assert chief.is_all_blocked(chief_sess) is True
    assert [(name, action) for name, action, _ in log] == [("shared", "x"), ("shared", "x")]
    shared.remove_barrier(chief_sess)  # the waiters' own object: its lock is free
    assert chief.is_barrier_removed(chief_sess) is True
    for t in threads:
        t.join()
    # Both polls due at 5 ran before the driver removed the barrier at 5; both see it gone
    # at their next poll (6), in the order they started waiting.
    assert returned == [(1, 6.0), (2, 6.0)]
    assert chief.is_none_blocked(chief_sess) is True


def test_the_waiting_log_throttle_is_kept_per_barrier_object(
    clock: VirtualClock, clocked_log: ClockedHandler
) -> None:
    """absl throttles per call site per process; each worker is its own process in a real
    job, so the simulation (one process, one BarrierOp per worker) keeps it per object."""
    store = VariableStore()
    chief_sess = Session(store, 0)
    chief = BarrierOp(3, clock=clock)
    chief.place_barrier(chief_sess)

    def worker(index: int, arrive_at: float) -> Any:
        def body() -> None:
            clock.sleep(arrive_at)
            BarrierOp(3, False, clock=clock).wait_until_barrier_removed(
                Session(store, index), index
            )

        return body

    threads = [clock.thread(worker(1, 0), "w1"), clock.thread(worker(2, 1), "w2")]
    for t in threads:
        t.start()
    clock.sleep(10)
    chief.remove_barrier(chief_sess)
    for t in threads:
        t.join()
    assert clocked_log.lines == [
        (0.0, "The worker 1 waits until barrier removed."),
        (1.0, "The worker 2 waits until barrier removed."),
    ]
