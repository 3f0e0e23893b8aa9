"""Links and special files an implementation leaves in its output: never followed.

* Reading: a symbolic link is compared as a link (its target text), never read through;
  it fails the scenario unless the golden has the same link. A fifo is named, not opened
  for reading (opening it would hang the comparer).
* Writing: the harness's own writes (``write_action``, ``remove_file``, ``listing.txt``,
  ``trace.jsonl``) refuse to go through a link and fail the scenario saying so; nothing
  outside the output directory is touched.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from adv_helpers import scenario

from harness.adapters.inprocess import InProcessReference
from harness.compare import compare_output
from harness.driver import run_scenario
from harness.scenario import parse

pytestmark = pytest.mark.timeout(60)

SECRET = "root:x:0:0:SECRET-LINE\n"
CKPT = "slot_counts {\n  key: 0\n  value: 1\n}\n"


def golden_and_actual(tmp_path: Path) -> tuple[Path, Path, Path]:
    golden, actual = tmp_path / "golden", tmp_path / "actual"
    for root in (golden, actual):
        (root / "files" / "model").mkdir(parents=True)
    (golden / "files/model/ckpt.info-0").write_text(CKPT)
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    return golden, actual, secret


def test_a_link_to_a_secret_is_reported_as_a_link_not_read(tmp_path: Path) -> None:
    golden, actual, secret = golden_and_actual(tmp_path)
    os.symlink(secret, actual / "files/model/ckpt.info-0")
    (d,) = compare_output(golden, actual)
    assert (d.path, d.kind) == ("files/model/ckpt.info-0", "ckpt_info")
    assert d.explanation == (
        f"expected a file of {len(CKPT)} bytes, found a symbolic link to {str(secret)!r}"
    )
    assert "SECRET" not in str(d)


def test_a_link_to_the_golden_file_itself_fails(tmp_path: Path) -> None:
    golden, actual, _ = golden_and_actual(tmp_path)
    os.symlink(golden / "files/model/ckpt.info-0", actual / "files/model/ckpt.info-0")
    (d,) = compare_output(golden, actual)
    assert d.explanation.startswith(f"expected a file of {len(CKPT)} bytes, found a symbolic link")


def test_an_unexpected_link_to_a_directory_is_not_descended(tmp_path: Path) -> None:
    golden, actual, secret = golden_and_actual(tmp_path)
    (actual / "files/model/ckpt.info-0").write_text(CKPT)
    os.symlink(secret.parent, actual / "files/escape")
    (d,) = compare_output(golden, actual)
    assert d.path == "files/escape"
    assert d.explanation == (
        f"file was written but not expected (a symbolic link to {str(secret.parent)!r}; "
        "not followed)"
    )


def test_the_same_link_on_both_sides_is_equal(tmp_path: Path) -> None:
    golden, actual, _ = golden_and_actual(tmp_path)
    (actual / "files/model/ckpt.info-0").write_text(CKPT)
    for root in (golden, actual):
        os.symlink("ckpt.info-0", root / "files/model/latest")
    assert compare_output(golden, actual) == []
    os.unlink(actual / "files/model/latest")
    os.symlink("elsewhere", actual / "files/model/latest")
    (d,) = compare_output(golden, actual)
    assert d.explanation == (
        "expected a symbolic link to 'ckpt.info-0', found a symbolic link to 'elsewhere'"
    )


def test_a_fifo_is_named_and_never_opened(tmp_path: Path) -> None:
    golden, actual, _ = golden_and_actual(tmp_path)
    os.mkfifo(actual / "files/model/ckpt.info-0")
    (d,) = compare_output(golden, actual)
    assert d.explanation == f"expected a file of {len(CKPT)} bytes, found a fifo"


class Planting(InProcessReference):
    """The reference, after planting links in its files/ at set-up."""

    def __init__(self, links: dict[str, Path]) -> None:
        super().__init__()
        self.links = links

    def setup(self, scenario: Any, files_dir: str) -> Any:
        for rel, target in self.links.items():
            (Path(files_dir) / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, Path(files_dir) / rel)
        return super().setup(scenario, files_dir)


def run_with_links(tmp_path: Path, links: dict[str, Path], config: dict[str, Any]) -> Any:
    data = scenario("controller", [{"op": "write_action", "text": "action: STOP"}], config)
    return run_scenario(parse(data, "controller/x", "f.json"), Planting(links), tmp_path / "out")


def test_write_action_refuses_a_linked_model_dir(tmp_path: Path) -> None:
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "monolith_action").write_text("keep")
    result = run_with_links(tmp_path, {"jobs": victim_dir}, {"model_dir": "jobs/model"})
    assert result.failure == (
        "write_action 'jobs/model': files/jobs is a symbolic link; the harness does not follow it"
    )
    assert os.listdir(victim_dir) == ["monolith_action"]
    assert (victim_dir / "monolith_action").read_text() == "keep"


def test_write_action_refuses_a_link_at_its_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    result = run_with_links(
        tmp_path, {"model/.monolith_action.harness-tmp": victim}, {"model_dir": "model"}
    )
    assert result.failure == (
        "write_action 'model': files/model/.monolith_action.harness-tmp already exists "
        "(symbolic link); the harness does not write through what an implementation left"
    )
    assert victim.read_text() == "keep"


def test_write_action_replaces_a_link_at_the_action_file_without_following_it(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    result = run_with_links(tmp_path, {"model/monolith_action": victim}, {"model_dir": "model"})
    assert result.failure is None
    assert victim.read_text() == "keep"
    assert (tmp_path / "out/files/model/monolith_action").read_text() == "action: STOP"


def test_listing_shows_links_and_the_harness_outputs_are_not_written_through(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    result = run_with_links(
        tmp_path, {"../listing.txt": victim, "../trace.jsonl": victim, "a": victim}, {}
    )
    assert result.failure == (
        "the implementation left a symbolic link at listing.txt; "
        "the implementation left a symbolic link at trace.jsonl"
    )
    assert victim.read_text() == "keep"
    assert (tmp_path / "out/listing.txt").read_text() == f"a -> {victim}\nmonolith_action\n"
    assert not (tmp_path / "out/trace.jsonl").is_symlink()


def test_a_newline_in_a_name_cannot_forge_listing_entries(tmp_path: Path) -> None:
    result = run_with_links(tmp_path, {"x\nmonolith_action_response": tmp_path}, {})
    assert result.failure is None
    assert (tmp_path / "out/listing.txt").read_text().splitlines() == [
        "monolith_action",
        f"x\\nmonolith_action_response -> {tmp_path}",
    ]
