"""Fixtures for the bad-input tests (helpers live in ``adv_helpers.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from adv_helpers import Ran, run_bounded

from harness.scenario import Scenario


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., Ran]:
    """``run(scenario_dict, seconds=10)``: the scenario's outputs (see :class:`Ran`)."""
    counter = iter(range(1000))

    def go(data: dict[str, Any] | Scenario, seconds: float = 10.0) -> Ran:
        return run_bounded(data, tmp_path / f"out{next(counter)}", seconds)

    return go
