"""The cluster judge on made-up observations: outcomes, counts, files, dumps, ckpt.info."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness.cluster.judge import judge, matches_count
from harness.cluster.runner import Observation
from harness.cluster.scenario import ClusterScenario, load_all
from reference.protos.example_pb2 import ExampleBatch

SCENARIOS = {s.id: s for s in load_all()}


def _observation(
    scenario: ClusterScenario,
    tasks: dict[str, dict[str, Any]],
    files: dict[str, bytes] | None = None,
    failure: str | None = None,
) -> Observation:
    return Observation(
        scenario=scenario,
        tier="tf",
        tasks=tasks,
        files=files or {},
        run_dir=Path("/nonexistent"),
        seconds=1.0,
        attempts=1,
        step_failure=failure,
    )


def _stop_tasks() -> dict[str, dict[str, Any]]:
    return {
        "chief": {
            "exit": 0,
            "should_stop": True,
            "callbacks": ["place:Stop"],
            "trigger_saves": 0,
            "longest_run": 2.1,
        },
        "worker1": {"exit": 0, "should_stop": True, "callbacks": ["wait:Stop"]},
        "worker2": {"exit": 0, "should_stop": True, "callbacks": ["wait:Stop"]},
    }


STOP_FILES = {"monolith_action_response": b"OK"}


def test_counts_and_ranges() -> None:
    assert matches_count(3, 3)
    assert not matches_count(3, 4)
    assert matches_count({"min": 29}, 30.1)
    assert not matches_count({"min": 29}, 2.0)
    assert matches_count({"max": 25}, 2.0)
    assert not matches_count({"max": 25}, None)
    assert not matches_count({"min": 0}, True)


def test_a_stop_that_went_as_expected_passes() -> None:
    verdict = judge(
        _observation(SCENARIOS["cluster/stop_through_barrier"], _stop_tasks(), STOP_FILES)
    )
    assert verdict.passed and verdict.outcome is None and verdict.problems == []


def test_each_difference_is_named() -> None:
    tasks = _stop_tasks()
    tasks["worker2"]["callbacks"] = ["wait:"]
    tasks["chief"]["longest_run"] = 30.2
    files = {"monolith_action": b"action: STOP", "monolith_action_response": b"OK\n"}
    verdict = judge(_observation(SCENARIOS["cluster/stop_through_barrier"], tasks, files))
    assert not verdict.passed
    assert "worker2.callbacks: expected ['wait:Stop'], got ['wait:']" in verdict.problems
    assert "chief.longest_run: expected [, 25], got 30.2" in verdict.problems
    assert any(p.startswith("monolith_action: expected absent") for p in verdict.problems)
    assert any(p.startswith("monolith_action_response: expected 'OK'") for p in verdict.problems)


def test_a_failed_step_always_fails() -> None:
    observation = _observation(
        SCENARIOS["cluster/stop_through_barrier"], _stop_tasks(), STOP_FILES, failure="steps[2]: x"
    )
    verdict = judge(observation)
    assert not verdict.passed and verdict.problems == ["steps[2]: x"]


def test_a_task_killed_at_the_deadline_fails_even_unasked() -> None:
    scenario = SCENARIOS["cluster/feature_dumps_per_task"]
    tasks = {
        "chief": {"exit": -15, "killed": True},
        "worker1": {"exit": 0},
        "worker2": {"exit": 0},
    }
    problems = judge(_observation(scenario, tasks)).problems
    assert "chief.exit: expected 0, got -15" in problems
    assert "chief: killed by the runner at the deadline" not in problems  # exit says it


def _race(chief: dict[str, Any], worker: dict[str, Any]) -> Observation:
    return _observation(
        SCENARIOS["cluster/workers_race_to_place"],
        {"chief": chief, "worker1": worker},
        STOP_FILES,
    )


PLACED = {"exit": 0, "should_stop": True, "callbacks": ["place:Stop"], "longest_run": 30.1}
LOST = {"exit": 1, "error": "BarrierAlreadyPlacedError", "callbacks": []}


@pytest.mark.parametrize(
    ("chief", "worker", "outcome"),
    [(LOST, PLACED, "worker_first"), (PLACED, LOST, "chief_first"), (PLACED, PLACED, "together")],
)
def test_every_legal_race_outcome_passes_and_is_named(
    chief: dict[str, Any], worker: dict[str, Any], outcome: str
) -> None:
    verdict = judge(_race(chief, worker))
    assert verdict.passed and verdict.outcome == outcome


def test_an_illegal_race_outcome_fails_with_the_closest() -> None:
    verdict = judge(_race(LOST, LOST))
    assert not verdict.passed
    assert verdict.closest in ("worker_first", "chief_first")
    assert len(verdict.problems) == 4


# -- feature dumps ------------------------------------------------------------------------


def _stream(elements: list[dict[str, list[list[int]]]]) -> bytes:
    out = b""
    for element in elements:
        batch = ExampleBatch()
        for name, rows in element.items():
            named = batch.named_feature_list.add()
            named.name = name
            for row in rows:
                named.feature.add().fid_v2_list.value.extend(row)
            batch.batch_size = len(rows)
        payload = batch.SerializeToString()
        out += struct.pack("<QQ", 0, len(payload)) + payload
    return out


def _dumps(scenario: ClusterScenario, layout: dict[str, list[int]]) -> dict[str, bytes]:
    """Files as the hooks write them: each task's elements from the second on, split into
    files of the given sizes, named with uuid1s in time order."""
    files = {}
    for task, sizes in layout.items():
        prefix = "chief" if task == "chief" else task
        elements = scenario.tasks[task]["dataset"][1:]
        for size in sizes:
            files[f"features/{prefix}_{uuid.uuid1()}.pb"] = _stream(elements[:size])
            elements = elements[size:]
    return files


def _dump_tasks() -> dict[str, dict[str, Any]]:
    return {
        "chief": {"exit": 0, "loop_end": "out_of_range", "runs": 5},
        "worker1": {"exit": 0, "loop_end": "out_of_range", "runs": 5},
        "worker2": {"exit": 0, "loop_end": "out_of_range", "runs": 4},
    }


def test_feature_dumps_as_the_hooks_write_them_pass() -> None:
    scenario = SCENARIOS["cluster/feature_dumps_per_task"]
    files = _dumps(scenario, {"chief": [4], "worker1": [2, 2], "worker2": [2, 1]})
    verdict = judge(_observation(scenario, _dump_tasks(), files))
    assert verdict.passed, verdict.problems


def test_feature_dump_problems() -> None:
    scenario = SCENARIOS["cluster/feature_dumps_per_task"]
    files = _dumps(scenario, {"chief": [4], "worker1": [2, 2, 1]})
    # worker2's files in the wrong time order: its last element first.
    elements = scenario.tasks["worker2"]["dataset"]
    files[f"features/worker2_{uuid.uuid1()}.pb"] = _stream(elements[3:])
    files[f"features/worker2_{uuid.uuid1()}.pb"] = _stream(elements[1:3])
    files["features/worker2_not-a-uuid.pb"] = b""
    files["features/worker3_" + str(uuid.uuid1()) + ".pb"] = _stream([{"fids": [[1]]}])
    problems = judge(_observation(scenario, _dump_tasks(), files)).problems
    assert "features/worker1_*.pb: record counts [0, 2, 2], expected [2, 2]" in problems
    assert "features/worker2_*.pb: the records are not worker2's dataset from element 1 on" in (
        problems
    )
    assert any("worker2_not-a-uuid.pb: not a dump file name" in p for p in problems)
    assert "features/: files of worker3, which should have written none" in problems


def test_a_badly_framed_dump_is_a_problem_not_a_crash() -> None:
    scenario = SCENARIOS["cluster/feature_dumps_per_task"]
    files = _dumps(scenario, {"chief": [4], "worker1": [2, 2], "worker2": [2, 1]})
    name = next(n for n in files if n.startswith("features/chief_"))
    files[name] = files[name][:-3]
    problems = judge(_observation(scenario, _dump_tasks(), files)).problems
    assert any(p.startswith(f"{name}: offset") for p in problems), problems


# -- ckpt.info ----------------------------------------------------------------------------

CONTENT = b"slot_counts {\n  key: 1\n  value: 2\n}\nslot_counts {\n  key: 2\n  value: 1\n}\n"


def _ckpt(saves: list[int], files: dict[str, bytes], worker_saves: list[int] | None = None):
    scenario = SCENARIOS["cluster/slot_counts_by_chief_only"]
    tasks = {
        "chief": {"exit": 0, "loop_end": "end", "runs": 15, "saves": saves},
        "worker1": {"exit": 0, "loop_end": "max_runs", "runs": 12, "saves": worker_saves or []},
        "worker2": {"exit": 0, "loop_end": "max_runs", "runs": 9, "saves": []},
    }
    return judge(_observation(scenario, tasks, files))


def test_ckpt_info_from_the_chief_at_the_shared_steps_passes() -> None:
    files = {"ckpt.info-0": b"", "ckpt.info-9": CONTENT, "ckpt.info-36": CONTENT}
    verdict = _ckpt([0, 9, 36], files)
    assert verdict.passed, verdict.problems


def test_ckpt_info_problems() -> None:
    files = {"ckpt.info-0": CONTENT, "ckpt.info-9": CONTENT, "ckpt.info-30": b""}
    problems = _ckpt([0, 9, 30, 31], files, worker_saves=[12]).problems
    assert "ckpt.info steps [0, 9, 30], but chief saved at [0, 9, 30, 31]" in problems
    assert "worker1 saved checkpoints at [12]: only chief may" in problems
    assert any(p.startswith("ckpt.info-0: expected ''") for p in problems)
    assert any(p.startswith("ckpt.info-30: expected 'slot_counts") for p in problems)
    assert "last ckpt.info step 30, but all tasks ran 36 runs" in problems
