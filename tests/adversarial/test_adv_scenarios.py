"""Scenario files with wrong types, escaping paths, or numbers that would stall the clock.

The loader must answer every bad file with ``ScenarioError`` naming the file and the
field (``f.json: steps[0].seconds: ...``); ``harness list`` turns that into exit status 2.
Paths must stay inside the output's ``files/``, also through links an implementation
leaves there. Numbers must be finite and poll periods at least 1 ms, so every run moves
virtual time on; a short period over a huge advance ends with ``Hang`` (turn budget).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from adv_helpers import scenario

from harness.adapters.inprocess import InProcessReference
from harness.cli import main
from harness.driver import run_scenario
from harness.scenario import ScenarioError, load, parse

pytestmark = pytest.mark.timeout(60)

BASE = scenario("controller", [{"op": "run"}])


def with_(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def step(**fields: Any) -> dict[str, Any]:
    return with_(steps=[fields])


WRONG_TYPES = [
    (with_(steps="run"), "steps: 'run' is not of type 'array'"),
    (step(op="advance", seconds="10"), "steps[0].seconds: '10' is not of type 'number'"),
    (step(op="run", count=True), "steps[0].count: True is not of type 'integer'"),
    (step(op="run", count=-1), "steps[0].count: -1 is less than the minimum of 0"),
    (step(op="write_action", text=5), "steps[0].text: 5 is not of type 'string'"),
    (step(op=7), "steps[0].op: 7 is not of type 'string'"),
    (with_(format="1"), "format: 1 was expected"),
    (with_(description=None), "description: None is not of type 'string'"),
    (with_(config=[]), "config: [] is not of type 'object'"),
    (
        with_(config={"barrier": {"capacity": "2"}}),
        "config.barrier.capacity: '2' is not of type 'integer'",
    ),
    (
        with_(config={"query_interval": 0}),
        "config.query_interval: 0 is less than the minimum of 0.001",
    ),
    (
        with_(config={"query_interval": 1e-300}),
        "config.query_interval: 1e-300 is less than the minimum of 0.001",
    ),
    (
        with_(config={"barrier": {"capacity": 2, "wait_seconds": 0}}),
        "config.barrier.wait_seconds: 0 is less than the minimum of 0.001",
    ),
    (
        step(op="write_action", base64="é"),
        "steps[0].base64: not valid base64: string argument should contain only ASCII characters",
    ),
    (
        step(op="write_action", text="\ud800"),
        "steps[0].text: not encodable as UTF-8 (character 0): use base64",
    ),
    ([], "(top level): [] is not of type 'object'"),
    ("x", "(top level): 'x' is not of type 'object'"),
]


@pytest.mark.parametrize(("data", "message"), WRONG_TYPES, ids=range(len(WRONG_TYPES)))
def test_wrong_types_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(data, "controller/x", "f.json")
    assert str(info.value) == f"f.json: {message}"


def test_a_feature_name_that_utf8_cannot_encode_is_refused() -> None:
    batches = [[], [{"name": "ok", "dense": [[1]]}, {"name": "a\ud800", "dense": [[1]]}]]
    data = {**scenario("feature_dump", [{"op": "run_until_end"}]), "config": {"batches": batches}}
    with pytest.raises(ScenarioError) as info:
        parse(data, "feature_dump/x", "f.json")
    assert str(info.value) == (
        "f.json: config.batches[1][1].name: not encodable as UTF-8 (character 1)"
    )


ESCAPES = [
    (with_(config={"model_dir": "../x"}), "config.model_dir: '../x' does not stay inside files/"),
    (with_(config={"model_dir": ".."}), "config.model_dir: '..' does not stay inside files/"),
    (
        with_(config={"model_dir": "a/../../x"}),
        "config.model_dir: 'a/../../x' does not stay inside files/",
    ),
    (with_(config={"model_dir": "/abs"}), "config.model_dir: '/abs' does not match "),
    (with_(config={"model_dir": "a//b"}), "config.model_dir: 'a//b' does not match "),
    (step(op="remove_file", path="../../x"), "steps[0].path: must be a relative path inside"),
    (step(op="remove_file", path="a/../../b"), "steps[0].path: must be a relative path inside"),
    (step(op="remove_file", path="a/./../.."), "steps[0].path: must be a relative path inside"),
    (step(op="remove_file", path=".."), "steps[0].path: must be a relative path inside"),
    (step(op="remove_file", path="/etc/passwd"), "steps[0].path: must be a relative path inside"),
    (step(op="remove_file", path=""), "steps[0].path: must be a relative path inside files/: ''"),
    (step(op="remove_file"), "steps[0].path: must be a relative path inside files/: None"),
    # files/ itself: the driver would rmtree it while the implementation runs.
    (step(op="remove_file", path="."), "steps[0].path: must be a relative path inside files/: '.'"),
    (step(op="remove_file", path="./"), "steps[0].path: must be a relative path inside files/"),
    (step(op="remove_file", path="./."), "steps[0].path: must be a relative path inside files/"),
]


@pytest.mark.parametrize(("data", "message"), ESCAPES, ids=range(len(ESCAPES)))
def test_paths_leaving_files_are_refused(data: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse(data, "controller/x", "f.json")
    assert str(info.value).startswith(f"f.json: {message}")


def test_harness_list_exits_2_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "controller").mkdir()
    path = tmp_path / "controller" / "bad.json"
    path.write_text(json.dumps(step(op="remove_file", path="../../etc/passwd")))
    assert main(["--fixtures", str(tmp_path), "list"]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: steps[0].path: must be a relative path inside files/: '../../etc/passwd'\n"
    )


def test_a_directory_is_not_a_scenario(tmp_path: Path) -> None:
    (tmp_path / "controller" / "d.json").mkdir(parents=True)
    with pytest.raises(ScenarioError, match=r"d\.json: cannot read: Is a directory$"):
        load(tmp_path / "controller" / "d.json", tmp_path)


def test_harness_steps_never_leave_files(tmp_path: Path, run: Any) -> None:
    """Accepted odd-looking paths (a '~', a backslash) are plain names inside files/."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    ran = run(
        scenario(
            "controller",
            [
                {"op": "write_action", "text": "action: STOP"},
                {"op": "remove_file", "path": "~/x"},
                {"op": "remove_file", "path": "..\\outside\\victim"},
                {"op": "remove_file", "path": "model/monolith_action"},
            ],
            {"model_dir": "model"},
        )
    )
    assert ran.result is not None and ran.result.failure is None
    assert (outside / "victim").read_text() == "keep"
    assert ran.listing() == ["model/"]


