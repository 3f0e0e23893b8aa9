"""Goldens: the manifest catches hand edits, regeneration is atomic and idempotent."""

import json

import pytest

from harness.adapters.base import ImplementationFailure
from harness.adapters.inprocess import InProcessReference
from harness.golden import (
    MANIFEST,
    GoldenError,
    build_manifest,
    read_manifest,
    regenerate,
    stale_dirs,
    verify_manifest,
)
from harness.scenario import load_all, parse

SMALL = [
    parse(
        {
            "format": 1,
            "family": "slot_count",
            "description": "d",
            "config": {"tables": [{"fids": [1, "0x0005000000000001"]}]},
            "steps": [{"op": "save", "global_step": 3}],
        },
        "slot_count/small",
        "small",
    )
]


def test_committed_goldens_match_manifest():
    assert verify_manifest() == []


def test_no_stale_golden_dirs():
    assert stale_dirs(load_all()) == []


def test_regen_twice_changes_nothing(tmp_path):
    root = tmp_path / "golden"
    first = regenerate(SMALL, InProcessReference(), root)
    assert first.added == [
        MANIFEST,
        "slot_count/small/files/ckpt.info-3",
        "slot_count/small/listing.txt",
        "slot_count/small/trace.jsonl",
    ]
    second = regenerate(SMALL, InProcessReference(), root)
    assert (second.added, second.changed, second.removed) == ([], [], [])
    assert verify_manifest(root) == []
    assert (root / "slot_count/small/files/ckpt.info-3").read_text() == (
        "slot_counts {\n  key: 0\n  value: 1\n}\nslot_counts {\n  key: 5\n  value: 1\n}\n"
    )


def test_regen_reports_removed_and_leaves_no_stale(tmp_path):
    root = tmp_path / "golden"
    regenerate(SMALL, InProcessReference(), root)
    (root / "slot_count/old/files").mkdir(parents=True)
    (root / "slot_count/old/trace.jsonl").write_text("")
    report = regenerate(SMALL, InProcessReference(), root, force=True)
    assert report.removed == ["slot_count/old/trace.jsonl"]
    assert not (root / "slot_count/old").exists()
    assert report.lines() == [
        "removed slot_count/old/trace.jsonl",
        "golden: 0 added, 0 changed, 1 removed",
    ]


def test_hand_edit_is_caught(tmp_path):
    root = tmp_path / "golden"
    regenerate(SMALL, InProcessReference(), root)
    target = root / "slot_count/small/files/ckpt.info-3"
    target.write_bytes(target.read_bytes().replace(b"5", b"6"))
    (root / "slot_count/small/extra").write_text("x")
    (root / "slot_count/small/listing.txt").unlink()
    assert verify_manifest(root) == [
        "slot_count/small/extra: not in the manifest (added by hand?)",
        "slot_count/small/files/ckpt.info-3: sha256 differs from the manifest (edited by hand?)",
        "slot_count/small/listing.txt: in the manifest but missing",
    ]


def test_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(GoldenError, match=r"MANIFEST\.json: not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": 1, "files": {"a": "xyz"}}))
    with pytest.raises(GoldenError, match=r"files\['a'\]: not a sha256 hex digest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).unlink()
    with pytest.raises(GoldenError, match="missing; run the regeneration"):
        read_manifest(tmp_path)


class CrashingReference(InProcessReference):
    def step(self, index, step):
        raise ImplementationFailure("testee crashed")


class ExplodingReference(InProcessReference):
    def step(self, index, step):
        raise RuntimeError("boom")


def test_failed_regen_leaves_goldens_untouched(tmp_path):
    root = tmp_path / "golden"
    regenerate(SMALL, InProcessReference(), root)
    before = build_manifest(root)
    with pytest.raises(RuntimeError, match="boom"):
        regenerate(SMALL, ExplodingReference(), root)
    assert build_manifest(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden"]  # no staging left behind


def test_regen_refuses_a_scenario_the_reference_cannot_run(tmp_path):
    root = tmp_path / "golden"
    with pytest.raises(GoldenError, match="slot_count/small: the reference could not run it"):
        regenerate(SMALL, CrashingReference(), root)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_regen_into_an_empty_existing_dir_needs_no_force(tmp_path):
    root = tmp_path / "golden"
    root.mkdir()
    regenerate(SMALL, InProcessReference(), root)
    assert verify_manifest(root) == []
