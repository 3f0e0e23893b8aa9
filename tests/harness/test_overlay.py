"""A port's own scenarios beside the shipped corpus (``--overlay DIR``): goldens made by
the reference, judged like the corpus, reported as local and uncertified by ``verify``
(a failure only with ``--require-certified``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario import FIXTURES_DIR, ScenarioError, load_all, load_overlay

pytestmark = pytest.mark.timeout(120)


def overlay(tmp_path: Path, name: str = "port_own_basic") -> Path:
    """An overlay holding one scenario of the port's own (a copy of a shipped one)."""
    root = tmp_path / "overlay"
    (root / "fixtures" / "slot_count").mkdir(parents=True)
    data = json.loads((FIXTURES_DIR / "slot_count" / "basic.json").read_text())
    data["description"] = "The port's own: one fid."
    (root / "fixtures" / "slot_count" / f"{name}.json").write_text(json.dumps(data))
    return root


def test_regen_verify_and_run_an_overlay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = overlay(tmp_path)
    assert main(["--overlay", str(root), "regen"]) == 0
    assert (root / "golden" / "slot_count" / "port_own_basic" / "trace.jsonl").is_file()
    assert (root / "golden" / "MANIFEST.json").is_file()
    capsys.readouterr()
    assert main(["--overlay", str(root), "verify"]) == 0
    out = capsys.readouterr().out
    assert f"local: 1 scenario(s) of --overlay {root}, uncertified" in out
    assert out.splitlines()[-1] == "golden corpus consistent"
    assert main(["--overlay", str(root), "verify", "--require-certified"]) == 1
    assert "slot_count/port_own_basic: local, uncertified (--require-certified)" in (
        capsys.readouterr().out
    )
    assert main(["--overlay", str(root), "run", "-k", "port_own", "-k", "slot_count/basic"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "reference: 2 passed, 0 failed"
    assert main(["--overlay", str(root), "list"]) == 0
    assert "slot_count/port_own_basic [local]: The port's own: one fid." in (
        capsys.readouterr().out
    )


def test_an_overlay_golden_edited_by_hand_is_caught(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = overlay(tmp_path)
    assert main(["--overlay", str(root), "regen"]) == 0
    trace = root / "golden" / "slot_count" / "port_own_basic" / "trace.jsonl"
    trace.write_text(trace.read_text() + "\n")
    assert main(["--overlay", str(root), "run", "-k", "port_own"]) == 2
    assert "the golden corpus is corrupt" in capsys.readouterr().err


def test_an_overlay_may_not_take_a_shipped_id(tmp_path: Path) -> None:
    root = overlay(tmp_path, name="basic")
    with pytest.raises(ScenarioError, match="the shipped corpus already has a scenario"):
        load_overlay(root, load_all())
    shutil.rmtree(root / "fixtures")
    with pytest.raises(ScenarioError, match="no fixtures/ directory in it"):
        load_overlay(root, [])
