"""Where the original Monolith modules come from: a work tree, or a git directory at a commit.

A :class:`Checkout` names the files this tier imports, read from the user's checkout and
hashed (sha256), so a certificate can say exactly which original it ran. A git directory
(a clone's ``.git``, a bare or mirror repository) is read with ``git show COMMIT:PATH``
into a private temporary directory; a work tree is read in place. Nothing is copied
into this project.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# The original modules this tier imports, by their module name in Monolith.
MODULES: dict[str, str] = {
    "monolith.native_training.barrier_ops": "monolith/native_training/barrier_ops.py",
    "monolith.native_training.hash_table_utils": "monolith/native_training/hash_table_utils.py",
    "monolith.native_training.hooks.ckpt_info": "monolith/native_training/hooks/ckpt_info.py",
    "monolith.native_training.hooks.controller_hooks": (
        "monolith/native_training/hooks/controller_hooks.py"
    ),
    "monolith.native_training.hooks.feature_engineering_hooks": (
        "monolith/native_training/hooks/feature_engineering_hooks.py"
    ),
    "monolith.native_training.hooks.hook_utils": "monolith/native_training/hooks/hook_utils.py",
}


class CheckoutError(RuntimeError):
    """The named checkout does not hold the original modules (the message says which)."""


@dataclass
class Checkout:
    """The original modules' files (``module name -> path``), their hashes and commit."""

    source: str
    commit: str | None
    files: dict[str, Path]
    sha256: dict[str, str] = field(default_factory=dict)
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def describe(self) -> str:
        where = f"{self.source} at {self.commit}" if self.commit else self.source
        return f"original Monolith modules from {where}"

    def close(self) -> None:
        """Remove the temporary work tree a git directory was read into (if any)."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _git(git_dir: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(
            ["git", f"--git-dir={git_dir}", *args],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CheckoutError(f"git {' '.join(args)} in {git_dir} failed: {e}") from e
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise CheckoutError(f"git {' '.join(args)} in {git_dir} failed: {message}")
    return done.stdout


def open_checkout(source: str | Path, commit: str | None = None) -> Checkout:
    """The original modules of ``source``: a work tree (``commit`` must be ``None``), or a
    git directory read at ``commit`` (default ``HEAD``)."""
    root = Path(source).expanduser().resolve()
    if not root.is_dir():
        raise CheckoutError(f"--monolith {source}: no such directory")
    if commit is not None or _is_git_dir(root):
        git_dir = root if _is_git_dir(root) else root / ".git"
        if not _is_git_dir(git_dir):
            raise CheckoutError(f"--monolith {source}: a commit needs a git directory")
        return _from_git(git_dir, commit or "HEAD", str(source))
    git_dir = root / ".git" if _is_git_dir(root / ".git") else None
    files = {name: root / rel for name, rel in MODULES.items()}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise CheckoutError(
            f"--monolith {source}: not a Monolith work tree (missing {', '.join(missing)})"
        )
    resolved = None
    if git_dir is not None:
        resolved = _git(git_dir, "rev-parse", "HEAD").decode().strip()
    return _hashed(Checkout(str(source), resolved, files))


def _from_git(git_dir: Path, commit: str, source: str) -> Checkout:
    resolved = _git(git_dir, "rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
    tmp = tempfile.TemporaryDirectory(prefix="monolith-original-")
    files: dict[str, Path] = {}
    for name, rel in MODULES.items():
        target = Path(tmp.name) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(git_dir, "show", f"{resolved}:{rel}"))
        files[name] = target
    return _hashed(Checkout(source, resolved, files, _tmp=tmp))


def _hashed(checkout: Checkout) -> Checkout:
    checkout.sha256 = {
        MODULES[name]: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in checkout.files.items()
    }
    return checkout
