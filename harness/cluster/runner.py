"""One cluster scenario on one tier: plan, processes, the harness's steps, what was seen.

An *attempt* picks free loopback ports, writes the plan (:mod:`reference.cluster.control`)
and starts every task at once (ps, chief, workers), each its own process. Workers import
TensorFlow and build their graphs meanwhile, but create their sessions only when the
runner creates their ``go`` file: once the chief's session is ready (or, for a worker
declared ``released``, at its ``release`` step). Then the scenario's steps run, each wait
bounded by its timeout; then the runner waits, until the scenario's deadline, for the chief
and workers to exit, and ends every process still running (the ps always: it serves until
killed). A task that could not bind its port makes the attempt start again with new ports
(up to :data:`MAX_ATTEMPTS`), since choosing a free port and binding it is a race.

Every wait is bounded; a task that exits while a step waits for something it can no longer
do (its session, an event) ends the wait at once instead of letting it run out.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safe_fs
from harness.cluster.processes import Processes
from harness.cluster.scenario import DEFAULT_WAIT_TIMEOUT, ClusterScenario
from harness.polling import WaitTimeout, wait_until
from reference.cluster.control import (
    CHIEF,
    EXIT_BIND,
    EXIT_SETUP,
    PLAN,
    PS,
    Control,
    read_events,
    write_json_atomic,
)

MAX_ATTEMPTS = 3
# After a failed step: how long tasks get to close their sessions once asked to end.
END_GRACE_SECONDS = 20.0
# Files of the model dir the judge reads (checkpoints are TensorFlow's own business).
SKIPPED_DIR = "checkpoints"
MAX_FILE_BYTES = 1 << 20
MAX_FILES = 10_000
ACTION_FILE = "monolith_action"


class PortTaken(Exception):
    """A task could not bind its planned port: try again with new ports."""


class PortsExhausted(Exception):
    """Every attempt lost the port race (:data:`MAX_ATTEMPTS` in a row): the scenario
    failed without a run to judge. ``run_dirs`` are the attempts' directories."""

    def __init__(self, message: str, run_dirs: list[Path]) -> None:
        super().__init__(message)
        self.run_dirs = run_dirs


class Impossible(Exception):
    """A waited-for condition can no longer hold (a task it needs has exited)."""


@dataclass(frozen=True)
class TierSpec:
    """Which hooks the tasks build: ``tf``, or ``original`` from a Monolith checkout."""

    name: str
    source: str | None = None
    commit: str | None = None

    def plan(self) -> dict[str, Any] | None:
        if self.name != "original":
            return None
        return {"source": self.source, "commit": self.commit}


@dataclass
class Observation:
    """What one run of a scenario produced, for :mod:`harness.cluster.judge`."""

    scenario: ClusterScenario
    tier: str
    tasks: dict[str, dict[str, Any]]
    files: dict[str, bytes]
    run_dir: Path
    seconds: float
    attempts: int
    step_failure: str | None = None
    killed: list[str] = field(default_factory=list)
    startup_seconds: float | None = None


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 now (held together while chosen, so they
    differ; another process may still take one before a task binds it)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_plan(
    scenario: ClusterScenario, tier: TierSpec, ports: list[int], run_dir: Path
) -> dict[str, Any]:
    """The plan every task of one attempt reads (plain data, see reference.cluster.control)."""
    addresses = [f"127.0.0.1:{p}" for p in ports]
    return {
        "scenario": scenario.id,
        "runner_pid": os.getpid(),
        "tier": tier.name,
        "monolith": tier.plan(),
        "cluster": {"ps": addresses[:1], "worker": addresses[1:]},
        "control_dir": str(run_dir / "control"),
        "model_dir": str(run_dir / "model"),
        "placement": scenario.placement,
        "barrier": scenario.barrier,
        "query_interval": scenario.query_interval,
        "tasks": scenario.tasks,
    }


def task_argv(plan_path: Path, task: str, token: str) -> list[str]:
    """The command of one task process (``--token`` marks it, to be found by tests)."""
    return [sys.executable, "-m", "reference.cluster.task", str(plan_path), task, "--token", token]


def missing_requirement() -> str | None:
    """Why the task program cannot run with this interpreter (None: it can)."""
    if importlib.util.find_spec("tensorflow") is None:
        return (
            "the cluster tier's tasks need TensorFlow: install the tf extra "
            "(pip install -e '.[tf]'), or run nox -s cluster"
        )
    return None


