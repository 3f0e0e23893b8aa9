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
import stat
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.safe_text import shown_name

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


# Bounds of every walk of a tree an implementation wrote (the listing, the comparison):
# how deep it goes, how many entries it describes, and how many more it counts before
# it stops counting.
MAX_DEPTH = 64
MAX_ENTRIES = 10_000
COUNT_LIMIT = 1_000_000


class TreeTooLarge(ValueError):
    """A walk met more entries, or deeper directories, than it describes."""


@dataclass
class Tree:
    """What a bounded walk found: the first :data:`MAX_ENTRIES` entries (directories
    included, as kind ``directory``), how many more it counted (``more``; ``more_capped``
    when it stopped counting at :data:`COUNT_LIMIT`), and the directories it did not
    descend into because they lie deeper than its depth bound (``too_deep``)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    more: int = 0
    more_capped: bool = False
    too_deep: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.more and not self.too_deep

    def problems(self, label: str = "", subject: str = "the directory") -> list[str]:
        """One line per bound the tree broke (empty when it is complete); paths are shown
        under ``label`` (``files`` -> ``files/...``), the root as ``label/`` or
        ``subject``."""
        prefix = f"{label}/" if label else ""
        lines = []
        if self.more:
            count = f"more than {self.more}" if self.more_capped else str(self.more)
            lines.append(
                f"{prefix or subject} holds more than {len(self.entries)} entries: "
                f"the first {len(self.entries)} are described, and {count} more"
            )
        if self.too_deep:
            shown = ", ".join(shown_name(prefix + d)[:300] for d in self.too_deep[:3])
            extra = f" and {len(self.too_deep) - 3} more" if len(self.too_deep) > 3 else ""
            lines.append(f"directories deeper than {MAX_DEPTH} levels not listed: {shown}{extra}")
        return lines


def _entry(rel: str, dir_fd: int, name: str) -> Entry:
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        return Entry(rel, "symbolic link", st.st_size, os.readlink(name, dir_fd=dir_fd))
    return Entry(rel, describe_mode(st.st_mode), st.st_size)


def _names(fd: int) -> list[tuple[str, bool]]:
    """A directory's names (at most :data:`COUNT_LIMIT`), each with whether it is a
    directory (not following links), in reverse sorted order (popped from the end)."""
    found = []
    with os.scandir(fd) as it:
        for e in it:
            found.append((e.name, e.is_dir(follow_symlinks=False)))
            if len(found) >= COUNT_LIMIT:
                break
    found.sort(reverse=True)
    return found


def walk(
    root: Path | int,
    *,
    max_depth: int = MAX_DEPTH,
    max_entries: int = MAX_ENTRIES,
    skip: str | None = None,
) -> Tree:
    """Every entry under ``root`` (a path or a directory fd), never following a link: a
    link to a directory is an entry, not descended into. Breadth first (shallow entries
    are described before deep ones) and iterative, so no depth exhausts the stack; each
    directory is reopened from ``root`` component by component, so at most two fds are
    open at once. Entries past ``max_entries`` are only counted (up to
    :data:`COUNT_LIMIT`); directories deeper than ``max_depth`` are named in
    ``too_deep``. ``skip`` is a top-level name left out (with everything under it). A
    missing root, or a root path that is a link, has no entries."""
    tree = Tree()
    try:
        top = open_dir_beneath(root)
    except (FileNotFoundError, NotADirectoryError, LinkRefused):
        return tree
    try:
        queue: deque[str] = deque([""])  # directories to list, as "rel/" prefixes
        counted = 0
        while queue:
            prefix = queue.popleft()
            try:
                fd = open_dir_beneath(top, prefix.rstrip("/") or ".")
            except (FileNotFoundError, NotADirectoryError, LinkRefused):
                continue  # replaced while walking
            try:
                names = _names(fd)
                for name, is_dir in reversed(names):
                    if not prefix and name == skip:
                        continue
                    rel = prefix + name
                    if counted >= max_entries:
                        tree.more += 1
                        if counted + tree.more >= COUNT_LIMIT:
                            tree.more_capped = True
                            return tree
                    else:
                        try:
                            entry = _entry(rel, fd, name)
                        except FileNotFoundError:  # removed while walking
                            continue
                        counted += 1
                        tree.entries[rel] = entry
                        is_dir = entry.kind == "directory"
                    if not is_dir:
                        continue
                    if rel.count("/") + 1 >= max_depth:
                        if len(tree.too_deep) < 100:
                            tree.too_deep.append(rel)
                        continue
                    queue.append(rel + "/")
            finally:
                os.close(fd)
    finally:
        os.close(top)
    return tree


def entries_under(root: Path | int, *, bounded: bool = False) -> dict[str, Entry]:
    """Relative posix path -> :class:`Entry` for everything but directories under ``root``,
    sorted by path. A missing root, or a root that is a link, has no entries. With
    ``bounded``, a tree past the walk's bounds raises :class:`TreeTooLarge` saying so."""
    tree = walk(root)
    if bounded and not tree.complete:
        raise TreeTooLarge("; ".join(tree.problems()))
    return dict(sorted((rel, e) for rel, e in tree.entries.items() if e.kind != "directory"))


def files_under(root: Path) -> dict[str, Path]:
    """Relative posix path -> path, for the regular files under ``root`` (links skipped)."""
    return {rel: root / rel for rel, e in entries_under(root).items() if e.is_file}


