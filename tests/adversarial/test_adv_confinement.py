"""The judge cannot be turned against the machine: links, processes, signals, shared work.

Probes of docs/testing.md ("The judge's threat model"): a testee plants a link in the work
directory at every depth; starts processes that outlive it; hangs while the harness is
signalled; tries to write outside the work directory or to reach the network; two runs
share one ``--work``. Each runs unconfined (``none``: watched and supervised) and under
bubblewrap (``bwrap``; skipped where it does not work, unless CI requires it). The
testee is ``testees/hostile.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from procs import running_with

from harness import cli
from harness.adapters import confine
from harness.adapters.subprocess_testee import SubprocessTestee
from harness.polling import wait_until
from harness.runner import FAILED, PASSED, run_corpus
from harness.scenario import load_all
from harness.workdir import WorkDir

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "testees" / "hostile.py"
FIRST, SECOND = "slot_count/basic", "slot_count/devices_summed"  # one family, in this order
# How long processes may take to vanish once their supervisor is gone (a bound, not a
# wait: the poll returns as soon as they are).
GONE_WITHIN = 30.0


def hostile(act: str, *args: str) -> str:
    return " ".join([sys.executable, str(HOSTILE), act, *args])


def tree(path: Path) -> dict[str, bytes | None]:
    """Every path under ``path`` with its bytes (None for a directory), links not followed."""
    found: dict[str, bytes | None] = {}
    for here, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(here, name)
            found[p.relative_to(path).as_posix()] = (
                None if p.is_dir() else p.read_bytes() if not p.is_symlink() else b"link"
            )
    return found


def victim_dir(tmp_path: Path) -> Path:
    """A directory outside the work directory that a followed link would damage: it holds
    what the harness would delete or overwrite at each depth."""
    victim = tmp_path / "victim"
    for rel in ("keep.txt", "basic/keep.txt", "slot_count/basic/keep.txt", "files/keep.txt"):
        (victim / rel).parent.mkdir(parents=True, exist_ok=True)
        (victim / rel).write_text(f"the user's {rel}\n")
    (victim / SECOND.split("/")[1]).mkdir()
    (victim / SECOND.split("/")[1] / "keep.txt").write_text("the user's\n")
    return victim


# -- links planted in the work directory ----------------------------------------------


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("given_work", [True, False], ids=["work", "temporary"])
def test_a_planted_link_at_any_depth_touches_nothing_outside(
    level: int,
    given_work: bool,
    sandbox: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The testee replaces files/ (0), its scenario's directory (1), the family's (2) or
    the implementation's (3) with a link to a directory outside: the harness neither
    writes its outputs there, nor removes anything there, during the run or its
    clean-up; the scenario that met the link fails saying so."""
    victim = victim_dir(tmp_path)
    before = tree(victim)
    work = tmp_path / "work"
    argv = ["run", "--sandbox", sandbox, "-k", FIRST, "-k", SECOND]
    argv += ["--impl", hostile("link", "--on", FIRST, "--arg", f"{level}:{victim}")]
    argv += ["--work", str(work)] if given_work else []
    status = cli.main(argv)
    out = capsys.readouterr().out
    assert status == 1, out
    assert tree(victim) == before
    assert "Traceback" not in out
    assert "moved or replaced" in out or "symbolic link" in out, out
    if given_work:  # a later run of the trusted reference on the same --work
        assert cli.main(["run", "-k", FIRST, "-k", SECOND, "--work", str(work)]) == 0
        assert tree(victim) == before


def test_a_link_on_the_way_fails_that_scenario_and_a_later_run_does_not_follow_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A link left where a later run puts its outputs (same implementation name) fails
    that run's scenarios with the link named; the target is untouched."""
    victim = victim_dir(tmp_path)
    before = tree(victim)
    work = tmp_path / "work"
    (work / "reference").mkdir(parents=True)
    (work / "reference" / "slot_count").symlink_to(victim)
    assert cli.main(["run", "-k", FIRST, "--work", str(work)]) == 1
    out = capsys.readouterr().out
    assert "cannot prepare the output directory reference/slot_count/basic" in out, out
    assert f"{work}/reference/slot_count is a symbolic link" in out, out
    assert tree(victim) == before


