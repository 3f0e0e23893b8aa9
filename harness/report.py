"""Reports: the terminal summary, JUnit XML for CI, and a self-contained HTML parity page.

Every writer is total: results carry text a testee produced (error messages, its stderr,
file names decoded with ``surrogateescape``, reasons, its name), and any ``str`` in any
field gives a report that encodes as UTF-8, holds no control character but newline and tab
(JUnit: well-formed XML) and still shows the text, escaped by :func:`harness.safe_text.shown`
at the point it is written. :func:`write_reports` writes each file atomically and returns
what it could not write instead of raising.
"""

from __future__ import annotations

import contextlib
import html
import os
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    IN_PROCESS,
    INTERRUPTED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)
from harness.safe_text import shown, shown_name
from harness.version import version


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word}es" if word.endswith("pass") else f"{n} {word}s"


def summary_line(results: Sequence[ScenarioResult]) -> str:
    """One implementation's results in the one wording every entry point prints:

    ``NAME: N passed[ (N relaxed)], N failed[, N not applicable][, N not run[:
    interrupted]][ (N expected deviation[s], N unexpected pass[es])][; served N of M[, N
    not applicable in a family it serves]]`` -- expected deviations count as passed,
    unexpected passes as failed; a pass that needed a declared relaxation
    (docs/deviations.md) counts as passed and again as relaxed; not-applicable scenarios are
    neither (pytest shows them as skipped); a scenario not run (its implementation could
    not load or start, or the run was interrupted) fails the run. When not every scenario
    was judged, ``served N of M`` says how many were, and how many of the rest the
    implementation declined in a family its hello claims to serve.
    """
    counts = Counter(r.status for r in results)
    relaxed = sum(r.relaxed_pass for r in results)
    name = _name(results[0].implementation) if results else "(none)"
    line = (
        f"{name}: {counts[PASSED] + counts[EXPECTED_DEVIATION]} passed"
        + (f" ({relaxed} relaxed)" if relaxed else "")
        + f", {counts[FAILED] + counts[UNEXPECTED_PASS]} failed"
    )
    if counts[NOT_APPLICABLE]:
        line += f", {counts[NOT_APPLICABLE]} {NOT_APPLICABLE}"
    if counts[NOT_RUN]:
        line += f", {counts[NOT_RUN]} {NOT_RUN}"
        if any(r.status == NOT_RUN and r.reason == INTERRUPTED for r in results):
            line += f": {INTERRUPTED}"
    extras = [_plural(counts[s], s) for s in (EXPECTED_DEVIATION, UNEXPECTED_PASS) if counts[s]]
    line += f" ({', '.join(extras)})" if extras else ""
    served = sum(r.counted for r in results)
    if served < len(results):
        line += f"; served {served} of {len(results)}"
        declined = sum(r.status == NOT_APPLICABLE and r.served_family for r in results)
        if declined:
            line += f", {declined} {NOT_APPLICABLE} in a family it serves"
    return line


def sandboxes(results: Sequence[ScenarioResult]) -> dict[str, str]:
    """Implementation -> the sandbox it ran in, for those that ran as a process."""
    found: dict[str, str] = {}
    for r in results:
        if r.sandbox and r.sandbox != IN_PROCESS:
            found.setdefault(r.implementation, r.sandbox)
    return found


def _name(text: object) -> str:
    """A name or id (an implementation, a scenario, a pin, a status) on one line, safe."""
    return shown(str(text), multiline=False)


def _lines(text: object) -> list[str]:
    """Text that may span lines, safe, one list item per line."""
    return shown(str(text)).splitlines()


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


def terminal(
    results: Sequence[ScenarioResult], verbose: bool = False, problems: Sequence[str] = ()
) -> str:
    """Every result that is not ok (all with ``verbose``), then one summary line per
    implementation, the sandbox of each that ran as a process, and ``problems`` (what a
    run fails on beyond its scenarios: :func:`harness.runner.coverage_problems`).
    Scenarios not run are one line per implementation, with the reason."""
    lines = []
    for impl, rows in by_implementation(results).items():
        skipped = [r for r in rows if r.status == NOT_RUN]
        for r in rows:
            if r.status == NOT_RUN or (r.ok and not verbose):
                continue
            label = _name(status_label(r).upper())
            lines.append(f"{label:<18} {_name(r.implementation)}: {_name(r.scenario)}")
            if r.status == NOT_APPLICABLE:
                where = "in a family it serves: " if r.served_family else ""
                lines += ["    " + where + line for line in _lines(r.reason)[:1]]
                lines += ["    " + line for line in _lines(r.reason)[1:]]
            elif not r.ok:
                lines += ["    " + line for line in _lines(r.explanation())]
            elif r.relaxed_pass:
                lines += [f"    relaxed: {shown(note)}" for note in r.relaxed]
            if r.ok and r.alternative:
                lines.append(f"    outcome: {_name(r.alternative)} (one of the legal outcomes)")
        if skipped:
            lines.append(f"{NOT_RUN.upper():<18} {_name(impl)}: {len(skipped)} scenario(s)")
            lines += ["    " + line for line in _lines(skipped[0].reason)]
    lines += [f"{_name(impl)}: sandbox {_name(mode)}" for impl, mode in sandboxes(results).items()]
    lines += summary_lines(results)
    lines += [_name(p) for p in problems]
    return "\n".join(lines)


