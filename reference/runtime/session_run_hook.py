"""The hook lifecycle, as TensorFlow's ``session_run_hook`` defines it.

A monitored session drives every hook in this order::

    begin()                               once, before the session exists
    after_create_session(session, coord)  once, the session is ready
    loop:
      before_run(run_context) -> SessionRunArgs | None   for each hook, in order
      session.run(fetches + every hook's requested fetches)
      after_run(run_context, run_values)                 for each hook, in order
    end(session)                          on a normal close, and when the session's
                                          ``with`` block ends with OutOfRangeError or
                                          StopIteration; never on any other error

Checkpoint saver listeners are called around each save:
``begin()`` once, ``before_save(session, step)``, the save, ``after_save(session, step)``,
and ``end(session, step)`` after the final save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Session(Protocol):
    """What hooks may do with a session: run fetches."""

    def run(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any: ...


@dataclass(frozen=True)
class SessionRunArgs:
    """Fetches (and feeds) a hook adds to the next ``session.run``."""

    fetches: Any
    feed_dict: dict[Any, Any] | None = None


@dataclass(frozen=True)
class SessionRunValues:
    """What a hook's requested fetches evaluated to."""

    results: Any


@dataclass
class SessionRunContext:
    """Passed to ``before_run``/``after_run``; lets a hook request a stop."""

    original_args: SessionRunArgs
    session: Session
    stop_requested: bool = field(default=False)

    def request_stop(self) -> None:
        self.stop_requested = True


class SessionRunHook:
    """Base class: every lifecycle method is a no-op."""

    def begin(self) -> None:
        pass

    def after_create_session(self, session: Session, coord: Any) -> None:
        pass

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        pass

    def end(self, session: Session) -> None:
        pass


class CheckpointSaverListener:
    """Base class for listeners a checkpoint saver calls around each save."""

    def begin(self) -> None:
        pass

    def before_save(self, session: Session, global_step_value: int) -> bool | None:
        return None

    def after_save(self, session: Session, global_step_value: int) -> bool | None:
        return None

    def end(self, session: Session, global_step_value: int) -> None:
        pass
