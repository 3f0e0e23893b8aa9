"""The cluster command on real TensorFlow task processes: a run, a run whose planned port
is taken, and a Ctrl-C, leave no process behind (the ``token`` fixture looks for any
process carrying the run's mark).

Each starts a real cluster (a ps, a chief, two workers; about 10 s on 2 cores), so these
run in ``nox -s cluster`` (``MONOLITH_PARITY_CLUSTER=1``), not in the ``tf`` session too.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from procs import running_with

from harness.polling import wait_until

pytest.importorskip("tensorflow")

pytestmark = [
    pytest.mark.tf,
    pytest.mark.timeout(600),  # a loaded machine may take minutes to start four TF processes
    pytest.mark.skipif(
        not os.environ.get("MONOLITH_PARITY_CLUSTER"),
        reason="real-cluster tests run in nox -s cluster (MONOLITH_PARITY_CLUSTER=1)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _cluster(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cluster", "--tier", "tf", *args]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` run to its end (at most 300 s) from the project root, output captured."""
    return subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def test_a_real_run_passes_and_leaves_no_process(tmp_path: Path, token: str) -> None:
    done = _run(_cluster("-k", "no_placement", "--token", token, "--work", str(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cluster: 1 passed, 0 failed (tf)" in done.stdout


# The command with its first attempt's last port taken by a listener it holds itself.
TAKEN_PORT = textwrap.dedent(
    """
    import socket, sys
    from harness.cluster import runner
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    chosen = runner.free_ports
    calls = []
    def free_ports(count):
        ports = chosen(count)
        calls.append(ports)
        if len(calls) == 1:
            ports[-1] = held.getsockname()[1]
        return ports
    runner.free_ports = free_ports
    from harness.cluster.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_a_real_task_whose_port_is_taken_makes_the_attempt_start_again(
    tmp_path: Path, token: str
) -> None:
    argv = [sys.executable, "-c", TAKEN_PORT, "--tier", "tf", "-k", "feature_dumps"]
    done = _run([*argv, "--token", token, "--work", str(tmp_path)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  cluster/feature_dumps_per_task [tf]" in done.stdout
    assert "(2 attempts)" in done.stdout
    first = tmp_path / "feature_dumps_per_task-tf-1" / "control"
    # TensorFlow's server refused the port, and the task said so with its exit status.
    assert "Could not start gRPC server" in (first / "worker2.events.jsonl").read_text()


def test_ctrl_c_during_a_real_run_ends_every_task(tmp_path: Path, token: str) -> None:
    proc = subprocess.Popen(
        _cluster("-k", "stop_through_barrier", "--token", token, "--work", str(tmp_path)),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        events = tmp_path / "stop_through_barrier-tf-1" / "control" / "chief.events.jsonl"
        wait_until(
            lambda: events.exists() and '"session"' in events.read_text(),
            timeout=240,
            what="the chief's session",
        )
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert running_with(token) == []
