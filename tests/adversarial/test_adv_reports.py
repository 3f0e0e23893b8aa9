"""Hostile text in results, and reports that cannot be written.

Results carry text a testee produced: error messages, its stderr, file names decoded with
``surrogateescape`` (lone surrogates), reasons, its own name. Every report writer is total:
any ``str`` in any field of any result gives output that

(a) encodes as UTF-8,
(b) holds no control character but newline and tab (nor a surrogate, a noncharacter XML
    forbids or a bidi control), and the JUnit XML parses,
(c) still shows the text, escaped by :func:`harness.safe_text.shown`.

``write_reports`` writes each report atomically (a complete new file or the old one, never
part of one, and no temporary file left behind) and a report it cannot write does not stop
the other: the errors are returned, naming the option and the path.
"""

from __future__ import annotations

import html
import json
import os
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest
from budget import examples
from hypothesis import given
from hypothesis import strategies as st

from harness import checklist, report
from harness.compare import Difference
from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)
from harness.safe_text import is_safe, shown

pytestmark = pytest.mark.timeout(60)

STATUSES = (PASSED, FAILED, EXPECTED_DEVIATION, UNEXPECTED_PASS, NOT_APPLICABLE, NOT_RUN)
# Characters that break a writer or a reader: C0 and C1 controls, DEL, lone surrogates
# (a surrogateescape'd byte among them), XML's noncharacters, bidi controls, line
# separators, markup.
NASTY = (
    "\x00\x01\x07\x08\x0b\x0c\r\x1b\x1c\x1f\x7f\x80\x85\x9b\x9f"
    "\ud800\udbff\udc80\udcff\udfff\ufffe\uffff"
    "\u061c\u200e\u202e\u2066\u2069\u2028\u2029"
    "\n\t<>&\"'\\]"
)
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

chars = st.one_of(st.characters(codec=None, categories=None), st.sampled_from(NASTY))
text = st.text(chars, max_size=30)
# A few names that recur, so that implementations have several rows and scenarios
# several columns.
names = st.one_of(st.sampled_from(["\x1b[31mrust", "\udcffport", "plain", "a\u202eb"]), text)
differences = st.builds(Difference, path=text, kind=text, explanation=text)
results_strategy = st.lists(
    st.builds(
        ScenarioResult,
        scenario=names,
        implementation=names,
        status=st.one_of(st.sampled_from(STATUSES), text),
        differences=st.lists(differences, max_size=3),
        failure=st.none() | text,
        reason=st.none() | text,
        seconds=st.floats(0, 1e6),
        log=text,
        pins=st.lists(text, max_size=3),
        relaxed=st.lists(text, max_size=3),
    ),
    max_size=6,
)


def assert_safe(out: str) -> None:
    """(a) and (b) for text."""
    out.encode("utf-8")  # (a): raises on a lone surrogate
    found = CONTROL.search(out)
    assert found is None, f"raw control {found.group()!r} at {found.start()}"
    assert is_safe(out), "a surrogate, noncharacter or bidi control left raw"


def one_line(value: object) -> str:
    return shown(str(value), multiline=False)


def lines_of(value: object) -> list[str]:
    return shown(str(value)).splitlines()


def last_per_cell(results: Sequence[ScenarioResult]) -> list[ScenarioResult]:
    """The result each (scenario, implementation) cell of the page shows."""
    return list({(r.scenario, r.implementation): r for r in results}.values())


# -- (a)-(c) for any text ----------------------------------------------------------------


