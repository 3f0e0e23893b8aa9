"""TF tier of controller_hooks: the original's tests, plus parity with the reference."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from unittest import mock

import pytest

tf = pytest.importorskip("tensorflow")

from tf_helpers import FakeClock, wait_for  # noqa: E402

from reference import barrier_ops as ref_barrier_ops  # noqa: E402
from reference import controller_hooks as ref_controller_hooks  # noqa: E402
from reference.runtime.session import MonitoredSession as RefMonitoredSession  # noqa: E402
from reference.tf import barrier_ops, controller_hooks  # noqa: E402

pytestmark = [pytest.mark.tf]


# -------------------------------------------------------- ported from controller_hooks_test


def test_stop(graph):
    helper = controller_hooks.StopHelper()
    op = barrier_ops.BarrierOp(1, barrier_callbacks=[helper.create_barrier_callback()])
    h1 = controller_hooks.ControllerHook(barrier_op=op)
    h2 = helper.create_stop_hook()
    dummy = tf.Variable(1)
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[h1, h2]) as sess:
        sess.run(dummy)
        assert not sess.should_stop()
        sess.run(h1.stop_op)
        # The hook may have fetched the flag before stop_op ran; then one more run stops.
        if not sess.should_stop():
            sess.run(dummy)
            assert sess.should_stop()


def test_save(graph):
    trigger_save = mock.MagicMock()
    h = controller_hooks.ControllerHook(trigger_save=trigger_save)
    dummy = tf.Variable(1)
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[h]) as sess:
        sess.run(h.trigger_save_op)
        sess.run(dummy)
        sess.run(dummy)
        trigger_save.assert_called_once()


def test_query_action_trigger_save(graph, tmp_path, monkeypatch):
    monkeypatch.setattr(controller_hooks, "QUERY_INTERVAL", 0.1)
    model_dir = str(tmp_path / "QueryActionHookTest_testStop")
    trigger_save = mock.MagicMock()
    h = controller_hooks.ControllerHook(trigger_save=trigger_save)
    qh = controller_hooks.QueryActionHook(model_dir, h)
    dummy = tf.constant(0)
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[h, qh]) as sess:
        tf.io.gfile.makedirs(model_dir)
        query_path = os.path.join(model_dir, "monolith_action")
        # Written aside, then renamed (the original writes in place): the polling thread
        # could otherwise read the file created but not yet written, more often the more
        # loaded the machine, and answer an empty action instead.
        with tf.io.gfile.GFile(query_path + ".tmp", "w") as f:
            f.write("action: TRIGGER_SAVE")
        os.replace(query_path + ".tmp", query_path)
        assert wait_for(lambda: not tf.io.gfile.exists(query_path), timeout=60)
        sess.run(dummy)
        sess.run(dummy)
        trigger_save.assert_called_once()
    assert Path(model_dir, "monolith_action_response").read_bytes() == b"OK"


# ------------------------------------------------------------------- behaviour and quirks


def test_control_var_built_like_the_original(graph):
    h = controller_hooks.ControllerHook()
    assert h.control_var.name == "control_var:0"
    assert h.device == ""
    assert [v.name for v in tf.compat.v1.local_variables()] == ["control_var:0"]
    with pytest.raises(ValueError, match="control_var already exists"):
        controller_hooks.ControllerHook()


def test_control_var_on_ps0_when_num_ps(graph):
    h = controller_hooks.ControllerHook(num_ps=2)
    assert h.device == "/job:ps/task:0/device:CPU:0"
    assert h.stop_op.device == "/job:ps/task:0/device:CPU:0"


def test_control_var_on_ps0_in_a_cluster(graph):
    """With a real in-process cluster (one ps, one worker) the hook runs against ps 0."""
    from reference.tf.cluster import cluster

    target = cluster({"ps": 1}).target
    trigger_save = mock.MagicMock()
    with tf.device("/job:worker/task:0"):
        dummy = tf.constant(0)
    h = controller_hooks.ControllerHook(num_ps=1, trigger_save=trigger_save)
    try:
        with tf.compat.v1.train.SingularMonitoredSession(hooks=[h], master=target) as sess:
            sess.run(h.trigger_save_op)
            sess.run(dummy)
    finally:
        tf.compat.v1.Session.reset(target)
    trigger_save.assert_called_once()


def test_stop_flag_shadows_trigger_save(graph):
    trigger_save = mock.MagicMock()
    h = controller_hooks.ControllerHook(trigger_save=trigger_save)
    dummy = tf.constant(0)
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[h]) as sess:
        sess.run(h.stop_op)
        sess.run(h.trigger_save_op)
        for _ in range(3):
            sess.run(dummy)
        assert not sess.should_stop()  # no barrier op: nothing asks for a stop
    trigger_save.assert_not_called()


def _stop_wait(hook_module, barrier_module, make_session, dummy, logs, prefix):
    """A stop with a 2-worker barrier nobody joins: 15 polls of 2 s, then removal."""
    clock = FakeClock()
    seen = []
    op = barrier_module.BarrierOp(2, barrier_callbacks=[lambda a, s: seen.append(a)])
    h = hook_module.ControllerHook(barrier_op=op, clock=clock)
    with make_session([h]) as sess:
        raw = sess.raw_session() if callable(sess.raw_session) else sess.raw_session
        # Set the flag outside the hooks: within one TF run, whether the hook's fetch of
        # control_var sees an assign fetched by the caller is not defined.
        raw.run(h.stop_op)
        sess.run(dummy)
        sess.run(dummy)  # the stop flag is never cleared: the hook stops again
        placed = op.is_barrier_placed(raw)
    return seen, clock.sleeps, placed, logs.messages(prefix)


def test_stop_wait_matches_reference(graph, logs):
    ref = _stop_wait(
        ref_controller_hooks,
        ref_barrier_ops,
        lambda hooks: RefMonitoredSession(hooks),
        None,
        logs,
        "reference.controller_hooks",
    )
    got = _stop_wait(
        controller_hooks,
        barrier_ops,
        lambda hooks: tf.compat.v1.train.SingularMonitoredSession(hooks=hooks),
        tf.constant(0),
        logs,
        "reference.tf.controller_hooks",
    )
    assert got == ref
    assert got[0] == ["Stop", "Stop"]
    assert got[1] == [2] * 30
    assert got[2] is False
    assert got[3] == [("INFO", "Trying to stop all workers.")] * 2


def test_stop_helper_logs_like_reference(logs):
    for module in (ref_controller_hooks, controller_hooks):
        helper = module.StopHelper()
        callback = helper.create_barrier_callback()
        callback("other", None)
        callback("Stop", None)
    assert logs.messages("reference.controller_hooks") == logs.messages(
        "reference.tf.controller_hooks"
    )
    assert logs.messages("reference.tf.") == [("INFO", "Receive the request to stop the training.")]


# ------------------------------------------------------------ action files vs the reference

ACTION_CASES = {
    "trigger_save": b"action: TRIGGER_SAVE",
    "stop": b"action: STOP",
    "stop_numeric": b"action: 2\n",
    "unknown_enum_name": b"action: FOO",
    "garbage": b"this is not a text proto",
    "bad_field": b"actions: STOP",
    "empty": b"",
    "unknown_value": b"action: UNKNOWN",
    "not_utf8": base64.b64decode("//5hY3Rpb24="),
}


def _error_types(messages):
    """The exception type of each logged traceback (its last line up to the colon)."""
    return [m.strip().splitlines()[-1].split(":")[0] for level, m in messages if level == "ERROR"]


def _drive_action(model_dir: Path, content: bytes, open_session, query_hook_cls, hook_cls, logs):
    """Writes the action file, waits (bounded) until it is handled, reports the outcome."""
    prefix = query_hook_cls.__module__
    calls = mock.MagicMock()
    hook = hook_cls(trigger_save=calls)
    qh = query_hook_cls(str(model_dir), hook, query_interval=0.02)
    action = model_dir / "monolith_action"
    with open_session([hook, qh]) as (run, dummy):
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp = model_dir / "action.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, action)
        response = model_dir / "monolith_action_response"
        assert wait_for(
            lambda: not action.exists() or _error_types(logs.messages(prefix)), timeout=30
        )
        for _ in range(2):
            run(dummy)
        stop_flag = run(hook._control_var)[0]
    return {
        "response": response.read_bytes() if response.exists() else None,
        "action_left": action.exists(),
        "trigger_save_calls": calls.call_count,
        "stop_flag": bool(stop_flag),
        "errors": _error_types(logs.messages(prefix))[:1],
    }


class _TFSession:
    def __init__(self, hooks):
        self._dummy = tf.constant(0)
        self._sess = tf.compat.v1.train.SingularMonitoredSession(hooks=hooks)

    def __enter__(self):
        return self._sess.run, self._dummy

    def __exit__(self, *exc):
        self._sess.close()


class _RefSession:
    def __init__(self, hooks):
        self._sess = RefMonitoredSession(hooks)

    def __enter__(self):
        self._sess.__enter__()
        return self._sess.run, None

    def __exit__(self, *exc):
        self._sess.close()


@pytest.mark.parametrize("case", sorted(ACTION_CASES))
def test_action_file_matches_reference(graph, tmp_path, logs, case):
    content = ACTION_CASES[case]
    ref = _drive_action(
        tmp_path / "ref",
        content,
        _RefSession,
        ref_controller_hooks.QueryActionHook,
        lambda trigger_save: ref_controller_hooks.ControllerHook(trigger_save=trigger_save),
        logs,
    )
    got = _drive_action(
        tmp_path / "tf",
        content,
        _TFSession,
        controller_hooks.QueryActionHook,
        lambda trigger_save: controller_hooks.ControllerHook(trigger_save=trigger_save),
        logs,
    )
    assert got == ref
    expected = {
        "trigger_save": (b"OK", [], 1, False),
        "stop": (b"OK", [], 0, True),
        "stop_numeric": (b"OK", [], 0, True),
        "empty": (None, ["TypeError"], 0, False),
        "unknown_value": (None, ["TypeError"], 0, False),
        "not_utf8": (None, ["UnicodeDecodeError"], 0, False),
    }
    if case in expected:
        assert (got["response"], got["errors"], got["trigger_save_calls"], got["stop_flag"]) == (
            expected[case]
        )
    else:  # parse errors: protobuf's message is the response, the file is gone
        assert got["response"] and got["errors"] == []
    assert got["action_left"] is (case == "not_utf8")
