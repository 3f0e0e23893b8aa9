"""The ``protobuf-error-wording`` relaxation, end to end, on a testee that words protobuf's
parse errors its own way (``testees/reworded.py``).

Strict by default: the reworded responses fail. Declared: they pass, counted apart as
relaxed in the summary line, JUnit and HTML. Still failing with it declared: a response
of ``OK`` or of nothing, one the outputs lack (written too late), or one whose action file
was left in place.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from parity_subprocess import run_parity_suite

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.cli import main
from harness.deviations import Deviations, load_deviations
from harness.formats.action_file import is_error_text
from harness.golden import GOLDEN_DIR
from harness.report import html_page, junit_xml, summary_line
from harness.runner import FAILED, PASSED, ScenarioResult, run_corpus
from harness.scenario import Scenario

pytestmark = pytest.mark.timeout(300)

# The corpus scenarios whose golden response is a parse error, and one answered OK.
PARSE_ERRORS = [
    "controller/action_duplicate_field",
    "controller/action_garbage",
    "controller/action_numeric_enum",
    "controller/action_unknown_enum_name",
    "controller/action_utf8_bom",
    "controller/query_interval_long",
]
ANSWERED_OK = "controller/action_comments"
RESPONSE = "files/monolith_action_response"
RELAX = {"relax": "protobuf-error-wording", "reason": "our own text-format parser"}


def test_the_chosen_scenarios_are_every_parse_error_response_in_the_corpus(
    corpus: list[Scenario],
) -> None:
    found = sorted(
        s.id
        for s in corpus
        for p in (GOLDEN_DIR / s.id).rglob("monolith_action_response")
        if is_error_text(p.read_bytes()) and not _snapshots_the_response(s)
    )
    assert found == PARSE_ERRORS
    assert (GOLDEN_DIR / ANSWERED_OK / RESPONSE).read_bytes() == b"OK"


def _snapshots_the_response(scenario: Scenario) -> bool:
    """A ``snapshot`` step that reads the response records its text in the trace, which
    the relaxation leaves strict (docs/deviations.md), so such a scenario cannot pass by
    the relaxation alone."""
    return any(
        step["op"] == "snapshot"
        and any(path.endswith("monolith_action_response") for path in step.get("read", []))
        for step in scenario.steps
    )


def deviations_for(tmp_path: Path, corpus: list[Scenario], **scope: str) -> Deviations:
    path = tmp_path / "deviations.json"
    path.write_text(json.dumps({**scope, "deviations": [RELAX]}), encoding="utf-8")
    return load_deviations(path, corpus)


def run(
    mode: str,
    corpus: list[Scenario],
    script_argv: Callable[..., list[str]],
    work: Path,
    deviations: Deviations | None,
    ids: list[str] | None = None,
) -> dict[str, ScenarioResult]:
    chosen = [s for s in corpus if s.id in (ids or [*PARSE_ERRORS, ANSWERED_OK])]
    testee = SubprocessTestee(script_argv("reworded.py", mode), timeout=20.0)
    try:
        devs = deviations if deviations is not None and deviations.applies_to(testee.name) else None
        results = run_corpus(chosen, testee, work, GOLDEN_DIR, devs)
    finally:
        testee.close()
    return {r.scenario: r for r in results}


def test_reworded_errors_fail_strictly(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    results = run("reword", corpus, script_argv, tmp_path, None)
    for sid in PARSE_ERRORS:
        r = results[sid]
        assert r.status == FAILED, r
        assert [d.path for d in r.differences] == [RESPONSE], r.explanation()
        assert r.relaxed == []
    assert results[ANSWERED_OK].status == PASSED
    assert summary_line(list(results.values())) == "reworded: 1 passed, 6 failed"


def test_reworded_errors_pass_relaxed_when_declared(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    devs = deviations_for(tmp_path, corpus, implementation="reworded")
    results = run("reword", corpus, script_argv, tmp_path / "work", devs)
    for sid in PARSE_ERRORS:
        r = results[sid]
        assert (r.status, r.differences, r.relaxed_pass) == (PASSED, [], True), r.explanation()
        golden = (GOLDEN_DIR / sid / RESPONSE).read_text(encoding="utf-8")
        position = golden.split(" : ", 1)[0]
        assert r.relaxed == [
            f"{RESPONSE} [action_response]: protobuf-error-wording: the parse error is worded "
            f"differently: expected {json.dumps(golden)}, got "
            f'"rust text-format: cannot parse the action ({position})"'
        ]
    assert (results[ANSWERED_OK].status, results[ANSWERED_OK].relaxed) == (PASSED, [])
    rows = list(results.values())
    assert summary_line(rows) == "reworded: 7 passed (6 relaxed), 0 failed"

    suite = ET.fromstring(junit_xml(rows)).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("7", "0", "0")
    assert [(p.get("name"), p.get("value")) for p in suite.findall("properties/property")] == [
        ("relaxed", "6"),
        ("sandbox", rows[0].sandbox),  # a testee process: where it ran is named
    ]
    marked = {
        case.get("name"): [p.get("value") for p in case.findall("properties/property")]
        for case in suite.findall("testcase")
    }
    assert marked == {sid: results[sid].relaxed for sid in results}
    page = html_page(rows)
    assert page.count('<td class="result relaxed"><span class="status">passed (relaxed)') == 6
    assert "<li><b>reworded</b>: 7 passed (6 relaxed), 0 failed</li>" in page


def test_a_relaxation_for_another_implementation_does_not_apply(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    devs = deviations_for(tmp_path, corpus, implementation="monolith-rs")
    results = run("reword", corpus, script_argv, tmp_path / "work", devs, PARSE_ERRORS[:1])
    assert results[PARSE_ERRORS[0]].status == FAILED


@pytest.mark.parametrize(
    ("mode", "ids", "differences"),
    [
        ("ok", PARSE_ERRORS, [RESPONSE]),
        ("empty", PARSE_ERRORS, [RESPONSE]),
        # late: the response the scenario ends with is missing (the listing then differs
        # too), or is an earlier OK where one came before (action_numeric_enum):
        ("late", PARSE_ERRORS, None),
        # query_interval_long's next action replaces the one put back, so only the
        # scenarios that end with the action file in place fail:
        ("keep_action", PARSE_ERRORS[:-1], ["files/monolith_action", "listing.txt"]),
    ],
)
def test_still_fails_with_the_relaxation(
    mode: str,
    ids: list[str],
    differences: list[str] | None,
    corpus: list[Scenario],
    script_argv: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    devs = deviations_for(tmp_path, corpus)  # no scope: applies to every implementation
    results = run(mode, corpus, script_argv, tmp_path / "work", devs, ids)
    for sid in ids:
        r = results[sid]
        assert r.status == FAILED, r
        paths = [d.path for d in r.differences]
        if differences is not None:
            assert paths == differences, r.explanation()
        else:
            assert paths in ([RESPONSE, "listing.txt"], [RESPONSE]), r.explanation()
    if mode == "late":
        garbage = results["controller/action_garbage"].differences[0]
        assert garbage.explanation == "expected file was not written"
    if mode == "keep_action":  # the wording alone was acceptable; the action file is not
        assert all(len(results[sid].relaxed) == 1 for sid in ids)


def test_harness_run_prints_the_relaxed_count(
    corpus: list[Scenario], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devs = tmp_path / "deviations.json"
    devs.write_text(json.dumps({"implementation": "reworded", "deviations": [RELAX]}))
    testee = Path(__file__).resolve().parent / "testees" / "reworded.py"
    code = main(
        [
            "run",
            "--impl",
            f"{sys.executable} {testee} reword",
            "-k",
            "controller/action_garbage",
            "-k",
            ANSWERED_OK,
            "--deviations",
            str(devs),
            "--work",
            str(tmp_path / "work"),
            "--junit",
            str(tmp_path / "junit.xml"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "reworded: 2 passed (1 relaxed), 0 failed"


def test_the_pytest_plugin_under_xdist_prints_the_same_line(tmp_path: Path) -> None:
    """Relaxed results cross from xdist workers to the controller intact."""
    devs = tmp_path / "deviations.json"
    devs.write_text(json.dumps({"implementation": "reworded", "deviations": [RELAX]}))
    testee = Path(__file__).resolve().parent / "testees" / "reworded.py"
    proc = run_parity_suite(
        "controller/action_garbage or controller/action_comments",
        tmp_path / "bt",
        "-n",
        "2",
        f"--impl={sys.executable} {testee} reword",
        f"--deviations={devs}",
        f"--parity-junit={tmp_path / 'junit.xml'}",
        timeout=240,
    )
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0, lines
    assert lines.count("reworded: 2 passed (1 relaxed), 0 failed") == 1, lines
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert [p.get("name") for p in suite.findall("properties/property")] == ["relaxed", "sandbox"]
    assert suite.findall("properties/property")[0].get("value") == "1"