@examples(150)
@given(results=results_strategy, verbose=st.booleans())
def test_terminal_is_total(results: list[ScenarioResult], verbose: bool) -> None:
    out = report.terminal(results, verbose=verbose)
    assert_safe(out)
    wanted: list[str] = []
    for impl, rows in report.by_implementation(results).items():
        wanted.append(report.summary_line(rows))
        assert report.summary_line(rows).startswith(one_line(impl) + ": ")
        skipped = [r for r in rows if r.status == NOT_RUN]
        if skipped:
            wanted += ["    " + line for line in lines_of(skipped[0].reason)]
        for r in rows:
            if r.status == NOT_RUN or (r.ok and not verbose):
                continue
            head = f"{one_line(report.status_label(r).upper()):<18} "
            wanted.append(f"{head}{one_line(r.implementation)}: {one_line(r.scenario)}")
            if r.status == NOT_APPLICABLE:
                wanted += lines_of(f"    {r.reason}")
            elif not r.ok:
                # every field's text is there, line by line
                for part in (r.failure or "", *map(str, r.differences), r.log, *r.relaxed):
                    assert all(line in out for line in lines_of(part))
            elif r.relaxed_pass:
                for note in r.relaxed:
                    assert all(line in out for line in lines_of(note))
    for line in wanted:
        assert line in out, line


@examples(150)
@given(results=results_strategy, suite=text)
def test_junit_is_total(results: list[ScenarioResult], suite: str) -> None:
    xml = report.junit_xml(results, suite=suite)
    assert_safe(xml.decode("utf-8"))
    root = ET.fromstring(xml)  # (b): well-formed
    suites = root.findall("testsuite")
    groups = report.by_implementation(results)
    assert len(suites) == len(groups)
    for node, (impl, rows) in zip(suites, groups.items(), strict=True):
        assert node.get("name") == f"{one_line(suite)}.{one_line(impl)}"
        cases = node.findall("testcase")
        for case, r in zip(cases, rows, strict=True):
            assert case.get("name") == one_line(r.scenario)
            if r.status in (EXPECTED_DEVIATION, NOT_APPLICABLE):
                assert shown(str(r.reason)) in case.find("skipped").get("message")
            elif r.status == NOT_RUN:
                assert (case.find("error").text or "") == shown(str(r.reason))
            elif not r.ok:
                failure = case.find("failure")
                assert failure.get("message") == one_line(r.headline())  # what failed, in a line
                assert (failure.text or "") == shown(r.explanation())
            if r.relaxed_pass:
                values = [p.get("value") for p in case.iter("property")]
                assert values == [shown(note) for note in r.relaxed]


@examples(100)
@given(results=results_strategy, title=text, extra=text)
def test_html_page_is_total(results: list[ScenarioResult], title: str, extra: str) -> None:
    page = report.html_page(results, title=title, extra_html=extra)
    assert_safe(page)
    assert f"<title>{html.escape(one_line(title))}</title>" in page
    for impl in report.by_implementation(results):
        assert f"<th>{html.escape(one_line(impl))}" in page
        assert f"<li><b>{html.escape(one_line(impl))}</b>" in page
    not_run = {r.implementation: r.reason for r in results if r.status == NOT_RUN}
    for reason in not_run.values():
        assert f"<br>not run: {html.escape(shown(str(reason)))}</th>" in page
    for r in last_per_cell(results):
        assert f'<th class="sid">{html.escape(one_line(r.scenario))}</th>' in page
        if r.relaxed_pass:
            assert f"<pre>{html.escape(shown(chr(10).join(r.relaxed)))}</pre>" in page
        elif r.status in (EXPECTED_DEVIATION, NOT_APPLICABLE):
            assert f'<div class="reason">{html.escape(shown(str(r.reason)))}</div>' in page
        elif not r.ok and r.status != NOT_RUN:
            assert f"<pre>{html.escape(shown(r.explanation()))}</pre>" in page


item_states = st.builds(
    checklist.ItemState,
    item=st.one_of(st.sampled_from(checklist.ITEMS), text),
    checked=st.booleans(),
    why=text,
    scenarios=st.lists(text, max_size=3).map(tuple),
)
file_checklists = st.lists(
    st.builds(
        checklist.FileChecklist,
        path=text,
        items=st.lists(item_states, max_size=4).map(tuple),
        in_plan=st.booleans(),
    ),
    max_size=3,
)


