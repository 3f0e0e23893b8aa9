"""The parity suite: every scenario against the implementation under test (--impl)."""

import pytest

from harness.runner import NOT_APPLICABLE


def test_scenario(parity_scenario, parity_judge):
    result = parity_judge(parity_scenario)
    if result.status == NOT_APPLICABLE:
        pytest.skip(f"not applicable to {result.implementation}: {result.reason}")
    # An expected deviation passes here and stays visible in the parity report.
    assert result.ok, f"{result.status}: {parity_scenario.id}\n{result.explanation()}"
