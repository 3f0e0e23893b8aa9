"""Process hygiene: whatever happens, every process the cluster runner started is ended.

The runner here drives :mod:`fake_task` (no TensorFlow) through the real control-directory
protocol; the ``token`` fixture fails a test that leaves any process carrying its mark.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from procs import running_with

from harness.cluster import runner
from harness.cluster.processes import Interrupted, Processes, signals_held, signals_interrupt
from harness.cluster.runner import (
    MAX_ATTEMPTS,
    PortsExhausted,
    TierSpec,
    free_ports,
    make_plan,
    model_files,
    run_scenario,
)
from harness.cluster.scenario import TASK_DEFAULTS, ClusterScenario
from harness.polling import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parents[2]
# The stand-in task program (not imported from conftest: another tests/ folder has one).
FAKE_TASK = Path(__file__).resolve().parent / "fake_task.py"


def _fake_argv(plan_path: Path, task: str, token: str) -> list[str]:
    return [sys.executable, str(FAKE_TASK), str(plan_path), task, "--token", token]


@pytest.fixture(autouse=True)
def fake_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "task_argv", _fake_argv)


def _scenario(
    fakes: dict[str, str], steps: list[dict[str, Any]], deadline: float = 60.0
) -> ClusterScenario:
    tasks = {
        name: {**TASK_DEFAULTS, "hooks": [], "index": i, "fake": fake}
        for i, (name, fake) in enumerate(fakes.items())
    }
    return ClusterScenario(
        id="cluster/fake",
        path="fake.json",
        description="fake",
        tasks=tasks,
        steps=steps,
        outcomes={"expected": {"tasks": {}}},
        deadline_seconds=deadline,
    )


ALL_SESSIONS_THEN_END = [
    {"op": "wait", "for": {"sessions": ["chief", "worker1"]}, "timeout": 30},
    {"op": "end", "tasks": ["chief", "worker1"]},
    {"op": "wait", "for": {"exited": ["chief", "worker1"]}, "timeout": 30},
]


def test_free_ports_are_distinct_loopback_ports() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(1024 <= p < 65536 for p in ports)


def test_the_plan_puts_the_ps_first_and_the_chief_as_worker_0(tmp_path: Path) -> None:
    scenario = _scenario({"chief": "normal", "worker1": "normal"}, [])
    plan = make_plan(scenario, TierSpec("tf"), [1001, 1002, 1003], tmp_path)
    assert plan["cluster"] == {
        "ps": ["127.0.0.1:1001"],
        "worker": ["127.0.0.1:1002", "127.0.0.1:1003"],
    }
    assert plan["runner_pid"] == os.getpid() and plan["monolith"] is None
    original = TierSpec("original", "/src/monolith", "135c491").plan()
    assert original == {"source": "/src/monolith", "commit": "135c491"}


def test_a_run_starts_workers_after_the_chief_and_ends_every_process(
    tmp_path: Path, token: str
) -> None:
    observation = run_scenario(
        _scenario({"chief": "normal", "worker1": "normal"}, ALL_SESSIONS_THEN_END),
        TierSpec("tf"),
        tmp_path,
        token,
    )
    assert observation.step_failure is None
    assert observation.attempts == 1 and observation.killed == []
    assert {n: t["exit"] for n, t in observation.tasks.items()} == {"chief": 0, "worker1": 0}
    control = observation.run_dir / "control"
    events = {
        task: [json.loads(line) for line in (control / f"{task}.events.jsonl").open()]
        for task in ("chief", "worker1")
    }
    chief_session = next(e["t"] for e in events["chief"] if e["event"] == "session")
    worker_session = next(e["t"] for e in events["worker1"] if e["event"] == "session")
    assert chief_session <= worker_session
    assert (control / "worker1.go").exists()


def test_a_taken_port_starts_the_attempt_again_with_new_ports(tmp_path: Path, token: str) -> None:
    observation = run_scenario(
        _scenario({"chief": "normal", "worker1": "bind_first"}, ALL_SESSIONS_THEN_END),
        TierSpec("tf"),
        tmp_path,
        token,
    )
    assert observation.attempts == 2 and observation.step_failure is None
    plans = [json.loads((tmp_path / f"fake-tf-{i}/control/plan.json").read_text()) for i in (1, 2)]
    assert plans[0]["cluster"] != plans[1]["cluster"]


def test_a_port_taken_every_time_gives_up(tmp_path: Path, token: str) -> None:
    scenario = _scenario({"chief": "bind_always"}, [])
    with pytest.raises(PortsExhausted, match=f"in {MAX_ATTEMPTS} attempts") as e:
        run_scenario(scenario, TierSpec("tf"), tmp_path, token)
    assert e.value.run_dirs == [tmp_path / f"fake-tf-{i}" for i in range(1, MAX_ATTEMPTS + 1)]


def test_the_command_reports_a_lost_port_race_as_a_failure_line(tmp_path: Path, token: str) -> None:
    from harness.cluster.cli import WorkDir, run_one

    out = io.StringIO()
    work = WorkDir(None)
    try:
        scenario = _scenario({"chief": "bind_always"}, [])
        assert run_one(scenario, TierSpec("tf"), work, token, False, out) is False
        lines = out.getvalue().splitlines()
        assert lines[0] == "FAIL  cluster/fake [tf]"
        assert "could not bind its planned loopback port in 3 attempts" in lines[1]
        assert lines[2] == f"      logs: {work.path / 'fake-tf-3'}"
        work.tidy()  # a failure's directories are kept, and the work dir with them
        assert sorted(work.path.iterdir()) == [work.path / f"fake-tf-{i}" for i in (1, 2, 3)]
    finally:
        shutil.rmtree(work.path)


def test_a_temporary_work_dir_keeps_only_the_failed_runs(tmp_path: Path) -> None:
    from harness.cluster.cli import WorkDir

    work = WorkDir(None)
    (work.path / "passed-tf-1").mkdir()
    work.tidy()
    assert not work.path.exists()  # nothing failed: nothing left
    work = WorkDir(None)
    for name in ("failed-tf-1", "interrupted-tf-1"):
        (work.path / name / "control").mkdir(parents=True)
    work.kept.add(work.path / "failed-tf-1")
    work.tidy()
    assert sorted(p.name for p in work.path.iterdir()) == ["failed-tf-1"]
    shutil.rmtree(work.path)
    given = WorkDir(tmp_path / "mine")  # --work DIR: everything kept
    (given.path / "passed-tf-1").mkdir()
    given.tidy()
    assert (tmp_path / "mine" / "passed-tf-1").is_dir()


def test_a_task_that_cannot_be_set_up_fails_the_run_at_once(tmp_path: Path, token: str) -> None:
    steps = [{"op": "wait", "for": {"sessions": ["chief", "worker1"]}, "timeout": 600}]
    scenario = _scenario({"chief": "normal", "worker1": "setup_error"}, steps, deadline=600)
    observation = run_scenario(scenario, TierSpec("tf"), tmp_path, token)
    assert "worker1 could not be set up (exit 2)" in (observation.step_failure or "")
    assert observation.seconds < 60  # not the step's 600 s


def test_the_deadline_ends_a_task_that_ignores_sigterm_and_its_child(
    tmp_path: Path, token: str
) -> None:
    steps = [{"op": "wait", "for": {"exited": ["chief"]}, "timeout": 600}]
    scenario = _scenario({"chief": "stubborn"}, steps, deadline=3)
    observation = run_scenario(scenario, TierSpec("tf"), tmp_path, token)
    assert "gave up after" in (observation.step_failure or "")
    assert observation.killed == ["chief"]
    assert observation.tasks["chief"]["exit"] == -signal.SIGKILL


def test_a_child_left_by_a_task_that_exited_is_ended_too(tmp_path: Path, token: str) -> None:
    observation = run_scenario(
        _scenario({"chief": "stray", "worker1": "normal"}, ALL_SESSIONS_THEN_END),
        TierSpec("tf"),
        tmp_path,
        token,
    )
    # The chief exited by itself (not killed); its stray child, in its process group, is
    # ended with the group (the token fixture fails the test if it lives on).
    assert observation.step_failure is None and observation.killed == []
    assert observation.tasks["chief"]["exit"] == 0


def test_a_status_is_read_without_reaping_until_the_end(tmp_path: Path, token: str) -> None:
    with Processes() as procs:
        process = procs.start("a", [sys.executable, "-c", "exit(5)", token], tmp_path / "a.log")
        assert procs.wait(["a"], timeout=30)
        assert procs.status("a") == 5 and not process.reaped  # its group id stays reserved
        procs.start("b", [sys.executable, "-c", "import os; os.abort()"], tmp_path / "b.log")
        assert procs.wait(["b"], timeout=30) and procs.status("b") == -signal.SIGABRT
        with pytest.raises(ValueError, match="already started"):
            procs.start("a", [sys.executable, "-c", "pass"], tmp_path / "a.log")
    assert process.reaped and procs.status("a") == 5 and procs.killed == []


def test_a_started_task_ends_at_sigterm_without_needing_sigkill(tmp_path: Path, token: str) -> None:
    with Processes() as procs:
        code = "import signal\nsignal.pause()\n"  # runs until a signal: no clock involved
        procs.start("a", [sys.executable, "-c", code, token], tmp_path / "a.log")
        wait_until(lambda: len(running_with(token)) == 1, timeout=30, what="the waiting task")
        procs.kill("a")
        # Started while the stop signals were held: SIGTERM still reaches it.
        assert procs.status("a") == -signal.SIGTERM and procs.killed == ["a"]


def test_a_stop_signal_during_a_hold_comes_after_it() -> None:
    with signals_interrupt():
        with pytest.raises(Interrupted) as e, signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            reached = True  # the handler did not raise inside the block
        assert reached and e.value.signum == signal.SIGTERM
        with signals_held():  # nothing pending: nothing raised
            pass


def test_processes_end_everything_when_the_block_raises(tmp_path: Path, token: str) -> None:
    code = f"import time\ntime.sleep({60})\n"
    with pytest.raises(KeyboardInterrupt), Processes() as procs:
        for name in ("a", "b"):
            procs.start(name, [sys.executable, "-c", code, token], tmp_path / f"{name}.log")
        wait_until(lambda: len(running_with(token)) == 2, timeout=30, what="two sleepers")
        raise KeyboardInterrupt
    assert sorted(procs.killed) == ["a", "b"]
    assert all(p.poll() is not None for p in procs.started.values())


def test_stop_signals_interrupt_the_block_even_sigint_inherited_ignored() -> None:
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(Interrupted) as e, signals_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            pytest.fail("not interrupted")
        assert e.value.signum == signal.SIGINT
    finally:
        signal.signal(signal.SIGINT, saved)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with pytest.raises(Interrupted) as e, signals_interrupt():
            os.kill(os.getpid(), sig)  # the handler raises before the next line runs
            pytest.fail("not interrupted")
        assert e.value.signum == sig


# -- the command, interrupted -------------------------------------------------------------

# The cluster command, its task program replaced by the fake one (no TensorFlow).
CLI = textwrap.dedent(
    """
    import sys
    from harness.cluster import runner
    def argv(plan, task, token):
        return [sys.executable, {fake!r}, str(plan), task, "--token", token]
    runner.task_argv = argv
    runner.missing_requirement = lambda: None
    from harness.cluster.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_ends_every_task_process(
    tmp_path: Path, token: str, sig: int, status: int
) -> None:
    work = tmp_path / "work"
    # The trigger-save scenario waits for a trigger the fake chief never reports.
    argv = [
        sys.executable,
        "-c",
        CLI.format(fake=str(FAKE_TASK)),
        "-k",
        "trigger_save",
        "--work",
        str(work),
        "--token",
        token,
    ]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        control = work / "trigger_save_through_action_file-tf-1" / "control"
        tasks = lambda: [p for p in running_with(token) if p != proc.pid]  # noqa: E731
        try:
            wait_until(
                lambda: (control / "worker2.go").exists() and len(tasks()) == 4,
                timeout=60,
                what="the chief's session and four task processes",
            )
        except WaitTimeout:  # say what the runner had done, for a failure seen once in CI
            proc.kill()
            out, err = proc.communicate(timeout=60)
            seen = (
                sorted(str(f.relative_to(work)) for f in work.rglob("*")) if work.exists() else []
            )
            pytest.fail(
                f"tasks {tasks()}; files {seen}; stdout {out[-2000:]!r}; stderr {err[-4000:]!r}"
            )
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == status, err.decode()
    assert b"every task process ended" in err
    assert running_with(token) == []


