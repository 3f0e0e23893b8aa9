"""``reference.controller_hooks``: ControllerHook, StopHelper and QueryActionHook.

Every wait is on a virtual clock driven by the test's thread: the 30 s barrier wait and
the query interval cost no real time, and the query thread polls at exact instants.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import google.protobuf
import pytest
from google.protobuf import text_format

from reference import controller_hooks
from reference.barrier_ops import BarrierHook, BarrierOp
from reference.controller_hooks import ControllerHook, QueryActionHook, StopHelper
from reference.protos import controller_hooks_pb2
from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession, Session, VariableStore
from reference.runtime.virtual_clock import VirtualClock

CONTROLLER_LOGGER = "reference.controller_hooks"
RECEIVE = "Receive the request to stop the training."
TRYING = "Trying to stop all workers."
TYPE_ERROR_LINE = (
    "TypeError: QueryActionHook._write_resp() takes 2 positional arguments but 3 were given"
)
DECODE_ERROR_LINE = (
    "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
)


def _control_flags(hook: ControllerHook, session: Any) -> list[bool]:
    """The hook's ``[stop, trigger_save]`` flags, read through what it fetches (on a fresh
    session of the same worker and store: the monitored one is closed by then)."""
    args = hook.before_run(None)  # type: ignore[arg-type]
    return Session(session.store, session.worker).run(args.fetches)


class Recorder:
    """A barrier callback recording (action, virtual time)."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float | None]] = []

    def __call__(self, action: str, session: Any) -> None:
        self.calls.append((action, self.clock.time() if self.clock else None))


