"""A stand-in for ``reference.cluster.task`` that needs no TensorFlow, for the runner's tests.

``python fake_task.py PLAN TASK --token T`` speaks the control-directory protocol
(:mod:`reference.cluster.control`) the way the real task does, and behaves as its spec's
``fake`` field says:

* ``normal`` (default): the ps serves until killed; the chief (or a worker, once its
  ``go`` file exists) reports its session, then waits for its ``end`` file, reports
  ``closed``, writes its result and exits 0;
* ``bind_first``: exits with ``EXIT_BIND`` in an attempt's first run directory
  (``...-1``), else ``normal``;
* ``bind_always``: always exits with ``EXIT_BIND``;
* ``setup_error``: exits with ``EXIT_SETUP`` at once;
* ``stubborn``: ignores SIGTERM, starts a child that ignores it too (same process group),
  and waits forever (bounded by :data:`LIFETIME`);
* ``stray``: starts a child (same process group) that outlives it, then runs ``normal``.

Every loop is bounded: a fake task never outlives :data:`LIFETIME` seconds, and, like the
real one, it dies with the runner (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reference.cluster.control import (
    EXIT_BIND,
    EXIT_OK,
    EXIT_SETUP,
    PS,
    Control,
    read_plan,
)
from reference.cluster.task import _die_with

LIFETIME = 120.0
POLL = 0.01


def _until(condition: object, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(POLL)
    return False


def _sleeper(token: str, ignore_sigterm: bool) -> None:
    """A child in the task's process group, marked with the token, alive for LIFETIME."""
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    if not ignore_sigterm:
        code = "import time\n"
    code += f"time.sleep({LIFETIME})\n"
    subprocess.Popen([sys.executable, "-c", code, token])  # the token marks it too


def _stubborn(token: str) -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _sleeper(token, ignore_sigterm=True)
    deadline = time.monotonic() + LIFETIME
    _until(lambda: False, deadline)
    return EXIT_OK


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("plan")
    parser.add_argument("task")
    parser.add_argument("--token", default="")
    args = parser.parse_args()
    plan = read_plan(args.plan)
    _die_with(int(plan["runner_pid"]))
    control = Control(plan["control_dir"], args.task)
    control.event("started", pid=os.getpid())
    deadline = time.monotonic() + LIFETIME
    if args.task == PS:
        control.event("server")
        _until(lambda: False, deadline)
        return EXIT_OK
    spec = plan["tasks"][args.task]
    fake = spec.get("fake", "normal")
    first_attempt = Path(plan["control_dir"]).parent.name.endswith("-1")
    if fake == "bind_always" or (fake == "bind_first" and first_attempt):
        control.event("bind_failed")
        return EXIT_BIND
    if fake == "setup_error":
        return EXIT_SETUP
    if fake == "stubborn":
        return _stubborn(args.token)
    if fake == "stray":
        _sleeper(args.token, ignore_sigterm=False)
    control.event("server")
    if spec["index"] > 0 and not _until(lambda: control.signalled("go"), deadline):
        return EXIT_OK
    control.event("session")
    _until(lambda: control.signalled("end"), deadline)
    control.event("closed", status=EXIT_OK)
    control.write_result(
        {"task": args.task, "session": True, "should_stop": False, "loop_end": "end"}
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
