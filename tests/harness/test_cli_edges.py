"""The command line's rough edges, each smoothed: a version, hints for typos, clear exit
statuses, stderr shown once, failures CI dashboards can read, deviations that match
nothing called out, and a parity page that says what ran."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from harness.cli import main
from harness.version import version

pytestmark = pytest.mark.timeout(120)

FAULTY = Path(__file__).resolve().parents[1] / "protocol" / "testees" / "faulty.py"
ONE = "controller/query_trigger_save"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out == f"monolith-parity {version()}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version())


@pytest.mark.parametrize(
    ("impl", "message"),
    [
        (
            "Reference",
            "error: --impl 'Reference': cannot run 'Reference': No such file or directory (did "
            "you mean the built-in implementation 'reference'?)\n",
        ),
        (
            "./no/such/testee --flag",
            "error: --impl './no/such/testee --flag': cannot run './no/such/testee': No such "
            "file or directory\n",
        ),
        (
            "my-testee",
            "error: --impl 'my-testee': cannot run 'my-testee': No such file or directory (a "
            "testee is a command: a path to a program, or a name on PATH)\n",
        ),
    ],
)
def test_a_missing_program_is_a_usage_error_with_a_hint(
    impl: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-k", ONE, "--impl", impl]) == 2
    assert capsys.readouterr().err == message


def test_a_mistyped_option_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["run", "--tiemout", "3"])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "monolith-parity: error: unrecognized arguments: --tiemout 3 (--tiemout: did you "
        "mean --timeout?)"
    )


def test_dump_of_an_unknown_kind_says_so_and_as_names_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mystery = tmp_path / "mystery.bin"
    mystery.write_text("action: STOP\n")
    assert main(["dump", str(mystery)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {mystery}: cannot tell what kind of artifact it is")
    assert "--as KIND (action_file, action_response, bytes, ckpt_info" in err
    assert main(["dump", str(mystery), "--as", "action_file"]) == 0
    assert "STOP" in capsys.readouterr().out
    assert main(["dump", str(mystery), "--as", "model/monolith_action"]) == 0  # a path too


def test_the_testees_stderr_is_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the failure quoted the stderr tail (often '(stderr was empty)', the drain
    thread not caught up), and the log quoted it again."""
    impl = f"{sys.executable} {FAULTY} crash --on {ONE}"
    assert main(["run", "-k", ONE, "--impl", impl, "--sandbox", "none"]) == 1
    out = capsys.readouterr().out
    assert out.count("injecting crash") == 1, out
    assert "stderr was empty" not in out
    assert "testee stderr:" in out


def test_junit_failures_carry_the_one_line_explanation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "j.xml"
    impl = f"{sys.executable} {FAULTY} crash --on {ONE}"
    assert main(["run", "-k", ONE, "--impl", impl, "--junit", str(junit)]) == 1
    failure = ElementTree.parse(junit).getroot().find(".//failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert message.startswith("implementation failure: the testee exited with status 3")
    assert "\n" not in message and len(message) <= 200
    assert "injecting crash" in (failure.text or "")  # the body holds the whole story


def test_deviations_that_match_nothing_are_called_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"implementation": "rust", "deviations": []}))
    assert main(["run", "-k", ONE, "--deviations", str(other)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"deviations: {other} is for implementation 'rust', which is not in this run (it ran "
        "'reference'): nothing in it applied"
    )
    unselected = tmp_path / "unselected.json"
    unselected.write_text(
        json.dumps({"deviations": [{"scenario": "slot_count/basic", "reason": "ours"}]})
    )
    assert main(["run", "-k", ONE, "--deviations", str(unselected)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"deviations: {unselected}: deviations[0] (scenario slot_count/basic) matches no "
        "scenario of this run"
    )


def test_the_parity_page_says_what_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "p.html"
    assert main(["run", "-k", "slot_count/basic", "--html", str(page)]) == 0
    text = page.read_text()
    assert "<dt>implementations</dt><dd>reference</dd>" in text
    assert f"<dt>harness</dt><dd>monolith-parity {version()}</dd>" in text
    assert re.search(r"<dt>date</dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>", text)
    assert re.search(r"<dt>corpus</dt><dd>1 scenarios, goldens [0-9a-f]{12} ", text)
    assert '<div class="desc">The original ckpt_info test' in text
    assert '<a href="#checklists">verification checklists</a>' in text
    assert text.index('href="#checklists"') < text.index("<table>") < text.index('id="checklists"')
