"""File system access that never follows a link: what the harness reads and writes in a
directory an implementation under test has had its hands on.

Every byte a testee leaves is hostile, names included. So:

* :func:`entries_under` walks a tree without following links and says what each entry is
  (regular file, symbolic link with its target text, fifo, socket, device); a link to a
  directory is an entry, never descended into.
* :func:`read_regular` opens a file component by component beneath a root, each with
  ``O_NOFOLLOW``, and reads it only if it is a regular file (a fifo is opened
  non-blocking and refused, so it cannot hang the reader), up to a size bound.
* :func:`open_dir_beneath` / :func:`write_new` / :func:`remove_beneath` are the harness's
  own writes: relative to directory file descriptors, each component opened with
  ``O_NOFOLLOW``, new files created with ``O_EXCL``. A link on the way raises
  :class:`LinkRefused`, naming the link, instead of writing through it.

POSIX only (the harness runs on Linux and macOS).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Artifacts larger than this are compared by size and hash only, never read whole.
MAX_READ_BYTES = 256 << 20

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class LinkRefused(OSError):
    """A harness-side read or write met a symbolic link (or another non-regular entry)."""


def describe_mode(mode: int) -> str:
    """What kind of entry ``mode`` (an ``st_mode``) is, in words."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


@dataclass(frozen=True)
class Entry:
    """One non-directory entry of a tree, as found (links are not followed)."""

    rel: str  # posix path relative to the root
    kind: str  # "file", "symbolic link", "fifo", "socket", "device", "special file"
    size: int = 0
    target: str | None = None  # a link's target text (never resolved)

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    def describe(self) -> str:
        if self.target is not None:
            return f"a symbolic link to {self.target!r}"
        return f"a {self.kind}" if self.kind != "file" else f"a file of {self.size} bytes"


def entries_under(root: Path) -> dict[str, Entry]:
    """Relative posix path -> :class:`Entry` for everything but directories under ``root``,
    sorted by path. A missing root, or a root that is a link, has no entries."""
    found: dict[str, Entry] = {}
    try:
        top = os.fspath(root)
        walker = os.fwalk(top, follow_symlinks=False)
        for dirpath, dirnames, filenames, dirfd in walker:
            rel_dir = os.path.relpath(dirpath, top).replace(os.sep, "/")
            prefix = "" if rel_dir == "." else rel_dir + "/"
            names = list(filenames)
            # fwalk lists a link to a directory among dirnames (and does not descend).
            for d in list(dirnames):
                st = os.stat(d, dir_fd=dirfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    names.append(d)
            for name in names:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                rel = prefix + name
                if stat.S_ISLNK(st.st_mode):
                    target = os.readlink(name, dir_fd=dirfd)
                    found[rel] = Entry(rel, "symbolic link", st.st_size, target)
                else:
                    found[rel] = Entry(rel, describe_mode(st.st_mode), st.st_size)
    except FileNotFoundError:
        pass
    return dict(sorted(found.items()))


def files_under(root: Path) -> dict[str, Path]:
    """Relative posix path -> path, for the regular files under ``root`` (links skipped)."""
    return {rel: root / rel for rel, e in entries_under(root).items() if e.is_file}


def _parts(rel: str) -> list[str]:
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
    if not parts or ".." in parts or PurePosixPath(rel).is_absolute():
        raise ValueError(f"{rel!r} is not a relative path inside its directory")
    return parts


def _open_dir_at(fd: int | None, name: str, shown: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as e:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            raise e from None
        if stat.S_ISLNK(st.st_mode):
            raise LinkRefused(f"{shown} is a symbolic link; the harness does not follow it") from e
        raise


def open_dir_beneath(
    root: Path | int, rel: str = ".", *, create: bool = False, label: str = ""
) -> int:
    """A directory fd for ``root/rel``, refusing a link at any component of ``rel`` (and at
    ``root`` itself when it is a path); ``create`` makes missing directories. Errors name
    components as ``label/...``."""
    fd = root if isinstance(root, int) else _open_dir_at(None, str(root), str(root))
    owned = not isinstance(root, int)
    shown = PurePosixPath(label)
    parts = [] if rel in (".", "") else _parts(rel)
    try:
        for part in parts:
            shown /= part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            child = _open_dir_at(fd, part, shown.as_posix())
            if owned:
                os.close(fd)
            fd, owned = child, True
    except BaseException:
        if owned:
            os.close(fd)
        raise
    if not owned:  # rel was "." on a borrowed fd: hand back a fd of its own
        fd = os.dup(fd)
    return fd


def read_regular(root: Path, rel: str, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of the regular file ``root/rel``; :class:`LinkRefused` when any component
    is a link or the file is not regular; ``ValueError`` past ``limit`` bytes."""
    parts = _parts(rel)
    dir_fd = open_dir_beneath(root, "/".join(parts[:-1]) or ".")
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
        except OSError as e:
            st = os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise LinkRefused(f"{rel} is a symbolic link; it is not followed") from e
            raise
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise LinkRefused(f"{rel} is a {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{rel}: {st.st_size} bytes, more than the {limit} read at most")
        return f.read(limit + 1)[:limit]


def open_regular(path: Path) -> tuple[object, int]:
    """``path`` opened for binary reading if it is a regular file (not a link, a fifo or a
    device), with its size. The caller closes the file."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if os.path.islink(path):
            raise LinkRefused(f"{path} is a symbolic link; it is not followed") from e
        raise
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise LinkRefused(f"{path} is a {describe_mode(st.st_mode)}, not a regular file")
    return f, st.st_size


def write_new(dir_fd: int, name: str, data: bytes, shown: str) -> None:
    """Create ``name`` in ``dir_fd`` with ``O_EXCL | O_NOFOLLOW`` and write ``data``; an
    existing entry of that name (a planted link, say) is refused, never written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
    except FileExistsError as e:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        raise LinkRefused(
            f"{shown} already exists ({describe_mode(st.st_mode)}); the harness does not write "
            "through what an implementation left"
        ) from e
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` from ``dir_fd``: a link or file is unlinked (never followed), a
    directory removed with everything beneath it (shutil's fd-based, link-safe rmtree)."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def remove_beneath(root: Path | int, rel: str, label: str = "") -> bool:
    """Remove ``root/rel`` if present (see :func:`remove_entry`); a link among the parent
    components raises :class:`LinkRefused`. Returns whether something was removed."""
    parts = _parts(rel)
    try:
        dir_fd = open_dir_beneath(root, "/".join(parts[:-1]) or ".", label=label)
    except FileNotFoundError:
        return False
    try:
        remove_entry(dir_fd, parts[-1])
    except FileNotFoundError:
        return False
    finally:
        os.close(dir_fd)
    return True


def iter_chunks(f: object, size: int = 1 << 20) -> Iterator[bytes]:
    read = f.read  # type: ignore[attr-defined]
    while chunk := read(size):
        yield chunk
