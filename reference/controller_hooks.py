"""Reference of ``monolith/native_training/hooks/controller_hooks.py``.

* :class:`ControllerHook` keeps a local two-flag ``control_var``: ``[stop, trigger_save]``.
  After each run it reacts to the flags: a set stop flag places the barrier with action
  ``"Stop"`` and waits (up to 30 s, polling every 2 s) for every worker to block, then
  removes it; otherwise a set trigger-save flag is reset and ``trigger_save`` is called.
  The stop flag is never cleared, so it also shadows trigger-save from then on.
* :class:`StopHelper` turns a ``"Stop"`` barrier action into ``request_stop``.
* :class:`QueryActionHook` polls ``<model_dir>/monolith_action`` from a daemon thread.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from typing import Any

from google.protobuf import text_format

from reference.barrier_ops import BarrierOp
from reference.protos import controller_hooks_pb2
from reference.runtime.clock import REAL_CLOCK, Clock
from reference.runtime.graph import Variable
from reference.runtime.session_run_hook import (
    Session,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

log = logging.getLogger(__name__)

STOP_ACTION = "Stop"
# Seconds between two polls of the action file; read at each poll, so it can be patched.
QUERY_INTERVAL: float = 60
# How long the chief waits for all workers to block, and how often it checks.
STOP_WAIT_SECONDS = 30
STOP_POLL_SECONDS = 2

ACTION_FILE = "monolith_action"
RESPONSE_FILE = "monolith_action_response"


class ControllerHook(SessionRunHook):
    """Reacts to the stop and trigger-save flags after every run."""

    def __init__(
        self,
        num_ps: int = 0,
        barrier_op: BarrierOp | None = None,
        trigger_save: Callable[[], Any] | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._barrier_op = barrier_op
        self._trigger_save = trigger_save
        self._clock = clock
        self.device = "/job:ps/task:0" if num_ps > 0 else ""
        # On the parameter server (num_ps > 0) the flags are shared by every task that
        # builds a ControllerHook; otherwise each task has its own.
        self._control_var = Variable(
            "monolith_controller_hook/control_var", [False, False], local=num_ps == 0
        )
        self._stop_op = self._control_var[0].assign(True)
        self._trigger_save_op = self._control_var[1].assign(True)
        self._reset_trigger_save_op = self._control_var[1].assign(False)

    @property
    def stop_op(self) -> Any:
        return self._stop_op

    @property
    def trigger_save_op(self) -> Any:
        return self._trigger_save_op

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._control_var)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        stop, trigger_save = run_values.results
        if stop:
            if self._barrier_op:
                session = run_context.session
                self._barrier_op.place_barrier(session, action=STOP_ACTION)
                log.info("Trying to stop all workers.")
                start = self._clock.time()
                while self._clock.time() - start < STOP_WAIT_SECONDS and not (
                    self._barrier_op.is_all_blocked(session)
                ):
                    self._clock.sleep(STOP_POLL_SECONDS)
                self._barrier_op.remove_barrier(session)
        elif trigger_save:
            run_context.session.run(self._reset_trigger_save_op)
            if self._trigger_save:
                self._trigger_save()


class _StopHook(SessionRunHook):
    def __init__(self, should_stop_fn: Callable[[], bool]) -> None:
        self._should_stop_fn = should_stop_fn

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._should_stop_fn():
            run_context.request_stop()


class StopHelper:
    """Links a barrier callback (sets should-stop on "Stop") to a stop hook."""

    def __init__(self) -> None:
        self._should_stop = False

    def create_barrier_callback(self) -> Callable[[str, Any], None]:
        def callback(action: str, session: Any) -> None:
            if action != STOP_ACTION:
                return
            self._should_stop = True
            log.info("Receive the request to stop the training.")

        return callback

    def create_stop_hook(self) -> SessionRunHook:
        return _StopHook(lambda: self._should_stop)


class QueryActionHook(SessionRunHook):
    """Polls ``<model_dir>/monolith_action`` and runs the action it asks for.

    ``query_interval`` overrides the module's :data:`QUERY_INTERVAL` (read at each poll).
    """

    def __init__(
        self,
        model_dir: str,
        hook: ControllerHook,
        clock: Clock = REAL_CLOCK,
        query_interval: float | None = None,
    ) -> None:
        self._query_path = os.path.join(model_dir, ACTION_FILE)
        self._resp_path = os.path.join(model_dir, RESPONSE_FILE)
        self._hook = hook
        self._clock = clock
        self._query_interval = query_interval
        self._session: Session | None = None
        self._th: Any = None
        self._close = clock.event()

    def after_create_session(self, session: Session, coord: Any) -> None:
        self._session = session
        # The thread name keeps the original's spelling.
        self._th = self._clock.thread(self._query_loop, name="QuertActionHookThread", daemon=True)
        self._th.start()

    def end(self, session: Session) -> None:
        self._close.set()
        if self._th:
            self._th.join()

    def _interval(self) -> float:
        return QUERY_INTERVAL if self._query_interval is None else self._query_interval

    def _query_loop(self) -> None:
        while True:
            if self._close.wait(timeout=self._interval()):
                break
            try:
                self._query()
            except BaseException:  # the original logs everything and keeps polling
                log.error(traceback.format_exc())

    def _query(self) -> None:
        if not os.path.exists(self._query_path):
            return
        # Read as strict UTF-8 before the cleanup guard: an unreadable file stays put.
        with open(self._query_path, "rb") as f:
            text_proto = f.read().decode("utf-8")
        try:
            proto = controller_hooks_pb2.ControllerHooksProto()
            try:
                text_format.Parse(text_proto, proto)
            except text_format.ParseError as e:
                self._write_resp(str(e))
                return
            if proto.action == controller_hooks_pb2.ControllerHooksProto.TRIGGER_SAVE:
                self._session.run(self._hook.trigger_save_op)
            elif proto.action == controller_hooks_pb2.ControllerHooksProto.STOP:
                self._session.run(self._hook.stop_op)
            else:
                # Quirk unknown-action-typeerror: the original passes one argument too many
                # here, so a TypeError is raised and no response is written.
                self._write_resp("Unknown action: ", text_proto)  # type: ignore[call-arg]
                return
            self._write_resp("OK")
        finally:
            os.remove(self._query_path)

    def _write_resp(self, content: str) -> None:
        with open(self._resp_path, "w", encoding="utf-8", newline="") as f:
            f.write(content)