def task_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Attempt:
    """One attempt at a scenario: its processes, control directory and the steps."""

    def __init__(
        self,
        scenario: ClusterScenario,
        tier: TierSpec,
        run_dir: Path,
        processes: Processes,
        token: str,
    ) -> None:
        self.scenario = scenario
        self.run_dir = run_dir
        self.control_dir = run_dir / "control"
        self.model_dir = run_dir / "model"
        self.procs = processes
        self.token = token
        self.started = time.monotonic()
        self.deadline = self.started + scenario.deadline_seconds
        self.control_dir.mkdir(parents=True)
        self.model_dir.mkdir()
        self.plan_path = self.control_dir / PLAN
        ports = free_ports(1 + len(scenario.tasks))
        write_json_atomic(self.plan_path, make_plan(scenario, tier, ports, run_dir))

    def control(self, task: str) -> Control:
        return Control(self.control_dir, task)

    def events(self, task: str) -> list[dict[str, Any]]:
        return read_events(self.control(task).path("events.jsonl"))

    def count_events(self, task: str, name: str, **fields: Any) -> int:
        return sum(
            e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
            for e in self.events(task)
        )

    def has_event(self, task: str, name: str, **fields: Any) -> bool:
        return self.count_events(task, name, **fields) > 0

    # -- watching ------------------------------------------------------------------------

    def check_tasks(self) -> None:
        """Raise :class:`PortTaken` if a task could not bind; :class:`Impossible` if one
        could not even be set up."""
        for name in self.procs.started:
            status = self.procs.status(name)
            if status == EXIT_BIND:
                raise PortTaken(name)
            if status == EXIT_SETUP:
                raise Impossible(f"{name} could not be set up (exit {status}); see its log")
        if self.procs.status(PS) is not None:
            raise Impossible(f"the ps exited (status {self.procs.status(PS)})")

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        timeout = min(timeout, max(0.0, self.deadline - time.monotonic()))

        def done() -> bool:
            self.check_tasks()
            return condition()

        wait_until(done, timeout=timeout, what=what, max_interval=0.05)

    def exited(self, task: str) -> bool:
        return self.procs.status(task) is not None

    def condition(self, spec: dict[str, Any]) -> tuple[Callable[[], bool], str]:
        """A waitable condition and its description, from a step's ``for``."""
        if "sessions" in spec:
            names = spec["sessions"]
            return (lambda: all(self._reached(n, "session") for n in names)), (
                f"the sessions of {', '.join(names)}"
            )
        if "event" in spec:
            fields = dict(spec["event"])
            task, name = fields.pop("task"), fields.pop("event")
            count = fields.pop("count", 1)
            return (lambda: self._reached(task, name, count, **fields)), (
                f"{task}'s event {spec['event']}"
            )
        if "exited" in spec:
            names = spec["exited"]
            return (lambda: all(self.exited(n) for n in names)), f"{', '.join(names)} to exit"
        if "file" in spec:
            path = self.model_dir / spec["file"]
            return path.exists, f"the file {spec['file']}"
        path = self.model_dir / spec["absent"]
        return (lambda: not path.exists()), f"{spec['absent']} to be gone"

    def _reached(self, task: str, name: str, count: int = 1, **fields: Any) -> bool:
        if self.count_events(task, name, **fields) >= count:
            return True
        if self.exited(task):
            raise Impossible(f"{task} exited (status {self.procs.status(task)}) before {name}")
        return False

    # -- the attempt ---------------------------------------------------------------------

    def start(self) -> None:
        self.procs.start(PS, task_argv(self.plan_path, PS, self.token), self.log(PS))
        for name in self.scenario.tasks:
            self.procs.start(name, task_argv(self.plan_path, name, self.token), self.log(name))

    def log(self, task: str) -> Path:
        return self.control_dir / f"{task}.log"

    def release_after_chief(self) -> float:
        """Wait for the chief's session (or its exit), then let the waiting workers start
        theirs; the seconds that took."""
        self.wait(
            lambda: self.has_event(CHIEF, "session") or self.exited(CHIEF),
            timeout=self.scenario.deadline_seconds,
            what="the chief's session",
        )
        for name, spec in self.scenario.tasks.items():
            if name != CHIEF and spec["session"] == "after_chief":
                self.control(name).signal("go")
        return time.monotonic() - self.started

    def step(self, step: dict[str, Any]) -> None:
        op = step["op"]
        if op == "wait":
            condition, what = self.condition(step["for"])
            self.wait(condition, step.get("timeout", DEFAULT_WAIT_TIMEOUT), what)
        elif op == "write_action":
            tmp = self.model_dir / f".{ACTION_FILE}.tmp"
            tmp.write_text(step["text"], encoding="utf-8")
            os.replace(tmp, self.model_dir / ACTION_FILE)  # whole, at once
        elif op == "release":
            self.control(step["task"]).signal("go")
        elif op == "hold":
            self.control(step["task"]).hold()
        elif op == "resume":
            self.resume(step["task"], step.get("runs"))
        elif op == "end":
            for name in step["tasks"]:
                self.control(name).signal("end")

    def resume(self, task: str, runs: int | None) -> None:
        """Let a held task run on: for good, or for ``runs`` more runs (counted from its
        last ``held`` event), after which it holds again."""
        control = self.control(task)
        if runs is None:
            control.unsignal("hold")
            return
        held = [e for e in self.events(task) if e.get("event") == "held"]
        if not held:
            raise Impossible(f"{task} is not held: it cannot resume for {runs} runs")
        control.hold(at_runs=int(held[-1]["runs"]) + runs)

    def finish(self, failed: bool) -> None:
        """Wait for the chief and workers to exit (until the deadline; after a failed step
        they are asked to end and get a short grace), then end every process."""
        tasks = list(self.scenario.tasks)
        left = max(0.0, self.deadline - time.monotonic())
        if failed:
            for name in tasks:
                self.control(name).signal("end")
                self.control(name).unsignal("hold")
            left = min(left, END_GRACE_SECONDS)
        self.procs.wait(tasks, left)
        if any(self.procs.status(name) == EXIT_BIND for name in [PS, *tasks]):
            raise PortTaken("a task could not bind its port")
        for name in tasks:
            self.procs.kill(name)
        self.procs.kill(PS)

    def observe(self, tier: str, failure: str | None, attempts: int) -> Observation:
        tasks = {}
        for name in self.scenario.tasks:
            result = self.control(name).result() or {"task": name, "result": None}
            result["session"] = result.get("session") or self.has_event(name, "session")
            result["exit"] = self.procs.status(name)
            result["killed"] = name in self.procs.killed
            tasks[name] = result
        return Observation(
            scenario=self.scenario,
            tier=tier,
            tasks=tasks,
            files=model_files(self.model_dir),
            run_dir=self.run_dir,
            seconds=time.monotonic() - self.started,
            attempts=attempts,
            step_failure=failure,
            killed=[n for n in self.procs.killed if n != PS],
        )


