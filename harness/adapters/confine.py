"""Confinement: where the operating system keeps a testee, and how its processes end.

``--sandbox`` chooses a mode (:data:`MODES`):

- ``bwrap``: the testee runs under bubblewrap (``bwrap``, Debian's ``bubblewrap``
  package): the whole file system read-only except the run's work directory (and the
  testee's own sandbox directory), its own ``/tmp`` and ``/dev/shm`` (memory, at most
  :data:`TMPFS_BYTES` each), no network, its own PID namespace and session, and it dies
  with the harness (``--die-with-parent``). When its first process exits, the namespace
  ends and every process the testee started ends with it. Paths look the same inside, so
  the testee finds its ``files_dir`` where the protocol names it.
- ``none``: the testee runs as the harness's user, unconfined; the escape watch
  (:mod:`harness.adapters.sandbox`) is the only check on where it writes. Its process tree
  is still supervised: it runs under :mod:`harness.adapters.reaper`, a child subreaper
  that kills every process it started (new sessions included) when it ends or the
  harness does.
- ``auto`` (the default): ``bwrap`` when a probe (one ``bwrap ... true``, once per
  process) shows it works here, otherwise ``none`` with a note saying why.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "bwrap", "none")
BWRAP = "bwrap"
NONE = "none"
IN_PROCESS = "in process"  # what reports say of an implementation that is not a process
REAPER = Path(__file__).resolve().with_name("reaper.py")
TMPFS_BYTES = 1 << 30
PROBE_TIMEOUT = 10.0


class ConfinementError(RuntimeError):
    """The sandbox asked for cannot be had here."""


@dataclass(frozen=True)
class Confinement:
    """A resolved mode: ``bwrap`` (with the program's path) or ``none``; ``note`` says
    why ``auto`` fell back to ``none``."""

    mode: str
    program: str | None = None
    note: str = ""

    def describe(self) -> str:
        return f"{self.mode} ({self.note})" if self.note else self.mode

    def command(
        self,
        argv: Sequence[str],
        *,
        writable: Sequence[Path],
        read_only: Sequence[Path] = (),
        cwd: Path,
    ) -> list[str]:
        """The command line that runs ``argv`` confined (or supervised, for ``none``)."""
        if self.mode == BWRAP:
            assert self.program is not None
            return bwrap_command(self.program, argv, writable, read_only, cwd)
        return [sys.executable, "-I", "-S", str(REAPER), "--", *argv]


def bwrap_command(
    program: str,
    argv: Sequence[str],
    writable: Sequence[Path],
    read_only: Sequence[Path],
    cwd: Path,
) -> list[str]:
    cmd = [program, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    cmd += ["--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
    cmd += ["--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm"]
    # After the tmpfs mounts, so a work directory under /tmp is seen through them; what
    # the command line needs from the host's /tmp is mounted back, read-only.
    for path in needed_under_tmp(argv, [*writable, *read_only, cwd]):
        cmd += ["--ro-bind", str(path), str(path)]
    for path in writable:
        cmd += ["--bind", str(path), str(path)]
    for path in read_only:
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--unshare-all", "--die-with-parent", "--new-session", "--chdir", str(cwd)]
    return [*cmd, "--", *argv]


def needed_under_tmp(argv: Sequence[str], mounted: Sequence[Path]) -> list[Path]:
    """The top-level entries of the host's ``/tmp`` that the testee's own ``/tmp`` would
    hide but its command line needs: the program and every argument that names an
    existing path, this interpreter's prefixes and ``PYTHONPATH`` entries (a virtualenv
    in ``/tmp`` is common), except what is mounted anyway."""
    tmp = Path("/tmp")
    candidates = [Path(a) for a in argv if a.startswith("/")]
    candidates += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable)]
    candidates += [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    found: list[Path] = []
    for path in candidates:
        for form in {path, path.resolve()}:
            if tmp in form.parents and form.exists():
                top = tmp / form.relative_to(tmp).parts[0]
                if top not in found and not any(top == m or m in top.parents for m in mounted):
                    found.append(top)
    return sorted(found)


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """None when bubblewrap works here (one confined run of this interpreter with a
    writable directory), else why not, in one line."""
    program = shutil.which(BWRAP)
    if program is None:
        return "bwrap not found (install Debian's bubblewrap package)"
    with tempfile.TemporaryDirectory(prefix="parity-probe-") as tmp:
        here = Path(tmp).resolve()
        argv = [sys.executable, "-I", "-S", "-c", f"open({str(here / 'ok')!r}, 'w').close()"]
        cmd = bwrap_command(program, argv, [here], [], here)
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                timeout=PROBE_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bwrap does not work here: {e}"
        if done.returncode != 0 or not (here / "ok").exists():
            said = done.stderr.decode("utf-8", "replace").strip().splitlines()
            return f"bwrap does not work here: {said[-1] if said else f'status {done.returncode}'}"
    return None


def resolve(mode: str) -> Confinement:
    """The confinement ``mode`` (one of :data:`MODES`) gives here;
    :class:`ConfinementError` when ``bwrap`` is asked for and does not work."""
    if mode not in MODES:
        raise ConfinementError(f"--sandbox {mode!r}: choose one of {', '.join(MODES)}")
    if mode == NONE:
        return Confinement(NONE)
    why = probe()
    if why is None:
        return Confinement(BWRAP, shutil.which(BWRAP))
    if mode == BWRAP:
        raise ConfinementError(f"--sandbox bwrap: {why}")
    return Confinement(NONE, note=why)