# -- processes ------------------------------------------------------------------------


def test_a_process_started_in_a_new_session_does_not_outlive_the_run(
    sandbox: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = f"parity-daemon-{os.getpid()}-{sandbox}-{tmp_path.name}"
    argv = ["run", "--sandbox", sandbox, "-k", FIRST, "--impl", hostile("daemon", "--arg", token)]
    assert cli.main(argv) == 0, capsys.readouterr().out
    wait_until(lambda: not running_with(token), GONE_WITHIN, f"processes with {token} to end")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize(
    ("signum", "status", "inherited_ignored"),
    [
        (signal.SIGTERM, 143, False),
        (signal.SIGINT, 130, False),
        (signal.SIGHUP, 129, False),
        # A shell script's background job starts with SIGINT ignored; a CI cancelling it
        # sends SIGINT all the same.
        (signal.SIGINT, 130, True),
    ],
    ids=["SIGTERM", "SIGINT", "SIGHUP", "SIGINT-inherited-ignored"],
)
def test_a_signalled_harness_ends_its_testee_and_prints_a_partial_summary(
    signum: int, status: int, inherited_ignored: bool, sandbox: str, tmp_path: Path
) -> None:
    token = f"parity-hang-{os.getpid()}-{signum}-{sandbox}-{tmp_path.name}"
    junit = tmp_path / "junit.xml"
    impl = hostile("hang_daemon", "--on", SECOND, "--arg", token)
    command = [sys.executable, "-m", "harness", "run", "--sandbox", sandbox, "--impl", impl]
    command += ["-k", FIRST, "-k", SECOND, "--junit", str(junit), "--timeout", "600"]
    harness = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=_ignore_sigint if inherited_ignored else None,
    )
    try:
        wait_until(
            lambda: running_with(f"{token}:daemon", whole=True),
            120,
            "the testee to hang in its second scenario",
        )
        harness.send_signal(signum)
        out, err = harness.communicate(timeout=120)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait()
    text = out.decode()
    assert harness.returncode == status, (text, err.decode())
    assert "Traceback" not in err.decode() + text
    assert (
        text.splitlines()[-1]
        == "hostile: 1 passed, 0 failed, 1 not run: interrupted; served 1 of 2"
    )
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("errors")) == ("2", "1")
    wait_until(lambda: not running_with(token), GONE_WITHIN, f"processes with {token} to end")


def test_a_killed_harness_takes_its_testee_with_it(sandbox: str, tmp_path: Path) -> None:
    """Even SIGKILL, which the harness cannot handle: the supervisor dies with it."""
    token = f"parity-orphan-{os.getpid()}-{sandbox}-{tmp_path.name}"
    impl = hostile("hang_daemon", "--on", FIRST, "--arg", token)
    command = [sys.executable, "-m", "harness", "run", "--sandbox", sandbox, "--impl", impl]
    harness = subprocess.Popen(
        [*command, "-k", FIRST, "--timeout", "600"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: running_with(f"{token}:daemon", whole=True), 120, "the testee to hang")
    finally:
        harness.kill()
        harness.wait()
    wait_until(lambda: not running_with(token), GONE_WITHIN, f"processes with {token} to end")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "soon"])
def test_a_timeout_must_be_finite_and_positive(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", f"--timeout={value}"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith(
        f"error: argument --timeout: {value!r} is not a finite number of seconds above 0\n"
    )
    with pytest.raises(ValueError, match="timeout must be a finite number of seconds above 0"):
        SubprocessTestee(["true"], timeout=float(value) if value != "soon" else 0)


# -- what confinement prevents --------------------------------------------------------


