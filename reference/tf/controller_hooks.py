"""TensorFlow tier of ``monolith/native_training/hooks/controller_hooks.py``.

Same behaviour as :mod:`reference.controller_hooks`, on a real graph:

* :class:`ControllerHook` owns a local two-flag bool variable ``control_var``
  (``[stop, trigger_save]``, from ``tf.compat.v1.get_local_variable``, on ps 0 when
  ``num_ps > 0``) with assign ops for each flag, fetches it with every run and reacts in
  ``after_run``: a set stop flag places the barrier with action ``"Stop"`` and polls for
  up to 30 s (every 2 s) until all workers block, then removes it; otherwise a set
  trigger-save flag is reset and ``trigger_save`` is called. The stop flag is never
  cleared. Like the original, the variable's name ignores the name scope, so a second
  ``ControllerHook`` in one graph raises ``ValueError``.
* :class:`StopHelper` turns a ``"Stop"`` barrier action into ``request_stop``.
* :class:`QueryActionHook` polls ``<model_dir>/monolith_action`` (through ``tf.io.gfile``)
  from a daemon thread and runs the controller's ops on the live session.

Time, events and threads come from an injectable clock (:mod:`reference.runtime.clock`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from collections.abc import Callable
from typing import Any

import tensorflow as tf
from google.protobuf import text_format

from reference.protos import controller_hooks_pb2
from reference.runtime.clock import REAL_CLOCK
from reference.tf.barrier_ops import BarrierOp

log = logging.getLogger(__name__)

STOP_ACTION = "Stop"
# Seconds between two polls of the action file; read at each poll, so it can be patched.
QUERY_INTERVAL: float = 60
# How long the chief waits for every worker to block, and how often it looks.
STOP_WAIT_SECONDS = 30
STOP_POLL_SECONDS = 2

ACTION_FILE = "monolith_action"
RESPONSE_FILE = "monolith_action_response"

PS_JOB_NAME = "ps"


def ps_device(index: int) -> str:
    """The device string of parameter server ``index``, as Monolith spells it."""
    return f"/job:{PS_JOB_NAME}/task:{index}/device:CPU:0"


class ControllerHook(tf.compat.v1.train.SessionRunHook):
    """Reacts to the stop and trigger-save flags after every run."""

    def __init__(
        self,
        num_ps: int = 0,
        barrier_op: BarrierOp | None = None,
        trigger_save: Callable[[], Any] | None = None,
        clock: Any = REAL_CLOCK,
    ) -> None:
        self._barrier_op = barrier_op
        self._trigger_save = trigger_save
        self._clock = clock
        placement = tf.device(ps_device(0)) if num_ps > 0 else contextlib.nullcontext()
        with tf.name_scope("monolith_controller_hook"), placement:
            self._control_var = tf.compat.v1.get_local_variable(
                "control_var", initializer=[False, False], trainable=False
            )
            self._stop_op = self._control_var[0].assign(True)
            self._trigger_save_op = self._control_var[1].assign(True)
            self._reset_trigger_save_op = self._control_var[1].assign(False)

    @property
    def device(self) -> str:
        """Where ``control_var`` lives (``""`` unless placed on a parameter server)."""
        return self._control_var.device

    @property
    def control_var(self) -> tf.Variable:
        return self._control_var

    @property
    def stop_op(self) -> Any:
        return self._stop_op

    @property
    def trigger_save_op(self) -> Any:
        return self._trigger_save_op

    def before_run(self, run_context: Any) -> tf.compat.v1.train.SessionRunArgs:
        return tf.compat.v1.train.SessionRunArgs(self._control_var)

    def after_run(self, run_context: Any, run_values: Any) -> None:
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


class _StopHook(tf.compat.v1.train.SessionRunHook):
    def __init__(self, should_stop_fn: Callable[[], bool]) -> None:
        self._should_stop_fn = should_stop_fn

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if self._should_stop_fn():
            run_context.request_stop()


class StopHelper:
    """Links a barrier callback (sets should-stop on ``"Stop"``) to a stop hook."""

    def __init__(self) -> None:
        self._should_stop = False

    def create_barrier_callback(self) -> Callable[[str, Any], None]:
        def callback(action: str, session: Any) -> None:
            if action != STOP_ACTION:
                return
            self._should_stop = True
            log.info("Receive the request to stop the training.")

        return callback

    def create_stop_hook(self) -> tf.compat.v1.train.SessionRunHook:
        return _StopHook(lambda: self._should_stop)


class QueryActionHook(tf.compat.v1.train.SessionRunHook):
    """Polls ``<model_dir>/monolith_action`` and runs the action it asks for.

    ``clock`` needs ``event()``, ``thread(target, name, daemon)``, ``time()`` and
    ``sleep()``. ``query_interval`` overrides the module's :data:`QUERY_INTERVAL`.
    """

    def __init__(
        self,
        model_dir: str,
        hook: ControllerHook,
        clock: Any = REAL_CLOCK,
        query_interval: float | None = None,
    ) -> None:
        self._query_path = os.path.join(model_dir, ACTION_FILE)
        self._resp_path = os.path.join(model_dir, RESPONSE_FILE)
        self._hook = hook
        self._clock = clock
        self._query_interval = query_interval
        self._session: Any = None
        self._th: Any = None
        self._close = clock.event()

    def after_create_session(self, session: Any, coord: Any) -> None:
        self._session = session
        # The thread name keeps the original's spelling.
        self._th = self._clock.thread(self._query_loop, name="QuertActionHookThread", daemon=True)
        self._th.start()

    def end(self, session: Any) -> None:
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
            except BaseException:  # everything is logged and the loop keeps polling
                log.error(traceback.format_exc())

    def _query(self) -> None:
        if not tf.io.gfile.exists(self._query_path):
            return
        # Text mode decodes strictly as UTF-8, before the cleanup guard: an unreadable
        # file is left in place.
        with tf.io.gfile.GFile(self._query_path, "r") as f:
            text_proto = f.read()
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
                # Kept quirk (unknown-action-typeerror): one argument too many, so this
                # raises TypeError and no response is written.
                self._write_resp("Unknown action: ", text_proto)  # type: ignore[call-arg]
                return
            self._write_resp("OK")
        finally:
            tf.io.gfile.remove(self._query_path)

    def _write_resp(self, content: str) -> None:
        with tf.io.gfile.GFile(self._resp_path, "w") as f:
            f.write(content)
