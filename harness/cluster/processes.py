"""Task processes: started in sessions of their own, watched, and every one ended.

:class:`Processes` is a context manager. Each process it starts is the leader of a new
session (``start_new_session``), so it and anything it started form one process group,
and a terminal's Ctrl-C reaches only the runner, which then ends them itself. A leader's
exit status is read without reaping it (``waitid`` with ``WNOWAIT``), so its pid, the
group's id, stays reserved until the end. On leaving the block, whatever happened
(success, a failure, a timeout, an exception such as ``KeyboardInterrupt``), every group
gets ``SIGTERM``, then ``SIGKILL`` after a short grace (at once for strays of a leader that
exited), and every leader is reaped: ended by the pid the runner knows, never by name.
The task program also asks the kernel to kill it when the runner dies
(``PR_SET_PDEATHSIG`` in :mod:`reference.cluster.task`), which covers a runner killed
outright.

:func:`signals_interrupt` turns SIGINT, SIGTERM and SIGHUP into :class:`Interrupted` (a
``KeyboardInterrupt``), so a ``finally`` runs for each of them; :func:`signals_held`
keeps them waiting while a process is started or the clean-up runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

KILL_GRACE_SECONDS = 2.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The runner got a stop signal (``signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread for the
    block, SIGINT too even where it was inherited ignored (a job started in the background
    by a shell): the runner owns processes, so every stop signal must reach it."""

    def interrupt(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    saved = {}
    for sig in STOP_SIGNALS:
        saved[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit status (negative: the signal that killed it), or None while it runs.
        The leader is not reaped here: until :meth:`Processes.end_all` reaps it, its pid,
        which is its group's id, cannot be reused, so its group can still be signalled."""
        if self.popen.returncode is not None:
            return self.popen.returncode
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # reaped elsewhere: let subprocess say how it ended
            return self.popen.poll()
        if info is None:
            return None
        if info.si_code == os.CLD_EXITED:
            return info.si_status
        return -info.si_status  # CLD_KILLED, CLD_DUMPED

    @property
    def reaped(self) -> bool:
        return self.popen.returncode is not None


class Processes:
    """The processes of one attempt; all of them are ended when the block is left."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self.started: dict[str, Process] = {}
        self.killed: list[str] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A second Ctrl-C must not cut the clean-up short: the stop signals wait until
        # every process is ended (then a pending one is delivered as usual).
        with signals_held():
            self.end_all()

    def start(self, name: str, argv: Sequence[str], log_path: Path) -> Process:
        if name in self.started:
            raise ValueError(f"a process named {name!r} was already started")
        log = open(log_path, "ab")  # noqa: SIM115 - closed in end_all
        # No stop signal between the fork and the record below: a child started but not
        # recorded could not be ended.
        with signals_held():
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._env,
                    start_new_session=True,
                )
            except BaseException:
                log.close()
                raise
            self.started[name] = process = Process(name, popen, log)
        return process

    def status(self, name: str) -> int | None:
        return self.started[name].poll()

    def running(self) -> list[str]:
        return [name for name, p in self.started.items() if p.poll() is None]

    def wait(self, names: Sequence[str], timeout: float) -> bool:
        """Whether all ``names`` exited within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.01
        while any(self.started[n].poll() is None for n in names):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.1)
        return True

    def kill(self, name: str) -> None:
        """End ``name``'s whole process group (recording that it had to be killed if its
        leader still ran) and reap the leader."""
        process = self.started[name]
        if process.poll() is None:
            self.killed.append(name)
        _end_groups([process])

    def end_all(self) -> None:
        """End every process group still there (a leader running, or strays of a leader
        that exited), reap every leader, close the logs."""
        alive = [p.name for p in self.started.values() if p.poll() is None]
        self.killed += [name for name in alive if name not in self.killed]
        try:
            _end_groups(list(self.started.values()))
        finally:
            for process in self.started.values():
                with contextlib.suppress(OSError):
                    process.log.close()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """The stop signals wait for the block, so a clean-up or a start is never cut short:
    one that comes meanwhile is raised again, to the handlers the block found, when it is
    left. (Handlers are swapped, not the signal mask: a child started in the block
    inherits the mask, and must still be able to receive SIGTERM.)"""
    pending: list[int] = []

    def hold(signum: int, _frame: object) -> None:
        pending.append(signum)

    saved = {}
    try:
        for sig in STOP_SIGNALS:
            previous = signal.signal(sig, hold)
            saved[sig] = signal.SIG_DFL if previous is None else previous
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


def _signal_group(process: Process, sig: int) -> None:
    # The group id is the leader's pid (each task leads a session of its own); it is
    # signalled only while the leader is unreaped, so the id cannot have been reused.
    if not process.reaped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _end_groups(processes: list[Process]) -> None:
    """SIGTERM each unreaped leader's group, SIGKILL what is left of it after the grace
    (at once when the leader had exited already: what remains are strays), then reap
    every leader."""
    pending = [p for p in processes if not p.reaped]
    if not pending:
        return
    running = [p for p in pending if p.poll() is None]
    for process in pending:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    delay = 0.005
    while any(p.poll() is None for p in running) and time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    for process in pending:
        # A group may hold more than its leader: SIGKILL whatever of it is left.
        _signal_group(process, signal.SIGKILL)
    for process in pending:
        process.popen.wait()
