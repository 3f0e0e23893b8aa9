"""Simulated sessions: a shared variable store, plain sessions, monitored sessions.

:class:`MonitoredSession` drives hooks through the lifecycle written down in
:mod:`reference.runtime.session_run_hook`, and mirrors TensorFlow's rules for ``end``: it is
called on a normal close and when the ``with`` block ends with ``OutOfRangeError`` or
``StopIteration`` (which are then swallowed), never when it ends with another error. Either
way the underlying session is then closed: a hook thread still running (the query
poller after an error) gets ``RuntimeError("Attempted to use a closed Session.")``.

Harness convention (TensorFlow leaves it unordered): within one run, the caller's own
fetches are evaluated first, then each hook's requested fetches in hook order.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any

from reference.runtime import graph
from reference.runtime.session_run_hook import (
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)


class OutOfRangeError(Exception):
    """A dataset iterator ran out (``tf.errors.OutOfRangeError``)."""


class VariableStore:
    """Variable values of one simulated job; non-local variables are shared by workers."""

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def _key(self, var: graph.Variable, worker: int) -> Any:
        return (worker, var.name) if var.local else var.name

    def read(self, var: graph.Variable, worker: int) -> Any:
        with self._lock:
            key = self._key(var, worker)
            if key not in self._values:
                self._values[key] = copy.deepcopy(var.initial)
            return self._values[key]

    def write(self, var: graph.Variable, worker: int, value: Any) -> None:
        with self._lock:
            self._values[self._key(var, worker)] = value


class Session:
    """A plain session of one worker over a shared :class:`VariableStore`."""

    def __init__(self, store: VariableStore | None = None, worker: int = 0) -> None:
        self.store = store if store is not None else VariableStore()
        self.worker = worker
        self.closed = False

    def close(self) -> None:
        self.closed = True

    # graph.Store
    def read(self, var: graph.Variable) -> Any:
        return self.store.read(var, self.worker)

    def write(self, var: graph.Variable, value: Any) -> None:
        self.store.write(var, self.worker, value)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("Attempted to use a closed Session.")

    def run(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        self._check_open()
        return graph.evaluate(fetches, self, feed_dict or {})

    def run_many(self, fetch_list: Sequence[Any], feed_dict: dict[Any, Any]) -> list[Any]:
        """Evaluate several fetch structures as one run (shared dataset elements)."""
        self._check_open()
        memo: dict[int, Any] = {}
        return [graph.evaluate(f, self, feed_dict, memo) for f in fetch_list]


class MonitoredSession:
    """``SingularMonitoredSession`` over a simulated :class:`Session`."""

    def __init__(self, hooks: Sequence[SessionRunHook], session: Session | None = None) -> None:
        self._hooks = list(hooks)
        self._session = session if session is not None else Session()
        self._should_stop = False
        self._closed = False
        # Like TensorFlow, the constructor begins the hooks and creates the session.
        for hook in self._hooks:
            hook.begin()
        for hook in self._hooks:
            hook.after_create_session(self._session, None)

    @property
    def raw_session(self) -> Session:
        return self._session

    def __enter__(self) -> MonitoredSession:
        return self

    def should_stop(self) -> bool:
        return self._closed or self._should_stop

    def run(self, fetches: Any, feed_dict: dict[Any, Any] | None = None) -> Any:
        if self._closed:
            # TensorFlow drops its session object on close; a later run fails on it.
            raise AttributeError("'NoneType' object has no attribute 'run'")
        if self._should_stop:
            raise RuntimeError("Run called even after should_stop requested.")
        args = SessionRunArgs(fetches, feed_dict)
        context = SessionRunContext(original_args=args, session=self._session)
        hook_args = [hook.before_run(context) for hook in self._hooks]
        feed = dict(feed_dict or {})
        hook_feeds: dict[Any, Any] = {}
        for a in hook_args:
            if a is not None and a.feed_dict:
                _raise_if_intersects(hook_feeds, a.feed_dict, "Same tensor is fed by two hooks.")
                hook_feeds.update(a.feed_dict)
        _raise_if_intersects(hook_feeds, feed, "Same tensor is fed by a SessionRunHook and user.")
        feed.update(hook_feeds)
        results = self._session.run_many(
            [fetches, *[a.fetches if a is not None else None for a in hook_args]], feed
        )
        for hook, value in zip(self._hooks, results[1:], strict=True):
            hook.after_run(context, SessionRunValues(results=value))
        self._should_stop = self._should_stop or context.stop_requested
        return results[0]

    def close(self) -> None:
        self._close(ended_normally=True)

    def _close(self, ended_normally: bool) -> None:
        """TensorFlow's ``_close_internal``: ``end`` on a normal close (again, if closed
        twice), then the session is closed; closing it a second time is an error."""
        try:
            if ended_normally:
                for hook in self._hooks:
                    hook.end(self._session)
        finally:
            if self._closed:
                raise RuntimeError("Session is already closed.")
            self._closed = True
            self._session.close()

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> bool:
        # Exact types, as TensorFlow compares them (a subclass is "another error").
        normal = exc_type in (None, OutOfRangeError, StopIteration)
        self._close(ended_normally=normal)
        return normal and exc_type is not None


def _raise_if_intersects(feeds1: dict[Any, Any], feeds2: dict[Any, Any], message: str) -> None:
    intersection = [k for k in feeds1 if k in feeds2]
    if intersection:
        raise RuntimeError(f"{message} Conflict(s): {intersection}")


class CheckpointSaver:
    """Calls checkpoint saver listeners around each save, like ``CheckpointSaverHook``."""

    def __init__(self, listeners: Sequence[Any], session: Session) -> None:
        self._listeners = list(listeners)
        self._session = session
        self._begun = False
        self.last_step: int | None = None

    def begin(self) -> None:
        self._begun = True
        for listener in self._listeners:
            listener.begin()

    def save(self, global_step: int) -> None:
        if not self._begun:
            self.begin()
        for listener in self._listeners:
            listener.before_save(self._session, global_step)
        for listener in self._listeners:
            listener.after_save(self._session, global_step)
        self.last_step = global_step

    def end(self, global_step: int) -> None:
        for listener in self._listeners:
            listener.end(self._session, global_step)
