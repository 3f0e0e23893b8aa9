"""TF tier of barrier_ops: the original's tests, plus parity with the reference."""

from __future__ import annotations

import threading

import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow.python.training import monitored_session  # noqa: E402
from tf_helpers import FakeClock, wait_for  # noqa: E402

from reference import barrier_ops as ref_barrier_ops  # noqa: E402
from reference.runtime.session import Session as RefSession  # noqa: E402
from reference.tf import barrier_ops  # noqa: E402

pytestmark = [pytest.mark.tf]


def _init(sess):
    sess.run(tf.compat.v1.global_variables_initializer())
    sess.run(tf.compat.v1.local_variables_initializer())


def _run(train_op, sess, steps=1):
    for _ in range(steps):
        sess.run(train_op)


# ------------------------------------------------------------ ported from barrier_ops_test


def test_the_callers_callback_list_is_kept_not_copied_unless_empty(graph):
    """As the original's ``barrier_callbacks or []`` and the reference: a callback appended
    to a non-empty list after construction runs, one appended to an empty list does not."""
    log = []
    callbacks = [lambda action, sess: log.append(("first", action))]
    empty = []
    for given, late in ((callbacks, "later"), (empty, "never")):
        with tf.Graph().as_default():  # one BarrierOp a graph, as in the original
            op = barrier_ops.BarrierOp(2, barrier_callbacks=given)
            given.append(lambda action, sess, late=late: log.append((late, action)))
            with tf.compat.v1.Session() as sess:
                _init(sess)
                op.place_barrier(sess, action="Stop")
    assert log == [("first", "Stop"), ("later", "Stop")]


def test_basic(graph):
    barrier_op = barrier_ops.BarrierOp(2, False)
    with tf.compat.v1.Session() as sess:
        _init(sess)
        barrier_op.place_barrier(sess)
        assert barrier_op.is_barrier_placed(sess)
        with pytest.raises(barrier_ops.BarrierAlreadyPlacedError):
            barrier_op.place_barrier(sess)
        barrier_op.remove_barrier(sess)
        assert barrier_op.is_barrier_removed(sess)


def test_barrier_hook_not_blocked(graph):
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train_op = tf.compat.v1.assign_add(global_step, 1)
    barrier_op = barrier_ops.BarrierOp(2, False)
    hook = barrier_ops.BarrierHook(1, barrier_op)
    with tf.compat.v1.Session() as sess:
        _init(sess)
        mon_sess = monitored_session._HookedSession(sess, [hook])
        worker = threading.Thread(target=_run, args=(train_op, mon_sess, 5), daemon=True)
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert sess.run(global_step) == 5


def test_barrier_hook_blocked(graph):
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train_op = tf.compat.v1.assign_add(global_step, 1)
    called_variable = tf.Variable(False, trainable=False)
    set_called = called_variable.assign(True)
    barrier_action = "test_action"

    def action_callback(action, session):
        if action == barrier_action:
            session.run(set_called)

    barrier_op = barrier_ops.BarrierOp(
        2, False, wait_seconds=0.02, barrier_callbacks=[action_callback]
    )
    hook = barrier_ops.BarrierHook(1, barrier_op)
    with tf.compat.v1.Session() as sess:
        _init(sess)
        mon_sess = monitored_session._HookedSession(sess, [hook])
        barrier_op.place_barrier(sess, action=barrier_action)
        worker = threading.Thread(target=_run, args=(train_op, mon_sess, 5), daemon=True)
        worker.start()
        assert wait_for(lambda: barrier_op.is_all_blocked(sess))
        # The hook is pending after the first run.
        assert sess.run(global_step) == 1
        assert sess.run(called_variable)
        assert barrier_op.get_blocked_indices(sess) == [0, 1]
        barrier_op.remove_barrier(sess)
        worker.join(timeout=30)
        assert not worker.is_alive()
        assert barrier_op.is_none_blocked(sess)
        assert sess.run(global_step) == 5


# ------------------------------------------------------------------- behaviour and quirks


def test_already_placed_error_is_the_reference_class():
    assert barrier_ops.BarrierAlreadyPlacedError is ref_barrier_ops.BarrierAlreadyPlacedError


