"""The corpus as one pytest test per scenario, on one persistent testee per xdist worker.

``pytest -n 4 tests/protocol/test_protocol_corpus.py`` spreads the scenarios over four
worker processes, each with its own testee (``worker_testee`` in conftest.py) and output
directory. ``PARITY_TESTEE`` picks the testee command line (default: the reference) and
``PARITY_DEVIATIONS`` its declared deviations file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.deviations import load_deviations
from harness.runner import judge
from harness.scenario import Scenario, load_all

SCENARIOS = load_all()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario: Scenario, worker_testee: tuple[SubprocessTestee, Path]) -> None:
    testee, work = worker_testee
    deviations = load_deviations(os.environ.get("PARITY_DEVIATIONS"), SCENARIOS)
    result = judge(scenario, testee, work / scenario.id, deviations=deviations)
    assert result.ok, f"{result.status}: {result.explanation()}"
