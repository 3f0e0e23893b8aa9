"""Relaxations of the comparison: what ``protobuf-error-wording`` accepts and what it does
not, the schema and the comparer agreeing on the names, and the relaxed count."""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from harness.compare import RELAXATIONS, compare
from harness.deviations import SCHEMA_PATH, DeviationError, load_deviations
from harness.formats.action_file import is_error_text
from harness.golden import GOLDEN_DIR
from harness.paths import CHECKOUT_ROOT
from harness.report import junit_xml, summary_line
from harness.runner import EXPECTED_DEVIATION, FAILED, PASSED, UNEXPECTED_PASS, ScenarioResult
from harness.scenario import load_all

RELAX = ["protobuf-error-wording"]
ERROR_SCENARIO = GOLDEN_DIR / "controller" / "action_garbage"
OK_SCENARIO = GOLDEN_DIR / "controller" / "action_comments"
NESTED_OK = GOLDEN_DIR / "controller" / "action_before_first_run_nested_dir"
RESPONSE = "files/monolith_action_response"


def test_the_schema_is_valid_and_names_every_relaxation_the_comparer_knows() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["entry"]["properties"]["relax"]["enum"] == sorted(RELAXATIONS)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'1:1 : Message type "x" has no field named "y".', True),
        (b"rust: cannot parse", True),
        (b"OK", False),
        (b"OK\n", False),
        (b" OK ", False),
        (b"", False),
        (b" \n\t", False),
        (b"\xff\xfe", False),  # not UTF-8
        (b"ok", True),  # only the hook's exact success word is success
    ],
)
def test_is_error_text(data: bytes, error: bool) -> None:
    assert is_error_text(data) is error


def copy_with_response(golden: Path, tmp_path: Path, response: bytes, rel: str = RESPONSE) -> Path:
    actual = tmp_path / "actual"
    shutil.copytree(golden, actual)
    (actual / rel).write_bytes(response)
    return actual


def test_a_reworded_parse_error_is_relaxed_only_when_declared(tmp_path: Path) -> None:
    actual = copy_with_response(ERROR_SCENARIO, tmp_path, b"cannot parse 'hello world'")
    strict = compare(ERROR_SCENARIO, actual)
    assert [d.path for d in strict.differences] == [RESPONSE]
    assert strict.relaxed == []
    relaxed = compare(ERROR_SCENARIO, actual, RELAX)
    assert relaxed.differences == []
    (note,) = relaxed.relaxed
    assert (note.path, note.kind) == (RESPONSE, "action_response")
    assert note.explanation == (
        "protobuf-error-wording: the parse error is worded differently: expected "
        '"1:1 : Message type \\"monolith.ControllerHooksProto\\" has no field named '
        '\\"hello\\".", got "cannot parse \'hello world\'"'
    )


@pytest.mark.parametrize("response", [b"OK", b"OK\n", b"", b"  ", b"\xff"])
def test_not_an_error_text_is_not_relaxed(tmp_path: Path, response: bytes) -> None:
    actual = copy_with_response(ERROR_SCENARIO, tmp_path, response)
    result = compare(ERROR_SCENARIO, actual, RELAX)
    assert [d.path for d in result.differences] == [RESPONSE]
    assert result.relaxed == []


def test_an_ok_golden_is_never_relaxed(tmp_path: Path) -> None:
    actual = copy_with_response(OK_SCENARIO, tmp_path, b"some parse error")
    result = compare(OK_SCENARIO, actual, RELAX)
    assert [d.path for d in result.differences] == [RESPONSE]
    assert result.relaxed == []


def test_a_nested_model_dir_response_is_recognised_too(tmp_path: Path) -> None:
    """The kind is found by file name, wherever the model dir is; here the golden is OK,
    so the relaxation leaves it strict (and the same path with an error golden relaxes)."""
    rel = "files/jobs/a/model/monolith_action_response"
    actual = copy_with_response(NESTED_OK, tmp_path, b"error", rel)
    assert [d.path for d in compare(NESTED_OK, actual, RELAX).differences] == [rel]
    golden = copy_with_response(NESTED_OK, tmp_path / "g", b"1:1 : bad", rel)
    assert compare(golden, actual, RELAX).relaxed[0].path == rel


def test_everything_else_stays_strict(tmp_path: Path) -> None:
    """A trace event in another step, or a file left (the driver's listing would differ
    too), fails even with the response accepted; the accepted response is still reported
    apart."""
    actual = copy_with_response(ERROR_SCENARIO, tmp_path, b"cannot parse")
    trace = (actual / "trace.jsonl").read_text().splitlines()
    trace[1], trace[2] = trace[2], trace[1]  # the advance before the write_action
    (actual / "trace.jsonl").write_text("\n".join(trace) + "\n")
    (actual / "files" / "monolith_action").write_text("hello world")
    result = compare(ERROR_SCENARIO, actual, RELAX)
    assert [d.path for d in result.differences] == ["files/monolith_action", "trace.jsonl"]
    assert [d.path for d in result.relaxed] == [RESPONSE]