@examples(100)
@given(checklists=file_checklists, implementation=text)
def test_checklist_renderings_are_total(
    checklists: list[checklist.FileChecklist], implementation: str
) -> None:
    md = checklist.render_markdown(checklists, implementation)
    fragment = checklist.render_html(checklists, implementation)
    for out in (md, fragment):
        assert_safe(out)
    if implementation:
        assert md.startswith(f"## Verification checklist: {one_line(implementation)}\n")
        assert f"<h2>Verification checklist: {html.escape(one_line(implementation))}</h2>" in (
            fragment
        )
    for cl in checklists:
        assert f"### `{one_line(cl.path)}`" in md
        assert f"<code>{html.escape(one_line(cl.path))}</code>" in fragment
        for it in cl.items:
            item = one_line(checklist.label(it.item, implementation))
            assert f"{item} — {one_line(it.why)}\n" in md
            assert html.escape(item) in fragment
            assert f">{html.escape(one_line(it.why))}</span>" in fragment


# -- fixed hostile strings, exact output --------------------------------------------------

OSC = "boom\x1b]0;pwned\x07\ud800"
HOSTILE = ScenarioResult(
    scenario="x/\x1b[2Jid",
    implementation="rust\x9b31m",
    status=FAILED,
    failure=OSC,
    differences=[Difference("files/model/\udcffckpt", "missing", "not in the output\u202e")],
    log="line one\r\n\x07bell\ufffe\n",
)


def test_terminal_shows_hostile_text_escaped() -> None:
    assert report.terminal([HOSTILE]).splitlines() == [
        r"FAILED             rust\x9b31m: x/\x1b[2Jid",
        r"    implementation failure: boom\x1b]0;pwned\x07\ud800",
        r"    files/model/\xffckpt [missing]: not in the output\u202e",
        "    testee stderr:",
        r"    line one\x0d",
        r"    \x07bell\ufffe",
        r"rust\x9b31m: 0 passed, 1 failed",
    ]


def test_other_statuses_in_the_terminal() -> None:
    rows = [
        ScenarioResult("a/na", "i\x00", NOT_APPLICABLE, reason="no\x1b[8m threads"),
        ScenarioResult("b/ok", "i\x00", PASSED, relaxed=["wording\x85 differs"]),
        ScenarioResult("c/nr", "j\udcfe", NOT_RUN, reason="cannot load\x1b]8;;evil\x07"),
    ]
    assert report.terminal(rows, verbose=True).splitlines() == [
        r"NOT APPLICABLE     i\x00: a/na",
        r"    no\x1b[8m threads",
        r"PASSED (RELAXED)   i\x00: b/ok",
        r"    relaxed: wording\x85 differs",
        r"NOT RUN            j\xfe: 1 scenario(s)",
        r"    cannot load\x1b]8;;evil\x07",
        r"i\x00: 1 passed (1 relaxed), 0 failed, 1 not applicable; served 1 of 2",
        r"j\xfe: 0 passed, 0 failed, 1 not run; served 0 of 1",
    ]


def test_junit_shows_hostile_text_escaped() -> None:
    xml = report.junit_xml([HOSTILE])
    case = ET.fromstring(xml).find("testsuite/testcase")
    assert case.get("classname") == r"parity.rust\x9b31m"
    assert case.get("name") == r"x/\x1b[2Jid"
    assert case.find("failure").text == (
        r"implementation failure: boom\x1b]0;pwned\x07\ud800"
        "\n"
        r"files/model/\xffckpt [missing]: not in the output\u202e"
        "\ntestee stderr:\n"
        r"line one\x0d"
        "\n"
        r"\x07bell\ufffe"
        "\n"
    )
    assert b"\x1b" not in xml and b"\x07" not in xml