def test_confinement_keeps_writes_and_connections_in(sandbox: str, tmp_path: Path) -> None:
    """Under bwrap an absolute path outside the work directory is read-only and loopback
    is another namespace's; unconfined both succeed (the threat model: ``none`` watches,
    it does not prevent)."""
    outside = tmp_path / "outside.txt"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    [scenario] = [s for s in load_all() if s.id == FIRST]
    results = []
    try:
        for act, arg in (("write_abs", str(outside)), ("connect", str(port))):
            testee = SubprocessTestee(
                [sys.executable, str(HOSTILE), act, "--arg", arg], sandbox=sandbox
            )
            try:
                results += run_corpus([scenario], testee, tmp_path / act)
                stderr = testee.scenario_stderr()
            finally:
                testee.close()
            if act == "connect":
                connected = "hostile testee: connected" in stderr
    finally:
        listener.close()
    assert [r.status for r in results] == [PASSED, PASSED]
    assert outside.exists() == (sandbox == "none")
    assert connected == (sandbox == "none")
    assert {r.sandbox for r in results} == {sandbox}


def test_bwrap_asked_for_where_it_does_not_work_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(confine, "probe", lambda: "bwrap not found (install bubblewrap)")
    assert cli.main(["run", "--sandbox", "bwrap", "-k", FIRST, "--impl", hostile("none")]) == 2
    assert capsys.readouterr().err == (
        "error: --sandbox bwrap: bwrap not found (install bubblewrap)\n"
    )


def test_auto_falls_back_to_none_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(confine, "probe", lambda: "bwrap not found (install bubblewrap)")
    html = tmp_path / "p.html"
    assert cli.main(["run", "-k", FIRST, "--impl", hostile("none"), "--html", str(html)]) == 0
    captured = capsys.readouterr()
    assert "sandbox: none (bwrap not found (install bubblewrap))" in captured.err
    assert "hostile: sandbox none (bwrap not found (install bubblewrap))" in captured.out
    assert "ran in sandbox: none (bwrap not found (install bubblewrap))" in html.read_text()


# -- one work directory, two runs -----------------------------------------------------


def test_a_second_run_on_the_same_work_refuses_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    with WorkDir(work) as first:
        first.lock()
        assert cli.main(["run", "-k", FIRST, "--work", str(work)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {work} is in use by another run (pid {os.getpid()}); wait for it to end, "
        "or give each run its own --work directory\n"
    )
    assert cli.main(["run", "-k", FIRST, "--work", str(work)]) == 0  # released: it runs


def test_the_escape_watch_reports_created_modified_and_removed_unconfined(
    tmp_path: Path,
) -> None:
    """Unconfined, a testee's changes in a working directory the caller gave are escapes
    of each kind (created is covered with the corpus's faulty testee)."""
    [scenario] = [s for s in load_all() if s.id == FIRST]
    found = {}
    for act in ("touch_cwd", "remove_cwd"):
        cwd = tmp_path / act
        cwd.mkdir()
        (cwd / "mine.txt").write_text("the caller's\n")
        testee = SubprocessTestee(
            [sys.executable, str(HOSTILE), act, "--arg", "mine.txt"], cwd=cwd, sandbox="none"
        )
        try:
            [result] = run_corpus([scenario], testee, tmp_path / f"out-{act}")
        finally:
            testee.close()
        assert result.status == FAILED
        found[act] = result.failure or ""
    assert f"{tmp_path}/touch_cwd/mine.txt (modified)" in found["touch_cwd"]
    assert f"{tmp_path}/remove_cwd/mine.txt (removed)" in found["remove_cwd"]


def test_reports_name_the_sandbox(sandbox: str, tmp_path: Path) -> None:
    junit, html = tmp_path / "j.xml", tmp_path / "p.html"
    argv = ["run", "--sandbox", sandbox, "-k", FIRST, "--impl", hostile("none")]
    assert cli.main([*argv, "--junit", str(junit), "--html", str(html)]) == 0
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["sandbox"] == sandbox
    assert f"<b>hostile</b> ran in sandbox: {sandbox}</li>" in html.read_text()
    assert json.dumps(sandbox)  # the mode is plain text