class SpyBarrierOp(BarrierOp):
    """Records when ``is_all_blocked`` is polled and when the barrier is removed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls: list[float] = []
        self.removed_at: list[float] = []

    def is_all_blocked(self, session: Any) -> bool:
        self.polls.append(self._clock.time())
        return super().is_all_blocked(session)

    def remove_barrier(self, session: Any) -> None:
        self.removed_at.append(self._clock.time())
        super().remove_barrier(session)


# -- module constants -------------------------------------------------------------------


def test_module_constants() -> None:
    assert controller_hooks.STOP_ACTION == "Stop"
    assert controller_hooks.QUERY_INTERVAL == 60


# -- ControllerHook -----------------------------------------------------------------------


def test_control_var_starts_clear_and_the_ops_set_one_flag_each() -> None:
    session = Session()
    hook = ControllerHook()
    assert _control_flags(hook, session) == [False, False]
    session.run(hook.stop_op)
    assert _control_flags(hook, session) == [True, False]
    hook2 = ControllerHook()
    session2 = Session()
    session2.run(hook2.trigger_save_op)
    assert _control_flags(hook2, session2) == [False, True]


def test_control_var_is_local_to_each_worker() -> None:
    store = VariableStore()
    chief, worker = ControllerHook(), ControllerHook()
    Session(store, 0).run(chief.stop_op)
    assert _control_flags(worker, Session(store, 1)) == [False, False]
    assert _control_flags(chief, Session(store, 0)) == [True, False]


def test_trigger_save_resets_the_flag_then_calls_trigger_save_once() -> None:
    flags_seen: list[list[bool]] = []
    session = Session()
    hook = ControllerHook(trigger_save=lambda: flags_seen.append(_control_flags(hook, session)))
    dummy = Variable("dummy", 1)
    with MonitoredSession([hook], session) as sess:
        sess.run(hook.trigger_save_op)  # the caller's op runs before the hook's fetch
        assert flags_seen == [[False, False]]
        sess.run(dummy)
        sess.run(hook.trigger_save_op)
        assert len(flags_seen) == 2
        assert not sess.should_stop()


def test_trigger_save_without_a_callback_just_resets_the_flag() -> None:
    session = Session()
    hook = ControllerHook()
    with MonitoredSession([hook], session) as sess:
        sess.run(hook.trigger_save_op)
        assert _control_flags(hook, session) == [False, False]


def test_stop_places_the_barrier_runs_callbacks_logs_and_removes_it(
    clock: VirtualClock, logs: Any
) -> None:
    helper = StopHelper()
    recorder = Recorder(clock)
    op = SpyBarrierOp(
        1, barrier_callbacks=[recorder, helper.create_barrier_callback()], clock=clock
    )
    hook = ControllerHook(barrier_op=op, clock=clock)
    session = Session()
    with MonitoredSession([hook, helper.create_stop_hook()], session) as sess:
        sess.run(hook.stop_op)
        # Under the harness convention the stop flag is read after stop_op ran: one run.
        assert sess.should_stop()
    assert recorder.calls == [("Stop", 0.0)]
    assert logs.messages(CONTROLLER_LOGGER) == [RECEIVE, TRYING]
    assert op.polls == [0.0]  # capacity 1: the chief's own flag makes it all blocked
    assert op.removed_at == [0.0]
    assert op.is_barrier_removed(Session(session.store))
    assert clock.time() == 0


def test_stop_waits_30s_polling_every_2s_when_workers_never_block(
    clock: VirtualClock, logs: Any
) -> None:
    recorder = Recorder(clock)
    op = SpyBarrierOp(2, barrier_callbacks=[recorder], clock=clock)
    hook = ControllerHook(barrier_op=op, clock=clock)
    session = Session()
    clock.sleep(1000)  # a start that is not zero
    with MonitoredSession([hook], session) as sess:
        sess.run(hook.stop_op)
        # Polls at 0, 2, ..., 28 (all blocked never true); at 30 the time check ends the loop.
        assert clock.time() - 1000 == 30
        assert op.polls == [1000.0 + 2 * i for i in range(15)]
        assert op.removed_at == [1030.0]
        assert op.is_barrier_removed(Session(session.store))
        assert not sess.should_stop()
    assert recorder.calls == [("Stop", 1000.0)]
    assert logs.messages(CONTROLLER_LOGGER) == [TRYING]


def test_stop_flag_is_never_cleared_so_every_later_run_places_the_barrier_again(
    clock: VirtualClock, logs: Any
) -> None:
    recorder = Recorder(clock)
    op = BarrierOp(1, barrier_callbacks=[recorder], clock=clock)
    trigger_save = mock.MagicMock()
    hook = ControllerHook(barrier_op=op, trigger_save=trigger_save, clock=clock)
    session = Session()
    dummy = Variable("dummy", 1)
    with MonitoredSession([hook], session) as sess:
        sess.run(hook.stop_op)
        sess.run(dummy)
        # A set stop flag shadows trigger-save: the flag stays set and nothing is called.
        sess.run(hook.trigger_save_op)
        sess.run(dummy)
    assert recorder.calls == [("Stop", 0.0)] * 4
    assert logs.messages(CONTROLLER_LOGGER) == [TRYING] * 4
    trigger_save.assert_not_called()
    assert _control_flags(hook, session) == [True, True]


def test_stop_without_a_barrier_op_does_nothing_but_still_shadows_trigger_save(
    logs: Any,
) -> None:
    trigger_save = mock.MagicMock()
    hook = ControllerHook(trigger_save=trigger_save)
    session = Session()
    with MonitoredSession([hook], session) as sess:
        sess.run(hook.stop_op)
        sess.run(hook.trigger_save_op)
        sess.run(Variable("dummy", 1))
        assert not sess.should_stop()
    trigger_save.assert_not_called()
    assert _control_flags(hook, session) == [True, True]
    assert logs.messages(CONTROLLER_LOGGER) == []


def test_stop_helper_callback_ignores_other_actions(logs: Any) -> None:
    helper = StopHelper()
    callback = helper.create_barrier_callback()
    stop_hook = helper.create_stop_hook()
    with MonitoredSession([stop_hook]) as sess:
        callback("stop", None)
        callback("", None)
        callback("Stop ", None)
        sess.run(Variable("dummy", 1))
        assert not sess.should_stop()
        assert logs.messages(CONTROLLER_LOGGER) == []
        callback("Stop", None)
        assert logs.messages(CONTROLLER_LOGGER) == [RECEIVE]
        sess.run(Variable("dummy", 1))
        assert sess.should_stop()


def test_a_worker_blocked_at_the_stop_barrier_stops_after_it_is_removed(
    clock: VirtualClock, logs: Any
) -> None:
    store = VariableStore()
    dummy = Variable("dummy", 1)
    chief_helper = StopHelper()
    chief_op = SpyBarrierOp(
        2, barrier_callbacks=[chief_helper.create_barrier_callback()], clock=clock
    )
    controller = ControllerHook(barrier_op=chief_op, clock=clock)
    worker_steps: list[float] = []

    def worker() -> None:
        helper = StopHelper()
        op = BarrierOp(2, False, barrier_callbacks=[helper.create_barrier_callback()], clock=clock)
        hooks = [BarrierHook(1, op), helper.create_stop_hook()]
        with MonitoredSession(hooks, Session(store, 1)) as sess:
            for _ in range(10):  # bounded: a broken stop must fail, not spin forever
                if sess.should_stop():
                    break
                sess.run(dummy)
                worker_steps.append(clock.time())
                clock.sleep(1)

    t = clock.thread(worker, "worker1")
    t.start()
    chief_hooks = [controller, chief_helper.create_stop_hook()]
    with MonitoredSession(chief_hooks, Session(store, 0)) as sess:
        sess.run(controller.stop_op)
        assert sess.should_stop()
        # Polled at 0 (worker running) and 2 (worker blocked since 1).
        assert chief_op.polls == [0.0, 2.0]
        assert chief_op.removed_at == [2.0]
    t.join()
    # At 2 the worker's poll runs before the chief's (threads go before the driver): still
    # placed, so the worker sleeps to 3, then finishes the run it started at 1.
    assert worker_steps == [0.0, 3.0]
    assert clock.time() == 4.0  # the worker's sleep after that run, then it sees the stop
    assert logs.messages() == [
        RECEIVE,
        TRYING,
        RECEIVE,
        "The worker 1 waits until barrier removed.",
    ]


# -- QueryActionHook ----------------------------------------------------------------------


class World:
    """A chief with a ControllerHook and a QueryActionHook polling ``model_dir``."""

    def __init__(self, clock: VirtualClock, model_dir: Path, interval: float | None) -> None:
        self.clock = clock
        self.model_dir = model_dir
        model_dir.mkdir(parents=True, exist_ok=True)
        self.trigger_save = mock.MagicMock()
        self.helper = StopHelper()
        self.op = BarrierOp(
            1, barrier_callbacks=[self.helper.create_barrier_callback()], clock=clock
        )
        self.controller = ControllerHook(
            barrier_op=self.op, trigger_save=self.trigger_save, clock=clock
        )
        self.query = QueryActionHook(
            str(model_dir), self.controller, clock=clock, query_interval=interval
        )
        self.session = Session()
        self.sess = MonitoredSession(
            [self.controller, self.helper.create_stop_hook(), self.query], self.session
        )
        self.dummy = Variable("dummy", 1)

    @property
    def action_path(self) -> Path:
        return self.model_dir / "monolith_action"

    @property
    def response_path(self) -> Path:
        return self.model_dir / "monolith_action_response"

    def write_action(self, content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.action_path.write_bytes(data)

    def response(self) -> bytes | None:
        return self.response_path.read_bytes() if self.response_path.exists() else None

    def flags(self) -> list[bool]:
        return _control_flags(self.controller, self.session)


@pytest.fixture
def world(clock: VirtualClock, tmp_path: Path) -> Iterator[World]:
    w = World(clock, tmp_path / "model", interval=10)
    w.sess.__enter__()
    yield w
    w.sess.close()


def _parse_error(text: str) -> str:
    with pytest.raises(text_format.ParseError) as exc:
        text_format.Parse(text, controller_hooks_pb2.ControllerHooksProto())
    return str(exc.value)


def _error_lines(logs: Any) -> list[str]:
    """The last line of each ERROR log (a traceback), checking it is a traceback."""
    lines = []
    for message in logs.messages(CONTROLLER_LOGGER, level=logging.ERROR):
        assert message.startswith("Traceback (most recent call last):\n")
        lines.append(message.rstrip("\n").rsplit("\n", 1)[-1])
    return lines


def test_no_action_file_means_nothing_happens(world: World, logs: Any) -> None:
    world.clock.sleep(100)
    assert world.response() is None
    assert sorted(os.listdir(world.model_dir)) == []
    assert logs.messages() == []
    world.sess.run(world.dummy)
    world.trigger_save.assert_not_called()


def test_the_file_is_read_at_the_interval_and_not_before(world: World) -> None:
    world.write_action("action: TRIGGER_SAVE")
    world.clock.sleep(9)
    assert world.action_path.exists()
    world.clock.sleep(1)
    assert not world.action_path.exists()
    assert world.flags() == [False, True]


def test_default_interval_is_read_from_the_module_at_each_poll(
    clock: VirtualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = World(clock, tmp_path / "model", interval=None)
    with w.sess:
        w.write_action("action: TRIGGER_SAVE")
        clock.sleep(59)
        assert w.action_path.exists()
        clock.sleep(1)
        assert not w.action_path.exists()  # polled at 60
        # The wait that began at 60 already read 60; the one after reads the patched value.
        monkeypatch.setattr(controller_hooks, "QUERY_INTERVAL", 25)
        w.write_action("action: TRIGGER_SAVE")
        clock.sleep(59)
        assert w.action_path.exists()
        clock.sleep(1)
        assert not w.action_path.exists()  # polled at 120
        w.write_action("action: TRIGGER_SAVE")
        clock.sleep(24)
        assert w.action_path.exists()
        clock.sleep(1)
        assert not w.action_path.exists()  # polled at 145
    assert clock.time() == 145


@pytest.mark.parametrize(
    ("text", "flags"),
    [("action: TRIGGER_SAVE", [False, True]), ("action: STOP", [True, False])],
)
def test_a_known_action_runs_its_op_and_answers_ok(
    world: World, logs: Any, text: str, flags: list[bool]
) -> None:
    world.write_action(text)
    world.clock.sleep(10)
    assert world.response() == b"OK"
    assert not world.action_path.exists()
    assert world.flags() == flags
    assert logs.messages() == []


def test_trigger_save_action_leads_to_one_trigger_save(world: World) -> None:
    world.write_action("action: TRIGGER_SAVE\n")
    world.clock.sleep(10)
    world.sess.run(world.dummy)
    world.sess.run(world.dummy)
    world.trigger_save.assert_called_once()


def test_stop_action_stops_the_session_on_the_next_run(world: World, logs: Any) -> None:
    world.write_action("action: STOP")
    world.clock.sleep(10)
    assert not world.sess.should_stop()
    world.sess.run(world.dummy)
    assert world.sess.should_stop()
    assert logs.messages(CONTROLLER_LOGGER) == [RECEIVE, TRYING]


@pytest.mark.parametrize(
    "text",
    [
        "action: FOO",
        "garbage",
        "action: TRIGGER_SAVE\naction: STOP",
        "action: 7",
        "action {",
    ],
)
def test_a_parse_error_is_answered_with_its_message(world: World, logs: Any, text: str) -> None:
    world.write_action(text)
    world.clock.sleep(10)
    assert world.response() == _parse_error(text).encode()
    assert not world.action_path.exists()
    assert world.flags() == [False, False]
    assert logs.messages() == []


def test_parse_error_text_of_the_pinned_protobuf() -> None:
    assert google.protobuf.__version__ == "7.36.2"
    assert _parse_error("action: FOO") == (
        "1:9 : 'action: FOO': Enum type \"monolith.ControllerHooksProto.Action\" "
        "has no value named FOO."
    )
    assert _parse_error("garbage") == (
        '1:1 : Message type "monolith.ControllerHooksProto" has no field named "garbage".'
    )


def test_the_response_is_overwritten_by_each_answer(world: World) -> None:
    world.write_action("action: FOO")
    world.clock.sleep(10)
    assert world.response() == _parse_error("action: FOO").encode()
    world.write_action("action: STOP")
    world.clock.sleep(10)
    assert world.response() == b"OK"


@pytest.mark.parametrize("text", ["", "action: UNKNOWN", "# nothing but a comment\n", "action: 0"])
def test_an_unknown_action_raises_type_error_writes_nothing_and_removes_the_file(
    world: World, logs: Any, text: str
) -> None:
    world.write_action(text)
    world.clock.sleep(10)
    assert world.response() is None
    assert not world.action_path.exists()
    assert world.flags() == [False, False]
    assert _error_lines(logs) == [TYPE_ERROR_LINE]


def test_the_loop_goes_on_after_an_error(world: World, logs: Any) -> None:
    world.write_action("")
    world.clock.sleep(10)
    assert _error_lines(logs) == [TYPE_ERROR_LINE]
    world.write_action("action: TRIGGER_SAVE")
    world.clock.sleep(10)
    assert world.response() == b"OK"
    assert _error_lines(logs) == [TYPE_ERROR_LINE]


def test_an_unreadable_file_stays_and_the_error_is_logged_at_every_interval(
    world: World, logs: Any
) -> None:
    world.write_action(b"\xffaction: STOP")
    for _ in range(3):
        world.clock.sleep(10)  # each sleep ends after the poll due at the same instant
    assert world.action_path.read_bytes() == b"\xffaction: STOP"
    assert world.response() is None
    assert world.flags() == [False, False]
    assert _error_lines(logs) == [DECODE_ERROR_LINE] * 3
    # Replacing it with a readable file is picked up at the next poll.
    world.write_action("action: STOP")
    world.clock.sleep(10)
    assert world.response() == b"OK"
    assert _error_lines(logs) == [DECODE_ERROR_LINE] * 3


class RecordingClock(VirtualClock):
    """Remembers the threads it starts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threads: list[tuple[str, bool, Any]] = []

    def thread(self, target: Callable[[], None], name: str, daemon: bool = True) -> Any:
        t = super().thread(target, name, daemon)
        self.threads.append((name, daemon, t))
        return t


def test_the_query_thread_starts_with_the_session_and_end_joins_it(tmp_path: Path) -> None:
    clock = RecordingClock(real_timeout=5.0)
    try:
        lone = QueryActionHook(
            str(tmp_path / "lone"), ControllerHook(clock=clock), clock=clock, query_interval=10
        )
        lone.end(Session())  # end before after_create_session: nothing to join
        assert clock.threads == []
        # Constructing the monitored session runs after_create_session: the thread starts.
        w2 = World(clock, tmp_path / "model", interval=10)
        ((name, daemon, thread),) = clock.threads
        assert (name, daemon) == ("QuertActionHookThread", True)
        assert thread.is_alive()
        with w2.sess:
            clock.sleep(15)
        assert not thread.is_alive()
        assert clock.time() == 15  # end woke the thread at once, no interval wait
        # No one polls any more.
        w2.write_action("action: STOP")
        clock.sleep(100)
        assert w2.action_path.exists()
        assert clock.thread_errors == []
    finally:
        clock.shutdown()
