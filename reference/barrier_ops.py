"""Reference of ``monolith/native_training/barrier_ops.py``: a chief-placed barrier.

A bool vector of ``capacity`` flags plus an action string: flag 0 is the chief's
"barrier placed" flag, flag ``i > 0`` says worker ``i`` is blocked at the barrier.
Callbacks ``(action, session)`` run when the barrier is placed and when a worker
arrives at it. Polling waits go through an injected :class:`~reference.runtime.clock.Clock`.

In the simulated runtime every worker holds its own ``BarrierOp`` object (own lock,
own callbacks) over one shared barrier vector and action string, as in the original's
single-process tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reference.runtime.clock import REAL_CLOCK, Clock
from reference.runtime.graph import Placeholder, Variable
from reference.runtime.session_run_hook import (
    Session,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

log = logging.getLogger(__name__)

BarrierCallback = Callable[[str, Any], None]

# How often a blocked worker repeats its "waits until barrier removed" log line.
WAIT_LOG_EVERY_SECONDS = 60


class BarrierAlreadyPlacedError(Exception):
    """``place_barrier`` was called while flag 0 was already set."""


class BarrierOp:
    """A barrier the chief places and workers block at. Thread-safe."""

    def __init__(
        self,
        capacity: int,
        is_chief: bool = True,
        wait_seconds: float = 1,
        name_prefix: str = "default",
        barrier_callbacks: list[BarrierCallback] | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._capacity = capacity
        self._is_chief = is_chief
        self._wait_seconds = wait_seconds
        self._clock = clock
        scope = f"{name_prefix}_barrier_op"
        self._barrier_vars = Variable(f"{scope}/barrier_var", [False] * capacity, local=False)
        self._idx_ph = Placeholder(f"{scope}/index_placeholder")
        self._place_op = self._barrier_vars[self._idx_ph].assign(True)
        self._remove_op = self._barrier_vars[self._idx_ph].assign(False)
        self._barrier_placed_tensor = self._barrier_vars[0]
        # The caller's list itself, when it has callbacks (as in the original, which
        # keeps ``barrier_callbacks or []``): one appended later runs too. An empty list
        # is replaced by a new one, so appending to it later does nothing here.
        self._barrier_callbacks = barrier_callbacks or []
        self._action = Variable(f"{scope}/barrier_op_action", "", local=False)
        self._action_placeholder = Placeholder(f"{scope}/barrier_op_action_placeholder")
        self._action_assign = self._action.assign(self._action_placeholder)
        self._lock = clock.lock()
        self._last_wait_log: float | None = None

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def barrier_placed_tensor(self) -> Any:
        return self._barrier_placed_tensor

    def place_barrier(self, session: Session, action: str = "") -> None:
        with self._lock:
            if self.is_barrier_placed(session):
                raise BarrierAlreadyPlacedError()
            session.run(
                [self._place_op, self._action_assign],
                feed_dict={self._action_placeholder: action, self._idx_ph: 0},
            )
            self._run_barrier_callbacks(action, session)

    def remove_barrier(self, session: Session) -> None:
        """Clears flag 0 under the lock, without checking that it was set."""
        with self._lock:
            session.run(self._remove_op, feed_dict={self._idx_ph: 0})

    def is_barrier_placed(self, session: Session) -> bool:
        return bool(session.run(self._barrier_placed_tensor))

    def is_barrier_removed(self, session: Session) -> bool:
        return not session.run(self._barrier_placed_tensor)

    def wait_until_barrier_removed(self, session: Session, index: int) -> None:
        with self._lock:
            if index <= 0 or index >= self._capacity:
                raise ValueError(
                    f"Index [{index}] must be non-negative and less than "
                    f"capacity [{self._capacity}]. "
                )
            session.run(self._place_op, feed_dict={self._idx_ph: index})
            action = session.run(self._action)
            self._run_barrier_callbacks(action, session)
        # The poll and the clearing of the own flag run without the lock, so another
        # waiter on this object can arrive, and remove_barrier is not blocked meanwhile.
        while not self.is_barrier_removed(session):
            self._log_waiting(index)
            self._clock.sleep(self._wait_seconds)
        session.run(self._remove_op, feed_dict={self._idx_ph: index})

    def is_all_blocked(self, session: Session) -> bool:
        return sum(session.run(self._barrier_vars)) == self._capacity

    def is_none_blocked(self, session: Session) -> bool:
        return sum(session.run(self._barrier_vars)) == 0

    def get_unblocked_indices(self, session: Session) -> list[int]:
        barriers = session.run(self._barrier_vars)
        return [i for i in range(self._capacity) if not barriers[i]]

    def get_blocked_indices(self, session: Session) -> list[int]:
        barriers = session.run(self._barrier_vars)
        return [i for i in range(self._capacity) if barriers[i]]

    def _run_barrier_callbacks(self, action: str, session: Session) -> None:
        for callback in self._barrier_callbacks:
            callback(action, session)

    def _log_waiting(self, index: int) -> None:
        # Like absl's log_every_n_seconds: the first call logs, then at most once a period.
        now = self._clock.time()
        if self._last_wait_log is None or now - self._last_wait_log >= WAIT_LOG_EVERY_SECONDS:
            self._last_wait_log = now
            log.info("The worker %s waits until barrier removed.", index)


class BarrierHook(SessionRunHook):
    """Blocks a worker (index > 0) after each run while the barrier is placed."""

    def __init__(self, index: int, barrier_op: BarrierOp) -> None:
        self._index = index
        self._barrier_op = barrier_op

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self._barrier_op.barrier_placed_tensor)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._index > 0 and run_values.results:
            self._barrier_op.wait_until_barrier_removed(run_context.session, self._index)
