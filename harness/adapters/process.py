"""One running testee process: its pipes, the threads that serve them, and its kill.

The harness never blocks on a testee: a reader thread turns stdout into a queue of lines
(read with a deadline by the session), a writer thread feeds stdin, and stderr is drained
without blocking, by a third thread and by the session itself before it reads the log (so a
line written just before a reply always goes with that reply). Everything a testee writes
is bounded before it is kept:

- a stdout line is read up to :data:`testee_protocol.codec.MAX_LINE_BYTES` + 1 bytes (a
  longer one is a protocol error), and at most :data:`REPLY_QUEUE` lines wait in the queue
  (a testee that floods stdout blocks on its pipe instead of filling the harness's memory);
- a stderr line keeps its first :data:`STDERR_LINE_BYTES` bytes (the rest of the line is
  read and dropped; a last line without a newline is kept as it is), and only the last
  :data:`STDERR_KEEP_LINES` lines are kept.

The process runs in its own process group. It is meant to be a supervisor (the reaper, or
bubblewrap: :mod:`harness.adapters.confine`) that ends the testee's whole process tree
when told to (:meth:`TesteeProcess.kill`).
This module knows nothing of the protocol's messages.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import shlex
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.adapters.base import ImplementationFailure
from harness.safe_text import shown
from testee_protocol.codec import MAX_LINE_BYTES

STDERR_TAIL_LINES = 20
STDERR_KEEP_LINES = 2000
# A longer stderr line is cut here (documented in docs/protocol.md, "Transport").
STDERR_LINE_BYTES = 4096
# The stderr drain wakes at least this often (ms), and reads at most DRAIN_BYTES a turn.
STDERR_POLL_MS = 200
DRAIN_BYTES = 4 * 1024 * 1024
# stdout lines read ahead of the session (a reply is answered one at a time).
REPLY_QUEUE = 2
# How long the threads get to finish once the process is gone, and how long a
# supervisor gets to end its tree after SIGTERM before its group is killed.
THREAD_GRACE = 1.0
TERM_GRACE = 2.0

EOF = object()  # the queue's marker for the end of stdout


def signal_name(status: int) -> str:
    """``status 3`` or ``signal SIGKILL`` for a :attr:`subprocess.Popen.returncode`."""
    if status >= 0:
        return f"status {status}"
    try:
        return f"signal {signal.Signals(-status).name}"
    except ValueError:
        return f"signal {-status}"


class TesteeProcess:
    """``argv`` started in ``cwd`` with ``env``; see the module docstring."""

    def __init__(self, argv: list[str], cwd: Path, env: Mapping[str, str]) -> None:
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as e:
            raise ImplementationFailure(
                f"cannot start testee {shlex.join(argv)}: {e.strerror or e}"
            ) from e
        self.seq = 0
        self.closing = threading.Event()
        self.replies: queue.Queue[Any] = queue.Queue(maxsize=REPLY_QUEUE)
        self.outbox: queue.Queue[bytes | None] = queue.Queue()
        self.stderr_lines: deque[str] = deque(maxlen=STDERR_KEEP_LINES)
        self.stderr_count = 0
        assert self.proc.stderr is not None
        self._stderr_fd = self.proc.stderr.fileno()
        os.set_blocking(self._stderr_fd, False)
        self._stderr_lock = threading.Lock()
        self._stderr_partial = bytearray()
        self._stderr_cut = False  # inside the dropped rest of an over-long line
        self._stderr_eof = False
        self.threads = [
            threading.Thread(target=self._read_stdout, name="testee-stdout", daemon=True),
            threading.Thread(target=self._read_stderr, name="testee-stderr", daemon=True),
            threading.Thread(target=self._write_stdin, name="testee-stdin", daemon=True),
        ]
        for t in self.threads:
            t.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def send(self, data: bytes) -> None:
        self.outbox.put(data)

    def close_stdin(self) -> None:
        self.outbox.put(None)

    # -- threads ----------------------------------------------------------------------
    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless the process is being closed (then drop it)."""
        while not self.closing.is_set():
            try:
                self.replies.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read_stdout(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                line = stream.readline(MAX_LINE_BYTES + 2)
                if not line or not self._put(line):
                    break
        except (OSError, ValueError):
            pass
        self._put(EOF)

    def _read_stderr(self) -> None:
        """Drain stderr whenever it is readable, until it ends or the process is closed."""
        poller = select.poll()
        poller.register(self._stderr_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while not self._stderr_eof:
            closing = self.closing.is_set()
            try:
                poller.poll(STDERR_POLL_MS)
            except OSError:
                break
            self.drain_stderr()
            if closing:  # one last drain after the close began; a grandchild's pipe stays
                break

    def drain_stderr(self) -> None:
        """Read whatever stderr holds right now (never blocks; at most :data:`DRAIN_BYTES`).

        The session calls this before it reads the log, so a line written just before a
        reply is in the log that goes with that reply."""
        with self._stderr_lock:
            taken = 0
            while not self._stderr_eof and taken < DRAIN_BYTES:
                try:
                    data = os.read(self._stderr_fd, 65536)
                except BlockingIOError:
                    return
                except (OSError, ValueError):
                    data = b""
                if not data:
                    self._stderr_eof = True
                    if self._stderr_partial and not self._stderr_cut:
                        self._keep_stderr_line(bytes(self._stderr_partial), cut=False)
                    self._stderr_partial.clear()
                    return
                taken += len(data)
                self._feed_stderr(data)

    def _feed_stderr(self, data: bytes) -> None:
        start = 0
        while True:
            nl = data.find(b"\n", start)
            piece = data[start:] if nl < 0 else data[start:nl]
            if not self._stderr_cut:
                self._stderr_partial += piece
                if len(self._stderr_partial) > STDERR_LINE_BYTES:
                    kept = bytes(self._stderr_partial[:STDERR_LINE_BYTES])
                    self._keep_stderr_line(kept, cut=True)
                    self._stderr_partial.clear()
                    self._stderr_cut = True  # drop the rest of this line
            if nl < 0:
                return
            if self._stderr_cut:
                self._stderr_cut = False
            else:
                self._keep_stderr_line(bytes(self._stderr_partial), cut=False)
                self._stderr_partial.clear()
            start = nl + 1

    def _keep_stderr_line(self, raw: bytes, *, cut: bool) -> None:
        text = shown(raw.decode("utf-8", "replace").rstrip("\r"), multiline=False)
        if cut:
            text += f" [cut at {STDERR_LINE_BYTES} bytes]"
        self.stderr_lines.append(text)
        self.stderr_count += 1

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

    # -- what it wrote ----------------------------------------------------------------
    def stderr_since(self, mark: int) -> list[str]:
        """The stderr lines after the first ``mark`` (as far as they are still kept)."""
        self.drain_stderr()
        with self._stderr_lock:
            new = self.stderr_count - mark
            return list(self.stderr_lines)[-new:] if new > 0 else []

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        self.drain_stderr()  # a dead process's last words are all in the pipe
        with self._stderr_lock:
            return quote(list(self.stderr_lines)[-lines:])

    # -- ending -----------------------------------------------------------------------
    def wait(self, timeout: float) -> int:
        """Its exit status; raises :class:`subprocess.TimeoutExpired`."""
        return self.proc.wait(timeout=timeout)

    def kill(self, grace: float) -> None:
        """End it and everything it started: ``SIGTERM`` to the process (a supervisor --
        the reaper, or bubblewrap -- that takes its whole tree down), then, after at most
        :data:`TERM_GRACE`, ``SIGKILL`` to its process group; reap it (waiting at most
        ``grace``) and end the threads."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=min(TERM_GRACE, grace))
        with contextlib.suppress(ProcessLookupError, PermissionError, AttributeError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # the leader may be gone, its group not
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace)
        self.finish()

    def finish(self) -> None:
        self.closing.set()
        self.outbox.put(None)
        for t in self.threads:
            t.join(timeout=THREAD_GRACE)
        # A stdout reader still blocked (a grandchild outside the group holds the pipe)
        # keeps its stream: closing it would wait for that read. It is a daemon thread.
        if self.proc.stdout is not None and not self.threads[0].is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdout.close()
        self.drain_stderr()
        with self._stderr_lock:  # never read its descriptor again: the number is reused
            if not self._stderr_eof:
                self._stderr_eof = True
                if self._stderr_partial and not self._stderr_cut:
                    self._keep_stderr_line(bytes(self._stderr_partial), cut=False)
                self._stderr_partial.clear()
            if self.proc.stderr is not None and not self.threads[1].is_alive():
                with contextlib.suppress(OSError, ValueError):
                    self.proc.stderr.close()
        with contextlib.suppress(queue.Empty):  # drop lines nobody will read
            while True:
                self.replies.get_nowait()


def quote(lines: list[str]) -> str:
    """Lines of a testee's stderr, indented for a failure message."""
    if not lines:
        return "(stderr was empty)"
    return "\n".join("  | " + line[:500] for line in lines)
