"""Runs one scenario's steps against the reference hooks on the simulated runtime.

The harness calls :meth:`Executor.setup` with a validated scenario and a directory,
then :meth:`Executor.step` for each implementation step, then
:meth:`Executor.teardown`. Observations (runs and should-stop, trigger-save calls,
barrier callbacks, log lines, errors) go to ``emit`` as plain dicts; the harness turns
them into the canonical trace. Harness-side steps (writing the action file) never
reach the executor; ``advance`` does, since time belongs to the implementation's clock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from reference.runtime.virtual_clock import ClockError, VirtualClock
from reference.testee.hookset import HookSet
from reference.testee.world import World, error_event
from reference.testee.worlds import WORLDS

Emit = Callable[[dict[str, Any]], None]


class LogToEvents(logging.Handler):
    """Turns the hooks' log records into ``log`` / ``logged_error`` events."""

    def __init__(self, emit: Emit) -> None:
        super().__init__(level=logging.INFO)
        self._emit = emit

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR and message.startswith("Traceback"):
            # The query loop logs a traceback: record which exception it was.
            last = message.rstrip("\n").rsplit("\n", 1)[-1]
            self._emit({"event": "logged_error", "type": last.split(":", 1)[0].rsplit(".", 1)[-1]})
            return
        self._emit({"event": "log", "level": record.levelname, "message": message})


class Executor:
    """One scenario at a time; call every method from the same thread.

    A tier with its own worlds (the TensorFlow tier) subclasses this and overrides
    :attr:`worlds`, :attr:`log_sources` (the loggers its hooks write to),
    :meth:`_prepare` (a new world, before its ``setup``), :meth:`_scope` (entered around
    every call into the world) and :meth:`_release` (after teardown).
    """

    worlds: ClassVar[dict[str, type[World]]] = WORLDS
    hookset: ClassVar[type[HookSet]] = HookSet
    capabilities: ClassVar[dict[str, Any]] = {"virtual_clock": True, "families": sorted(WORLDS)}
    log_sources: ClassVar[tuple[str, ...]] = ("reference",)

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._world: World | None = None
        self._clock: VirtualClock | None = None
        self._handler: LogToEvents | None = None
        self._saved_levels: list[tuple[logging.Logger, int]] = []

    def _prepare(self, world: World) -> None:
        assert self._clock is not None
        world.hooks = self.hookset(self._clock)

    def _scope(self) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def _release(self, world: World) -> None:
        if world.hooks is not None:
            world.hooks.release()

    def setup(self, scenario: dict[str, Any], files_dir: str) -> None:
        """Builds the family's world; a tier may raise ``NotApplicable`` here."""
        self._clock = VirtualClock()
        self._handler = LogToEvents(self._emit)
        for name in self.log_sources:
            logger = logging.getLogger(name)
            self._saved_levels.append((logger, logger.level))
            logger.addHandler(self._handler)
            logger.setLevel(logging.INFO)
        world_cls = self.worlds[scenario["family"]]
        self._world = world_cls(scenario.get("config", {}), files_dir, self._clock, self._emit)
        self._world.steps = list(scenario.get("steps", []))
        try:
            self._prepare(self._world)
            with self._scope():
                self._world.setup()
        except BaseException:  # leave nothing half-built behind
            self.teardown()
            raise

    def step(self, step: dict[str, Any]) -> None:
        assert self._world is not None and self._clock is not None, "setup() first"
        try:
            with self._scope():
                if step["op"] == "advance":
                    for _ in range(int(step.get("count", 1))):
                        self._clock.sleep(float(step["seconds"]))
                else:
                    self._world.step(step)
        except ClockError:  # the simulated world cannot go on: not an observation
            raise
        except Exception as e:  # a step's error is an observation, not a crash
            self._emit(error_event(e))
        for name, exc in self._clock.thread_errors:
            self._emit({**error_event(exc), "thread": name})
        self._clock.thread_errors.clear()

    def teardown(self) -> None:
        world = self._world
        try:
            if world is not None:
                with self._scope():
                    world.teardown()
        finally:
            if self._clock is not None:
                self._clock.shutdown()
            for logger, level in self._saved_levels:
                logger.removeHandler(self._handler)
                logger.setLevel(level)
            self._saved_levels.clear()
            if world is not None:
                self._release(world)
            self._world = self._clock = self._handler = None
