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

    ``NAME: N passed, N failed[, N not applicable][, N not run][ (N expected deviation[s],
    N unexpected pass[es])]`` -- expected deviations count as passed, unexpected passes as
    failed; not-applicable scenarios are neither (pytest shows them as skipped); a scenario
    not run (its implementation could not load or start) fails the run.
    """
    counts = Counter(r.status for r in results)
    name = results[0].implementation if results else "(none)"
    line = (
        f"{name}: {counts[PASSED] + counts[EXPECTED_DEVIATION]} passed, "
        f"{counts[FAILED] + counts[UNEXPECTED_PASS]} failed"
    )
    for status in (NOT_APPLICABLE, NOT_RUN):
        if counts[status]:
            line += f", {counts[status]} {status}"
    extras = [_plural(counts[s], s) for s in (EXPECTED_DEVIATION, UNEXPECTED_PASS) if counts[s]]
    return line + (f" ({', '.join(extras)})" if extras else "")


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
            lines.append(f"{r.status.upper():<18} {r.implementation}: {r.scenario}")
            if r.status == NOT_APPLICABLE:
                lines.append(f"    {r.reason}")
            elif not r.ok:
                lines += ["    " + line for line in r.explanation().splitlines()]
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
        for r in rows:
            case = ET.SubElement(
                node,
                "testcase",
                classname=f"{suite}.{impl}",
                name=r.scenario,
                time=f"{r.seconds:.3f}",
            )
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
body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.na{background:#f1f3f4}.passed{background:#e6f4ea}.failed,.unexpected{background:#fce8e6}.deviation{background:#fef7e0}
pre{white-space:pre-wrap;margin:0;font-size:.85em}
"""
_CLASS = {
    PASSED: "passed",
    FAILED: "failed",
    EXPECTED_DEVIATION: "deviation",
    UNEXPECTED_PASS: "unexpected",
    NOT_APPLICABLE: "na",
    NOT_RUN: "failed",
}


def html_page(
    results: Sequence[ScenarioResult], title: str = "Monolith hook parity", extra_html: str = ""
) -> str:
    impls = list(by_implementation(results))
    scenarios = sorted({r.scenario for r in results})
    cell = {(r.scenario, r.implementation): r for r in results}
    rows = []
    for s in scenarios:
        tds = []
        for impl in impls:
            r = cell.get((s, impl))
            if r is None:
                tds.append("<td>n/a</td>")
                continue
            detail = (
                ""
                if r.status in (PASSED, NOT_RUN)  # not run: the reason is in the header
                else f"<pre>{html.escape(r.explanation() or str(r.reason))}</pre>"
            )
            tds.append(f'<td class="{_CLASS[r.status]}">{html.escape(r.status)}{detail}</td>')
        pins = html.escape(", ".join(next((r.pins for r in results if r.scenario == s), [])))
        rows.append(f"<tr><th>{html.escape(s)}</th><td>{pins}</td>{''.join(tds)}</tr>")
    not_run = {r.implementation: r.reason for r in results if r.status == NOT_RUN}
    head = "".join(
        f"<th>{html.escape(i)}"
        + (f"<br>not run: {html.escape(str(not_run[i]))}" if i in not_run else "")
        + "</th>"
        for i in impls
    )
    summaries = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(results))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><ul>{summaries}</ul>"
        f"<table><tr><th>scenario</th><th>pins</th>{head}</tr>{''.join(rows)}</table>"
        f"{extra_html}</body></html>\n"
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
