"""Hostile testees: escapes at any depth, hostile names, unbounded output, a hello that
hangs, and parallel runs whose reports must equal a serial run's.

Each test is a probe of docs/testing.md ("Probes", "Testee process and protocol") and
fails without its fix. The broken testees are ``tests/protocol/testees/faulty.py``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from parity_subprocess import run_parity_suite

from harness import cli, report
from harness.adapters import process as testee_process
from harness.adapters.subprocess_testee import SubprocessTestee
from harness.deviations import load_deviations
from harness.polling import wait_until
from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    dir_name,
    run_corpus,
    run_matrix,
)
from harness.scenario import Scenario, load_all

ROOT = Path(__file__).resolve().parents[2]
FAULTY = ROOT / "tests" / "protocol" / "testees" / "faulty.py"
VICTIM = "controller/query_trigger_save"  # has implementation steps; its golden exists


def faulty(*args: str) -> list[str]:
    return [sys.executable, str(FAULTY), *args]


@pytest.fixture(scope="module")
def corpus() -> list[Scenario]:
    return load_all()


def pick(corpus: list[Scenario], *ids: str) -> list[Scenario]:
    by_id = {s.id: s for s in corpus}
    return [by_id[i] for i in ids]


# -- escapes at any depth -------------------------------------------------------------


@pytest.mark.parametrize("up", [1, 2, 3, 4])
def test_escape_at_any_depth_under_the_work_directory(
    up: int, corpus: list[Scenario], tmp_path: Path
) -> None:
    """work/<impl>/<family>/<name>/files: ``../`` x 1..4 reaches every level up to work/."""
    work = tmp_path / "work"
    rel = "../" * up + f"escaped-{up}.txt"
    specs = [json.dumps(faulty("escape", "--on", VICTIM, "--escape-to", rel))]
    results, _ = run_matrix(
        specs, lambda spec: SubprocessTestee(json.loads(spec)), pick(corpus, VICTIM), work
    )
    target = (work / "reference" / VICTIM / "files" / rel).resolve()
    assert target.is_relative_to(work.resolve())
    assert results[0].status == FAILED
    assert "wrote outside files_dir" in (results[0].failure or "")
    assert f"{target} (created)" in (results[0].failure or ""), results[0].failure


# -- hostile implementation names -----------------------------------------------------


@pytest.mark.parametrize("name", ["../../outside", "/abs/outside", "..", ".hidden/../x", ""])
def test_dir_name_is_one_safe_component(name: str) -> None:
    safe = dir_name(name)
    assert safe and "/" not in safe and safe not in (".", "..") and not safe.startswith(".")


@pytest.mark.parametrize("name", ["../../../victim", "/VICTIM_ABS"])
def test_hostile_implementation_name_stays_inside_work(
    name: str, corpus: list[Scenario], tmp_path: Path
) -> None:
    """``run`` deletes and writes ``<work>/<name>/<scenario>``: a name with ``..`` or an
    absolute one must not lead outside --work (here to a sentinel directory, which the
    unsanitised path ``work/../../../victim`` or ``/.../victim`` would have replaced)."""
    name = name.replace("VICTIM_ABS", str(tmp_path / "victim").lstrip("/"))
    victim = tmp_path / "victim"
    (victim / VICTIM / "files").mkdir(parents=True)
    (victim / VICTIM / "keep.txt").write_text("not the harness's to delete")
    work = tmp_path / "a" / "b" / "work"
    argv = faulty("none", "--name", name)
    status = cli.main(["run", "--impl", " ".join(argv), "--work", str(work), "-k", VICTIM])
    assert status == 0
    assert (victim / VICTIM / "keep.txt").read_text() == "not the harness's to delete"
    assert sorted(p.name for p in work.iterdir()) == [".parity-lock", dir_name(name)]
    assert (work / dir_name(name) / VICTIM / "trace.jsonl").is_file()


def test_an_unprintable_name_is_shown_safely(corpus: list[Scenario], tmp_path: Path) -> None:
    """Control characters in a name would break the JUnit XML and drive the terminal."""
    testee = SubprocessTestee(faulty("none", "--name", "a\x01b\x1b[31m" + "n" * 200))
    try:
        results = run_corpus(pick(corpus, VICTIM), testee, tmp_path)
    finally:
        testee.close()
    assert results[0].implementation == "a?b?[31m" + "n" * 92 + "..."
    ElementTree.fromstring(report.junit_xml(results))  # well-formed


def test_same_name_gets_distinct_columns_and_deviations_apply_to_their_name(
    corpus: list[Scenario], tmp_path: Path
) -> None:
    devs = tmp_path / "devs.json"
    devs.write_text(
        json.dumps(
            {"implementation": "rust", "deviations": [{"scenario": VICTIM, "reason": "ours"}]}
        )
    )
    deviations = load_deviations(devs, corpus)
    specs = {
        "a": faulty("crash", "--on", VICTIM, "--name", "rust"),
        "b": faulty("none", "--name", "rust"),
        "c": faulty("none", "--name", "other"),
    }
    results, columns = run_matrix(
        list(specs),
        lambda key: SubprocessTestee(specs[key]),
        pick(corpus, VICTIM),
        tmp_path / "work",
        deviations=deviations,
    )
    assert [c.label for c in columns] == ["rust", "rust #2", "other"]
    assert [c.out_dir.name for c in columns] == ["rust", "rust_2", "other"]
    assert [(r.implementation, r.status) for r in results] == [
        ("rust", EXPECTED_DEVIATION),  # crashed, but declared
        ("rust #2", UNEXPECTED_PASS),  # same name: the declaration applies
        ("other", PASSED),  # another implementation: judged without it
    ]


def test_an_implementation_that_cannot_load_is_one_column(
    corpus: list[Scenario], tmp_path: Path
) -> None:
    def make(spec: str) -> SubprocessTestee:
        if spec == "tf":
            raise ImportError("No module named 'tensorflow'")
        return SubprocessTestee(faulty("none"))

    scenarios = pick(corpus, VICTIM, "controller/action_comments")
    results, columns = run_matrix(["ref", "tf"], make, scenarios, tmp_path / "work")
    assert [c.not_run for c in columns] == [
        None,
        "cannot load 'tf': ImportError: No module named 'tensorflow'",
    ]
    assert [(r.implementation, r.status) for r in results] == [
        ("reference", PASSED),
        ("reference", PASSED),
        ("tf", NOT_RUN),
        ("tf", NOT_RUN),
    ]
    reason = "cannot load &#x27;tf&#x27;: ImportError: No module named &#x27;tensorflow&#x27;"
    page = report.html_page(results)
    assert page.count(f"<th>tf<br>not run: {reason}</th>") == 1, "the reason once, in the head"
    assert page.count('<td class="result failed"><span class="status">not run</span></td>') == 2
    junit = report.junit_xml(results).decode()
    assert junit.count("<error message=\"not run\">cannot load 'tf': ImportError") == 2
    assert report.terminal(results).splitlines() == [
        "NOT RUN            tf: 2 scenario(s)",
        "    cannot load 'tf': ImportError: No module named 'tensorflow'",
        f"reference: sandbox {results[0].sandbox}",
        "reference: 2 passed, 0 failed",
        "tf: 0 passed, 0 failed, 2 not run; served 0 of 2",
    ]


# -- bounded output -------------------------------------------------------------------


def test_a_huge_stderr_line_is_cut(tmp_path: Path) -> None:
    code = (
        "import sys; sys.stderr.write('x' * (8 * 1024 * 1024) + '\\nlast\\n'); "
        "sys.stderr.flush(); sys.stdin.read()"
    )
    argv = [sys.executable, "-c", code]
    process = testee_process.TesteeProcess(argv, tmp_path, {"PATH": "/usr/bin:/bin"})
    try:
        wait_until(lambda: process.stderr_count >= 2, timeout=30, what="stderr to be drained")
        first, last = list(process.stderr_lines)
    finally:
        process.kill(5.0)
    limit = testee_process.STDERR_LINE_BYTES
    assert first == "x" * limit + f" [cut at {limit} bytes]"
    assert last == "last"


def test_a_line_of_exactly_the_limit_is_whole_and_a_last_line_needs_no_newline(
    tmp_path: Path,
) -> None:
    limit = testee_process.STDERR_LINE_BYTES
    code = (
        f"import sys; sys.stderr.write('a' * {limit} + '\\n' + 'b' * {limit + 1} + '\\nend'); "
        "sys.stderr.flush(); import os; os.close(2); sys.stdin.read()"
    )
    argv = [sys.executable, "-c", code]
    process = testee_process.TesteeProcess(argv, tmp_path, {"PATH": "/usr/bin:/bin"})
    try:
        wait_until(lambda: process.stderr_count >= 3, timeout=30, what="stderr to be drained")
        lines = process.stderr_since(0)
    finally:
        process.kill(5.0)
    assert lines == ["a" * limit, "b" * limit + f" [cut at {limit} bytes]", "end"]


def test_stderr_written_before_a_reply_is_in_the_log_of_that_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without its drain thread the process still hands over every line already written:
    # the session drains stderr itself when it reads the log, so no reply races its log.
    monkeypatch.setattr(testee_process.TesteeProcess, "_read_stderr", lambda self: None)
    code = (
        "import sys; sys.stderr.write('why it failed\\n'); sys.stderr.flush(); "
        "print('reply', flush=True); sys.stdin.read()"
    )
    argv = [sys.executable, "-c", code]
    process = testee_process.TesteeProcess(argv, tmp_path, {"PATH": "/usr/bin:/bin"})
    try:
        assert process.replies.get(timeout=30) == b"reply\n"
        assert process.stderr_since(0) == ["why it failed"]
        assert process.stderr_since(1) == []
    finally:
        process.kill(5.0)
    assert "why it failed" in process.stderr_tail()


def test_a_reply_of_too_many_tiny_events_is_refused(corpus: list[Scenario], tmp_path: Path) -> None:
    testee = SubprocessTestee(faulty("flood_events", "--on", VICTIM))
    try:
        results = run_corpus(pick(corpus, VICTIM), testee, tmp_path)
    finally:
        testee.close()
    assert results[0].status == FAILED
    assert "110001 ',' bytes, more than the 100000 a message may have" in (results[0].failure or "")


# -- a testee that cannot start -------------------------------------------------------


def test_a_hello_that_hangs_costs_one_timeout(corpus: list[Scenario], tmp_path: Path) -> None:
    testee = SubprocessTestee(faulty("hang_hello"), timeout=0.5, start_timeout=0.5)
    try:
        results = run_corpus(corpus[:5], testee, tmp_path)
    finally:
        testee.close()
    assert testee.starts == 1
    assert {r.status for r in results} == {NOT_RUN}
    reasons = {r.reason for r in results}
    assert len(reasons) == 1
    assert "no reply to hello within 0.5 s (hung?)" in reasons.pop()


# -- pytest-xdist ---------------------------------------------------------------------

_TIMES = re.compile(rb' time="[0-9.]+"')
_RUN_DATE = re.compile(rb"<dd>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</dd>")


def _pytest_run(tmp_path: Path, tag: str, *extra: str) -> tuple[str, bytes, bytes]:
    junit, page = tmp_path / f"{tag}.xml", tmp_path / f"{tag}.html"
    impl = " ".join(
        faulty("crash", "--on", "controller/action_garbage", "--na", "controller/action_comments")
    )
    proc = run_parity_suite(
        "controller/action",
        tmp_path / ("bt-" + tag),
        f"--impl={impl}",
        f"--parity-junit={junit}",
        f"--parity-html={page}",
        *extra,
        timeout=600,
    )
    html = page.read_bytes()
    assert len(_RUN_DATE.findall(html)) == 1  # the run's date: the one thing allowed to differ
    return proc.stdout.decode(), _TIMES.sub(b"", junit.read_bytes()), _RUN_DATE.sub(b"", html)


@pytest.mark.timeout(900)  # whole pytest runs in subprocesses, each bounded
def test_xdist_reports_equal_a_serial_runs(corpus: list[Scenario], tmp_path: Path) -> None:
    selected = sum("controller/action" in s.id for s in corpus)  # what ``-k`` selects
    passed = selected - 2  # one crashes, one is declared not applicable
    serial_out, serial_junit, serial_html = _pytest_run(tmp_path, "serial", "-p", "no:xdist")
    par_out, par_junit, par_html = _pytest_run(tmp_path, "par", "-n", "2")
    for out in (serial_out, par_out):
        last = out.rstrip().splitlines()[-1]
        assert last.startswith(f"1 failed, {passed} passed, 1 skipped"), out
        assert f"reference: {passed} passed, 1 failed, 1 not applicable" in out
        assert "SKIPPED [1] tests/test_parity.py" in out and "declared not applicable" in out
    assert par_junit.count(b"<testcase ") == selected
    assert b'<skipped message="not applicable: declared not applicable"' in par_junit
    assert par_junit == serial_junit
    assert par_html == serial_html


# -- the protocol's deadlines govern under pytest -------------------------------------

_REAL_TIME_TEST = """
def test_bound(parity_scenario, request):
    marker = request.node.get_closest_marker("timeout")
    print("TIMEOUT", parity_scenario.id, marker.args[0])
