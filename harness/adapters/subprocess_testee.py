"""An implementation in another process, driven over the testee protocol (``docs/protocol.md``).

This module is the protocol *session*: sequence numbers, one request and its checked reply
at a time, deadlines, and what each fault does. The process itself (pipes, threads,
bounds on what it writes, the kill) is :mod:`harness.adapters.process`; where it runs and
the escape rule are :mod:`harness.adapters.sandbox`; the messages are
:mod:`testee_protocol.codec`.

One persistent process serves scenario after scenario. It is started lazily (by the first
``setup`` or ``capabilities``), greeted with ``hello``, and kept until :meth:`close`
(``bye``) or until it misbehaves. Every fault -- it exits, hangs past the timeout, writes a
line that is not a protocol message, answers out of order, speaks another protocol
version, or writes outside the scenario's ``files/`` -- kills it (with its whole process
group) and raises :class:`ImplementationFailure` naming the fault, the request and the
tail of its stderr; the next scenario gets a fresh process. A testee that cannot *start*
(it cannot be executed, or fails its ``hello``) is not retried: :attr:`cannot_start` holds
the reason, and every later scenario is refused at once with it (the runner reports them
as *not run*).
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import protocol
from harness.adapters import confine
from harness.adapters.base import Events, ImplementationFailure, NotApplicable
from harness.adapters.process import EOF, TesteeProcess, signal_name
from harness.adapters.sandbox import EscapeWatch, Sandbox, describe
from harness.protocol import check_seconds
from harness.safe_text import shown
from harness.scenario import Scenario
from harness.workdir import LOCK_NAME
from testee_protocol import codec

# While waiting for a reply, how often to check whether the testee has exited.
EXIT_POLL = 0.05
EXIT_GRACE = protocol.EXIT_GRACE
MIN_START_TIMEOUT = protocol.MIN_START_TIMEOUT


class CannotStart(ImplementationFailure):
    """The testee could not be started or failed its ``hello``; it is not tried again."""


def _absolute_argv(argv: Sequence[str]) -> list[str]:
    """Relative paths in ``argv`` (with a ``/``, existing here) made absolute: the testee
    runs in a sandbox directory, not in the harness's."""
    out = []
    for arg in argv:
        if (
            "/" in arg
            and not os.path.isabs(arg)
            and not arg.startswith("-")
            and os.path.exists(arg)
        ):
            arg = os.path.abspath(arg)
        out.append(arg)
    return out


class _Running:
    """A started testee: its process, its sandbox, and what it said in ``hello``."""

    def __init__(
        self, process: TesteeProcess, sandbox: Sandbox, confinement: confine.Confinement
    ) -> None:
        self.process = process
        self.sandbox = sandbox
        self.confinement = confinement
        self.caps: dict[str, Any] = {}

    def kill(self, grace: float) -> None:
        self.process.kill(grace)
        self.sandbox.remove()


