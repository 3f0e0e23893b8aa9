"""TF tier of hook_utils: the original's test, forwarding, repr, a real saver hook."""

from __future__ import annotations

import re

import pytest

tf = pytest.importorskip("tensorflow")

from reference import hook_utils as ref_hook_utils  # noqa: E402
from reference.runtime import session_run_hook as ref_session_run_hook  # noqa: E402
from reference.tf import hook_utils  # noqa: E402

pytestmark = [pytest.mark.tf]


class Recorder(tf.compat.v1.train.CheckpointSaverListener):
    def __init__(self):
        self.calls = []

    def begin(self):
        self.calls.append(("begin",))

    def before_save(self, session, global_step_value):
        self.calls.append(("before_save", global_step_value))

    def after_save(self, session, global_step_value):
        self.calls.append(("after_save", global_step_value))

    def end(self, session, global_step_value):
        self.calls.append(("end", global_step_value))


class RefRecorder(ref_session_run_hook.CheckpointSaverListener):
    def __init__(self):
        self.calls = []

    def begin(self):
        self.calls.append(("begin",))

    def before_save(self, session, global_step_value):
        self.calls.append(("before_save", global_step_value))

    def after_save(self, session, global_step_value):
        self.calls.append(("after_save", global_step_value))

    def end(self, session, global_step_value):
        self.calls.append(("end", global_step_value))


def test_before_after_saver_listener(graph):
    """Ported: mainly checks that the wrappers accept every call."""
    base = tf.compat.v1.train.CheckpointSaverListener()
    l1 = hook_utils.BeforeSaveListener(base)
    l2 = hook_utils.AfterSaveListener(base)
    with tf.compat.v1.Session() as sess:
        l1.before_save(sess, 0)
        l1.after_save(sess, 0)
        l2.before_save(sess, 0)
        l2.after_save(sess, 0)


def _drive(before_cls, after_cls, recorder_cls):
    inner_b, inner_a = recorder_cls(), recorder_cls()
    wrappers = [before_cls(inner_b), after_cls(inner_a)]
    for w in wrappers:
        w.begin()
        w.before_save(None, 3)
        w.after_save(None, 3)
        w.end(None, 4)
    return inner_b.calls, inner_a.calls


def test_forwarding_matches_reference():
    got = _drive(hook_utils.BeforeSaveListener, hook_utils.AfterSaveListener, Recorder)
    ref = _drive(ref_hook_utils.BeforeSaveListener, ref_hook_utils.AfterSaveListener, RefRecorder)
    assert got == ref == ([("before_save", 3)], [("after_save", 3)])


@pytest.mark.parametrize("cls", [hook_utils.BeforeSaveListener, hook_utils.AfterSaveListener])
def test_repr_is_default_repr_then_inner(cls):
    inner = Recorder()
    wrapper = cls(inner)
    assert isinstance(wrapper, tf.compat.v1.train.CheckpointSaverListener)
    pattern = rf"<reference\.tf\.hook_utils\.{cls.__name__} object at 0x[0-9a-f]+>"
    assert re.fullmatch(pattern + re.escape(repr(inner)), repr(wrapper))
    assert repr(wrapper) == object.__repr__(wrapper) + repr(inner)


def test_in_a_real_checkpoint_saver_hook(graph, tmp_path):
    """CheckpointSaverHook calls begin/before/after/end; each wrapper forwards one of them."""
    global_step = tf.compat.v1.train.get_or_create_global_step()
    train_op = tf.compat.v1.assign_add(global_step, 1)
    before, after = Recorder(), Recorder()
    saver_hook = tf.compat.v1.train.CheckpointSaverHook(
        str(tmp_path),
        save_steps=2,
        listeners=[hook_utils.BeforeSaveListener(before), hook_utils.AfterSaveListener(after)],
    )
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[saver_hook]) as sess:
        for _ in range(3):
            sess.run(train_op)
    # Saves after creation (step 0), at step 2 and at the end (step 3).
    assert before.calls == [("before_save", 0), ("before_save", 2), ("before_save", 3)]
    assert after.calls == [("after_save", 0), ("after_save", 2), ("after_save", 3)]