# -- the original modules, read once ------------------------------------------------------


def test_a_git_checkout_is_read_once_into_a_work_tree_the_tasks_import_from(
    tmp_path: Path,
) -> None:
    from harness.cluster.cli import work_tree
    from reference.original.checkout import MODULES, open_checkout

    repo = tmp_path / "repo"
    for rel in MODULES.values():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(f"# {rel}\n")
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "GIT_AUTHOR_NAME": "t"}
    env |= {"GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env)
    checkout = open_checkout(repo / ".git", "HEAD")
    tree = work_tree(checkout)
    assert not str(tree).startswith(str(repo))
    # What a task opens: the extracted tree, as a work tree, in place (nothing extracted).
    again = open_checkout(tree)
    assert again.sha256 == checkout.sha256 and again._tmp is None
    assert work_tree(open_checkout(repo)) == repo
    checkout.close()  # what the command does however it ends
    assert not tree.exists()
    checkout.close()


def test_the_command_removes_the_extracted_checkout_however_it_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from harness.cluster import cli

    closed = []
    opened = type("Opened", (), {"close": lambda self: closed.append(True)})()
    monkeypatch.setattr(runner, "missing_requirement", lambda: None)
    monkeypatch.setattr(cli, "tiers", lambda args, out, kept: kept.append(opened) or [])
    assert cli.main(["-k", "race", "--monolith", str(tmp_path)], out=io.StringIO()) == 2
    assert closed == [True]

    def interrupted(*args: Any) -> int:
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(cli, "tiers", lambda args, out, kept: kept.append(opened) or ["tier"])
    monkeypatch.setattr(cli, "run_all", interrupted)
    assert cli.main(["-k", "race", "--monolith", str(tmp_path)], out=io.StringIO()) == 143
    assert closed == [True, True]


def test_without_tensorflow_the_command_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cluster import cli

    monkeypatch.setattr(runner, "missing_requirement", lambda: "the tasks need TensorFlow")
    assert cli.main(["-k", "race"]) == 2
    assert capsys.readouterr().err == "error: the tasks need TensorFlow\n"
    assert cli.main(["-k", "no_such_scenario"]) == 2


# -- what the judge reads of the model dir ------------------------------------------------


def test_model_files_follow_no_link_and_read_only_regular_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "features").mkdir(parents=True)
    (model / "checkpoints").mkdir()
    (model / "features" / "chief_x.pb").write_bytes(b"abc")
    (model / "checkpoints" / "model.ckpt-0.index").write_bytes(b"skipped")
    (model / "big").write_bytes(b"x" * (runner.MAX_FILE_BYTES + 10))
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret").write_bytes(b"no")
    (model / "link").symlink_to(outside / "secret")
    (model / "dirlink").symlink_to(outside)
    os.mkfifo(model / "fifo")
    found = model_files(model)
    assert sorted(found) == ["big", "features/chief_x.pb"]
    assert found["features/chief_x.pb"] == b"abc"
    assert len(found["big"]) == runner.MAX_FILE_BYTES + 1  # cut, still unlike any content