class SubprocessTestee:
    """:class:`harness.adapters.base.Implementation` over a testee process (see module doc).

    ``argv`` starts the testee; ``timeout`` bounds every reply (seconds, finite and
    positive; the first ``hello`` gets ``start_timeout``, default ``max(timeout, 10)``);
    ``cwd`` replaces the sandbox working directory (then only its top level is checked for
    escapes); ``env`` replaces the inherited environment (``TMPDIR`` and ``PYTHONPATH`` are
    always set). ``name`` defaults to the ``implementation`` the testee reports in its
    first ``hello``. ``sandbox`` is a mode of :mod:`harness.adapters.confine` (``auto``,
    ``bwrap``, ``none``) or a resolved :class:`~harness.adapters.confine.Confinement`.
    :meth:`watch` names the run's work directory: the escape rule watches up to it, and a
    confined testee may write only there (default: each scenario's output directory's
    parent; a confined testee is restarted when a scenario lies outside what it was
    started with).
    """

    def __init__(
        self,
        argv: Sequence[str],
        name: str | None = None,
        timeout: float = 30.0,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float | None = None,
        sandbox: str | confine.Confinement = "auto",
    ) -> None:
        if not argv:
            raise ValueError("SubprocessTestee needs a command line")
        self.argv = _absolute_argv(argv)
        self._name = name
        self._name_fixed = name is not None
        self.timeout = check_seconds(timeout, "timeout")
        self.start_timeout = (
            check_seconds(start_timeout, "start_timeout")
            if start_timeout is not None
            else max(self.timeout, MIN_START_TIMEOUT)
        )
        if isinstance(sandbox, str) and sandbox not in confine.MODES:
            raise ValueError(f"sandbox: choose one of {', '.join(confine.MODES)}, not {sandbox!r}")
        self._sandbox = sandbox
        self._bound: Path | None = None  # the work directory the running testee may write
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self.reported_name: str | None = None
        self.cannot_start: str | None = None
        self.work_dir: Path | None = None
        self._run: _Running | None = None
        self._scenario: str | None = None  # id of the scenario in progress
        self._watch: EscapeWatch | None = None
        self._stderr_mark = 0
        self._failed_stderr = ""  # the stderr of a scenario whose testee was killed
        self._tainted = False  # answered 'error': replaced before the next scenario
        self.starts = 0  # how many processes were started (for tests and benchmarks)
        self.exit_grace = EXIT_GRACE

    # -- naming -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The ``implementation`` of the testee's hello (reading it starts the testee), or a
        name made from ``argv`` if it cannot start; fixed on first read, so every result of
        a run carries the same name. Not a safe path: see :func:`harness.runner.dir_name`."""
        if not self._name_fixed:
            if self.reported_name is None and self.cannot_start is None:
                # A failure is kept in cannot_start; every scenario reports it.
                with contextlib.suppress(ImplementationFailure):
                    self._ensure_started()
            self._name = self.reported_name or _name_from_argv(self.argv)
            self._name_fixed = True
        assert self._name is not None
        return self._name

    def watch(self, work_dir: str | os.PathLike[str]) -> None:
        """``work_dir`` holds the scenarios' output directories: the escape rule watches up
        to it, and a confined testee may write there (and nowhere else)."""
        self.work_dir = Path(work_dir).resolve()

    @property
    def confinement(self) -> confine.Confinement:
        """The resolved sandbox (probing bubblewrap once, for ``auto``);
        :class:`~harness.adapters.confine.ConfinementError` if ``bwrap`` was asked for and
        does not work here."""
        if isinstance(self._sandbox, str):
            self._sandbox = confine.resolve(self._sandbox)
        return self._sandbox

    @property
    def sandbox(self) -> str:
        """The sandbox mode, as reports name it (``bwrap``, or ``none`` and why)."""
        try:
            return self.confinement.describe()
        except confine.ConfinementError as e:
            return f"unavailable: {e}"

    # -- the Implementation interface -------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        return dict(self._ensure_started().caps)

    def setup(self, scenario: Scenario, files_dir: str) -> Events:
        files = Path(files_dir)
        if self._run is not None and (
            self._tainted or self._scenario is not None or not self._may_write(files)
        ):
            self._stop_gracefully()
        if self._run is None and self.work_dir is None:
            self._bound = files.parent.parent
        run = self._ensure_started()
        if scenario.family not in run.caps["families"]:
            raise NotApplicable(
                f"the testee does not serve family {scenario.family!r} "
                f"(its hello lists {', '.join(run.caps['families']) or 'none'})"
            )
        try:
            request = codec.setup(run.process.seq, scenario.id, scenario.to_json(), files_dir)
        except codec.ProtocolError as e:  # the harness's own input; the testee is fine
            raise ImplementationFailure(f"cannot send setup for {scenario.id}: {e}") from e
        self._scenario = scenario.id
        self._watch = EscapeWatch(files, self.work_dir or self._bound)
        self._stderr_mark = run.process.stderr_count
        self._failed_stderr = ""
        reply = self._request(request)
        if reply["type"] == codec.NOT_APPLICABLE:
            self._scenario = None  # the testee holds nothing for it; no teardown follows
            raise NotApplicable(reply["reason"])
        return list(reply["events"])

    def step(self, index: int, step: dict[str, Any]) -> Events:
        run = self._live(f"step {index}")
        return list(self._request(codec.step(run.process.seq, index, step), step)["events"])

    def teardown(self) -> Events:
        run = self._live("teardown")
        try:
            events = list(self._request(codec.teardown(run.process.seq))["events"])
        finally:
            self._scenario = None
        self._check_escape()
        return events

    def close(self) -> None:
        self._stop_gracefully()

    def abort(self) -> None:
        """End the testee at once (an interrupted run): no ``bye``, its processes killed."""
        run, self._run, self._scenario = self._run, None, None
        if run is not None:
            run.kill(self.exit_grace)

    # -- extras -----------------------------------------------------------------------
    def scenario_stderr(self) -> str:
        """What the testee wrote to stderr since the current (or last) scenario's setup,
        a killed process's included."""
        if self._run is None:
            return self._failed_stderr
        return "\n".join(self._run.process.stderr_since(self._stderr_mark))

    @property
    def pid(self) -> int | None:
        return self._run.process.pid if self._run is not None else None

    # -- internals --------------------------------------------------------------------
    def _live(self, what: str) -> _Running:
        if self._run is None or self._scenario is None:
            raise ImplementationFailure(f"{what}: no scenario in progress (the testee was stopped)")
        return self._run

    def _ensure_started(self) -> _Running:
        if self._run is not None:
            return self._run
        if self.cannot_start is not None:
            raise CannotStart(self.cannot_start)
        try:
            return self._start()
        except ImplementationFailure as e:
            self.cannot_start = str(e)
            raise CannotStart(self.cannot_start) from e

    def _may_write(self, files: Path) -> bool:
        """Whether the running testee can write ``files`` (always, unconfined)."""
        if self._run is None or self._run.confinement.mode != confine.BWRAP:
            return True
        return self._bound is not None and self._bound in files.parents

    def _start(self) -> _Running:
        try:
            confinement = self.confinement
        except confine.ConfinementError as e:
            raise ImplementationFailure(str(e)) from e
        missing = missing_program(self.argv, self.env)
        if missing:
            raise ImplementationFailure(f"cannot start testee {shlex.join(self.argv)}: {missing}")
        if self.work_dir is not None:
            self._bound = self.work_dir
        sandbox = Sandbox(self.cwd, self.env)
        writable = [sandbox.root]
        read_only = []
        if self._bound is not None:
            self._bound.mkdir(parents=True, exist_ok=True)
            writable.append(self._bound.resolve())
            if (self._bound / LOCK_NAME).exists():  # a run's lock stays the harness's
                read_only.append(self._bound.resolve() / LOCK_NAME)
        argv = confinement.command(
            self.argv, writable=writable, read_only=read_only, cwd=sandbox.cwd
        )
        try:
            process = TesteeProcess(argv, sandbox.cwd, sandbox.env)
        except ImplementationFailure:
            sandbox.remove()
            raise
        self._run = run = _Running(process, sandbox, confinement)
        self.starts += 1
        self._tainted = False
        self._scenario = None
        reply = self._exchange(codec.hello(process.seq), self.start_timeout)
        if reply["type"] == codec.ERROR:
            self._fail(f"the testee refused hello: {reply['message']}")
        run.caps = dict(reply["capabilities"])
        self.reported_name = printable_name(reply["implementation"])
        return run

    def _request(self, request: dict[str, Any], step: dict[str, Any] | None = None) -> Any:
        assert self._run is not None
        timeout = protocol.reply_timeout(step, self.timeout, self._run.caps["virtual_clock"])
        reply = self._exchange(request, timeout)
        if reply["type"] == codec.ERROR:  # its stderr is the result's log, shown once
            self._tainted = True
            raise ImplementationFailure(
                f"the testee reported an internal error on {_what(request)}: "
                f"{shown(reply['message'], limit=MAX_MESSAGE)}"
            )
        return reply

    def _exchange(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return its checked reply, or kill the testee and raise."""
        assert self._run is not None
        process = self._run.process
        process.seq += 1
        what = _what(request)
        process.send(codec.encode(request))
        item = self._next_line(process, what, timeout)
        if item is EOF:
            try:
                status = process.wait(self.exit_grace)
            except subprocess.TimeoutExpired:
                self._fail(f"the testee closed its stdout during {what} but did not exit")
            self._fail(f"the testee exited with {signal_name(status)} during {what}")
        try:
            return codec.check_reply(codec.decode(item), request)
        except codec.ProtocolError as e:
            self._fail(f"protocol error in the reply to {what}: {e}")

    def _next_line(self, process: TesteeProcess, what: str, timeout: float) -> Any:
        """The next stdout line (or end of output) within ``timeout``. Waits in short slices
        so that a testee which exited while a child of its keeps the pipe open is reported
        as exited at once, not as hung."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"no reply to {what} within {timeout:g} s (hung?)")
            try:
                return process.replies.get(timeout=min(left, EXIT_POLL))
            except queue.Empty:
                pass
            status = process.poll()
            if status is not None:
                try:  # a reply written just before it exited still counts
                    return process.replies.get(timeout=EXIT_POLL)
                except queue.Empty:
                    self._fail(f"the testee exited with {signal_name(status)} during {what}")

    def _fail(self, reason: str) -> NoReturn:
        """Kill the testee and raise. During a scenario its stderr is kept for the result's
        log (:meth:`scenario_stderr`), shown once there; outside one (start-up, hello) the
        failure itself quotes it, since no result carries a log."""
        run = self._run
        assert run is not None
        scenario = self._scenario
        run.kill(self.exit_grace)  # joins the stderr thread: its last lines are in
        self._run = None
        self._scenario = None
        message = f"{reason}{f' (scenario {scenario})' if scenario else ''}; testee " + (
            f"{shlex.join(self.argv)} was killed."
        )
        if scenario:
            self._failed_stderr = "\n".join(run.process.stderr_since(self._stderr_mark))
        else:
            message += f"\nlast lines of its stderr:\n{run.process.stderr_tail()}"
        raise ImplementationFailure(message)

    def _check_escape(self) -> None:
        run, watch = self._run, self._watch
        if run is None or watch is None:
            return
        found = watch.found(run.sandbox)
        if found:
            self._fail(f"the testee wrote outside files_dir {watch.files_dir}: {describe(found)}")

    def _stop_gracefully(self) -> None:
        run = self._run
        self._run = None
        self._scenario = None
        if run is None:
            return
        process = run.process
        if process.poll() is None:
            process.send(codec.encode(codec.bye(process.seq)))
            process.close_stdin()
            try:
                process.wait(self.exit_grace)
            except subprocess.TimeoutExpired:
                print(
                    f"harness: testee {shlex.join(self.argv)} did not exit within "
                    f"{self.exit_grace:g} s of 'bye'; killed",
                    file=sys.stderr,
                )
        run.kill(self.exit_grace)


# The longest implementation name kept for reports (the rest is cut), and the longest
# error message of a testee shown in a failure.
MAX_NAME = 100
MAX_MESSAGE = 4000


def missing_program(argv: Sequence[str], env: Mapping[str, str] | None) -> str | None:
    """Why ``argv[0]`` cannot be executed (None when it can, as far as can be told)."""
    program = argv[0]
    if "/" in program:
        if not os.path.exists(program):
            return "No such file or directory"
        if os.path.isdir(program) or not os.access(program, os.X_OK):
            return "Permission denied (not an executable file)"
        return None
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    return None if shutil.which(program, path=path) else "No such file or directory"


def printable_name(name: str) -> str:
    """A testee's reported name as reports can show it: control and other unprintable
    characters (which XML cannot hold and terminals obey) become ``?``, at most
    :data:`MAX_NAME` characters. It is still no path: see :func:`harness.runner.dir_name`."""
    shown = "".join(c if c.isprintable() else "?" for c in name[:MAX_NAME])
    return shown + ("..." if len(name) > MAX_NAME else "")


def _name_from_argv(argv: Sequence[str]) -> str:
    """``python -m pkg.testee`` -> ``pkg.testee``; ``python x/testee.py`` -> ``testee``;
    ``./bin/testee --flag`` -> ``testee``."""
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    program = Path(argv[0]).name
    if program.startswith("python") and len(argv) > 1 and argv[1].endswith(".py"):
        return Path(argv[1]).stem
    return program


def _what(request: Mapping[str, Any]) -> str:
    """The request in a failure message. Without its ``seq``: that depends on how many
    scenarios the process served before, so it would make a parallel run's report differ
    from a serial one's (the out-of-order message still quotes both seqs)."""
    kind = request["type"]
    if kind == codec.STEP:
        return f"step {request['index']} ({request['step'].get('op')})"
    return kind
