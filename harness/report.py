"""Reports: the terminal summary, JUnit XML for CI, and a self-contained HTML parity page."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith("pass") else f"{n} {word}s"


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """One implementation's results in the one wording every entry point prints:

    ``NAME: N passed[ (N relaxed)], N failed[, N not applicable][, N not run][ (N expected
    deviation[s], N unexpected pass[es])]`` -- expected deviations count as passed,
    unexpected passes as failed; a pass that needed a declared relaxation
    (docs/deviations.md) counts as passed and again as relaxed; not-applicable scenarios are
    neither (pytest shows them as skipped); a scenario not run (its implementation could
    not load or start) fails the run.
    """
    counts = Counter(r.status for r in results)
    relaxed = sum(r.relaxed_pass for r in results)
    name = results[0].implementation if results else "(none)"
    line = (
        f"{name}: {counts[PASSED] + counts[EXPECTED_DEVIATION]} passed"
        + (f" ({relaxed} relaxed)" if relaxed else "")
        + f", {counts[FAILED] + counts[UNEXPECTED_PASS]} failed"
    )
    for status in (NOT_APPLICABLE, NOT_RUN):
        if counts[status]:
            line += f", {counts[status]} {status}"
    extras = [_plural(counts[s], s) for s in (EXPECTED_DEVIATION, UNEXPECTED_PASS) if counts[s]]
    return line + (f" ({', '.join(extras)})" if extras else "")


def status_label(r: ScenarioResult) -> str:
    """A result's status as reports print it: ``passed (relaxed)`` for a relaxed pass."""
    return f"{PASSED} (relaxed)" if r.relaxed_pass else r.status


def by_implementation(results: Sequence[ScenarioResult]) -> dict[str, list[ScenarioResult]]:
    """Results grouped by implementation, in order of first appearance."""
    groups: dict[str, list[ScenarioResult]] = {}
    for r in results:
        groups.setdefault(r.implementation, []).append(r)
    return groups


def summary_lines(results: Sequence[ScenarioResult]) -> list[str]:
    """:func:`summary_line` for each implementation."""
    return [summary_line(rows) for rows in by_implementation(results).values()]


def terminal(results: Sequence[ScenarioResult], verbose: bool = False) -> str:
    """Every result that is not ok (all with ``verbose``), then one summary line per
    implementation. Scenarios not run are one line per implementation, with the reason."""
    lines = []
    for impl, rows in by_implementation(results).items():
        skipped = [r for r in rows if r.status == NOT_RUN]
        for r in rows:
            if r.status == NOT_RUN or (r.ok and not verbose):
                continue
            lines.append(f"{status_label(r).upper():<18} {r.implementation}: {r.scenario}")
            if r.status == NOT_APPLICABLE:
                lines.append(f"    {r.reason}")
            elif not r.ok:
                lines += ["    " + line for line in r.explanation().splitlines()]
            elif r.relaxed_pass:
                lines += [f"    relaxed: {note}" for note in r.relaxed]
        if skipped:
            lines.append(f"{NOT_RUN.upper():<18} {impl}: {len(skipped)} scenario(s)")
            lines += ["    " + line for line in str(skipped[0].reason).splitlines()]
    lines += summary_lines(results)
    return "\n".join(lines)


