"""Fixtures for the protocol tests: the corpus, testee command lines, one testee per worker.

No TensorFlow and no wall-clock sleeps: the harness's own timeouts bound every wait.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.pytest_plugin import worker_testee as make_worker_testee
from harness.scenario import Scenario, load_all

TESTEES = Path(__file__).resolve().parent / "testees"
REFERENCE_ARGV = [sys.executable, "-m", "reference.testee"]


@pytest.fixture(scope="session")
def script_argv() -> Callable[..., list[str]]:
    """``script_argv("faulty.py", "crash")``: the command line of a script in testees/."""

    def argv(script: str, *args: str) -> list[str]:
        return [sys.executable, str(TESTEES / script), *args]

    return argv


@pytest.fixture(scope="session")
def corpus() -> list[Scenario]:
    return load_all()


@pytest.fixture
def reference_argv() -> list[str]:
    return list(REFERENCE_ARGV)


@pytest.fixture(scope="session")
def worker_testee_argv() -> list[str]:
    """``$PARITY_TESTEE`` (a command line), or the reference testee."""
    spec = os.environ.get("PARITY_TESTEE")
    return shlex.split(spec) if spec else list(REFERENCE_ARGV)


@pytest.fixture(scope="session")
def worker_testee(
    worker_testee_argv: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SubprocessTestee, Path]]:
    """One persistent testee per pytest-xdist worker (or per session without xdist), and
    that worker's own output directory. Closed when the worker's session ends."""
    testee, work = make_worker_testee(worker_testee_argv, tmp_path_factory.mktemp("parity"))
    try:
        yield testee, work
    finally:
        testee.close()