def test_html_shows_hostile_text_escaped() -> None:
    page = report.html_page([HOSTILE])
    assert r"<pre>implementation failure: boom\x1b]0;pwned\x07\ud800" in page
    assert r"<th>rust\x9b31m</th>" in page
    assert r'<th class="sid">x/\x1b[2Jid</th>' in page
    assert r"<li><b>rust\x9b31m</b>: 0 passed, 1 failed</li>" in page


def test_checklist_shows_hostile_names_escaped() -> None:
    state = checklist.ItemState(checklist.ITEMS[0], False, "failed: x/\x1b[2Jid\ud800")
    cls = [checklist.FileChecklist("f\u202e.py", (state,))]
    md = checklist.render_markdown(cls, "rust\x07<b>")
    assert md.splitlines()[:5] == [
        r"## Verification checklist: rust\x07<b>",
        "",
        r"### `f\u202e.py` (0/1)",
        "",
        r"- [ ] All public functions/classes mapped in the port — failed: x/\x1b[2Jid\ud800",
    ]
    fragment = checklist.render_html(cls, "rust\x07<b>")
    assert r"<h2>Verification checklist: rust\x07&lt;b&gt;</h2>" in fragment
    assert r'<span class="why why-failing">failed: x/\x1b[2Jid\ud800</span>' in fragment


def test_a_megabyte_of_hostile_text() -> None:
    big = ("x" * 1000 + "\x1b\ud800\udcff\x9b\n") * 1000  # just over 1 MB
    rows = [
        ScenarioResult(
            big[:5000],
            big,
            status,
            failure=big,
            reason=big,
            log=big,
            pins=[big],
            relaxed=[big],
            differences=[Difference(big, big, big)],
        )
        for status in STATUSES
    ]
    for out in (
        report.terminal(rows, verbose=True),
        report.html_page(rows),
        report.junit_xml(rows).decode("utf-8"),
    ):
        assert_safe(out)
        assert r"x\x1b\ud800\xff\x9b" in out
    ET.fromstring(report.junit_xml(rows))


# -- write_reports: atomic, and one failure does not stop the other ---------------------

ROWS = [
    ScenarioResult("a/ok", "ref", PASSED),
    ScenarioResult("b/bad", "ref\udcff", FAILED, failure=OSC),
]


def complete_html() -> bytes:
    return report.html_page(report.sort_results(ROWS)).encode("utf-8")


