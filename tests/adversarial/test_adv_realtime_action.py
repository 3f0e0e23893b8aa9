"""The query hook on the real clock and a real thread: a half-written action file, then the
whole one (a timing test: part of the stress selection, see docs/testing.md).

No fixed sleeps: each phase waits (bounded, with :func:`harness.polling.wait_until`)
for the hook's own completion signal, the removal of ``monolith_action``, which happens
after the response is written and closed. The files are put in place atomically (written
aside, then renamed), as the harness does: a non-atomic write could be read empty, which
is a different case (the UNKNOWN action).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness.polling import wait_until
from reference.controller_hooks import ControllerHook, QueryActionHook
from reference.runtime.clock import REAL_CLOCK
from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession, Session

pytestmark = pytest.mark.timeout(60)

BOUND = 20.0  # real seconds any one phase may take, however loaded the machine


def put(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_half_written_then_complete_action_on_the_real_clock(tmp_path: Path) -> None:
    saves: list[int] = []
    controller = ControllerHook(trigger_save=lambda: saves.append(1), clock=REAL_CLOCK)
    query = QueryActionHook(str(tmp_path), controller, REAL_CLOCK, query_interval=0.01)
    action, response = tmp_path / "monolith_action", tmp_path / "monolith_action_response"
    dummy = Variable("dummy", 1)
    session = MonitoredSession([controller, query], Session())
    with session:
        put(action, b"action: TRIG")
        wait_until(lambda: not action.exists(), BOUND, "the half-written file to be handled")
        assert re.fullmatch(
            r"1:9 : 'action: TRIG': Enum type \"monolith\.ControllerHooksProto\.Action\" "
            r"has no value named TRIG\.",
            response.read_text(encoding="utf-8"),
        )
        session.run(dummy)
        assert saves == []

        put(action, b"action: TRIGGER_SAVE")
        wait_until(lambda: not action.exists(), BOUND, "the complete file to be handled")
        assert response.read_bytes() == b"OK"
        session.run(dummy)
        assert saves == [1]
        session.run(dummy)
        assert saves == [1]  # the flag was reset
    # end() stopped and joined the polling thread.
    assert not query._th.is_alive()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monolith_action_response"]
