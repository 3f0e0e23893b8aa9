"""Where a testee runs, and the escape rule that checks it stayed in its ``files/``.

:class:`Sandbox` is a fresh temporary directory holding the testee's working directory
(``cwd/``, unless the caller gives one) and its ``TMPDIR`` (``tmp/``); it is removed with
the process. :class:`EscapeWatch` is the tripwire of ``docs/protocol.md`` ("The escape
rule"). It looks only where a scenario's stray writes land, so its cost does not grow with
the run:

- the scenario's own output directory (the parent of ``files/``), whole: at ``setup`` it
  holds only ``files/``, so anything else in it at ``teardown`` was written there;
- each directory from there up to the *watched root* (the run's work directory), one level
  deep: an entry created or removed there, or a file changed, is an escape
  (``files/../../x`` at any depth up to the root);
- the testee's working directory: its own (any entry is an escape), or one the caller gave
  (only its top level, created, removed or changed).

With confinement (:mod:`harness.adapters.confine`) the operating system already keeps the
testee inside the work directory; the watch then says *where* inside it wrote. Without
it, the watch is a tripwire for the usual mistakes (a relative path, a ``..`` too many),
not a sandbox: a testee writing to some other absolute path is not caught.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness import safe_fs
from harness.adapters.base import ImplementationFailure
from harness.safe_text import shown_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How many escapes a failure names before "and N more".
SHOWN_ESCAPES = 10

State = tuple[str, int, int]  # (kind, size, mtime_ns); size and mtime only for files
Level = dict[str, State]


def _state(st: os.stat_result) -> State:
    kind = safe_fs.describe_mode(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        return (kind, st.st_size, st.st_mtime_ns)
    return (kind, 0, 0)


def level(directory: Path | int) -> Level:
    """The entries directly in ``directory`` (not following links), with what they are;
    a missing directory, or one that is a link, has none. At most
    :data:`safe_fs.COUNT_LIMIT` entries are read."""
    try:
        fd = safe_fs.open_dir_beneath(directory)
    except (FileNotFoundError, NotADirectoryError, safe_fs.LinkRefused):
        return {}
    found: Level = {}
    try:
        with os.scandir(fd) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):  # no stat needed: d_type says so
                    found[entry.name] = ("directory", 0, 0)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    found[entry.name] = _state(entry.stat(follow_symlinks=False))
                if len(found) >= safe_fs.COUNT_LIMIT:
                    break
    finally:
        os.close(fd)
    return found


def changes(before: Level, after: Level, where: str) -> list[str]:
    """Entries of one directory created, removed, or (files) changed between two looks."""
    found = []
    for name in sorted(set(before) | set(after)):
        path = f"{where}/{shown_name(name)}"
        if name not in before:
            found.append(f"{path} (created)")
        elif name not in after:
            found.append(f"{path} (removed)")
        elif before[name] != after[name] and (before[name][0], after[name][0]) != (
            "directory",
            "directory",
        ):
            found.append(f"{path} (modified)")
    return found


class Sandbox:
    """A testee's private directories and environment (see the module docstring)."""

    def __init__(self, cwd: str | None, env: Mapping[str, str] | None) -> None:
        try:
            self.root = Path(tempfile.mkdtemp(prefix="testee-")).resolve()
            (self.root / "cwd").mkdir()
            (self.root / "tmp").mkdir()
        except OSError as e:
            raise ImplementationFailure(f"cannot create the testee's sandbox: {e}") from e
        self.own_cwd = cwd is None
        self.cwd = Path(cwd).resolve() if cwd is not None else self.root / "cwd"
        full_env = dict(os.environ if env is None else env)
        full_env["TMPDIR"] = str(self.root / "tmp")
        pythonpath = full_env.get("PYTHONPATH")
        full_env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.env = full_env
        # A given cwd is the caller's: only changes at its top level count.
        self.cwd_before = level(self.cwd) if cwd is not None else {}

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            parent = os.open(self.root.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                safe_fs.remove_tree(parent, self.root.name)
            finally:
                os.close(parent)

    def cwd_escapes(self) -> list[str]:
        if self.own_cwd:
            return [f"{self.cwd}/{shown_name(n)} (created)" for n in sorted(level(self.cwd))]
        return changes(self.cwd_before, level(self.cwd), str(self.cwd))


class EscapeWatch:
    """The places a scenario's stray writes land, as they were when ``setup`` was sent."""

    def __init__(self, files_dir: Path, root: Path | None = None) -> None:
        self.files_dir = files_dir
        self.scenario_dir = files_dir.parent
        root = root if root is not None else self.scenario_dir.parent
        # The root must contain the scenario's directory, or the watch would cover
        # unrelated paths.
        if not self.scenario_dir.resolve().is_relative_to(root.resolve()):
            root = self.scenario_dir.parent
        self.root = root
        self.ancestors: list[Path] = []
        here = self.scenario_dir
        while here != root and root in here.parents:
            here = here.parent
            self.ancestors.append(here)
        self.levels = [level(a) for a in self.ancestors]

    def _own(self) -> list[str]:
        """What is in the scenario's directory besides ``files/`` (at setup: nothing)."""
        tree = safe_fs.walk(self.scenario_dir, skip=self.files_dir.name)
        found = [f"{self.scenario_dir}/{shown_name(rel)} (created)" for rel in tree.entries]
        if tree.more:
            found.append(f"{self.scenario_dir}/... ({tree.more} more created)")
        return found

    def found(self, sandbox: Sandbox) -> list[str]:
        """What changed outside ``files_dir`` since the watch began, as absolute paths."""
        changed = self._own()
        for ancestor, before in zip(self.ancestors, self.levels, strict=True):
            changed += changes(before, level(ancestor), str(ancestor))
        return changed + sandbox.cwd_escapes()


def describe(found: list[str]) -> str:
    """Escapes for a failure message: the first :data:`SHOWN_ESCAPES`, then how many more."""
    shown = ", ".join(found[:SHOWN_ESCAPES])
    rest = len(found) - SHOWN_ESCAPES
    return shown + (f" and {rest} more" if rest > 0 else "")
