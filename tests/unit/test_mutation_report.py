"""tools/mutation_report.py: mutmut's verdicts, the survivor table of docs/mutation.md, and
the check that every survivor has a row."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "equivalent",
    "equivalent (fallback)",
    "unobservable",
    "unreachable",
    "unit-tested",
    "not reached",
}

RESULTS = """\
    reference.a.x_f__mutmut_1: killed
    reference.a.x_f__mutmut_2: survived
    reference.a.x_f__mutmut_12: survived
    reference.a.xǁCǁm__mutmut_3: no tests
    reference.a.x_g__mutmut_1: timeout
"""

DOC = """\
# Mutation testing

| mutant | change | killed by |
| --- | --- | --- |
| `reference.a.x_f__mutmut_2` | a change | a/scenario |

## Survivors

| mutant | kind | reason |
| --- | --- | --- |
| `reference.a.x_f__mutmut_{2,10-12}` | equivalent | the same |
| `reference.a.xǁCǁm__mutmut_*` | not reached | TF tier only |
| `reference.a.x_h__mutmut_{1}` | unreachable | gone |

## Next
| `reference.a.x_f__mutmut_1` | equivalent | outside the section |
"""


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_mutation_report", REPO_ROOT / "tools" / "mutation_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_results_reads_every_verdict() -> None:
    assert _tool().parse_results(RESULTS + "not a result line\n") == {
        "reference.a.x_f__mutmut_1": "killed",
        "reference.a.x_f__mutmut_2": "survived",
        "reference.a.x_f__mutmut_12": "survived",
        "reference.a.xǁCǁm__mutmut_3": "no tests",
        "reference.a.x_g__mutmut_1": "timeout",
    }


def test_only_the_survivors_section_is_the_table() -> None:
    assert _tool().parse_table(DOC) == [
        ("reference.a.x_f__mutmut_{2,10-12}", "equivalent", "the same"),
        ("reference.a.xǁCǁm__mutmut_*", "not reached", "TF tier only"),
        ("reference.a.x_h__mutmut_{1}", "unreachable", "gone"),
    ]


def test_classify_by_number_set_range_and_wildcard() -> None:
    tool = _tool()
    rows = tool.parse_table(DOC)
    assert tool.classify("reference.a.x_f__mutmut_2", rows) == ("equivalent", "the same")
    assert tool.classify("reference.a.x_f__mutmut_11", rows) == ("equivalent", "the same")
    assert tool.classify("reference.a.x_f__mutmut_1", rows) is None
    assert tool.classify("reference.a.x_f__mutmut_13", rows) is None
    assert tool.classify("reference.a.xǁCǁm__mutmut_40", rows) == ("not reached", "TF tier only")
    # A set names its own function only, not one whose name it starts.
    assert tool.classify("reference.a.x_ff__mutmut_2", rows) is None


def _run(tmp_path: Path, results: str, doc: str) -> int:
    (tmp_path / "results.txt").write_text(results, encoding="utf-8")
    (tmp_path / "mutation.md").write_text(doc, encoding="utf-8")
    return _tool().main(
        ["--results", str(tmp_path / "results.txt"), "--doc", str(tmp_path / "mutation.md")]
    )


def test_report_passes_when_every_survivor_is_classified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, RESULTS, DOC) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "mutants: 1 killed, 1 no tests, 2 survived, 1 timeout"
    assert out[1] == (
        "score: 2/4 (50.0%) of the mutants the corpus reaches are killed; 2/5 (40.0%) of all"
    )
    assert "survived reference.a.x_f__mutmut_12: equivalent: the same" in out
    assert "stale table row (nothing it names survives): reference.a.x_h__mutmut_{1}" in out


def test_report_fails_on_an_unclassified_survivor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = RESULTS + "    reference.b.x_new__mutmut_7: survived\n"
    assert _run(tmp_path, results, DOC) == 1
    out = capsys.readouterr().out
    assert "UNCLASSIFIED survived reference.b.x_new__mutmut_7" in out


def test_report_refuses_empty_results(tmp_path: Path) -> None:
    assert _run(tmp_path, "nothing here\n", DOC) == 2
    assert _run(tmp_path, "    reference.a.x_f__mutmut_1: not checked\n", DOC) == 2


def test_unchecked_mutants_count_for_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = RESULTS + "    reference.b.x_other__mutmut_1: not checked\n"
    assert _run(tmp_path, results, DOC) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 mutants not checked in this run (left out below)"
    assert out[1] == "mutants: 1 killed, 1 no tests, 2 survived, 1 timeout"
    # Which rows are stale is only known after a full run.
    assert not [line for line in out if line.startswith("stale")]


def test_committed_table_is_well_formed() -> None:
    rows = _tool().parse_table((REPO_ROOT / "docs" / "mutation.md").read_text(encoding="utf-8"))
    assert rows, "docs/mutation.md has no survivor table"
    for name, kind, reason in rows:
        assert name.startswith("reference.") and "__mutmut_" in name, name
        assert kind in KINDS, (name, kind)
        assert reason, name