def test_remove_file_does_not_follow_an_implementation_symlink(tmp_path: Path) -> None:
    """A link the implementation left in files/ is never followed out of it: a path through
    it fails the run; the link itself is removed as a file, its target kept."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")

    class Symlinking(InProcessReference):
        def setup(self, scenario: Any, files_dir: str) -> Any:
            os.symlink(outside, Path(files_dir) / "link")
            return super().setup(scenario, files_dir)

    through = scenario("controller", [{"op": "remove_file", "path": "link/victim"}])
    result = run_scenario(parse(through, "controller/x", "f.json"), Symlinking(), tmp_path / "a")
    assert result.failure == (
        "remove_file 'link/victim': files/link is a symbolic link; the harness does not follow it"
    )
    assert (outside / "victim").read_text() == "keep"

    link = scenario("controller", [{"op": "remove_file", "path": "link"}])
    result = run_scenario(parse(link, "controller/x", "f.json"), Symlinking(), tmp_path / "b")
    assert result.failure is None
    assert not (tmp_path / "b" / "files" / "link").exists()
    assert (outside / "victim").read_text() == "keep"


@pytest.mark.parametrize("value", ["0xe", "0xdeadbeef", "-0x1E", "9223372036854775807"])
def test_hex_and_decimal_dataset_integers_are_accepted(value: str) -> None:
    data = scenario("feature_dump", [], {"batches": [[{"name": "f", "ragged": [[value]]}]]})
    parse(data, "feature_dump/x", "f.json")


@pytest.mark.parametrize("value", ["1e5", "1.0", "nan", "inf", "0x", "--1", " 1"])
def test_non_integer_strings_are_refused_in_integer_datasets(value: str) -> None:
    data = scenario("feature_dump", [], {"batches": [[{"name": "f", "ragged": [[value]]}]]})
    with pytest.raises(ScenarioError):
        parse(data, "feature_dump/x", "f.json")


NON_FINITE = [
    ('{"op": "advance", "seconds": Infinity}', None, "Infinity"),
    ('{"op": "advance", "seconds": NaN}', None, "NaN"),
    ('{"op": "run"}', '"query_interval": NaN, "query_action": true', "NaN"),
    ('{"op": "run"}', '"barrier": {"capacity": 2, "wait_seconds": -Infinity}', "-Infinity"),
]


@pytest.mark.parametrize(("step_json", "config_json", "name"), NON_FINITE)
def test_non_finite_numbers_are_refused(
    tmp_path: Path, step_json: str, config_json: str | None, name: str
) -> None:
    """'advance Infinity' with a query thread would never end."""
    (tmp_path / "controller").mkdir()
    path = tmp_path / "controller" / "x.json"
    path.write_text(
        '{"format": 1, "family": "controller", "description": "d", '
        f'"config": {{{config_json or ""}}}, "steps": [{step_json}]}}'
    )
    with pytest.raises(ScenarioError) as info:
        load(path, tmp_path)
    assert str(info.value) == (
        f'{path}: {name} is not valid JSON (use the strings "nan"/"inf" for floats)'
    )


def test_advance_honours_count(run: Any) -> None:
    ran = run(
        scenario(
            "controller",
            [
                {"op": "write_action", "text": "action: TRIGGER_SAVE"},
                {"op": "advance", "seconds": 30, "count": 2},  # 60 s: one query
                {"op": "run"},
            ],
            {"query_action": True},
        )
    )
    assert ran.events("trigger_save") == [{"event": "trigger_save"}]


@pytest.mark.parametrize("family", ["slot_count", "hook_utils"])
def test_hex_global_step_is_accepted(family: str, run: Any) -> None:
    config = {"tables": [{"fids": [1]}]} if family == "slot_count" else {"listeners": ["plain"]}
    ran = run(scenario(family, [{"op": "save", "global_step": "0x10"}], config))
    assert ran.events("error") == []
    if family == "slot_count":
        assert "ckpt.info-16" in ran.listing()
    else:
        steps = {e.get("global_step") for e in ran.events("listener") if e["method"] != "begin"}
        assert steps == {16}


@pytest.mark.parametrize(
    "data",
    [
        scenario(
            "controller",
            [{"op": "advance", "seconds": 1e7}, {"op": "run"}],
            {"query_action": True, "query_interval": 0.001},
        ),
        scenario(
            "barrier",
            [{"op": "place"}, {"op": "wait", "index": 1}, {"op": "advance", "seconds": 1e9}],
            {"capacity": 2, "wait_seconds": 0.001},
        ),
    ],
    ids=["query_interval", "wait_seconds"],
)
@pytest.mark.timeout(300)
def test_a_long_advance_over_a_short_period_stops_with_hang(data: Any, run: Any) -> None:
    """10**10 polls would take hours: the clock's turn budget stops the run instead.

    The budget is a count of turns (about 1 s of work idle, a few under load); the real
    bound only catches a run the budget failed to stop, so it is far beyond any machine."""
    ran = run(data, seconds=240.0)
    assert ran.result is not None, f"still running at virtual time {ran.virtual_time}"
    assert (ran.result.failure or "").startswith("reference executor crashed: Hang: ")
    assert "turns while the driver waited" in (ran.result.failure or "")