def test_a_link_as_response_is_not_read_nor_relaxed(tmp_path: Path) -> None:
    actual = tmp_path / "actual"
    shutil.copytree(ERROR_SCENARIO, actual)
    (actual / RESPONSE).unlink()
    outside = tmp_path / "outside"
    outside.write_text("an error text outside the work directory")
    os.symlink(outside, actual / RESPONSE)
    result = compare(ERROR_SCENARIO, actual, RELAX)
    assert [d.path for d in result.differences] == [RESPONSE]
    assert "link" in result.differences[0].explanation
    assert result.relaxed == []


def test_an_unknown_relaxation_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown relaxation\(s\) \['anything'\]"):
        compare(ERROR_SCENARIO, ERROR_SCENARIO, ["anything"])


def test_a_relax_entry_loads_as_a_relaxation(tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps(
            {
                "implementation": "rust",
                "deviations": [{"relax": "protobuf-error-wording", "reason": "own parser"}],
            }
        )
    )
    devs = load_deviations(path, load_all())
    assert (devs.reasons, devs.relaxations) == ({}, {"protobuf-error-wording": "own parser"})


def result(status: str, relaxed: bool = False) -> ScenarioResult:
    return ScenarioResult("s/x", "x", status, relaxed=["note"] if relaxed else [])


def test_summary_counts_relaxed_passes_apart() -> None:
    rows = [
        result(PASSED),
        result(PASSED, relaxed=True),
        result(PASSED, relaxed=True),
        result(EXPECTED_DEVIATION),
        result(FAILED, relaxed=True),  # accepted wording, other differences: not a pass
        result(UNEXPECTED_PASS, relaxed=True),
    ]
    assert summary_line(rows) == (
        "x: 4 passed (2 relaxed), 2 failed (1 expected deviation, 1 unexpected pass)"
    )
    assert summary_line([result(PASSED)]) == "x: 1 passed, 0 failed"


def test_a_relaxed_result_survives_the_trip_between_xdist_processes() -> None:
    r = result(PASSED, relaxed=True)
    assert ScenarioResult.from_json(json.loads(json.dumps(r.to_json()))) == r


DOC = (CHECKOUT_ROOT / "docs" / "deviations.md").read_text(encoding="utf-8")


def test_the_documented_example_loads(tmp_path: Path) -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC, re.S)
    path = tmp_path / "your-deviations.json"
    path.write_text(blocks[0], encoding="utf-8")
    devs = load_deviations(path, load_all())
    assert devs.implementation == "monolith-rs"
    assert devs.relaxations == {
        "protobuf-error-wording": "our own text-format parser words its errors"
    }
    assert devs.reasons["controller/action_garbage"] == (
        "we log parse errors instead of answering them"
    )
    assert devs.reasons["controller/action_unknown_explicit"].startswith(
        "quirk unknown-action-typeerror: "
    )
    entry = json.loads(blocks[1])
    assert entry in json.loads(blocks[0])["deviations"]


@pytest.mark.parametrize(
    "content",
    [
        '{"deviations": [{"quirk": "unknown-action-typeerror", "reason": "r"},'
        ' {"scenario": "controller/action_garbage", "reason": "r"}, {"scenario": "x"}]}',
        '{"deviations": [{"scenario": "controller/action_garbge", "reason": "r"}]}',
        '{"implemention": "monolith-rs", "deviations": []}',
    ],
)
def test_the_documented_messages_are_the_loaders(tmp_path: Path, content: str) -> None:
    path = tmp_path / "your-deviations.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DeviationError) as info:
        load_deviations(path, load_all())
    shown = str(info.value).replace(str(path), path.name)
    assert f"\n{shown}\n" in DOC


def test_a_hostile_response_is_shown_escaped_and_bounded(tmp_path: Path) -> None:
    """The accepted text is the testee's: control characters are escaped (JUnit stays
    well-formed XML, the terminal gets no escape sequences) and a long one is cut."""
    hostile = b"\x1b[31mred\x01\x00" + "é".encode() * 5000
    actual = copy_with_response(ERROR_SCENARIO, tmp_path, hostile)
    (note,) = compare(ERROR_SCENARIO, actual, RELAX).relaxed
    shown = note.explanation.split(", got ", 1)[1]
    assert shown.startswith('"\\u001b[31mred\\u0001\\u0000\\u00e9')
    assert shown.endswith(f"... ({len(hostile)} bytes in all)")
    assert len(shown) <= 200
    assert note.explanation.isprintable()
    row = ScenarioResult("controller/action_garbage", "x", PASSED, relaxed=[str(note)])
    ET.fromstring(junit_xml([row]))  # parses
