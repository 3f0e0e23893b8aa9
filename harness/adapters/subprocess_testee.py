"""An implementation in another process, driven over the testee protocol (``docs/protocol.md``).

One persistent process serves scenario after scenario. It is started lazily (by the first
``setup`` or ``capabilities``), greeted with ``hello``, and kept until :meth:`close`
(``bye``) or until it misbehaves. Every fault -- it exits, hangs past the timeout, writes a
line that is not a protocol message, answers out of order, speaks another protocol
version, or writes outside the scenario's ``files/`` -- kills it (with its whole process
group) and raises :class:`ImplementationFailure` naming the fault, the request and the
tail of its stderr; the next scenario gets a fresh process. The harness never waits on the
testee without a deadline: a reader thread turns its stdout into a queue that is read with
a timeout (in slices, checking whether the testee exited), a writer thread feeds its stdin,
and a third thread drains its stderr.

Where it runs: its working directory is a fresh empty directory (unless ``cwd`` is given)
and ``TMPDIR`` a private scratch directory, both inside a sandbox directory removed with
the process. The escape rule (checked after each scenario's ``teardown``): the working
directory must still be as it was at start, and the parent of ``files_dir`` (the scenario's
output directory) must hold nothing the testee created, changed or removed; ``files/``
itself and ``TMPDIR`` are the testee's.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import protocol
from harness.adapters.base import Events, ImplementationFailure, NotApplicable
from harness.scenario import Scenario

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STDERR_TAIL_LINES = 20
STDERR_KEEP_LINES = 2000
# How long a testee has to exit after ``bye`` before it is killed, and to be reaped after
# a kill (bounded; a process that survives SIGKILL that long is reported, not waited for).
EXIT_GRACE = 5.0
# While waiting for a reply, how often to check whether the testee has exited.
EXIT_POLL = 0.05
# Start-up (interpreter, imports) is not a hang: the hello gets at least this long.
MIN_START_TIMEOUT = 10.0

_EOF = object()


def _signal_name(status: int) -> str:
    if status >= 0:
        return f"status {status}"
    try:
        return f"signal {signal.Signals(-status).name}"
    except ValueError:
        return f"signal {-status}"


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


class _Process:
    """One running testee: pipes, threads, and the tails of what it wrote."""

    def __init__(self, argv: list[str], cwd: str | None, env: Mapping[str, str] | None) -> None:
        try:
            self.sandbox = Path(tempfile.mkdtemp(prefix="testee-"))
            (self.sandbox / "cwd").mkdir()
            (self.sandbox / "tmp").mkdir()
        except OSError as e:
            raise ImplementationFailure(f"cannot create the testee's sandbox: {e}") from e
        self.own_cwd = cwd is None
        self.cwd = Path(cwd) if cwd is not None else self.sandbox / "cwd"
        tmp = self.sandbox / "tmp"
        full_env = dict(os.environ if env is None else env)
        full_env["TMPDIR"] = str(tmp)
        pythonpath = full_env.get("PYTHONPATH")
        full_env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd_snapshot = protocol.snapshot(self.cwd) if not self.own_cwd else {}
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=full_env,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as e:
            shutil.rmtree(self.sandbox, ignore_errors=True)
            raise ImplementationFailure(
                f"cannot start testee {shlex.join(argv)}: {e.strerror or e}"
            ) from e
        self.seq = 0
        self.replies: queue.Queue[Any] = queue.Queue()
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.stderr_lines: deque[str] = deque(maxlen=STDERR_KEEP_LINES)
        self.stderr_count = 0
        self.threads = [
            threading.Thread(target=self._read_stdout, name="testee-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="testee-stderr", daemon=True),
            threading.Thread(target=self._write_stdin, name="testee-stdin", daemon=True),
        ]
        for t in self.threads:
            t.start()

    # -- threads ----------------------------------------------------------------------
    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                line = stream.readline(protocol.MAX_LINE_BYTES + 1)
                if not line:
                    break
                self.replies.put(line)
        except (OSError, ValueError):
            pass
        self.replies.put(_EOF)

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        try:
            for raw in iter(stream.readline, b""):
                self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.stderr_count += 1
        except (OSError, ValueError):
            pass

    def _write_stdin(self) -> None:
        stream = self.proc.stdin
        assert stream is not None
        while True:
            data = self.outbox.get()
            if data is None:
                break
            try:
                stream.write(data)
                stream.flush()
            except (OSError, ValueError):  # it died; the reader reports that
                break
        with contextlib.suppress(OSError, ValueError):
            stream.close()

    # -- control ----------------------------------------------------------------------
    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        # Give the drain thread a moment to collect a dead process's last words.
        if self.proc.poll() is not None:
            self.threads[1].join(timeout=1.0)
        tail = list(self.stderr_lines)[-lines:]
        if not tail:
            return "(stderr was empty)"
        return "\n".join("  | " + line[:500] for line in tail)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError, AttributeError):
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        else:  # the leader exited; its group may live on
            with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=EXIT_GRACE)
        self.finish()

    def finish(self) -> None:
        self.outbox.put(None)
        for t in self.threads:
            t.join(timeout=1.0)
        # A reader still blocked (a grandchild outside the group holds the pipe) keeps its
        # stream: closing it would wait for that read. It is a daemon thread.
        for stream, reader in (
            (self.proc.stdout, self.threads[0]),
            (self.proc.stderr, self.threads[1]),
        ):
            if stream is not None and not reader.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        shutil.rmtree(self.sandbox, ignore_errors=True)


class SubprocessTestee:
    """:class:`harness.adapters.base.Implementation` over a testee process (see module doc).

    ``argv`` starts the testee; ``timeout`` bounds every reply (seconds; the first
    ``hello`` gets ``start_timeout``, default ``max(timeout, 10)``); ``cwd`` replaces the
    sandbox working directory (then only its top level is checked for escapes); ``env``
    replaces the inherited environment (``TMPDIR`` and ``PYTHONPATH`` are always set).
    ``name`` defaults to the ``implementation`` the testee reports in its first ``hello``.
    """

    def __init__(
        self,
        argv: Sequence[str],
        name: str | None = None,
        timeout: float = 30.0,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float | None = None,
    ) -> None:
        if not argv:
            raise ValueError("SubprocessTestee needs a command line")
        self.argv = _absolute_argv(argv)
        self._name = name
        self._name_fixed = name is not None
        self.timeout = float(timeout)
        self.start_timeout = (
            float(start_timeout) if start_timeout is not None else max(timeout, MIN_START_TIMEOUT)
        )
        self.cwd = os.fspath(cwd) if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self.reported_name: str | None = None
        self._caps: dict[str, Any] | None = None
        self._proc: _Process | None = None
        self._scenario: str | None = None  # id of the scenario in progress
        self._files_dir: Path | None = None
        self._outside_before: protocol.Snapshot = {}
        self._stderr_mark = 0
        self._tainted = False  # answered 'error': replaced before the next scenario
        self.starts = 0  # how many processes were started (for tests and benchmarks)
        self.exit_grace = EXIT_GRACE

    # -- naming -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The ``implementation`` of the testee's hello (reading it starts the testee), or a
        name made from ``argv`` if it cannot start; fixed on first read, so every result of
        a run carries the same name."""
        if not self._name_fixed:
            if self.reported_name is None:
                with contextlib.suppress(ImplementationFailure):
                    self._ensure_started()  # a failure is reported again by the next setup
            self._name = self.reported_name or _name_from_argv(self.argv)
            self._name_fixed = True
        assert self._name is not None
        return self._name

    # -- the Implementation interface -------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        self._ensure_started()
        assert self._caps is not None
        return dict(self._caps)

    def setup(self, scenario: Scenario, files_dir: str) -> Events:
        if self._proc is not None and (self._tainted or self._scenario is not None):
            self._stop_gracefully()
        self._ensure_started()
        assert self._caps is not None and self._proc is not None
        if scenario.family not in self._caps["families"]:
            raise NotApplicable(
                f"the testee does not serve family {scenario.family!r} "
                f"(its hello lists {', '.join(self._caps['families']) or 'none'})"
            )
        files = Path(files_dir)
        self._scenario = scenario.id
        self._files_dir = files
        self._outside_before = protocol.snapshot(files.parent, skip=files)
        self._stderr_mark = self._proc.stderr_count
        try:
            return self._request(protocol.setup(self._proc.seq, scenario.to_json(), files_dir))
        except protocol.ScenarioNotApplicable as e:
            self._scenario = None  # the testee holds nothing for it; no teardown follows
            raise NotApplicable(str(e)) from e

    def step(self, index: int, step: dict[str, Any]) -> Events:
        proc = self._live(f"step {index}")
        return self._request(protocol.step(proc.seq, index, step), step)

    def teardown(self) -> Events:
        proc = self._live("teardown")
        try:
            events = self._request(protocol.teardown(proc.seq))
        finally:
            self._scenario = None
        self._check_escape()
        return events

    def close(self) -> None:
        self._stop_gracefully()

    # -- extras -----------------------------------------------------------------------
    def scenario_stderr(self) -> str:
        """What the testee wrote to stderr since the current (or last) scenario's setup."""
        if self._proc is None:
            return ""
        new = self._proc.stderr_count - self._stderr_mark
        return "\n".join(list(self._proc.stderr_lines)[-new:]) if new > 0 else ""

    @property
    def pid(self) -> int | None:
        return self._proc.proc.pid if self._proc is not None else None

    # -- internals --------------------------------------------------------------------
    def _live(self, what: str) -> _Process:
        if self._proc is None or self._scenario is None:
            raise ImplementationFailure(f"{what}: no scenario in progress (the testee was stopped)")
        return self._proc

    def _ensure_started(self) -> None:
        if self._proc is not None:
            return
        self._proc = _Process(self.argv, self.cwd, self.env)
        self.starts += 1
        self._tainted = False
        self._scenario = None
        try:
            reply = self._exchange(protocol.hello(self._proc.seq), None, self.start_timeout)
        except protocol.TesteeError as e:
            self._fail(f"the testee refused hello: {e}")
        try:
            self._caps = protocol.check_hello(reply)
        except protocol.ProtocolError as e:
            self._fail(f"bad hello: {e}")
        self.reported_name = reply["implementation"]

    def _request(self, request: dict[str, Any], step: dict[str, Any] | None = None) -> Events:
        assert self._caps is not None
        timeout = protocol.reply_timeout(step, self.timeout, self._caps["virtual_clock"])
        try:
            reply = self._exchange(request, step, timeout)
        except protocol.TesteeError as e:
            self._tainted = True
            tail = self.scenario_stderr().splitlines()[-STDERR_TAIL_LINES:]
            shown = "\n".join("  | " + line[:500] for line in tail) or "(stderr was empty)"
            raise ImplementationFailure(
                f"the testee reported an internal error on {_what(request)}: {e}\n"
                f"its stderr during this scenario:\n{shown}"
            ) from e
        return list(reply["events"])

    def _exchange(
        self, request: dict[str, Any], step: dict[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        """Send one request and return its checked reply, or kill the testee and raise."""
        proc = self._proc
        assert proc is not None
        proc.seq += 1
        what = _what(request)
        proc.outbox.put(protocol.encode(request))
        item = self._next_line(proc, what, timeout)
        if item is _EOF:
            try:
                status = proc.proc.wait(timeout=self.exit_grace)
            except subprocess.TimeoutExpired:
                self._fail(f"the testee closed its stdout during {what} but did not exit")
            self._fail(f"the testee exited with {_signal_name(status)} during {what}")
        if len(item) > protocol.MAX_LINE_BYTES:
            self._fail(f"reply to {what} is longer than {protocol.MAX_LINE_BYTES} bytes")
        try:
            reply = protocol.decode(item)
            return protocol.check_reply(reply, request)
        except protocol.ProtocolError as e:
            self._fail(f"protocol error in the reply to {what}: {e}")

    def _next_line(self, proc: _Process, what: str, timeout: float) -> Any:
        """The next stdout line (or end of output) within ``timeout``. Waits in short slices
        so that a testee which exited while a child of its keeps the pipe open is reported
        as exited at once, not as hung."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail(f"no reply to {what} within {timeout:g} s (hung?)")
            try:
                return proc.replies.get(timeout=min(left, EXIT_POLL))
            except queue.Empty:
                pass
            status = proc.proc.poll()
            if status is not None:
                try:  # a reply written just before it exited still counts
                    return proc.replies.get(timeout=EXIT_POLL)
                except queue.Empty:
                    self._fail(f"the testee exited with {_signal_name(status)} during {what}")

    def _fail(self, reason: str) -> NoReturn:
        proc = self._proc
        assert proc is not None
        scenario = f" (scenario {self._scenario})" if self._scenario else ""
        proc.kill()
        tail = proc.stderr_tail()
        self._proc = None
        self._caps = None
        self._scenario = None
        raise ImplementationFailure(
            f"{reason}{scenario}; testee {shlex.join(self.argv)} was killed.\n"
            f"last lines of its stderr:\n{tail}"
        )

    def _check_escape(self) -> None:
        proc, files = self._proc, self._files_dir
        if proc is None or files is None:
            return
        found = [
            f"{files.parent / rel}"
            for rel in protocol.escapes(
                self._outside_before, protocol.snapshot(files.parent, skip=files)
            )
        ]
        if proc.own_cwd:
            found += [f"{proc.cwd / rel} (created)" for rel in sorted(protocol.snapshot(proc.cwd))]
        else:
            before = {k for k in proc.cwd_snapshot if "/" not in k}
            after = {k for k in protocol.snapshot(proc.cwd) if "/" not in k}
            found += [f"{proc.cwd / rel} (created)" for rel in sorted(after - before)]
        if found:
            self._fail(
                "the testee wrote outside files_dir "
                f"{files}: " + ", ".join(found[:10]) + (" ..." if len(found) > 10 else "")
            )

    def _stop_gracefully(self) -> None:
        proc = self._proc
        self._proc = None
        self._caps = None
        self._scenario = None
        if proc is None:
            return
        if proc.proc.poll() is None:
            proc.outbox.put(protocol.encode(protocol.bye(proc.seq)))
            proc.outbox.put(None)  # closes its stdin after bye
            try:
                proc.proc.wait(timeout=self.exit_grace)
            except subprocess.TimeoutExpired:
                print(
                    f"harness: testee {shlex.join(self.argv)} did not exit within "
                    f"{self.exit_grace:g} s of 'bye'; killed",
                    file=sys.stderr,
                )
        proc.kill()


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
    kind = request["type"]
    if kind == protocol.STEP:
        return f"step {request['index']} ({request['step'].get('op')}, seq {request['seq']})"
    return f"{kind} (seq {request['seq']})"


# -- one testee per pytest-xdist worker ----------------------------------------------


def xdist_worker() -> str:
    """This process's pytest-xdist worker id (``gw0``, ``gw1``, ...) or ``main``."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_testee(
    argv: Sequence[str], base_dir: str | os.PathLike[str], **kwargs: Any
) -> tuple[SubprocessTestee, Path]:
    """A testee and a fresh output directory for this xdist worker.

    Each worker process drives its own persistent testee and writes under its own
    ``<base_dir>/<worker>/`` (pytest's ``tmp_path_factory`` already gives each worker a
    separate base temp dir), so workers share nothing. The caller closes the testee.
    """
    work = Path(base_dir) / xdist_worker()
    work.mkdir(parents=True, exist_ok=True)
    return SubprocessTestee(argv, **kwargs), work