def model_files(model_dir: Path) -> dict[str, bytes]:
    """Every regular file under the model dir (relative path -> bytes), checkpoints aside,
    found by the harness's bounded walk that follows no link (:func:`harness.safe_fs.walk`,
    at most :data:`MAX_FILES` entries); each read up to :data:`MAX_FILE_BYTES` + 1 bytes (a
    larger one is cut, so it still differs from any content a scenario expects). A file
    that cannot be read is left out."""
    tree = safe_fs.walk(model_dir, max_entries=MAX_FILES, skip=SKIPPED_DIR)
    found: dict[str, bytes] = {}
    for rel, entry in sorted(tree.entries.items()):
        if not entry.is_file:
            continue
        try:
            f, _size = safe_fs.open_regular(model_dir / rel)
            with f:
                found[rel] = f.read(MAX_FILE_BYTES + 1)
        except OSError:  # replaced by a link or removed since the walk, or unreadable
            continue
    return found


def run_scenario(scenario: ClusterScenario, tier: TierSpec, work: Path, token: str) -> Observation:
    """Run ``scenario`` on ``tier`` under ``work``; a port race starts it again (each
    attempt in a directory of its own, ``<name>-<tier>-<attempt>``), and losing it
    :data:`MAX_ATTEMPTS` times raises :class:`PortsExhausted`."""
    name = scenario.id.split("/", 1)[1]
    run_dirs = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run_dir = work / f"{name}-{tier.name}-{attempt}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dirs.append(run_dir)
        try:
            return _attempt(scenario, tier, run_dir, token, attempt)
        except PortTaken:
            continue
    raise PortsExhausted(
        f"a task could not bind its planned loopback port in {MAX_ATTEMPTS} attempts in a "
        "row (each with new ports): another process keeps taking them",
        run_dirs,
    )


def _attempt(
    scenario: ClusterScenario, tier: TierSpec, run_dir: Path, token: str, attempts: int
) -> Observation:
    with Processes(task_env()) as procs:
        attempt = Attempt(scenario, tier, run_dir, procs, token)
        attempt.start()
        failure = None
        startup = None
        try:
            startup = attempt.release_after_chief()
            for i, step in enumerate(scenario.steps):
                try:
                    attempt.step(step)
                except (WaitTimeout, Impossible) as e:
                    failure = f"steps[{i}] ({step['op']}): {e}"
                    break
        except (WaitTimeout, Impossible) as e:
            failure = f"start-up: {e}"
        attempt.finish(failed=failure is not None)
        observation = attempt.observe(tier.name, failure, attempts)
        observation.startup_seconds = startup
        return observation
