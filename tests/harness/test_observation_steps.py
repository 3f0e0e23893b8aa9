"""Harness-side observation: ``before_setup``, ``snapshot`` and ``advance_until``
(docs/scenarios.md, "Steps every family accepts"), run through the driver."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.adapters.inprocess import InProcessReference
from harness.driver import run_scenario
from harness.protocol import scenario_bound
from harness.scenario import ScenarioError, parse

BASE = {"format": 1, "family": "controller", "description": "d"}


def scenario(steps: list[dict[str, Any]], **extra: Any) -> Any:
    config = extra.pop("config", {"query_action": True, "query_interval": 10})
    return parse({**BASE, "config": config, "steps": steps, **extra}, "controller/x", "f.json")


def trace(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "trace.jsonl").read_text().splitlines()]


class Recording(InProcessReference):
    """The reference, recording the steps it was sent and whether the action file was
    already there at set-up."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.at_setup: list[str] = []

    def setup(self, scenario: Any, files_dir: str) -> Any:
        self.at_setup = sorted(os.listdir(files_dir))
        return super().setup(scenario, files_dir)

    def step(self, index: int, step: dict[str, Any]) -> Any:
        self.sent.append((index, dict(step)))
        return super().step(index, step)


def test_before_setup_files_exist_when_the_session_is_created(tmp_path: Path) -> None:
    impl = Recording()
    s = scenario([{"op": "run"}], before_setup=[{"op": "write_action", "text": "action: STOP"}])
    result = run_scenario(s, impl, tmp_path / "o")
    assert result.failure is None
    assert impl.at_setup == ["monolith_action"]
    assert trace(tmp_path / "o")[0] == {"event": "setup"}


@pytest.mark.parametrize("op", ["snapshot", "advance", "run"])
def test_before_setup_takes_only_file_steps(op: str) -> None:
    with pytest.raises(ScenarioError, match=r"before_setup\[0\]\.op: .* cannot happen before"):
        scenario([], before_setup=[{"op": op, "seconds": 1}])


def test_snapshot_lists_and_reads(tmp_path: Path) -> None:
    s = scenario(
        [
            {"op": "write_action", "base64": "/w=="},
            {"op": "snapshot", "read": ["monolith_action", "nothing/here"]},
        ]
    )
    assert run_scenario(s, InProcessReference(), tmp_path / "o").failure is None
    assert trace(tmp_path / "o")[3] == {
        "event": "snapshot",
        "listing": ["monolith_action"],
        "files": {"monolith_action": {"base64": "/w=="}, "nothing/here": None},
    }


def test_snapshot_does_not_follow_a_link_the_implementation_left(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("no")

    class Linking(InProcessReference):
        def setup(self, scenario: Any, files_dir: str) -> Any:
            os.symlink(outside / "secret", Path(files_dir) / "link")
            return super().setup(scenario, files_dir)

    s = scenario([{"op": "snapshot", "read": ["link"]}])
    result = run_scenario(s, Linking(), tmp_path / "o")
    assert result.failure == "snapshot: link is a symbolic link; it is not followed"
    assert "no" not in (tmp_path / "o" / "trace.jsonl").read_text()


def test_snapshot_reads_are_bounded(tmp_path: Path) -> None:
    class Big(InProcessReference):
        def setup(self, scenario: Any, files_dir: str) -> Any:
            (Path(files_dir) / "big").write_bytes(b"x" * ((1 << 20) + 1))
            return super().setup(scenario, files_dir)

    result = run_scenario(scenario([{"op": "snapshot", "read": ["big"]}]), Big(), tmp_path / "o")
    assert result.failure == "snapshot: big: 1048577 bytes, more than the 1048576 read at most"


def test_advance_until_sends_advances_and_records_their_number(tmp_path: Path) -> None:
    impl = Recording()
    until = {"op": "advance_until", "until": "action_removed", "step_seconds": 4}
    s = scenario(
        [
            {"op": "write_action", "text": "action: TRIGGER_SAVE"},
            {**until, "max_seconds": 30},
            {**until, "max_seconds": 30},
        ]
    )
    assert run_scenario(s, impl, tmp_path / "o").failure is None
    # polled at t=10: after the third advance of 4 s; then it holds at once
    assert impl.sent == [(1, {"op": "advance", "seconds": 4})] * 3
    events = [e for e in trace(tmp_path / "o") if e["event"] == "until"]
    assert events == [
        {"event": "until", "until": "action_removed", "held": True, "advances": 3},
        {"event": "until", "until": "action_removed", "held": True, "advances": 0},
    ]


def test_advance_until_stops_at_max_seconds(tmp_path: Path) -> None:
    impl = Recording()
    step = {"op": "advance_until", "until": "response_written", "step_seconds": 3}
    s = scenario([{**step, "max_seconds": 7}])
    assert run_scenario(s, impl, tmp_path / "o").failure is None
    assert len(impl.sent) == 3  # ceil(7 / 3)
    assert trace(tmp_path / "o")[-2] == {
        "event": "until",
        "until": "response_written",
        "held": False,
        "advances": 3,
    }


def test_advance_until_is_bounded_and_counted_in_the_scenario_bound() -> None:
    step = {"op": "advance_until", "until": "action_removed", "step_seconds": 0.001}
    with pytest.raises(ScenarioError, match=r"steps\[0\]: max_seconds / step_seconds is"):
        scenario([{**step, "max_seconds": 1000}])
    s = scenario([{**step, "step_seconds": 2, "max_seconds": 10}])
    plain = scenario([])
    # five advances of 2 s for a real-time testee, each with its own reply timeout
    assert scenario_bound(s.steps, 1.0) - scenario_bound(plain.steps, 1.0) == pytest.approx(
        5 * (1.0 + 2 * 1.5)
    )
