"""Runs a testee as its child and takes every process the testee started down with it.

``python -I -S reaper.py -- ARGV...`` (standard library only, run by path: it must start
without the harness on ``sys.path``). Used when a testee runs unconfined
(:mod:`harness.adapters.confine`, mode ``none``); under bubblewrap the PID namespace does
the same job.

On Linux the reaper makes itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``):
every process the testee starts, even one that leaves its session or whose parent exits,
stays a descendant of the reaper instead of being adopted by init. The reaper

- asks the kernel for ``SIGTERM`` when the harness dies (``PR_SET_PDEATHSIG``), even by
  ``SIGKILL``;
- starts ARGV with the reaper's own stdin, stdout and stderr, then lets go of them (only
  the testee's processes hold the harness's pipes);
- when the testee's first process ends, or on ``SIGTERM``, ``SIGHUP`` or ``SIGINT``,
  kills every remaining descendant with ``SIGKILL`` and reaps it, until none is left;
- exits as the testee's first process did: the same status, or the same signal.

If ARGV cannot be executed it writes ``cannot start testee ...`` on stderr and exits 127.
Elsewhere (no ``prctl``) it still kills the descendants it can see by their parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Rounds of "kill every child, reap one" before giving up (each round reaps at least one
# process, so this bounds a tree that keeps forking while it is killed).
MAX_ROUNDS = 100_000
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class _Stop(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children() -> list[int]:
    """The reaper's live children (reparented orphans included)."""
    me = os.getpid()
    try:
        text = ""
        for tid in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{tid}/children") as f:
                text += " " + f.read()
        return [int(p) for p in text.split()]
    except OSError:
        pass
    found = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces and parentheses.
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == me:
                found.append(int(name))
    return found


def kill_all() -> None:
    """SIGKILL every descendant and reap it, until the reaper has no child left."""
    for _ in range(MAX_ROUNDS):
        for pid in children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:  # children alive (dying, or just reparented): wait for one
                os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.stderr.write("usage: reaper.py -- ARGV...\n")
        os._exit(2)
    parent = os.getppid()

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the harness died before the request took effect
        os._exit(1)
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        first = os.fork()
        if first == 0:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            try:
                os.execvp(argv[0], argv)
            except OSError as e:
                os.write(2, f"cannot start testee {argv[0]}: {e.strerror}\n".encode())
            os._exit(127)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == first:
                break
    except _Stop as e:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        kill_all()
        os._exit(128 + e.signum)
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    kill_all()
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
