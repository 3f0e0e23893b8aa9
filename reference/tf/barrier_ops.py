"""TensorFlow tier of ``monolith/native_training/barrier_ops.py``.

Same behaviour as :mod:`reference.barrier_ops`, on a real graph: a bool vector variable
of ``capacity`` flags (flag 0: the chief placed the barrier; flag ``i > 0``: worker ``i``
is blocked), a string variable holding the barrier's action, an int32 index placeholder
and a string action placeholder feeding the assign ops. Callbacks ``(action, session)``
run when the barrier is placed and when a worker arrives at it.

Built like the original: the variables come from ``tf.compat.v1.get_variable`` inside a
``tf.name_scope``, which does not prefix variable names, so the vector is always named
``barrier_var`` and a second ``BarrierOp`` in the same graph raises ``ValueError``
("Variable barrier_var already exists") unless built under a reusing variable scope, in
which case it shares the first one's variables. The vector is a local variable on the
chief and a global one elsewhere; the action variable is always local.

Polling sleeps and the lock go through an injectable clock (:mod:`reference.runtime.clock`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from reference.barrier_ops import BarrierAlreadyPlacedError
from reference.runtime.clock import REAL_CLOCK

log = logging.getLogger(__name__)

BarrierCallback = Callable[[str, Any], None]

# A blocked worker repeats its "waits until barrier removed" line at most this often.
WAIT_LOG_EVERY_SECONDS = 60

__all__ = ["BarrierAlreadyPlacedError", "BarrierHook", "BarrierOp"]


def _make_lock(clock: Any) -> Any:
    make = getattr(clock, "lock", None)
    return make() if make is not None else threading.Lock()


class BarrierOp:
    """A barrier the chief places and workers block at. Thread-safe.

    ``clock`` needs ``time()`` and ``sleep()``; its ``lock()`` is used when it has one.
    """

    def __init__(
        self,
        capacity: int,
        is_chief: bool = True,
        wait_seconds: float = 1,
        name_prefix: str = "default",
        barrier_callbacks: Sequence[BarrierCallback] | None = None,
        clock: Any = REAL_CLOCK,
    ) -> None:
        self._capacity = capacity
        self._wait_seconds = wait_seconds
        self._clock = clock
        keys = tf.compat.v1.GraphKeys
        with tf.name_scope(f"{name_prefix}_barrier_op"):
            where = [keys.LOCAL_VARIABLES] if is_chief else [keys.GLOBAL_VARIABLES]
            self._barrier_vars = tf.compat.v1.get_variable(
                "barrier_var",
                dtype=tf.bool,  # what the initializer gives; explicit so a reuse matches
                initializer=[False] * capacity,
                collections=where,
            )
            self._idx_ph = tf.compat.v1.placeholder(tf.int32, shape=[], name="index_placeholder")
            self._place_op = self._barrier_vars[self._idx_ph].assign(True)
            self._remove_op = self._barrier_vars[self._idx_ph].assign(False)
            self._barrier_placed_tensor = self._barrier_vars[0]
            self._action = tf.compat.v1.get_variable(
                "barrier_op_action",
                dtype=tf.string,
                initializer="",
                trainable=False,
                collections=[keys.LOCAL_VARIABLES],
            )
            self._action_placeholder = tf.compat.v1.placeholder(
                tf.string, [], "barrier_op_action_placeholder"
            )
            self._action_assign = self._action.assign(self._action_placeholder, read_value=False)
        # The caller's list itself, when it has callbacks (as in the original, which
        # keeps ``barrier_callbacks or []``): one appended later runs too. An empty list
        # is replaced by a new one, so appending to it later does nothing here.
        self._barrier_callbacks = barrier_callbacks or []
        self._lock = _make_lock(clock)
        self._last_wait_log: float | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def barrier_placed_tensor(self) -> tf.Tensor:
        return self._barrier_placed_tensor

    @property
    def barrier_vars(self) -> tf.Variable:
        return self._barrier_vars

    def place_barrier(self, session: Any, action: str = "") -> None:
        """Sets flag 0 and the action, then runs the callbacks; raises if already placed."""
        with self._lock:
            if self.is_barrier_placed(session):
                raise BarrierAlreadyPlacedError()
            session.run(
                [self._place_op, self._action_assign],
                feed_dict={self._action_placeholder: action, self._idx_ph: 0},
            )
            self._run_barrier_callbacks(action, session)

    def remove_barrier(self, session: Any) -> None:
        """Clears flag 0 under the lock, without checking that it was set."""
        with self._lock:
            session.run(self._remove_op, feed_dict={self._idx_ph: 0})

    def is_barrier_placed(self, session: Any) -> bool:
        return bool(session.run(self._barrier_placed_tensor))

    def is_barrier_removed(self, session: Any) -> bool:
        return not session.run(self._barrier_placed_tensor)

    def wait_until_barrier_removed(self, session: Any, index: int) -> None:
        """Blocks worker ``index`` (``0 < index < capacity``) until flag 0 is cleared."""
        with self._lock:
            if not 0 < index < self._capacity:
                raise ValueError(
                    f"Index [{index}] must be non-negative and less than "
                    f"capacity [{self._capacity}]. "
                )
            session.run(self._place_op, feed_dict={self._idx_ph: index})
            action = session.run(self._action).decode()
            self._run_barrier_callbacks(action, session)
        # The poll and the clearing of the own flag run without the lock, so another
        # waiter on this object can arrive, and remove_barrier is not blocked meanwhile.
        while not self.is_barrier_removed(session):
            self._log_waiting(index)
            self._clock.sleep(self._wait_seconds)
        session.run(self._remove_op, feed_dict={self._idx_ph: index})

    def is_all_blocked(self, session: Any) -> bool:
        return int(session.run(self._barrier_vars).sum()) == self._capacity

    def is_none_blocked(self, session: Any) -> bool:
        return int(session.run(self._barrier_vars).sum()) == 0

    def get_unblocked_indices(self, session: Any) -> list[int]:
        flags = session.run(self._barrier_vars)
        return [i for i in range(self._capacity) if not flags[i]]

    def get_blocked_indices(self, session: Any) -> list[int]:
        flags = session.run(self._barrier_vars)
        return [i for i in range(self._capacity) if flags[i]]

    def _run_barrier_callbacks(self, action: str, session: Any) -> None:
        for callback in self._barrier_callbacks:
            callback(action, session)

    def _log_waiting(self, index: int) -> None:
        # absl's log_every_n_seconds: the first call logs, then at most once per period.
        now = self._clock.time()
        if self._last_wait_log is None or now - self._last_wait_log >= WAIT_LOG_EVERY_SECONDS:
            self._last_wait_log = now
            log.info("The worker %s waits until barrier removed.", index)


class BarrierHook(tf.compat.v1.train.SessionRunHook):
    """Fetches flag 0 with every run; a worker (index > 0) that sees it set waits."""

    def __init__(self, index: int, barrier_op: BarrierOp) -> None:
        self._index = index
        self._barrier_op = barrier_op

    def before_run(self, run_context: Any) -> tf.compat.v1.train.SessionRunArgs:
        return tf.compat.v1.train.SessionRunArgs(self._barrier_op.barrier_placed_tensor)

    def after_run(self, run_context: Any, run_values: Any) -> None:
        if self._index > 0 and run_values.results:
            self._barrier_op.wait_until_barrier_removed(run_context.session, self._index)
