"""Cluster scenarios: every file loads, the required cases are there, bad ones are refused
with one line naming the file and the field, and the parity corpus never picks them up."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.cluster import scenario as cluster_scenario
from harness.cluster.scenario import CLUSTER_DIR, ClusterScenarioError, load, load_all, parse
from harness.scenario import FIXTURES_DIR, discover
from harness.scenario import load_all as load_corpus

# The cases the cluster tier exists for (docs/cluster.md).
REQUIRED = {
    "cluster/stop_through_barrier",
    "cluster/trigger_save_through_action_file",
    "cluster/late_worker_loses_stop",
    "cluster/workers_race_to_place",
    "cluster/no_placement_no_session",
    "cluster/feature_dumps_per_task",
}


@pytest.mark.parametrize("path", cluster_scenario.discover(), ids=lambda p: p.stem)
def test_every_cluster_scenario_loads(path: Path) -> None:
    scenario = load(path)
    assert scenario.description.strip()
    assert scenario.id == f"cluster/{path.stem}"


def test_the_required_cases_are_there() -> None:
    ids = {s.id for s in load_all()}
    assert len(ids) >= 6
    assert ids >= REQUIRED, sorted(REQUIRED - ids)


def test_the_race_accepts_every_legal_outcome() -> None:
    [race] = [s for s in load_all() if s.id == "cluster/workers_race_to_place"]
    assert {"worker_first", "together"} <= set(race.outcomes)


def test_defaults_fill_every_task() -> None:
    for scenario in load_all():
        for index, (name, spec) in enumerate(scenario.tasks.items()):
            assert spec["index"] == index
            assert name == ("chief" if index == 0 else f"worker{index}")
            assert set(cluster_scenario.TASK_DEFAULTS) <= set(spec)


# -- the parity corpus keeps out ----------------------------------------------------------


def test_the_corpus_skips_the_cluster_folder() -> None:
    assert CLUSTER_DIR.parent == FIXTURES_DIR or CLUSTER_DIR.is_dir()
    found = list(discover())
    assert found, "the corpus is empty"
    assert not [p for p in found if p.parent.name == "cluster"]
    assert not [s for s in load_corpus() if s.id.startswith("cluster/")]


def test_a_corpus_with_a_cluster_folder_still_loads(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    (fixtures / "cluster").mkdir(parents=True)
    (fixtures / "cluster" / "x.json").write_text('{"family": "cluster"}', encoding="utf-8")
    (fixtures / "barrier").mkdir()
    source = FIXTURES_DIR / "barrier" / "double_place.json"
    (fixtures / "barrier" / "double_place.json").write_bytes(source.read_bytes())
    assert [s.id for s in load_corpus(fixtures)] == ["barrier/double_place"]


def test_harness_list_shows_no_cluster_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cluster/" not in out
    assert "barrier/double_place" in out


# -- refusals -----------------------------------------------------------------------------


def _base() -> dict[str, Any]:
    return json.loads((CLUSTER_DIR / "late_worker_loses_stop.json").read_text(encoding="utf-8"))


def _with(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(_base())
    change(data)
    return data


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _drop(path: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        del target[last]

    return change


REFUSED = [
    (_set("family", "controller"), "family: 'cluster' was expected"),
    (_set("tasks.worker1.hooks", ["barrier", "nonsense"]), "tasks.worker1.hooks[1]:"),
    (_set("tasks.worker4", {"hooks": []}), "tasks: workers must be worker1..worker3"),
    (
        _set("tasks.worker1.hooks", ["query_action"]),
        "tasks.worker1.hooks: query_action is the chief's only",
    ),
    (
        _set("tasks.chief.hooks", ["query_action", "controller"]),
        "tasks.chief.hooks: query_action needs controller before it",
    ),
    (_set("tasks.chief.session", "released"), "tasks.chief.session: the chief creates"),
    (_set("steps.3", {"op": "wait", "for": {"sessions": ["worker2"]}}), "tasks.worker2.session"),
    (_set("steps.3", {"op": "release", "task": "worker1"}), "steps[3].task: worker1 is not"),
    (_set("steps.0.for", {"sessions": ["worker7"]}), "steps[0].for.sessions: no task 'worker7'"),
    (
        _set("steps.2.for", {"event": {"task": "worker3", "event": "session"}}),
        "steps[2].for.event.task: no task 'worker3'",
    ),
    (_set("steps.1", {"op": "write_action"}), "steps[1]: write_action needs 'text'"),
    (_set("steps.1", {"op": "end", "tasks": ["chief"], "text": "x"}), "steps[1].text: not a"),
    (_set("tasks.worker1.hooks", ["feature_dump"]), "tasks.worker1.dataset: the feature_dump"),
    (_set("tasks.worker1.table", [1]), "tasks.worker1.table: only the slot_count hook"),
    (
        _set("tasks.worker1.dataset", [{"a": [[1]]}, {"b": [[1]]}]),
        "tasks.worker1.dataset[1]: keys ['b'] differ",
    ),
    (_set("tasks.worker1.dataset", [{"a": [[1], [2, 3]]}]), "dataset[0].a: rows of different"),
    (_set("simulation", ["controller/no_such_scenario"]), "simulation: no scenario"),
    (_set("expect.tasks.worker5", {"exit": 0}), "expect.tasks.worker5: no such task"),
    (_set("expect.features", {"chief": [1]}), "expect.features: must name exactly"),
    (
        _set("expect.ckpt_info", {"writer": "chief", "content": ""}),
        "expect.ckpt_info.writer: chief has no slot_count",
    ),
    (_set("outcomes", {"a": {"files": {}}, "b": {"files": {}}}), "(top level)"),
    (_drop("expect"), "(top level)"),
    (_set("expect.tasks.chief.callbacks", ["Stop"]), "expect.tasks.chief.callbacks[0]:"),
    (_set("barrier.capacity", 0), "barrier.capacity: 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize(("change", "message"), REFUSED)
def test_bad_scenarios_are_refused_naming_file_and_field(change: Any, message: str) -> None:
    with pytest.raises(ClusterScenarioError) as e:
        parse(_with(change), "cluster/x", "fixtures/cluster/x.json")
    text = str(e.value)
    assert "\n" not in text
    assert text.startswith("fixtures/cluster/x.json: "), text
    assert message in text, text


def test_a_file_that_is_not_json_is_refused_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "dup.json"
    bad.write_text('{"format": 1, "format": 1}', encoding="utf-8")
    with pytest.raises(ClusterScenarioError, match=r"dup\.json: .*duplicate key 'format'"):
        load(bad)


def test_the_base_of_the_refusals_is_valid() -> None:
    parse(_base(), "cluster/x", "x.json")
