"""Regeneration killed at any instant, or run over changes it would lose.

* A kill (SIGKILL, in a child process) before, at or after the swap leaves either the old
  or the new corpus whole at ``golden/``; with the exchange unavailable, a kill between
  the fallback's two renames leaves no ``golden/``, and the next regeneration restores
  the old corpus before going on. Left-over ``.golden-regen-*`` / ``.golden-old-*`` trees
  are removed by the next run, and git ignores them.
* Regeneration refuses to discard an untracked or modified golden file (git checkout) or
  a hand edit (no git: the manifest), naming each, unless forced.
* ``run`` checks the manifest first: a corrupted golden is reported as such (exit 2), not
  judged.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.adapters.inprocess import InProcessReference
from harness.cli import main
from harness.golden import (
    GoldenError,
    check_corpus,
    clean_leftovers,
    regenerate,
    verify_manifest,
)
from harness.scenario import parse

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


def small(global_step: int) -> list:
    data = {
        "format": 1,
        "family": "slot_count",
        "description": "d",
        "config": {"tables": [{"fids": [1, "0x0005000000000001"]}]},
        "steps": [{"op": "save", "global_step": global_step}],
    }
    return [parse(data, "slot_count/small", "small")]


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import harness.golden as g
    from harness.adapters.inprocess import InProcessReference
    from harness.scenario import parse

    root, where = sys.argv[1], sys.argv[2]
    data = {"format": 1, "family": "slot_count", "description": "d",
            "config": {"tables": [{"fids": [1]}]}, "steps": [{"op": "save", "global_step": 9}]}
    scenarios = [parse(data, "slot_count/small", "small")]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    real_exchange, real_rename = g.exchange, os.rename
    if where == "building":
        g.run_scenario = die
    elif where == "after_exchange":
        def exchange(a, b):
            assert real_exchange(a, b), "no RENAME_EXCHANGE here"
            die()
        g.exchange = exchange
    elif where == "between_renames":
        g.exchange = lambda a, b: False
        calls = []
        def rename(a, b):
            calls.append(a)
            if len(calls) == 2:
                die()
            real_rename(a, b)
        os.rename = rename
    g.regenerate(scenarios, InProcessReference(), g.Path(root))
    """
)


def kill_during(root: Path, where: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), where], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr


def siblings(root: Path) -> list[str]:
    return sorted(p.name for p in root.parent.iterdir() if p.name != root.name)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "golden"
    regenerate(small(3), InProcessReference(), root)
    return root


def test_killed_while_building_leaves_the_old_corpus(root: Path) -> None:
    kill_during(root, "building")
    assert verify_manifest(root) == []
    assert (root / "slot_count/small/files/ckpt.info-3").is_file()
    (left,) = siblings(root)
    assert left.startswith(".golden-regen-")
    assert clean_leftovers(root) == [f"removed {left} (left by an interrupted regeneration)"]
    assert siblings(root) == []


@pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux only")
def test_killed_right_after_the_exchange_leaves_the_new_corpus(root: Path) -> None:
    kill_during(root, "after_exchange")
    assert verify_manifest(root) == []
    assert (root / "slot_count/small/files/ckpt.info-9").is_file()
    (left,) = siblings(root)  # the old corpus, at the staging name
    assert (root.parent / left / "slot_count/small/files/ckpt.info-3").is_file()
    regenerate(small(3), InProcessReference(), root)
    assert siblings(root) == []


def test_killed_between_the_fallback_renames_is_restored_next_time(root: Path) -> None:
    kill_during(root, "between_renames")
    assert not root.exists()
    assert sorted(n.split("-")[1] for n in siblings(root)) == ["old", "regen"]
    report = regenerate(small(3), InProcessReference(), root)
    assert (report.added, report.changed, report.removed) == ([], [], [])  # old one restored
    assert verify_manifest(root) == []
    assert siblings(root) == []


def test_leftovers_are_ignored_by_git() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    names = [".golden-regen-123-abcd/MANIFEST.json", ".golden-old-123/x/trace.jsonl"]
    proc = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", *names], capture_output=True, text=True
    )
    assert proc.stdout.splitlines() == names


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_regen_refuses_untracked_and_modified_goldens_in_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    root = repo / "golden"
    regenerate(small(3), InProcessReference(), root)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "goldens")
    regenerate(small(3), InProcessReference(), root)  # clean: allowed
    (root / "NOTES.md").write_text("hand notes")
    listing = root / "slot_count/small/listing.txt"
    listing.write_text("edited\n")
    with pytest.raises(GoldenError) as e:
        regenerate(small(3), InProcessReference(), root)
    assert str(e.value).splitlines()[1:] == [
        "  git:  M golden/slot_count/small/listing.txt",
        "  git: ?? golden/NOTES.md",
        "commit or remove them first, or pass --force to discard them",
    ]
    assert (root / "NOTES.md").read_text() == "hand notes"
    assert listing.read_text() == "edited\n"
    assert main(["--golden", str(root), "regen"]) == 2
    assert (root / "NOTES.md").exists()
    assert (
        main(["--golden", str(root), "--fixtures", str(tmp_path / "none"), "regen", "--force"]) == 0
    )
    assert sorted(p.name for p in root.iterdir()) == ["MANIFEST.json"]  # an empty corpus


def test_regen_outside_git_refuses_a_hand_edit(root: Path) -> None:
    target = root / "slot_count/small/files/ckpt.info-3"
    target.write_text("hand edit")
    with pytest.raises(GoldenError, match=r"ckpt\.info-3: sha256 differs from the manifest"):
        regenerate(small(3), InProcessReference(), root)
    assert target.read_text() == "hand edit"
    regenerate(small(3), InProcessReference(), root, force=True)
    assert verify_manifest(root) == []


def test_run_reports_a_corrupted_golden_as_such(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixtures = tmp_path / "fixtures/slot_count"
    fixtures.mkdir(parents=True)
    (fixtures / "small.json").write_text(
        '{"format": 1, "family": "slot_count", "description": "d", "config": {"tables": '
        '[{"fids": [1, "0x0005000000000001"]}]}, "steps": [{"op": "save", "global_step": 3}]}'
    )
    args = ["--golden", str(root), "--fixtures", str(tmp_path / "fixtures"), "run"]
    assert main([*args, "--work", str(tmp_path / "w1")]) == 0
    target = root / "slot_count/small/files/ckpt.info-3"
    target.write_bytes(target.read_bytes().replace(b"5", b"6"))
    capsys.readouterr()
    assert main([*args, "--work", str(tmp_path / "w2")]) == 2
    err = capsys.readouterr().err
    assert "the golden corpus is corrupt" in err
    assert "slot_count/small/files/ckpt.info-3: sha256 differs from the manifest" in err
    assert not (tmp_path / "w2").exists()  # nothing was judged
    with pytest.raises(GoldenError, match="corrupt"):
        check_corpus(root)
