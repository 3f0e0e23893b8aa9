"""The reference served over the protocol behaves exactly like the reference in process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import cli
from harness.adapters.inprocess import InProcessReference
from harness.adapters.subprocess_testee import SubprocessTestee
from harness.runner import PASSED, run_corpus
from harness.scenario import Scenario


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` -> its bytes (None for a directory)."""
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def test_whole_corpus_identical_to_in_process(
    corpus: list[Scenario], reference_argv: list[str], tmp_path: Path, sandbox: str
) -> None:
    """In each sandbox (unconfined and, where it works, under bubblewrap)."""
    inproc = run_corpus(corpus, InProcessReference(), tmp_path / "inproc")
    testee = SubprocessTestee(reference_argv, sandbox=sandbox)
    try:
        sub = run_corpus(corpus, testee, tmp_path / "sub")
    finally:
        testee.close()
    assert [(r.scenario, r.status, r.failure) for r in sub] == [
        (r.scenario, r.status, r.failure) for r in inproc
    ]
    assert all(r.status == PASSED for r in sub), [r.explanation() for r in sub if not r.ok]
    assert testee.starts == 1, "one persistent process serves the whole corpus"
    assert testee.name == "reference"
    assert {r.sandbox for r in sub} == {sandbox}
    assert tree(tmp_path / "sub") == tree(tmp_path / "inproc")


def test_capabilities_from_hello(reference_argv: list[str]) -> None:
    testee = SubprocessTestee(reference_argv)
    try:
        caps = testee.capabilities()
        assert caps == InProcessReference().capabilities()
        pid = testee.pid
        assert pid is not None
    finally:
        testee.close()
    assert testee.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: no zombie, nothing left running
    testee.close()  # idempotent


def test_cli_routes_a_command_line_to_the_subprocess_adapter(
    reference_argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    junit = tmp_path / "junit.xml"
    status = cli.main(
        [
            "run",
            "--impl",
            shlex.join(reference_argv),
            "--work",
            str(tmp_path / "work"),
            "--junit",
            str(junit),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert " 0 failed" in out
    assert 'name="parity.reference"' in junit.read_text()
    assert (tmp_path / "work" / "reference").is_dir()


def test_relative_script_path_resolved_against_the_harness_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corpus: list[Scenario]
) -> None:
    import sys

    script = tmp_path / "bin" / "testee.py"
    script.parent.mkdir()
    script.write_text("import sys\nfrom reference.testee.__main__ import main\nsys.exit(main())\n")
    monkeypatch.chdir(tmp_path)
    testee = SubprocessTestee([sys.executable, "bin/testee.py"], name="relative")
    try:
        results = run_corpus(corpus[:1], testee, tmp_path / "out")
    finally:
        testee.close()
    assert results[0].status == PASSED, results[0].explanation()
    assert results[0].implementation == "relative"


def test_name_known_before_the_first_scenario(reference_argv: list[str]) -> None:
    testee = SubprocessTestee(reference_argv)
    try:
        assert testee.name == "reference"  # the CLI names the output dir before running
        assert testee.starts == 1
    finally:
        testee.close()
    broken = SubprocessTestee(["/nonexistent/dir/my-testee", "--flag"])
    assert broken.name == "my-testee"
    assert SubprocessTestee(["python3", "-m", "pkg.testee"], name="given").name == "given"


@pytest.mark.tf
def test_tf_tier_over_the_protocol(corpus: list[Scenario], tmp_path: Path) -> None:
    """``python -m reference.testee --tier tf`` gives the in-process TF tier's results."""
    pytest.importorskip("tensorflow")
    import sys

    from harness.adapters.tf_tier import TensorFlowTier

    some = [s for s in corpus if s.family in ("slot_count", "feature_dump")][:12]
    inproc = run_corpus(some, TensorFlowTier(), tmp_path / "inproc")
    testee = SubprocessTestee([sys.executable, "-m", "reference.testee", "--tier", "tf"])
    try:
        sub = run_corpus(some, testee, tmp_path / "sub")
    finally:
        testee.close()
    assert testee.name == "tf"
    assert [(r.scenario, r.status, r.reason) for r in sub] == [
        (r.scenario, r.status, r.reason) for r in inproc
    ]
    assert tree(tmp_path / "sub") == tree(tmp_path / "inproc")