def sort_results(results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
    """Implementations in order of first appearance, scenarios by id within each: the
    order every report uses, so a parallel run's reports equal a serial run's."""
    order = {impl: i for i, impl in enumerate(by_implementation(results))}
    return sorted(results, key=lambda r: (order[r.implementation], r.scenario))


def junit_xml(results: Sequence[ScenarioResult], suite: str = "parity") -> bytes:
    """JUnit XML: one suite per implementation, one case per scenario."""
    suite = _name(suite)
    suites = ET.Element("testsuites")
    by_impl: dict[str, list[ScenarioResult]] = {}
    for r in results:
        by_impl.setdefault(r.implementation, []).append(r)
    for raw_impl, rows in by_impl.items():
        impl = _name(raw_impl)
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
        mode = sandboxes(rows).get(raw_impl)
        if relaxed or mode:
            properties = ET.SubElement(node, "properties")
            if relaxed:
                ET.SubElement(properties, "property", name="relaxed", value=str(relaxed))
            if mode:
                ET.SubElement(properties, "property", name="sandbox", value=_name(mode))
        for r in rows:
            case = ET.SubElement(
                node,
                "testcase",
                classname=f"{suite}.{impl}",
                name=_name(r.scenario),
                time=f"{r.seconds:.3f}",
            )
            if r.relaxed_pass or r.alternative:
                props = ET.SubElement(case, "properties")
                for note in r.relaxed if r.relaxed_pass else ():
                    ET.SubElement(props, "property", name="relaxed", value=shown(note))
                if r.alternative:
                    ET.SubElement(props, "property", name="outcome", value=_name(r.alternative))
            if r.status == EXPECTED_DEVIATION:
                message = f"expected deviation: {shown(str(r.reason))}"
                ET.SubElement(case, "skipped", message=message)
            elif r.status == NOT_APPLICABLE:
                message = f"not applicable: {shown(str(r.reason))}"
                ET.SubElement(case, "skipped", message=message)
            elif r.status == NOT_RUN:
                error = ET.SubElement(case, "error", message=NOT_RUN)
                error.text = shown(str(r.reason))
            elif not r.ok:
                failure = ET.SubElement(case, "failure", message=_name(r.headline()))
                failure.text = shown(r.explanation())
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
.desc{font-family:system-ui,sans-serif;font-size:.8em;color:#5f6368;white-space:normal;
max-width:32em;margin-top:.2em}
dl.details{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;font-size:.9em}
dl.details dt{color:#5f6368}dl.details dd{margin:0;font-family:ui-monospace,monospace}
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

    def esc(text: object) -> str:
        return html.escape(shown(str(text)))

    if r.relaxed_pass:  # a pass, marked: what the relaxation accepted is one click away
        notes = esc("\n".join(r.relaxed))
        return (
            f'<td class="result relaxed"><span class="status">{status_label(r)}</span>'
            f"<details><summary>what was accepted</summary><pre>{notes}</pre></details></td>"
        )
    parts = [f'<span class="status">{esc(r.status)}</span>']
    if r.alternative:  # which legal outcome of a scenario that leaves an order open
        parts.append(f'<div class="reason">outcome {esc(r.alternative)}</div>')
    if r.status == NOT_RUN:  # the reason is in the column's head, once
        pass
    elif r.status in (EXPECTED_DEVIATION, NOT_APPLICABLE):
        parts.append(f'<div class="reason">{esc(r.reason)}</div>')
        if r.explanation():
            parts.append(
                f"<details><summary>what differs</summary><pre>{esc(r.explanation())}</pre>"
                "</details>"
            )
    elif r.status != PASSED:  # failed, unexpected pass (or a status the page does not know)
        # What needs fixing is shown whole; a long one scrolls inside its own box.
        parts.append(f"<pre>{esc(r.explanation())}</pre>")
    return f'<td class="result {_CLASS.get(r.status, "failed")}">{"".join(parts)}</td>'


def html_page(
    results: Sequence[ScenarioResult],
    title: str = "Monolith hook parity",
    extra_html: str = "",
    descriptions: Mapping[str, str] | None = None,
    details: Mapping[str, str] | None = None,
) -> str:
    """The parity page: the run's ``details`` (date, implementations, corpus, harness
    version), one row per scenario (with its description) and one column per
    implementation in the order they were run, rows with a failure first, a filter over
    ids and quirks; ``extra_html`` (the checklists) follows, linked from the top."""
    descriptions = descriptions or {}
    impls = list(by_implementation(results))
    cell = {(r.scenario, r.implementation): r for r in results}
    pins = {r.scenario: r.pins for r in results}

    def rank(scenario: str) -> tuple[int, str]:
        statuses = [cell[scenario, i].status for i in impls if (scenario, i) in cell]
        return min(_RANK.get(s, 0) for s in statuses), scenario

    def esc(text: object) -> str:  # a name or id, on one line
        return html.escape(_name(text))

    rows = []
    for s in sorted(pins, key=rank):
        bad = rank(s)[0] == 0
        text = esc(" ".join([s, *pins[s]]).lower())
        tds = "".join(_cell(cell.get((s, impl))) for impl in impls)
        about = descriptions.get(s)
        desc = f'<div class="desc">{html.escape(shown(about))}</div>' if about else ""
        rows.append(
            f'<tr data-text="{text}" data-bad="{int(bad)}"><th class="sid">{esc(s)}{desc}</th>'
            f'<td class="pins">{esc(", ".join(pins[s]))}</td>{tds}</tr>'
        )
    not_run = {r.implementation: r.reason for r in results if r.status == NOT_RUN}
    head = "".join(
        f"<th>{esc(i)}"
        + (f"<br>not run: {html.escape(shown(str(not_run[i])))}" if i in not_run else "")
        + "</th>"
        for i in impls
    )
    modes = sandboxes(results)
    summaries = "".join(
        f"<li><b>{esc(name)}</b>{html.escape(summary_line(rows)[len(_name(name)) :])}</li>"
        for name, rows in by_implementation(results).items()
    ) + "".join(
        f'<li class="sandbox"><b>{esc(name)}</b> ran in sandbox: {esc(mode)}</li>'
        for name, mode in modes.items()
    )
    title = esc(title)
    run = "".join(
        f"<dt>{esc(key)}</dt><dd>{html.escape(shown(value))}</dd>"
        for key, value in (details or {}).items()
    )
    run = f'<dl class="details">{run}</dl>' if run else ""
    jump = (
        '<p class="jump"><a href="#checklists">verification checklists</a> (below the table)</p>'
        if extra_html
        else ""
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>{run}<ul>{summaries}</ul>{jump}"
        '<div class="filter"><input type="search" id="q" placeholder="filter: scenario or quirk">'
        '<label><input type="checkbox" id="bad"> failures only</label>'
        '<span id="shown"></span></div>'
        f"<table><tr><th>scenario</th><th>pins</th>{head}</tr>{''.join(rows)}</table>"
        f'<div id="checklists">{shown(extra_html)}</div><script>{_SCRIPT}</script>'
        "</body></html>\n"
    )


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, renamed
    over ``path`` once complete: a reader (or a crash, or a full disk) never sees part of
    it, and on any error the temporary file is removed and what was at ``path`` is left
    as it was. The file gets the usual permissions (0666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        # a dot file, its name kept short enough for any file system's limit
        temporary = path.with_name(f".{path.name[:32]}.{os.urandom(4).hex()}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name next to {shown_name(path)}")
    try:
        with open(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _error_text(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno is not None and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def write_reports(
    results: Sequence[ScenarioResult],
    junit: Path | None = None,
    html_path: Path | None = None,
    extra_html: str = "",
    *,
    junit_option: str = "--junit",
    html_option: str = "--html",
    descriptions: Mapping[str, str] | None = None,
    details: Mapping[str, str] | None = None,
) -> list[str]:
    """Write the JUnit XML and the HTML page that were asked for, each atomically (see
    :func:`write_atomically`). A report that cannot be written does not stop the other:
    the errors are returned, one line each (``cannot write --junit PATH: [Errno 28] No
    space left on device``; the options named as the caller's command line spells them),
    and an empty list when every report was written."""
    results = sort_results(results)
    errors = []
    wanted = (
        (junit_option, junit, lambda: junit_xml(results)),
        (
            html_option,
            html_path,
            lambda: html_page(
                results, extra_html=extra_html, descriptions=descriptions, details=details
            ).encode(),
        ),
    )
    for option, path, render in wanted:
        if not path:
            continue
        try:
            write_atomically(Path(path), render())
        except Exception as exc:  # reported; the other report is still written
            why = shown(_error_text(exc), multiline=False)
            errors.append(f"cannot write {option} {shown_name(path)}: {why}")
    return errors


def run_details(implementations: Sequence[str], scenarios: int, golden: Path) -> dict[str, str]:
    """What the parity page says of its run: when, on what, against which corpus, by which
    harness."""
    import datetime
    import hashlib

    manifest = golden / "MANIFEST.json"
    try:
        corpus = hashlib.sha256(manifest.read_bytes()).hexdigest()[:12]
    except OSError:
        corpus = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "implementations": "; ".join(implementations),
        "corpus": f"{scenarios} scenarios, goldens {corpus} (sha256 of {manifest.name})",
        "harness": f"monolith-parity {version()}",
    }
