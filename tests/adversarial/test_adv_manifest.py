"""A missing, corrupt or hand-edited golden manifest: ``harness verify`` says what is wrong.

Each case builds a small golden tree in a temporary directory (never touching
``golden/``), damages it, and checks the exit status and the exact message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import certificate
from harness.cli import main
from harness.golden import (
    MANIFEST,
    GoldenError,
    build_manifest,
    read_manifest,
    render_manifest,
    verify_manifest,
)
from harness.runner import PASSED, ScenarioResult
from harness.scenario import load_all

pytestmark = pytest.mark.timeout(60)

SCENARIO = {
    "format": 1,
    "family": "hook_utils",
    "description": "d",
    "config": {"listeners": ["before"]},
    "steps": [{"op": "begin"}],
}


CERTIFIED_ONE = "certificate: 1 certified, 0 not applicable, 0 uncertified\n"


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``(fixtures, golden)``: one scenario and a consistent golden tree for it."""
    fixtures, golden = tmp_path / "fixtures", tmp_path / "golden"
    (fixtures / "hook_utils").mkdir(parents=True)
    (fixtures / "hook_utils" / "one.json").write_text(json.dumps(SCENARIO))
    scenario_dir = golden / "hook_utils" / "one"
    (scenario_dir / "files").mkdir(parents=True)
    (scenario_dir / "trace.jsonl").write_bytes(b'{"event": "setup"}\n')
    (scenario_dir / "listing.txt").write_bytes(b"")
    (golden / MANIFEST).write_bytes(render_manifest(build_manifest(golden)))
    scenarios = load_all(fixtures)
    agreed = [ScenarioResult(scenario="hook_utils/one", implementation="original", status=PASSED)]
    certificate.write(
        certificate.build(scenarios, [agreed], golden, certificate.PINNED_UPSTREAM), golden
    )
    return fixtures, golden


def verify(tree: tuple[Path, Path], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    fixtures, golden = tree
    code = main(["--fixtures", str(fixtures), "--golden", str(golden), "verify"])
    out, err = capsys.readouterr()
    return code, out, err


def test_consistent_tree_verifies(tree: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    assert verify(tree, capsys) == (0, CERTIFIED_ONE + "golden corpus consistent\n", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "missing; run the regeneration (nox -s regen)"),
        (b"", "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"format": 1, "files": {', "not valid JSON: Expecting property name enclosed in"),
        (b"\xff\xfe{}", "not valid JSON: 'utf-8' codec can't decode byte 0xff in position 0"),
        (b'{"format": 2, "files": {}}', "expected {'format': 1, 'files': {path: sha256}}"),
        (b'{"format": 1}', "expected {'format': 1, 'files': {path: sha256}}"),
        (b'{"format": 1, "files": []}', "expected {'format': 1, 'files': {path: sha256}}"),
        (
            b'{"format": 1, "files": {"a": 5}}',
            "files['a']: not a sha256 hex digest: 5",
        ),
        (
            b'{"format": 1, "files": {"a": "abc"}}',
            "files['a']: not a sha256 hex digest: 'abc'",
        ),
    ],
    ids=["missing", "empty", "truncated", "non_utf8", "format", "no_files", "list", "int", "short"],
)
def test_bad_manifest_is_a_golden_error(
    tree: tuple[Path, Path], capsys: pytest.CaptureFixture, content: bytes | None, message: str
) -> None:
    manifest = tree[1] / MANIFEST
    if content is None:
        manifest.unlink()
    else:
        manifest.write_bytes(content)
    with pytest.raises(GoldenError) as info:
        read_manifest(tree[1])
    assert str(info.value).startswith(f"{manifest}: {message}")
    code, out, err = verify(tree, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {manifest}: {message}")


def test_hand_edits_are_each_reported(
    tree: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    golden = tree[1]
    (golden / "hook_utils" / "one" / "trace.jsonl").write_bytes(b'{"event": "edited"}\n')
    (golden / "hook_utils" / "one" / "listing.txt").unlink()
    (golden / "hook_utils" / "one" / "files" / "extra").write_bytes(b"x")
    assert verify_manifest(golden) == [
        "hook_utils/one/files/extra: not in the manifest (added by hand?)",
        "hook_utils/one/listing.txt: in the manifest but missing",
        "hook_utils/one/trace.jsonl: sha256 differs from the manifest (edited by hand?)",
    ]
    code, out, _ = verify(tree, capsys)
    assert code == 1
    assert out.splitlines()[-2:] == [
        "hook_utils/one: uncertified: the scenario or its golden changed since it was certified",
        "4 problem(s)",
    ]


def test_a_golden_dir_without_scenario_is_stale(
    tree: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    (tree[0] / "hook_utils" / "one.json").unlink()
    code, out, _ = verify(tree, capsys)
    assert (code, out) == (
        1,
        "certificate: 0 certified, 0 not applicable, 0 uncertified\n"
        "hook_utils/one: golden output with no scenario\n1 problem(s)\n",
    )


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"1", b"null"])
def test_a_manifest_that_is_not_an_object_is_a_golden_error(
    tree: tuple[Path, Path], content: bytes
) -> None:
    manifest = tree[1] / MANIFEST
    manifest.write_bytes(content)
    with pytest.raises(GoldenError) as info:
        read_manifest(tree[1])
    assert str(info.value) == f"{manifest}: expected {{'format': 1, 'files': {{path: sha256}}}}"
