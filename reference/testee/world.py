"""The base of a scenario family's world, and the event helpers it uses.

One world per family (:mod:`reference.testee.worlds`) serves every tier: it builds the
family's hooks through the scenario's hook set (``self.hooks``, see
:mod:`reference.testee.hookset`) and runs them through a few runtime methods
(:meth:`World.building`, :meth:`World.plain_session`, :meth:`World.chief_monitored`,
...). Here those methods are the simulated runtime of :mod:`reference.runtime`; the
TensorFlow tier's worlds (:mod:`reference.tf.worlds`) override only them, with real
graphs and sessions, so the steps themselves exist once.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from reference.runtime.graph import Variable
from reference.runtime.session import MonitoredSession, OutOfRangeError, Session, VariableStore
from reference.runtime.virtual_clock import VirtualClock

# The error texts the hooks themselves define are part of the contract; any other text
# (the interpreter's or protobuf's wording) is not, and only the error's type is compared.
# By type name: each tier (reference, TensorFlow, the original) defines its own classes.
CONTRACT_MESSAGES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ValueError", re.compile(r"Unable to find hash tables\. It may be caused by .*")),
    ("ValueError", re.compile(r"Index \[-?\d+\] must be non-negative and less than capacity .*")),
    ("BarrierAlreadyPlacedError", re.compile(r".*", re.DOTALL)),
)


class NotApplicable(Exception):
    """Raised by a world's ``setup``: this tier cannot express the scenario (the reason)."""


def error_event(exc: BaseException) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "error", "type": type(exc).__name__}
    message = str(exc)
    if any(type(exc).__name__ == t and p.fullmatch(message) for t, p in CONTRACT_MESSAGES):
        event["message"] = message
    return event


