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
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """``N passed, N failed[, N skipped]``: expected deviations count as passed, unexpected
    passes as failed, scenarios the implementation cannot apply as skipped."""
    counted = [r for r in results if r.counted]
    ok = sum(r.ok for r in counted)
    line = f"{ok} passed, {len(counted) - ok} failed"
    skipped = len(results) - len(counted)
    return line + (f", {skipped} skipped" if skipped else "")


def breakdown(results: Sequence[ScenarioResult]) -> str:
    counts = Counter(r.status for r in results)
    return ", ".join(
        f"{counts[s]} {s}"
        for s in (PASSED, EXPECTED_DEVIATION, FAILED, UNEXPECTED_PASS, NOT_APPLICABLE)
        if counts[s] or s in (PASSED, FAILED)
    )


def terminal(results: Sequence[ScenarioResult], verbose: bool = False) -> str:
    lines = []
    for r in results:
        if not r.ok or verbose:
            lines.append(f"{r.status.upper():<18} {r.implementation}: {r.scenario}")
            if r.status == NOT_APPLICABLE:
                lines.append(f"    {r.reason}")
            elif not r.ok:
                lines += ["    " + line for line in r.explanation().splitlines()]
    lines.append(breakdown(results))
    lines.append(summary_line(results))
    return "\n".join(lines)


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
}


def html_page(
    results: Sequence[ScenarioResult], title: str = "Monolith hook parity", extra_html: str = ""
) -> str:
    impls = sorted({r.implementation for r in results})
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
                if r.status == PASSED
                else f"<pre>{html.escape(r.explanation() or str(r.reason))}</pre>"
            )
            tds.append(f'<td class="{_CLASS[r.status]}">{html.escape(r.status)}{detail}</td>')
        pins = html.escape(", ".join(next((r.pins for r in results if r.scenario == s), [])))
        rows.append(f"<tr><th>{html.escape(s)}</th><td>{pins}</td>{''.join(tds)}</tr>")
    head = "".join(f"<th>{html.escape(i)}</th>" for i in impls)
    summaries = "".join(
        f"<li>{html.escape(i)}: "
        f"{html.escape(breakdown([r for r in results if r.implementation == i]))}</li>"
        for i in impls
    )
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
    if junit:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_bytes(junit_xml(results))
    if html_path:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(html_page(results, extra_html=extra_html), encoding="utf-8")