"""


@pytest.mark.timeout(900)  # whole pytest runs in subprocesses, each bounded
def test_parity_tests_get_the_protocols_bound_as_their_timeout(tmp_path: Path) -> None:
    """A 600 s advance gives a real-time testee 30 + 1.5 x 600 s for that reply; pytest's
    fixed 120 s timeout must not kill it first."""
    family = tmp_path / "fixtures" / "controller"
    family.mkdir(parents=True)
    scenario = {
        "format": 1,
        "family": "controller",
        "description": "one long advance",
        "config": {},
        "steps": [{"op": "run"}, {"op": "advance", "seconds": 600}, {"op": "end"}],
    }
    (family / "long_advance.json").write_text(json.dumps(scenario))
    (tmp_path / "test_bound.py").write_text(_REAL_TIME_TEST)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "harness.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-s",
            "-q",
            f"--rootdir={tmp_path}",
            f"--parity-fixtures={tmp_path / 'fixtures'}",
            "--parity-timeout=30",
            str(tmp_path / "test_bound.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    out = proc.stdout.decode()
    found = re.search(r"TIMEOUT controller/long_advance ([0-9.]+)", out)
    assert found, out + proc.stderr.decode()
    # start 30 + setup 30 + run 30 + advance (30 + 900) + end 30 + teardown 30 + grace
    assert float(found.group(1)) == 30 + 30 + 30 + 930 + 30 + 30 + 15 + 30


@pytest.mark.timeout(900)  # whole pytest runs in subprocesses, each bounded
def test_plugin_reports_an_implementation_that_cannot_load_once_per_column(
    tmp_path: Path,
) -> None:
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed: --impl tf loads")
    proc = run_parity_suite("controller/action_c", tmp_path / "bt", "-p", "no:xdist", "--impl=tf")
    out = proc.stdout.decode()
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "tf: 0 passed, 0 failed, 2 not run" in out, out
    assert out.count("NOT RUN            tf: 2 scenario(s)") == 1, out
    assert "cannot load 'tf': ImportError: reference.tf needs TensorFlow" in out