class World:
    """A family's hooks, sessions and inputs for one scenario; steps dispatch to ``op_*``."""

    def __init__(
        self,
        config: dict[str, Any],
        files_dir: str,
        clock: VirtualClock,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.config = config
        self.files_dir = files_dir
        self.model_dir = os.path.normpath(os.path.join(files_dir, config.get("model_dir", ".")))
        self.clock = clock
        self.emit = emit
        self.steps: list[dict[str, Any]] = []  # the scenario's script, for a world to inspect
        self.hooks: Any = None  # the tier's hook set, given by the executor before setup
        self.store = VariableStore()  # what every simulated session of the scenario shares

    def setup(self) -> None:
        pass

    # -- the tier's runtime (here: the simulated one) ---------------------------------
    #: What a dataset that has run out raises from ``session.run``.
    out_of_range: ClassVar[type[BaseException]] = OutOfRangeError

    def building(self) -> AbstractContextManager[Any]:
        """Entered around everything that builds graph objects (hooks, tables, fetches)."""
        return contextlib.nullcontext()

    def constant(self, name: str) -> Any:
        """A fetch that does nothing: the model's ``dummy`` op."""
        return Variable(name, 1)

    def plain_session(self, worker: int = 0) -> Any:
        """A session without hooks, for worker ``worker``'s view of the shared variables."""
        return Session(self.store, worker=worker)

    def chief_monitored(self, hooks: Sequence[Any]) -> Any:
        """The chief's monitored session over ``hooks``, already entered (``begin`` and
        ``after_create_session`` have run)."""
        session = MonitoredSession(hooks, Session(self.store, worker=0))
        session.__enter__()
        return session

    def worker_session(self, hooks: Sequence[Any], index: int) -> AbstractContextManager[Any]:
        """Worker ``index``'s monitored session over ``hooks``, to be entered."""
        return MonitoredSession(hooks, Session(self.store, worker=index))

    def sharing_barrier(self) -> AbstractContextManager[Any]:
        """Entered around a worker's ``BarrierOp``: it shares the chief's variables."""
        return self.building()

    def run_fetch(self, session: Any, fetch: Any, assigns: bool = False) -> None:
        """One ``session.run`` of a step's fetch (``assigns``: the fetch sets a flag the
        hooks read in the same run)."""
        session.run(fetch)

    def init_locals(self, session: Any, variables: Sequence[Any]) -> None:
        """Re-initialise ``variables`` from worker ``session`` (what a task's local init op
        does when its session starts)."""
        for var in variables:
            session.raw_session.write(var, copy.deepcopy(var.initial))

    def assign_after(self, session: Any, fetch: Any) -> None:
        """Run an assigning ``fetch`` on the monitored ``session``'s own session, outside
        the hooks (what a run's assign does after the hooks read, ``order: read_first``)."""
        session.raw_session.run(fetch)

    def close_error(self, name: str | None) -> tuple[type[BaseException], BaseException] | None:
        return close_error(name)

    def is_closed(self, session: Any) -> bool:
        """Whether the monitored ``session`` was closed (its ``with`` block has ended)."""
        return bool(session._closed)

    def end(self, session: Any, step: dict[str, Any]) -> None:
        """The ``with`` block of ``session`` ends, normally or with the step's error; with
        ``if_open``, only if it has not ended already (a run's error may have ended it)."""
        if step.get("if_open") and self.is_closed(session):
            return
        error = self.close_error(step.get("error"))
        if error is None:
            session.__exit__(None, None, None)
        else:
            session.__exit__(error[0], error[1], None)

    def in_block(self, session: Any, step: dict[str, Any], body: Callable[[], None]) -> None:
        """Runs ``body`` (a step's runs) inside the session's ``with`` block.

        With ``"on_error": "end"`` an exception from ``body`` leaves the block as it does
        in ``with session: ...``: ``__exit__`` sees it (TensorFlow calls ``end`` on the
        hooks and swallows it only for ``OutOfRangeError`` / ``StopIteration``) and, unless
        swallowed, it is raised on. Without it the block goes on after the error."""
        if step.get("on_error") != "end":
            body()
            return
        try:
            body()
        except Exception as e:
            if not session.__exit__(type(e), e, e.__traceback__):
                raise

    def run_while_not_stopped(
        self, session: Any, step: dict[str, Any], run_once: Callable[[], None]
    ) -> None:
        """A training loop: ``while not session.should_stop()`` (checked before every
        run, at most ``max_runs`` runs), inside the block as :meth:`in_block` says."""

        def loop() -> None:
            for _ in range(int(step["max_runs"])):
                if session.should_stop():
                    break
                run_once()

        self.in_block(session, step, loop)

    def step(self, step: dict[str, Any]) -> None:
        handler = getattr(self, "op_" + step["op"], None)
        if handler is None:
            raise ValueError(f"family does not support op {step['op']!r}")
        for _ in range(int(step.get("count", 1))):
            handler(step)

    def teardown(self) -> None:
        pass


class ChiefSessionWorld(World):
    """A world whose steps run one fetch on the chief's monitored ``self.session``: the
    ``run``, ``run_while_not_stopped`` and ``end`` steps of the controller and feature-dump
    families. ``fetches`` maps a step's ``fetch`` names to what they run."""

    #: The fetch a ``run`` step without ``fetch`` runs.
    default_fetch: ClassVar[str]
    #: Fetches that set a flag the hooks read in the same run (see :meth:`World.run_fetch`).
    assigning: ClassVar[frozenset[str]] = frozenset()
    session: Any
    fetches: dict[str, Any]

    def _run_once(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", self.default_fetch)
        if name in self.assigning and step.get("order") == "read_first":
            # The hooks read the flags before the caller's assign takes effect, which it
            # still does within this run: the hooked run fetches nothing that assigns,
            # then the assign runs.
            self.run_fetch(self.session, self.fetches[self.default_fetch])
            self.assign_after(self.session, self.fetches[name])
        else:  # "assign_first" (the harness convention) and "open"
            self.run_fetch(self.session, self.fetches[name], assigns=name in self.assigning)
        self.emit(
            {"event": "run", "worker": 0, "fetch": name, "should_stop": self.session.should_stop()}
        )

    def op_run(self, step: dict[str, Any]) -> None:
        self.in_block(self.session, step, lambda: self._run_once(step))

    def op_run_while_not_stopped(self, step: dict[str, Any]) -> None:
        self.run_while_not_stopped(self.session, step, lambda: self._run_once(step))

    def op_end(self, step: dict[str, Any]) -> None:
        self.end(self.session, step)


def close_error(name: str | None) -> tuple[type[BaseException], BaseException] | None:
    """The exception a ``with`` block ends with, by scenario name (None: a normal end)."""
    if name is None:
        return None
    types: dict[str, type[BaseException]] = {
        "OutOfRangeError": OutOfRangeError,
        "StopIteration": StopIteration,
        "RuntimeError": RuntimeError,
        "KeyboardInterrupt": KeyboardInterrupt,
    }
    if name not in types:
        raise ValueError(f"unknown close error {name!r}; one of {sorted(types)}")
    return types[name], types[name]("scenario close")


class BarrierRecorder:
    """A barrier callback that reports each call as a ``barrier_callback`` event."""

    def __init__(self, emit: Callable[[dict[str, Any]], None], worker: int) -> None:
        self._emit = emit
        self._worker = worker

    def __call__(self, action: str, session: Any) -> None:
        self._emit({"event": "barrier_callback", "worker": self._worker, "action": action})
