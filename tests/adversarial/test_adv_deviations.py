"""Malformed deviation files: ``DeviationError`` naming the file and the entry.

``harness run --deviations FILE`` turns it into exit status 2 before any scenario runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.deviations import DeviationError, load_deviations
from harness.scenario import Scenario

pytestmark = pytest.mark.timeout(60)

SCENARIOS = [
    Scenario("controller/a", "controller", "d", {}, [], pins=["quirk-a"]),
    Scenario("controller/b", "controller", "d", {}, [], pins=["quirk-a", "quirk-b"]),
]

BAD = [
    (None, "cannot read: No such file or directory"),
    (b"", "line 1 column 1: Expecting value"),
    (b'{"deviations": [', "line 1 column 17: Expecting value"),
    (b"[]", "expected an object with a 'deviations' list"),
    (b"{}", "expected an object with a 'deviations' list"),
    (b'{"deviations": {}}', "expected an object with a 'deviations' list"),
    (
        b'{"deviations": ["x"]}',
        "deviations[0]: an entry must be an object with a 'reason', got 'x'",
    ),
    (b'{"deviations": [{"scenario": "controller/a"}]}', "deviations[0]: needs a 'reason' string"),
    (
        b'{"deviations": [{"scenario": "controller/a", "reason": 1}]}',
        "deviations[0]: needs a 'reason' string",
    ),
    (b'{"deviations": [{"reason": "r"}]}', "deviations[0]: needs 'scenario', 'quirk' or 'relax'"),
    (
        b'{"deviations": [{"reason": "r", "scenario": "controller/zz"}]}',
        "deviations[0].scenario: no scenario 'controller/zz'",
    ),
    (
        b'{"deviations": [{"reason": "r", "quirk": "nope"}]}',
        "deviations[0].quirk: no scenario pins 'nope'",
    ),
    (
        b'{"deviations": [{"reason": "r", "quirk": "quirk-a"}, {"reason": "r"}]}',
        "deviations[1]: needs 'scenario', 'quirk' or 'relax'",
    ),
    (b'{"implementation": ["rust"], "deviations": []}', "implementation: must be a string"),
    # Checked by the schema (harness/deviations.schema.json) since it was written down:
    (
        b'{"implemention": "rust", "deviations": []}',
        "unknown field 'implemention' (a deviations file has 'implementation' and 'deviations')",
    ),
    (
        b'{"deviations": [{"scenario": "controller/a", "reason": " "}]}',
        "deviations[0]: needs a 'reason' string, got ' ' (a blank reason explains nothing)",
    ),
    (
        b'{"deviations": [{"scenario": "controller/a", "reason": "r", "note": 1}]}',
        "deviations[0]: unknown field 'note' (an entry has 'scenario', 'quirk', 'relax' and "
        "'reason')",
    ),
    (
        b'{"deviations": [{"scenario": "controller/a", "quirk": "quirk-a", "reason": "r"}]}',
        "deviations[0]: names 'scenario' and 'quirk': one target per entry",
    ),
    (
        b'{"deviations": [{"relax": "any-wording", "reason": "r"}]}',
        "deviations[0].relax: unknown relaxation 'any-wording' (known: 'protobuf-error-wording')",
    ),
    (
        b'{"deviations": [{"relax": "protobuf-error-wording", "reason": "r"}, '
        b'{"relax": "protobuf-error-wording", "reason": "again"}]}',
        "deviations[1].relax: 'protobuf-error-wording' is declared twice",
    ),
    (b'{"deviations": [{"relax": 7, "reason": "r"}]}', "deviations[0].relax: unknown relaxation 7"),
]


@pytest.mark.parametrize(("content", "message"), BAD, ids=range(len(BAD)))
def test_malformed_deviations_name_the_entry(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "dev.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DeviationError) as info:
        load_deviations(path, SCENARIOS)
    assert str(info.value).startswith(f"{path}: {message}")


def test_a_directory_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    with pytest.raises(DeviationError, match=r"dev: cannot read: Is a directory$"):
        load_deviations(tmp_path / "dev", SCENARIOS)


def test_valid_file_maps_quirks_to_every_pinning_scenario(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps(
            {
                "implementation": "x",
                "deviations": [
                    {"quirk": "quirk-a", "reason": "ra"},
                    {"scenario": "controller/b", "reason": "rb"},
                ],
            }
        )
    )
    deviations = load_deviations(path, SCENARIOS)
    assert deviations.implementation == "x"
    assert deviations.reasons == {"controller/a": "quirk quirk-a: ra", "controller/b": "rb"}


def test_harness_run_exits_2_before_running(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fixtures = tmp_path / "fixtures"
    (fixtures / "hook_utils").mkdir(parents=True)
    (fixtures / "hook_utils" / "one.json").write_text(
        json.dumps(
            {"format": 1, "family": "hook_utils", "description": "d", "steps": [{"op": "begin"}]}
        )
    )
    bad = tmp_path / "dev.json"
    bad.write_text('{"deviations": [{"reason": "r", "scenario": "hook_utils/zz"}]}')
    work = tmp_path / "work"
    code = main(["--fixtures", str(fixtures), "run", "--deviations", str(bad), "--work", str(work)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {bad}: deviations[0].scenario: no scenario 'hook_utils/zz'\n"
    )
    assert not work.exists()


def test_non_utf8_file_is_a_deviation_error(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_bytes(b'{"deviations": ["\xff"]}')
    with pytest.raises(DeviationError) as info:
        load_deviations(path, SCENARIOS)
    assert str(info.value) == f"{path}: not UTF-8 at byte offset 17"


@pytest.mark.parametrize(("key", "value"), [("scenario", ["controller/a"]), ("quirk", {"id": 1})])
def test_non_string_target_is_a_deviation_error(tmp_path: Path, key: str, value: Any) -> None:
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"deviations": [{key: value, "reason": "r"}]}))
    with pytest.raises(DeviationError) as info:
        load_deviations(path, SCENARIOS)
    assert str(info.value) == f"{path}: deviations[0].{key}: must be a string, got {value!r}"


@pytest.mark.parametrize(
    ("scope", "applies"),
    [
        ({"implementation": "rust"}, {"rust": True, "rust #2": False, "reference": False}),
        ({"implementation": ""}, {"rust": True, "reference": True}),
        ({}, {"rust": True, "reference": True}),  # files written before the scope field
    ],
)
def test_deviations_apply_to_the_implementation_they_name(
    tmp_path: Path, scope: dict[str, Any], applies: dict[str, bool]
) -> None:
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps({**scope, "deviations": [{"scenario": "controller/a", "reason": "r"}]})
    )
    deviations = load_deviations(path, SCENARIOS)
    assert {name: deviations.applies_to(name) for name in applies} == applies
