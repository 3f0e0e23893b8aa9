"""Where a testee runs, and the escape rule that checks it stayed in its ``files/``.

:class:`Sandbox` is a fresh temporary directory holding the testee's working directory
(``cwd/``, unless the caller gives one) and its ``TMPDIR`` (``tmp/``); it is removed with
the process. :class:`EscapeWatch` is the tripwire of ``docs/protocol.md`` ("The escape
rule"): it snapshots the *watched root* (the run's work directory, at any depth, except
the scenario's ``files_dir``) and the working directory at ``setup``, and after
``teardown`` lists every path created, removed or modified there. It is a tripwire for the
usual mistakes (a relative path, a ``..`` too many), not a sandbox: a testee writing to
some other absolute path is not caught.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from harness.adapters.base import ImplementationFailure

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Snapshot = dict[str, tuple[bool, int, int]]  # relative path -> (is_dir, size, mtime_ns)


def snapshot(root: str | os.PathLike[str], skip: str | os.PathLike[str] | None = None) -> Snapshot:
    """Every path under ``root`` (not following symlinks), except the subtree ``skip``."""
    root = Path(root)
    skip_path = Path(skip).resolve() if skip is not None else None
    found: Snapshot = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip_path is not None:
            dirnames[:] = [d for d in dirnames if (here / d).resolve() != skip_path]
        for name in dirnames + filenames:
            path = here / name
            try:
                st = path.lstat()
            except FileNotFoundError:  # removed while walking
                continue
            rel = path.relative_to(root).as_posix()
            found[rel] = (path.is_dir() and not path.is_symlink(), st.st_size, st.st_mtime_ns)
    return found


def escapes(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths created, changed or removed between two snapshots (directories: created or
    removed only, since their mtime moves whenever an entry does)."""
    changed = []
    for rel in sorted(set(before) | set(after)):
        if rel not in before:
            changed.append(f"{rel} (created)")
        elif rel not in after:
            changed.append(f"{rel} (removed)")
        elif not after[rel][0] and before[rel] != after[rel]:
            changed.append(f"{rel} (modified)")
    return changed


class Sandbox:
    """A testee's private directories and environment (see the module docstring)."""

    def __init__(self, cwd: str | None, env: Mapping[str, str] | None) -> None:
        try:
            self.root = Path(tempfile.mkdtemp(prefix="testee-"))
            (self.root / "cwd").mkdir()
            (self.root / "tmp").mkdir()
        except OSError as e:
            raise ImplementationFailure(f"cannot create the testee's sandbox: {e}") from e
        self.own_cwd = cwd is None
        self.cwd = Path(cwd) if cwd is not None else self.root / "cwd"
        full_env = dict(os.environ if env is None else env)
        full_env["TMPDIR"] = str(self.root / "tmp")
        pythonpath = full_env.get("PYTHONPATH")
        full_env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + pythonpath if pythonpath else "")
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        self.env = full_env
        # A given cwd is the caller's: only new entries at its top level count.
        self.cwd_top = {k for k in snapshot(self.cwd) if "/" not in k} if cwd else set()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def cwd_escapes(self) -> list[str]:
        if self.own_cwd:
            return [f"{self.cwd / rel} (created)" for rel in sorted(snapshot(self.cwd))]
        after = {k for k in snapshot(self.cwd) if "/" not in k}
        return [f"{self.cwd / rel} (created)" for rel in sorted(after - self.cwd_top)]


class EscapeWatch:
    """The watched root as it was when a scenario's ``setup`` was sent."""

    def __init__(self, files_dir: Path, root: Path | None = None) -> None:
        self.files_dir = files_dir
        root = root if root is not None else files_dir.parent
        # The root must contain files_dir, or the watch would cover unrelated paths.
        if not files_dir.resolve().is_relative_to(root.resolve()):
            root = files_dir.parent
        self.root = root
        self.before = snapshot(root, skip=files_dir)

    def found(self, sandbox: Sandbox) -> list[str]:
        """What changed outside ``files_dir`` since the watch began, as absolute paths."""
        changed = escapes(self.before, snapshot(self.root, skip=self.files_dir))
        return [f"{self.root / rel}" for rel in changed] + sandbox.cwd_escapes()
