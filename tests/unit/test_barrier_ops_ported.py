"""``barrier_ops_test.py`` of Monolith, ported onto the simulated runtime.

Same scenarios and assertions; TensorFlow's session, variables and threads are replaced by
``reference.runtime`` sessions over one variable store and threads of a virtual clock.
"""

from __future__ import annotations

from typing import Any

from reference.barrier_ops import BarrierHook, BarrierOp
from reference.runtime.graph import Op, Variable
from reference.runtime.session import MonitoredSession, Session, VariableStore
from reference.runtime.virtual_clock import VirtualClock


def _global_step() -> tuple[Variable, Op]:
    step = Variable("global_step", 0, local=False)

    def assign_add(store: Any, feed: Any) -> None:
        store.write(step, store.read(step) + 1)

    return step, Op("global_step/assign_add", assign_add)


def _run(train_op: Op, sess: MonitoredSession, steps: int = 1) -> None:
    for _ in range(steps):
        sess.run(train_op)


def test_basic() -> None:
    barrier_op = BarrierOp(2, False)
    sess = Session()
    barrier_op.place_barrier(sess)
    assert barrier_op.is_barrier_placed(sess)
    barrier_op.remove_barrier(sess)
    assert barrier_op.is_barrier_removed(sess)


def test_barrier_hook_not_blocked(clock: VirtualClock) -> None:
    global_step, train_op = _global_step()
    barrier_op = BarrierOp(2, False, clock=clock)
    hook = BarrierHook(1, barrier_op)
    store = VariableStore()
    sess = Session(store)
    with MonitoredSession([hook], Session(store)) as mon_sess:
        worker = clock.thread(lambda: _run(train_op, mon_sess, 5), "worker")
        worker.start()
        worker.join()
        assert sess.run(global_step) == 5


def test_barrier_hook_blocked(clock: VirtualClock) -> None:
    global_step, train_op = _global_step()
    called_variable = Variable("called_variable", False, local=False)
    barrier_action = "test_action"

    def action_callback(action: str, session: Any) -> None:
        if action == barrier_action:
            session.run(called_variable.assign(True))

    barrier_op = BarrierOp(2, False, barrier_callbacks=[action_callback], clock=clock)
    hook = BarrierHook(1, barrier_op)
    store = VariableStore()
    sess = Session(store)
    with MonitoredSession([hook], Session(store)) as mon_sess:
        barrier_op.place_barrier(sess, action=barrier_action)
        worker = clock.thread(lambda: _run(train_op, mon_sess, 5), "worker")
        worker.start()

        deadline = clock.time() + 60  # virtual seconds; the original waits unbounded
        while not barrier_op.is_all_blocked(sess) and clock.time() < deadline:
            clock.sleep(0.1)
        # Hook is pending.
        assert sess.run(global_step) == 1
        assert sess.run(called_variable) is True

        barrier_op.remove_barrier(sess)
        worker.join()
        assert barrier_op.is_none_blocked(sess)
        assert sess.run(global_step) == 5
