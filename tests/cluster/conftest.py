"""Fixtures for the cluster tier's tests.

Most of them need no TensorFlow: the loader, the judge, the process handling and the
runner (with :mod:`fake_task` standing in for the task program). The few that start a
real TensorFlow cluster are marked ``tf`` and run in ``nox -s cluster``, which sets
``MONOLITH_PARITY_CLUSTER=1`` (elsewhere they are skipped, saying so: the ``tf`` session
would otherwise pay for them twice).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from procs import running_with

from harness.polling import WaitTimeout, wait_until


@pytest.fixture
def token() -> Iterator[str]:
    """A mark for the command lines of the processes a test starts; after the test, no
    live process may carry it."""
    mark = f"cluster-test-{uuid.uuid4().hex[:12]}"
    yield mark
    # A process killed a moment ago may take a moment to be gone.
    try:
        wait_until(lambda: not running_with(mark), timeout=10, what="no process left")
    except WaitTimeout:
        pytest.fail(f"processes left behind: {running_with(mark)}")
