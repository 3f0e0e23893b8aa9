"""The parity suite: every scenario against the implementation under test (--impl)."""

import os

import pytest

from harness.runner import NOT_APPLICABLE


@pytest.fixture(autouse=True)
def _fresh_lazy_state_under_mutation_testing():
    """Under ``nox -s mutants`` (mutmut sets ``MUTANT_UNDER_TEST``), start every scenario with
    the reference's lazily built slot-count kernel unbuilt, as in a fresh process: mutmut
    forks each mutant from a process whose clean run already built it, which would hide a
    mutant of the code that builds it (docs/mutation.md)."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        from reference import fast_slots

        fast_slots._compiled.clear()
    yield


def test_scenario(parity_scenario, parity_judge):
    result = parity_judge(parity_scenario)
    if result.status == NOT_APPLICABLE:
        pytest.skip(f"not applicable to {result.implementation}: {result.reason}")
    # An expected deviation passes here and stays visible in the parity report.
    assert result.ok, f"{result.status}: {parity_scenario.id}\n{result.explanation()}"
