"""Broken testees: each fault fails only the scenario it struck, within its bound, with a
readable reason; the next scenario passes on a fresh process."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from procs import running_with

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.polling import wait_until
from harness.runner import FAILED, NOT_APPLICABLE, NOT_RUN, PASSED, ScenarioResult, run_corpus
from harness.scenario import HARNESS_OPS, Scenario

HANG_TIMEOUT = 1.0
# Killing and reaping a testee, and starting the next one, take well under this.
SLACK = 30.0  # a bound on what takes about 1 s, not a budget: a loaded machine passes


def pick(corpus: list[Scenario]) -> tuple[Scenario, Scenario]:
    """A scenario with an implementation step (the victim), and another one."""
    victim = next(s for s in corpus if any(st["op"] not in HARNESS_OPS for st in s.steps))
    other = next(s for s in corpus if s.id != victim.id)
    return victim, other


def run_pair(
    argv: list[str], corpus: list[Scenario], work: Path, timeout: float = 10.0
) -> tuple[list[ScenarioResult], list[float], SubprocessTestee]:
    victim, other = pick(corpus)
    testee = SubprocessTestee(argv, timeout=timeout)
    seconds: list[float] = []
    results: list[ScenarioResult] = []
    try:
        for scenario in (victim, other):
            start = time.monotonic()
            results += run_corpus([scenario], testee, work)
            seconds.append(time.monotonic() - start)
    finally:
        testee.close()
    return results, seconds, testee


# fault -> words the failure must contain
FAULTS = {
    "crash": ["exited with status 3", "during step", "injecting crash"],
    "exit_silently": ["exited with status 0", "during step"],
    "hang": [f"no reply to step 0 ({{op}}) within {HANG_TIMEOUT:g} s", "injecting hang"],
    "garbage": ["line is not JSON", "'this is not json'"],
    "stdout_noise": ["line is not JSON", "'progress: 50%'"],
    "out_of_order": ["out of order", "carries seq 3", "outstanding request is 'step' with seq 2"],
    "bad_events": ["done.events[", "needs 'event'"],
    "escape": ["wrote outside files_dir", "escaped.txt (created)", "stray.log (created)"],
    "error": ["reported an internal error on step 0", "injected internal error"],
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_that_scenario_only(
    fault: str,
    corpus: list[Scenario],
    script_argv: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    victim, _ = pick(corpus)
    timeout = HANG_TIMEOUT if fault == "hang" else 10.0
    argv = script_argv("faulty.py", fault, "--on", victim.id)
    results, seconds, testee = run_pair(argv, corpus, tmp_path, timeout)
    bad, good = results
    assert bad.status == FAILED and bad.failure, bad
    op = next(st["op"] for st in victim.steps if st["op"] not in HARNESS_OPS)
    for words in FAULTS[fault]:  # the failure, or the testee's stderr (its log)
        assert words.format(op=op) in bad.explanation(), bad.explanation()
    assert seconds[0] < timeout + SLACK
    assert good.status == PASSED, good.explanation()
    assert testee.starts == 2, "the next scenario ran on a fresh testee"


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("bad_hello", "protocol version mismatch: the testee speaks 2, the harness speaks 1"),
        ("refuse_hello", "refused hello: I only speak protocol 2"),
    ],
)
def test_hello_fault_stops_the_implementation_once(
    fault: str,
    words: str,
    corpus: list[Scenario],
    script_argv: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    """A testee that fails its first hello is started once: every scenario is *not run*,
    with that one reason (even though a second process would have been healthy)."""
    argv = script_argv("faulty.py", fault, "--once", str(tmp_path / "struck"))
    results, seconds, testee = run_pair(argv, corpus, tmp_path / "work")
    assert [r.status for r in results] == [NOT_RUN, NOT_RUN]
    assert words in (results[0].reason or ""), results[0].reason
    assert results[1].reason == results[0].reason
    assert seconds[0] < SLACK
    assert testee.starts == 1


def test_escape_file_is_also_a_difference(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    victim, _ = pick(corpus)
    argv = script_argv("faulty.py", "escape", "--on", victim.id)
    results, _, _ = run_pair(argv, corpus, tmp_path)
    assert any(d.path == "escaped.txt" for d in results[0].differences)


def test_command_that_cannot_start(corpus: list[Scenario], tmp_path: Path) -> None:
    testee = SubprocessTestee([str(tmp_path / "no-such-testee")])
    results = run_corpus(corpus[:2], testee, tmp_path / "work")
    testee.close()
    assert [r.status for r in results] == [NOT_RUN, NOT_RUN]
    assert "cannot start testee" in (results[0].reason or "")
    assert testee.starts == 0


def test_missing_module_shows_stderr(corpus: list[Scenario], tmp_path: Path) -> None:
    import sys

    testee = SubprocessTestee([sys.executable, "-m", "no_such_testee_module"])
    results = run_corpus(corpus[:1], testee, tmp_path / "work")
    testee.close()
    assert results[0].status == NOT_RUN
    failure = results[0].reason or ""
    assert "exited with status 1 during hello" in failure
    assert "No module named no_such_testee_module" in failure


def test_unsupported_family_is_reported_without_sending(
    corpus: list[Scenario], reference_argv: list[str], tmp_path: Path
) -> None:
    testee = SubprocessTestee(reference_argv)
    testee.watch(tmp_path)  # before it starts: a confined testee may write only there
    try:
        testee.capabilities()
        assert testee._run is not None
        testee._run.caps["families"] = []  # as if the testee served no family
        results = run_corpus(corpus[:1], testee, tmp_path)
    finally:
        testee.close()
    assert results[0].status == NOT_APPLICABLE
    assert "does not serve family" in (results[0].reason or "")
    assert testee.starts == 1


def test_not_applicable_reply_keeps_the_testee(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    victim, _ = pick(corpus)
    argv = script_argv("faulty.py", "not_applicable", "--on", victim.id)
    results, _, testee = run_pair(argv, corpus, tmp_path)
    assert results[0].status == NOT_APPLICABLE
    assert results[0].reason == "cannot express this here"
    assert results[1].status == PASSED, results[1].explanation()
    assert testee.starts == 1, "not applicable is an answer, not a fault"


def test_close_kills_a_testee_that_ignores_bye(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    testee = SubprocessTestee(script_argv("faulty.py", "ignore_bye"))
    testee.exit_grace = 0.5
    results = run_corpus(corpus[:1], testee, tmp_path)
    assert results[0].status == PASSED, results[0].explanation()
    pid = testee.pid
    assert pid is not None
    start = time.monotonic()
    testee.close()
    assert time.monotonic() - start < 0.5 + SLACK
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_crash_kills_the_whole_process_group(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    """A grandchild holding the testee's stdout open neither delays the report nor survives."""
    victim, _ = pick(corpus)
    argv = script_argv("faulty.py", "orphan", "--on", victim.id)
    results, seconds, _ = run_pair(argv, corpus, tmp_path)
    failure = results[0].failure or ""
    assert "exited with status 4" in failure, failure
    assert seconds[0] < SLACK
    token = re.search(r"orphan token (\S+)", results[0].log).group(1)  # its stderr
    wait_until(lambda: not running_with(token), timeout=SLACK, what=f"grandchild {token} to end")
    assert results[1].status == PASSED


def test_escape_into_a_given_cwd(
    corpus: list[Scenario], script_argv: Callable[..., list[str]], tmp_path: Path
) -> None:
    """Unconfined, a write into the working directory the caller gave is an escape."""
    victim, _ = pick(corpus)
    cwd = tmp_path / "wd"
    cwd.mkdir()
    (cwd / "already-here.txt").write_text("not the testee's doing")
    argv = script_argv("faulty.py", "escape", "--on", victim.id)
    testee = SubprocessTestee(argv, cwd=cwd, sandbox="none")
    try:
        results = run_corpus([victim], testee, tmp_path / "out")
    finally:
        testee.close()
    failure = results[0].failure or ""
    assert f"{cwd}/stray.log (created)" in failure
    assert "already-here" not in failure
