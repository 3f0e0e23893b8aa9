"""The run's work directory, and everything the harness does beneath it.

An implementation under test writes into the work directory, so anything in it below
its root may be a link it planted (``<work>/<implementation>/slot_count -> /home``).
:class:`WorkDir` opens the root once (the user's path, trusted, its links resolved
there and then) and does every later operation -- creating a scenario's output
directory afresh, removing one, pruning empty parents, checking that a directory is still
where the harness made it -- through directory fds opened from that root, each component
with ``O_NOFOLLOW``. A link on the way raises :class:`~harness.safe_fs.LinkRefused`
naming it; nothing outside the root is read, written or removed.

:meth:`WorkDir.lock` takes an exclusive ``flock`` on ``<root>/.parity-lock``, so a second
run on the same directory refuses at once (:class:`WorkDirBusy`) instead of mixing its
outputs, and its escape checks, with the first's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path, PurePosixPath

from harness import safe_fs

LOCK_NAME = ".parity-lock"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkDirBusy(OSError):
    """Another run holds the work directory's lock."""


def _split(rel: str) -> tuple[str, str]:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        raise ValueError(f"{rel!r} is not a relative path inside the work directory")
    return "/".join(parts[:-1]) or ".", parts[-1]


class WorkDir:
    """A directory the harness owns; see the module docstring. Close it (or use it as a
    context manager) to release its fds and its lock."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        path = Path(path)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        self.path = path.resolve()
        self.fd = os.open(self.path, _DIR_FLAGS)
        self._lock_fd: int | None = None

    def __enter__(self) -> WorkDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def unlock(self) -> None:
        """Remove ``.parity-lock`` and release it (for a directory no other run will use:
        one the harness made for itself)."""
        if self._lock_fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(LOCK_NAME, dir_fd=self.fd)
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- the lock ---------------------------------------------------------------------
    def lock(self) -> None:
        """Hold ``.parity-lock`` exclusively until :meth:`close`; :class:`WorkDirBusy` if
        another run holds it."""
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(LOCK_NAME, flags, 0o644, dir_fd=self.fd)
        except OSError as e:
            raise WorkDirBusy(f"{self.path}: cannot open its {LOCK_NAME}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise WorkDirBusy(
                f"{self.path} is in use by another run (pid {holder}); wait for it to end, "
                "or give each run its own --work directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    # -- directories ------------------------------------------------------------------
    def open_dir(self, rel: str = ".", *, create: bool = False) -> int:
        """A directory fd for ``rel`` (no link at any component)."""
        return safe_fs.open_dir_beneath(self.fd, rel, create=create, label=str(self.path))

    def fresh_dir(self, rel: str) -> int:
        """``rel`` made an empty directory (whatever was there removed, a link unlinked,
        never followed; missing parents made), and a fd of it."""
        parent_rel, name = _split(rel)
        parent = self.open_dir(parent_rel, create=True)
        try:
            with contextlib.suppress(FileNotFoundError):
                safe_fs.remove_entry(parent, name)
            os.mkdir(name, 0o755, dir_fd=parent)
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)

    def remove(self, rel: str) -> bool:
        """Remove ``rel`` and everything beneath it, if it is there; whether it was."""
        return safe_fs.remove_beneath(self.fd, rel, label=str(self.path))

    def prune(self, rel: str) -> None:
        """Remove ``rel``'s parent directories that are empty, up to (not including) the
        root."""
        parts = list(PurePosixPath(rel).parts[:-1])
        while parts:
            parent_rel, name = _split("/".join(parts))
            try:
                parent = self.open_dir(parent_rel)
            except (FileNotFoundError, NotADirectoryError, safe_fs.LinkRefused):
                return
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:  # not empty, not a directory, gone: stop here
                return
            finally:
                os.close(parent)
            parts.pop()

    def holds(self, rel: str, fd: int) -> bool:
        """Whether ``rel`` (reached without links) is still the directory ``fd`` is: false
        once an implementation moved it away or put something else in its place."""
        try:
            mine = self.open_dir(rel)
        except (OSError, ValueError):
            return False
        try:
            a, b = os.fstat(mine), os.fstat(fd)
        finally:
            os.close(mine)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino) and stat.S_ISDIR(a.st_mode)


def same_entry(dir_fd: int, name: str, fd: int) -> bool:
    """Whether ``name`` in ``dir_fd`` is (not a link to) the directory ``fd`` is."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    other = os.fstat(fd)
    return stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino)