def _parts(rel: str) -> list[str]:
    """``rel``'s components, those of ``PurePosixPath(rel).parts`` less ``.``; ``ValueError``
    for an absolute path, one with ``..``, or none. A string is split directly (the same
    components: POSIX paths have one separator; pathlib is several times slower, and
    this runs for every file and directory the harness opens)."""
    if isinstance(rel, str):
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        absolute = rel.startswith("/")
    else:
        parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
        absolute = PurePosixPath(rel).is_absolute()
    if not parts or ".." in parts or absolute:
        raise ValueError(f"{rel!r} is not a relative path inside its directory")
    return parts


def _open_dir_at(fd: int | None, name: str, shown: str | Callable[[], str]) -> int:
    """``name`` in ``fd`` opened as a directory, never through a link; ``shown`` (or what
    it returns: built only for the error) names it in :class:`LinkRefused`."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=fd)
    except OSError as e:
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            raise e from None
        if stat.S_ISLNK(st.st_mode):
            text = shown if isinstance(shown, str) else shown()
            raise LinkRefused(f"{text} is a symbolic link; the harness does not follow it") from e
        raise


def open_dir_beneath(
    root: Path | int, rel: str = ".", *, create: bool = False, label: str = ""
) -> int:
    """A directory fd for ``root/rel``, refusing a link at any component of ``rel`` (and at
    ``root`` itself when it is a path); ``create`` makes missing directories. Errors name
    components as ``label/...``."""
    fd = root if isinstance(root, int) else _open_dir_at(None, str(root), str(root))
    owned = not isinstance(root, int)
    parts = [] if rel in (".", "") else _parts(rel)

    def shown(upto: int) -> Callable[[], str]:  # label/part/.../part, for an error only
        return lambda: PurePosixPath(label, *parts[:upto]).as_posix()

    try:
        for index, part in enumerate(parts, start=1):
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            child = _open_dir_at(fd, part, shown(index))
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
    try:  # checked on the descriptor, before fdopen (which leaves a directory's open)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LinkRefused(f"{rel} is a {describe_mode(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{rel}: {st.st_size} bytes, more than the {limit} read at most")
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        # The first min(file, limit) bytes, as read(limit + 1)[:limit] gives them, without
        # its buffer of limit + 1 bytes (read(n) allocates n up front: a quarter of a
        # gigabyte for each small file). A file grown since fstat is read on, to the limit.
        want = st.st_size + 1
        data = f.read(want)
        if len(data) == want and want <= limit:
            data += f.read(limit + 1 - want)
        return data[:limit]


def open_regular(path: Path) -> tuple[object, int]:
    """``path`` opened for binary reading if it is a regular file (not a link, a fifo or a
    device), with its size. The caller closes the file."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if os.path.islink(path):
            raise LinkRefused(f"{path} is a symbolic link; it is not followed") from e
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise LinkRefused(f"{path} is a {describe_mode(st.st_mode)}, not a regular file")
    return os.fdopen(fd, "rb"), st.st_size


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


# Directory fds a removal keeps open at once; a deeper subtree is moved up (renamed into
# the directory the removal started in) and removed from there.
REMOVE_MAX_OPEN = 32


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` from ``dir_fd``: a link or file is unlinked (never followed), a
    directory removed with everything beneath it (:func:`remove_tree`)."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        remove_tree(dir_fd, name)
    else:
        os.unlink(name, dir_fd=dir_fd)


def remove_tree(dir_fd: int, name: str) -> None:
    """Remove the directory ``name`` of ``dir_fd`` and everything beneath it, through
    directory fds, never following a link (a link is unlinked, its target untouched).
    Iterative, whatever the depth: at most :data:`REMOVE_MAX_OPEN` fds are open; a
    subtree below that depth is first renamed into ``dir_fd`` (a name starting
    ``.parity-rm-``) and removed from there."""
    pending = [name]
    moved = 0
    while pending:
        top = pending.pop()
        fd = _open_or_unlink(dir_fd, top)
        if fd is None:
            continue
        # Each frame: (parent fd, name in it, own fd, subdirectory names left).
        frames = [(dir_fd, top, fd, _empty_files(fd))]
        while frames:
            parent, here, fd, subdirs = frames[-1]
            if not subdirs:
                os.close(fd)
                frames.pop()
                os.rmdir(here, dir_fd=parent)
                continue
            sub = subdirs.pop()
            if len(frames) >= REMOVE_MAX_OPEN:
                moved += 1
                spare = f".parity-rm-{os.getpid()}-{moved}"
                os.rename(sub, spare, src_dir_fd=fd, dst_dir_fd=dir_fd)
                pending.append(spare)
                continue
            child = _open_or_unlink(fd, sub)
            if child is not None:
                frames.append((fd, sub, child, _empty_files(child)))


def _open_or_unlink(dir_fd: int, name: str) -> int | None:
    """A fd of the directory ``name``; if it is no directory (any more), it is unlinked
    and None returned."""
    try:
        return _open_dir_at(dir_fd, name, name)
    except (FileNotFoundError, NotADirectoryError, LinkRefused):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
        return None


def _empty_files(fd: int) -> list[str]:
    """Unlink every non-directory entry of ``fd``; return its subdirectories' names."""
    subdirs = []
    with os.scandir(fd) as it:
        for e in it:
            if e.is_dir(follow_symlinks=False):
                subdirs.append(e.name)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e.name, dir_fd=fd)
    return subdirs


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
