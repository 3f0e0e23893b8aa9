"""``controller_hooks_test.py`` of Monolith, ported onto the simulated runtime.

Same scenarios and assertions. The query-action test runs on a virtual clock: the test's
thread created the clock and drives it, so ``clock.sleep`` lets virtual time pass and the
query thread's poll happens without any real waiting.
"""

from __future__ import annotations

import os
from unittest import mock

import pytest

from reference import controller_hooks
from reference.barrier_ops import BarrierOp
from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession
from reference.runtime.virtual_clock import VirtualClock


def test_stop(clock: VirtualClock) -> None:
    helper = controller_hooks.StopHelper()
    op = BarrierOp(1, barrier_callbacks=[helper.create_barrier_callback()], clock=clock)
    h1 = controller_hooks.ControllerHook(barrier_op=op, clock=clock)
    h2 = helper.create_stop_hook()
    dummy = Variable("dummy", 1)
    with MonitoredSession([h1, h2]) as sess:
        sess.run(dummy)
        assert not sess.should_stop()
        sess.run(h1.stop_op)
        # As in the original: the stop flag may be fetched before stop_op runs, in which
        # case one more run is needed.
        if not sess.should_stop():
            sess.run(dummy)
            assert sess.should_stop()


def test_save() -> None:
    trigger_save = mock.MagicMock()
    h = controller_hooks.ControllerHook(trigger_save=trigger_save)
    dummy = Variable("dummy", 1)
    with MonitoredSession([h]) as sess:
        sess.run(h.trigger_save_op)
        sess.run(dummy)
        sess.run(dummy)
        trigger_save.assert_called_once()


@pytest.mark.parametrize("patch", ["module_constant", "constructor_argument"])
def test_query_action_hook_stop(
    clock: VirtualClock, tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch, patch: str
) -> None:
    model_dir = os.path.join(tmp_path, "QueryActionHookTest_testStop")
    trigger_save = mock.MagicMock()
    h = controller_hooks.ControllerHook(trigger_save=trigger_save, clock=clock)
    if patch == "module_constant":
        monkeypatch.setattr(controller_hooks, "QUERY_INTERVAL", 0.1)
        qh = controller_hooks.QueryActionHook(model_dir, h, clock=clock)
    else:
        qh = controller_hooks.QueryActionHook(model_dir, h, clock=clock, query_interval=0.1)
    dummy = Variable("dummy", 0)
    with MonitoredSession([h, qh]) as sess:
        os.makedirs(model_dir, exist_ok=True)
        query_path = os.path.join(model_dir, "monolith_action")
        with open(query_path, "w") as f:
            f.write("action: TRIGGER_SAVE")
        now = clock.time()
        while clock.time() - now < 60 and os.path.exists(query_path):
            clock.sleep(0.1)
        assert not os.path.exists(query_path)
        sess.run(dummy)
        sess.run(dummy)
        trigger_save.assert_called_once()