def test_chief_hook_never_waits(graph):
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train_op = tf.compat.v1.assign_add(global_step, 1)
    barrier_op = barrier_ops.BarrierOp(2)
    with tf.compat.v1.Session() as sess:
        _init(sess)
        barrier_op.place_barrier(sess)
        mon_sess = monitored_session._HookedSession(sess, [barrier_ops.BarrierHook(0, barrier_op)])
        _run(train_op, mon_sess, 3)
        assert sess.run(global_step) == 3
        assert barrier_op.get_blocked_indices(sess) == [0]


def test_variables_built_like_the_original(graph):
    chief = barrier_ops.BarrierOp(3, is_chief=True, name_prefix="x")
    assert chief.barrier_vars.name == "barrier_var:0"
    local_names = [v.name for v in tf.compat.v1.local_variables()]
    assert local_names == ["barrier_var:0", "barrier_op_action:0"]
    # get_variable ignores the name scope: a second barrier in one graph clashes.
    with pytest.raises(ValueError, match="barrier_var already exists"):
        barrier_ops.BarrierOp(3, name_prefix="y")


def test_non_chief_vector_is_global(graph):
    barrier_ops.BarrierOp(2, is_chief=False)
    assert [v.name for v in tf.compat.v1.global_variables()] == ["barrier_var:0"]
    assert [v.name for v in tf.compat.v1.local_variables()] == ["barrier_op_action:0"]


@pytest.mark.parametrize("index", [0, -1, 3, 4])
def test_index_errors_match_reference(graph, index):
    op = barrier_ops.BarrierOp(3)
    ref_op = ref_barrier_ops.BarrierOp(3)
    with pytest.raises(ValueError) as ref_err:
        ref_op.wait_until_barrier_removed(RefSession(), index)
    with tf.compat.v1.Session() as sess:
        _init(sess)
        with pytest.raises(ValueError) as tf_err:
            op.wait_until_barrier_removed(sess, index)
        assert op.is_none_blocked(sess)
    assert str(tf_err.value) == str(ref_err.value)


def _queries(op, session):
    return {
        "placed": op.is_barrier_placed(session),
        "removed": op.is_barrier_removed(session),
        "all": op.is_all_blocked(session),
        "none": op.is_none_blocked(session),
        "blocked": op.get_blocked_indices(session),
        "unblocked": op.get_unblocked_indices(session),
    }


def _wait_scenario(op, session, logs_prefix, logs, removal_after):
    """Place, block worker 2 on a thread until virtual ``removal_after`` s; record all."""
    seen = []
    op._barrier_callbacks.append(lambda action, s: seen.append(action))
    record = [_queries(op, session)]
    op.place_barrier(session, action="Stop")
    record.append(_queries(op, session))
    with pytest.raises(barrier_ops.BarrierAlreadyPlacedError):
        op.place_barrier(session, action="again")

    def on_sleep(clock):
        if clock.now >= removal_after and op.is_barrier_placed(session):
            record.append(_queries(op, session))
            op.remove_barrier(session)

    op._clock.on_sleep = on_sleep
    waiter = threading.Thread(target=op.wait_until_barrier_removed, args=(session, 2))
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    record.append(_queries(op, session))
    return record, seen, op._clock.sleeps, logs.messages(logs_prefix)


def test_wait_matches_reference(graph, logs):
    """Queries, callbacks, polling sleeps and the throttled wait log match the reference."""
    ref_op = ref_barrier_ops.BarrierOp(4, wait_seconds=7, clock=FakeClock())
    ref = _wait_scenario(ref_op, RefSession(), "reference.barrier_ops", logs, 130)
    op = barrier_ops.BarrierOp(4, wait_seconds=7, clock=FakeClock())
    with tf.compat.v1.Session() as sess:
        _init(sess)
        got = _wait_scenario(op, sess, "reference.tf.barrier_ops", logs, 130)
    assert got == ref
    record, seen, sleeps, messages = got
    assert seen == ["Stop", "Stop"]
    assert sleeps == [7] * 19
    assert messages == [("INFO", "The worker 2 waits until barrier removed.")] * 3
    assert record[2]["blocked"] == [0, 2]
