"""The HTML parity page: row and column order, failing cells, the filter, hostile text;
and the checklist's wording for the implementation under test."""

from __future__ import annotations

import html
import re

import pytest

from harness import checklist, report
from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    NOT_APPLICABLE,
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)


def result(scenario: str, impl: str, status: str = PASSED, **kw: object) -> ScenarioResult:
    return ScenarioResult(scenario=scenario, implementation=impl, status=status, **kw)  # type: ignore[arg-type]


RESULTS = [
    result("a/ok", "zeta-port"),
    result("b/known", "zeta-port", EXPECTED_DEVIATION, reason="sorted differently"),
    result("c/broken", "zeta-port", FAILED, failure="the testee exited with status 3"),
    result("d/skipped", "zeta-port", NOT_APPLICABLE, reason="no threads"),
    result("e/lucky", "zeta-port", UNEXPECTED_PASS, reason="r", pins=["some-quirk"]),
    result("a/ok", "alpha"),
    result("b/known", "alpha"),
    result("c/broken", "alpha"),
    result("d/skipped", "alpha"),
    result("e/lucky", "alpha", pins=["some-quirk"]),
]


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-text="[^"]*" data-bad="[01]"><th class="sid">([^<]*)</th>', page)


def test_implementations_in_the_order_they_ran() -> None:
    page = report.html_page(RESULTS)
    assert "<th>scenario</th><th>pins</th><th>zeta-port</th><th>alpha</th></tr>" in page
    assert page.index("<b>zeta-port</b>") < page.index("<b>alpha</b>")


def test_failures_first_then_deviations_then_skipped_then_passed() -> None:
    assert rows(report.html_page(RESULTS)) == [
        "c/broken",
        "e/lucky",
        "b/known",
        "d/skipped",
        "a/ok",
    ]


def test_the_filter_data_marks_failing_rows_and_holds_the_pins() -> None:
    page = report.html_page(RESULTS)
    marks = dict(re.findall(r'data-text="([^"]*)" data-bad="([01])"', page))
    assert marks == {
        "c/broken": "1",
        "e/lucky some-quirk": "1",
        "b/known": "0",
        "d/skipped": "0",
        "a/ok": "0",
    }
    assert '<input type="search" id="q"' in page and 'id="bad"' in page
    assert "<script>" in page and "src=" not in page  # self-contained


def test_failing_cells_show_the_whole_explanation() -> None:
    page = report.html_page(RESULTS)
    assert (
        '<td class="result failed"><span class="status">failed</span>'
        "<pre>implementation failure: the testee exited with status 3</pre></td>"
    ) in page
    assert (
        '<td class="result deviation"><span class="status">expected deviation</span>'
        '<div class="reason">sorted differently</div></td>'
    ) in page
    assert '<td class="result passed"><span class="status">passed</span></td>' in page


def test_hostile_text_is_escaped_everywhere() -> None:
    evil = "<script>alert(1)</script>\"'"
    page = report.html_page(
        [result(f"x/{evil}", evil, FAILED, failure=evil, pins=[evil])], title=evil
    )
    assert "<script>alert" not in page
    assert page.count("<script>") == 1  # the page's own filter


def test_missing_cell_reads_not_run() -> None:
    page = report.html_page([result("a/x", "one"), result("b/y", "two")])
    assert page.count('<td class="na">not run</td>') == 2


@pytest.mark.parametrize(
    ("implementation", "title"),
    [("rust-port", "## Verification checklist: rust-port\n"), ("", "## Verification checklist\n")],
)
def test_checklist_names_the_implementation(implementation: str, title: str) -> None:
    # The name goes in the title; the items speak of "the port", never of Rust.
    states = checklist.evaluate([], [])
    md = checklist.render_markdown(states, implementation)
    fragment = checklist.render_html(states, implementation)
    assert md.startswith(title)
    for text, quote in ((md, str), (fragment, html.escape)):
        assert "Rust" not in text
        assert "All public functions/classes mapped in the port" in text
        assert quote("the port's own tests added and passing") in text


def test_checklist_reasons_are_styled_by_kind() -> None:
    item = checklist.ITEMS[1]
    cases = {
        "passed": checklist.ItemState(item, True, "3/3 scenarios passed"),
        "manual": checklist.ItemState(item, False, "manual: review it"),
        "missing": checklist.ItemState(item, False, "no scenario backs it yet (x)"),
        "failing": checklist.ItemState(item, False, "failed: a/b; 2 passed"),
    }
    for kind, state in cases.items():
        assert checklist.reason_class(state) == kind
        fragment = checklist.render_html([checklist.FileChecklist("f.py", (state,))], "p")
        assert f'<span class="why why-{kind}">{state.why}</span>' in fragment
        assert f".why-{kind}{{" in report._CSS
