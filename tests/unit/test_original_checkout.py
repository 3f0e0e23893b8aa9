"""Reading the original modules from a work tree or a git directory at a commit."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from reference.original.checkout import MODULES, CheckoutError, open_checkout


def _tree(root: Path, marker: str) -> None:
    for rel in MODULES.values():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {marker}: {rel}\n")


def _git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
        "HOME": str(repo),
    }
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    return done.stdout.decode().strip()


def test_a_work_tree_is_read_in_place_and_hashed(tmp_path: Path) -> None:
    _tree(tmp_path, "v1")
    checkout = open_checkout(tmp_path)
    rel = "monolith/native_training/barrier_ops.py"
    assert checkout.files["monolith.native_training.barrier_ops"] == tmp_path / rel
    assert checkout.sha256[rel] == hashlib.sha256(f"# v1: {rel}\n".encode()).hexdigest()
    assert checkout.commit is None


def test_a_git_dir_is_read_at_the_named_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _tree(repo, "old")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "old")
    old = _git(repo, "rev-parse", "HEAD")
    _tree(repo, "new")
    _git(repo, "commit", "-qam", "new")
    checkout = open_checkout(repo / ".git", old[:7])
    assert checkout.commit == old
    rel = "monolith/native_training/hooks/ckpt_info.py"
    assert (
        checkout.files["monolith.native_training.hooks.ckpt_info"].read_text() == f"# old: {rel}\n"
    )
    assert not str(checkout.files["monolith.native_training.hooks.ckpt_info"]).startswith(str(repo))


def test_missing_modules_and_unknown_commits_are_named(tmp_path: Path) -> None:
    (tmp_path / "monolith").mkdir()
    with pytest.raises(CheckoutError, match=r"not a Monolith work tree .*barrier_ops\.py"):
        open_checkout(tmp_path)
    with pytest.raises(CheckoutError, match="a commit needs a git directory"):
        open_checkout(tmp_path, "abc1234")
    with pytest.raises(CheckoutError, match="no such directory"):
        open_checkout(tmp_path / "absent")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    with pytest.raises(CheckoutError, match="rev-parse"):
        open_checkout(repo, "deadbeef")
