"""One summary line per implementation, in one wording, from every entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from parity_subprocess import run_parity_suite

from harness.report import summary_line
from harness.runner import (
    EXPECTED_DEVIATION,
    FAILED,
    NOT_APPLICABLE,
    NOT_RUN,
    PASSED,
    UNEXPECTED_PASS,
    ScenarioResult,
)

ROOT = Path(__file__).resolve().parents[2]


def results(name: str, **counts: int) -> list[ScenarioResult]:
    statuses = {
        "passed": PASSED,
        "failed": FAILED,
        "deviation": EXPECTED_DEVIATION,
        "unexpected": UNEXPECTED_PASS,
        "na": NOT_APPLICABLE,
        "not_run": NOT_RUN,
    }
    return [
        ScenarioResult(f"s/{key}{i}", name, statuses[key])
        for key, n in counts.items()
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        ({"passed": 102}, "x: 102 passed, 0 failed"),
        (
            {"deviation": 1, "unexpected": 1},
            "x: 1 passed, 1 failed (1 expected deviation, 1 unexpected pass)",
        ),
        (
            {"passed": 3, "deviation": 2, "failed": 1, "unexpected": 2, "na": 3},
            "x: 5 passed, 3 failed, 3 not applicable (2 expected deviations, 2 unexpected "
            "passes); served 8 of 11",
        ),
        ({"not_run": 4}, "x: 0 passed, 0 failed, 4 not run; served 0 of 4"),
    ],
)
def test_summary_line(counts: dict[str, int], line: str) -> None:
    assert summary_line(results("x", **counts)) == line


@pytest.mark.timeout(600)  # a CLI run and a pytest run in subprocesses, each bounded
def test_cli_and_pytest_plugin_print_the_same_line(tmp_path: Path) -> None:
    devs = tmp_path / "devs.json"
    devs.write_text(
        json.dumps(
            {"deviations": [{"scenario": "controller/action_comments", "reason": "declared"}]}
        )
    )
    line = "reference: 1 passed, 1 failed (1 unexpected pass)"
    cli_run = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "-k",
            "controller/action_c",
            "--deviations",
            str(devs),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert cli_run.returncode == 1
    assert cli_run.stdout.decode().splitlines()[-1] == line
    plugin_run = run_parity_suite("controller/action_c", tmp_path / "bt", f"--deviations={devs}")
    lines = plugin_run.stdout.decode().splitlines()
    assert lines.count(line) == 1, lines
    assert lines[-1].startswith("1 failed, 1 passed"), "pytest's own line stays pytest's"
