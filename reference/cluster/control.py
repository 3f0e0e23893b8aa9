"""The files a cluster runner and its task processes talk through (plain Python, no TF).

A run of one cluster scenario has a *control directory*. The runner writes ``plan.json``
there (the cluster's addresses, the tier, every task's spec) and starts each task as
``python -m reference.cluster.task PLAN TASK``. Then, per task name (``ps``, ``chief``,
``worker1``, ...):

* ``<task>.events.jsonl``: the task appends one JSON object a line as things happen
  (``{"t": <unix time>, "event": "session", ...}``), flushed at once, so the runner can
  wait for an event while the task runs;
* ``<task>.go``: created by the runner when a worker may create its session (after the
  chief's session is ready, or at a scenario's ``release`` step);
* ``<task>.end``: created by the runner when a task is to leave its training loop and
  close its session normally;
* ``<task>.hold``: while it exists, the task makes no run once it has made the number
  of runs the file holds (empty: at once); it says ``held`` (with its run count) when it
  stops between two runs;
* ``<task>.result.json``: what the task observed, written once (atomically) as it exits;
* ``<task>.log``: its standard output and error.

Exit statuses of a task process are :data:`EXIT_OK` .. :data:`EXIT_BIND`; a task the
runner had to kill has the negative signal number, as ``subprocess`` reports it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

PLAN = "plan.json"

# The session closed normally (whatever the loop saw).
EXIT_OK = 0
# An exception left the session (creating it, or a run): recorded in the result.
EXIT_SESSION_ERROR = 1
# The task could not be set up (bad plan, the original modules failed to import, ...).
EXIT_SETUP = 2
# Its tf.train.Server could not bind the planned port: the runner retries with new ports.
EXIT_BIND = 3

EXIT_NAMES = {
    EXIT_OK: "ok",
    EXIT_SESSION_ERROR: "session error",
    EXIT_SETUP: "setup error",
    EXIT_BIND: "port taken",
}

PS = "ps"
CHIEF = "chief"


def worker_name(index: int) -> str:
    """The task name of worker ``index`` (``chief`` for 0, the chief being worker 0)."""
    return CHIEF if index == 0 else f"worker{index}"


class Control:
    """One task's view of the control directory."""

    def __init__(self, directory: str | os.PathLike[str], task: str) -> None:
        self.dir = Path(directory)
        self.task = task

    def path(self, suffix: str) -> Path:
        return self.dir / f"{self.task}.{suffix}"

    def event(self, name: str, **fields: Any) -> None:
        """Append one event (``t`` is the wall clock, shared by every task of the machine)."""
        line = json.dumps({"t": time.time(), "event": name, **fields}, sort_keys=True)
        with open(self.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.path("events.jsonl"))

    def signalled(self, what: str) -> bool:
        """Whether the runner created ``<task>.<what>`` (``go``, ``end`` or ``hold``)."""
        return self.path(what).exists()

    def signal(self, what: str) -> None:
        self.path(what).touch()

    def unsignal(self, what: str) -> None:
        self.path(what).unlink(missing_ok=True)

    def hold(self, at_runs: int | None = None) -> None:
        """Hold the task's loop (once it has made ``at_runs`` runs, if given)."""
        write_text_atomic(self.path("hold"), "" if at_runs is None else str(at_runs))

    def held(self, runs: int) -> bool:
        """Whether a task that has made ``runs`` runs is to make no more for now."""
        try:
            text = self.path("hold").read_text(encoding="utf-8").strip()
        except OSError:
            return False
        return not text or runs >= int(text)

    def write_result(self, result: dict[str, Any]) -> None:
        write_json_atomic(self.path("result.json"), result)

    def result(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path("result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def read_events(path: Path) -> list[dict[str, Any]]:
    """The complete lines of an events file (a line still being written is skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    events = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def write_text_atomic(path: Path, text: str) -> None:
    """``path`` holds ``text``, whole or not at all (written aside, then renamed)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_plan(path: str | os.PathLike[str]) -> dict[str, Any]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a plan is a JSON object")
    return data