def sort_results(results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
    """Implementations in order of first appearance, scenarios by id within each: the
    order every report uses, so a parallel run's reports equal a serial run's."""
    order = {impl: i for i, impl in enumerate(by_implementation(results))}
    return sorted(results, key=lambda r: (order[r.implementation], r.scenario))


def junit_xml(results: Sequence[ScenarioResult], suite: str = "parity") -> bytes:
    suites = ET.Element("testsuites")
    by_impl: dict[str, list[ScenarioResult]] = {}
    for r in results:
        by_impl.setdefault(r.implementation, []).append(r)
    for impl, rows in by_impl.items():
        failures = sum(r.counted and not r.ok for r in rows)
        node = ET.SubElement(
            suites,
            "testsuite",
            name=f"{suite}.{impl}",
            tests=str(len(rows)),
            failures=str(failures),
            errors=str(sum(r.status == NOT_RUN for r in rows)),
            skipped=str(sum(r.status in (EXPECTED_DEVIATION, NOT_APPLICABLE) for r in rows)),
            time=f"{sum(r.seconds for r in rows):.3f}",
        )
        # JUnit has no "relaxed" outcome: a relaxed pass is a pass, counted in a property
        # of its suite and named in a property of its case, with what was accepted.
        relaxed = sum(r.relaxed_pass for r in rows)
        if relaxed:
            properties = ET.SubElement(node, "properties")
            ET.SubElement(properties, "property", name="relaxed", value=str(relaxed))
        for r in rows:
            case = ET.SubElement(
                node,
                "testcase",
                classname=f"{suite}.{impl}",
                name=r.scenario,
                time=f"{r.seconds:.3f}",
            )
            if r.relaxed_pass:
                props = ET.SubElement(case, "properties")
                for note in r.relaxed:
                    ET.SubElement(props, "property", name="relaxed", value=note)
            if r.status == EXPECTED_DEVIATION:
                ET.SubElement(case, "skipped", message=f"expected deviation: {r.reason}")
            elif r.status == NOT_APPLICABLE:
                ET.SubElement(case, "skipped", message=f"not applicable: {r.reason}")
            elif r.status == NOT_RUN:
                error = ET.SubElement(case, "error", message=NOT_RUN)
                error.text = str(r.reason)
            elif not r.ok:
                failure = ET.SubElement(case, "failure", message=r.status)
                failure.text = r.explanation()
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#202124}
table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th.sid{white-space:nowrap;font-weight:normal;font-family:ui-monospace,monospace;font-size:.9em}
td.pins{font-size:.8em;color:#5f6368;max-width:10em}td.result{min-width:14em;max-width:48em}
.reason{font-size:.9em;margin-top:.2em}
.na{background:#f1f3f4}.passed{background:#e6f4ea}.deviation{background:#fef7e0}
.relaxed{background:#e6f4ea;border-left:4px solid #f9ab00}
.failed,.unexpected{background:#fce8e6;border-left:4px solid #c5221f}
.status{font-weight:600}
details{margin-top:.3em}summary{cursor:pointer;color:#3c4043}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3em 0 0;font-size:.85em;
max-height:24em;overflow:auto;background:#fff;color:#202124;border:1px solid #e0e0e0;padding:.4em}
.filter{margin:1em 0;display:flex;gap:1.5em;align-items:center}
.filter input[type=search]{width:24em;padding:.3em}
.checklist li{margin:.2em 0}.checklist .count{font-weight:normal;color:#5f6368}
.checklist .why{display:block;margin-left:1.8em;font-size:.85em}
.checklist .why-passed{color:#137333}.checklist .why-failing{color:#c5221f}
.checklist .why-missing{color:#b06000}.checklist .why-manual{color:#5f6368;font-style:italic}
"""
_CLASS = {
    PASSED: "passed",
    FAILED: "failed",
    EXPECTED_DEVIATION: "deviation",
    UNEXPECTED_PASS: "unexpected",
    NOT_APPLICABLE: "na",
    NOT_RUN: "failed",
}
# Rows sort by their worst cell: what needs fixing first, then known differences.
_RANK = {
    FAILED: 0,
    UNEXPECTED_PASS: 0,
    NOT_RUN: 0,
    EXPECTED_DEVIATION: 1,
    NOT_APPLICABLE: 2,
    PASSED: 3,
}
# The filter: a text box (scenario id or quirk) and "failures only"; rows carry their
# text and whether they hold a failure in data attributes. A link may preset both
# (page.html#q=barrier&bad). No network, no libraries.
_SCRIPT = """
const q=document.getElementById('q'),bad=document.getElementById('bad'),
rows=[...document.querySelectorAll('tr[data-text]')],shown=document.getElementById('shown');
function apply(){const t=q.value.toLowerCase();let n=0;for(const r of rows){
const v=r.dataset.text.includes(t)&&(!bad.checked||r.dataset.bad==='1');
r.hidden=!v;n+=v}shown.textContent=n+' of '+rows.length+' scenarios shown'}
const h=new URLSearchParams(location.hash.slice(1));q.value=h.get('q')||'';bad.checked=h.has('bad');
q.addEventListener('input',apply);bad.addEventListener('change',apply);apply();
"""


def _cell(r: ScenarioResult | None) -> str:
    if r is None:
        return '<td class="na">not run</td>'
    esc = html.escape
    if r.relaxed_pass:  # a pass, marked: what the relaxation accepted is one click away
        notes = esc("\n".join(r.relaxed))
        return (
            f'<td class="result relaxed"><span class="status">{status_label(r)}</span>'
            f"<details><summary>what was accepted</summary><pre>{notes}</pre></details></td>"
        )
    parts = [f'<span class="status">{esc(r.status)}</span>']
    if r.status == NOT_RUN:  # the reason is in the column's head, once
        pass
    elif r.status in (FAILED, UNEXPECTED_PASS):
        # What needs fixing is shown whole; a long one scrolls inside its own box.
        parts.append(f"<pre>{esc(r.explanation())}</pre>")
    elif r.status in (EXPECTED_DEVIATION, NOT_APPLICABLE):
        parts.append(f'<div class="reason">{esc(str(r.reason))}</div>')
        if r.explanation():
            parts.append(
                f"<details><summary>what differs</summary><pre>{esc(r.explanation())}</pre>"
                "</details>"
            )
    return f'<td class="result {_CLASS[r.status]}">{"".join(parts)}</td>'


def html_page(
    results: Sequence[ScenarioResult], title: str = "Monolith hook parity", extra_html: str = ""
) -> str:
    """The parity page: one row per scenario, one column per implementation in the order
    they were run; rows with a failure first, a filter over ids and quirks."""
    impls = list(by_implementation(results))
    cell = {(r.scenario, r.implementation): r for r in results}
    pins = {r.scenario: r.pins for r in results}

    def rank(scenario: str) -> tuple[int, str]:
        statuses = [cell[scenario, i].status for i in impls if (scenario, i) in cell]
        return min(_RANK[s] for s in statuses), scenario

    rows = []
    for s in sorted(pins, key=rank):
        bad = rank(s)[0] == 0
        text = html.escape(" ".join([s, *pins[s]]).lower(), quote=True)
        tds = "".join(_cell(cell.get((s, impl))) for impl in impls)
        rows.append(
            f'<tr data-text="{text}" data-bad="{int(bad)}"><th class="sid">{html.escape(s)}</th>'
            f'<td class="pins">{html.escape(", ".join(pins[s]))}</td>{tds}</tr>'
        )
    not_run = {r.implementation: r.reason for r in results if r.status == NOT_RUN}
    head = "".join(
        f"<th>{html.escape(i)}"
        + (f"<br>not run: {html.escape(str(not_run[i]))}" if i in not_run else "")
        + "</th>"
        for i in impls
    )
    summaries = "".join(
        f"<li><b>{html.escape(name)}</b>{html.escape(summary_line(rows)[len(name) :])}</li>"
        for name, rows in by_implementation(results).items()
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{summaries}</ul>"
        '<div class="filter"><input type="search" id="q" placeholder="filter: scenario or quirk">'
        '<label><input type="checkbox" id="bad"> failures only</label>'
        '<span id="shown"></span></div>'
        f"<table><tr><th>scenario</th><th>pins</th>{head}</tr>{''.join(rows)}</table>"
        f"{extra_html}<script>{_SCRIPT}</script></body></html>\n"
    )


def write_reports(
    results: Sequence[ScenarioResult],
    junit: Path | None = None,
    html_path: Path | None = None,
    extra_html: str = "",
) -> None:
    results = sort_results(results)
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_bytes(junit_xml(results))
    if html_path:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(html_page(results, extra_html=extra_html), encoding="utf-8")