def complete_junit() -> bytes:
    return report.junit_xml(report.sort_results(ROWS))


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_both_reports_written_and_readable(tmp_path: Path) -> None:
    junit, page = tmp_path / "out" / "x.xml", tmp_path / "out" / "page.html"
    assert report.write_reports(ROWS, junit, page) == []
    assert junit.read_bytes() == complete_junit()
    assert page.read_bytes() == complete_html()
    page.read_text(encoding="utf-8")  # strict: no lone surrogate got through
    ET.parse(junit)
    assert entries(tmp_path / "out") == ["page.html", "x.xml"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(page.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_junit_target_is_a_directory_the_html_is_still_written(tmp_path: Path) -> None:
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    junit.mkdir()
    errors = report.write_reports(ROWS, junit, page)
    assert len(errors) == 1
    assert errors[0].startswith(f"cannot write --junit {junit}: [Errno ")
    assert "Is a directory" in errors[0]
    assert page.read_bytes() == complete_html()
    assert entries(tmp_path) == ["page.html", "x.xml"]  # no temporary file left
    assert entries(junit) == []


def test_junit_parent_is_a_file_the_html_is_still_written(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("a file")
    junit, page = tmp_path / "plain" / "x.xml", tmp_path / "page.html"
    errors = report.write_reports(ROWS, junit, page, junit_option="--parity-junit")
    assert len(errors) == 1 and errors[0].startswith(f"cannot write --parity-junit {junit}: ")
    assert page.read_bytes() == complete_html()
    assert entries(tmp_path) == ["page.html", "plain"]
    assert (tmp_path / "plain").read_text() == "a file"


def test_html_target_fails_the_junit_is_still_written(tmp_path: Path) -> None:
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    page.mkdir()
    errors = report.write_reports(ROWS, junit, page, html_option="--parity-html")
    assert len(errors) == 1 and errors[0].startswith(f"cannot write --parity-html {page}: ")
    assert junit.read_bytes() == complete_junit()
    assert entries(tmp_path) == ["page.html", "x.xml"]


def test_both_fail_both_reported(tmp_path: Path) -> None:
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    junit.mkdir()
    page.mkdir()
    errors = report.write_reports(ROWS, junit, page)
    assert [e.split(" ", 3)[2] for e in errors] == ["--junit", "--html"]
    assert entries(tmp_path) == ["page.html", "x.xml"]


def test_an_unprintable_path_is_named_safely(tmp_path: Path) -> None:
    odd = tmp_path / "d\udcff\x1b"
    odd.write_text("a file")  # so a report under it cannot be written
    errors = report.write_reports(ROWS, odd / "x.xml")
    assert len(errors) == 1
    assert_safe(errors[0])
    assert "\n" not in errors[0]
    assert f"cannot write --junit {tmp_path}/d\\xff\\x1b/x.xml: " in errors[0]


def test_an_existing_report_is_replaced_by_a_complete_one(tmp_path: Path) -> None:
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    junit.write_bytes(b"old junit")
    page.write_bytes(b"old page")
    assert report.write_reports(ROWS, junit, page) == []
    assert junit.read_bytes() == complete_junit()
    assert page.read_bytes() == complete_html()
    assert entries(tmp_path) == ["page.html", "x.xml"]


def test_a_failure_while_rendering_leaves_the_old_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    page.write_bytes(b"old page")

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(report, "html_page", broken)
    errors = report.write_reports(ROWS, junit, page)
    assert errors == [f"cannot write --html {page}: RuntimeError: renderer bug"]
    assert page.read_bytes() == b"old page"
    assert junit.read_bytes() == complete_junit()
    assert entries(tmp_path) == ["page.html", "x.xml"]


def test_a_failure_before_the_rename_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"old page")
    renamed: list[tuple[str, str]] = []

    def no_rename(src: str, dst: str) -> None:
        renamed.append((os.fspath(src), os.fspath(dst)))
        assert Path(src).read_bytes() == complete_html()  # the temporary file is complete
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", no_rename)
    errors = report.write_reports(ROWS, html_path=page)
    monkeypatch.undo()
    assert errors == [f"cannot write --html {page}: [Errno 28] No space left on device"]
    assert page.read_bytes() == b"old page"
    assert entries(tmp_path) == ["page.html"]
    [(src, dst)] = renamed
    assert Path(src).parent == tmp_path and dst == os.fspath(page)  # same directory


FULL_DISK = """
import json, resource, signal, sys
from pathlib import Path
from harness import report
from harness.runner import FAILED, ScenarioResult

rows = [ScenarioResult("a/b", "impl", FAILED, failure="x" * 200_000)]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, hard))
print(json.dumps(report.write_reports(rows, Path(sys.argv[1]), Path(sys.argv[2]))))
"""


def test_a_write_cut_short_leaves_the_old_report(tmp_path: Path) -> None:
    """The file system refuses the write half-way (here: a file size limit, as a full
    disk would): the old reports stay whole and no partial file is left."""
    pytest.importorskip("resource")
    junit, page = tmp_path / "x.xml", tmp_path / "page.html"
    junit.write_bytes(b"old junit")
    page.write_bytes(b"old page")
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(junit), str(page)],
        capture_output=True,
        text=True,
        check=True,
    )
    errors = json.loads(done.stdout)
    assert errors == [
        f"cannot write --junit {junit}: [Errno 27] File too large",
        f"cannot write --html {page}: [Errno 27] File too large",
    ]
    assert junit.read_bytes() == b"old junit"
    assert page.read_bytes() == b"old page"
    assert entries(tmp_path) == ["page.html", "x.xml"]
