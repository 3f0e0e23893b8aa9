"""A real testee process whose reply is valid JSON but out of the protocol's bounds.

``\\ud800`` in an ``error`` message is valid JSON, yet the string it makes cannot be
encoded as UTF-8 (the terminal, JUnit and HTML writers and pytest-xdist's serialization
would crash on it); a ``done`` nested 200 000 deep makes Python's parser raise
RecursionError. The codec (``testee_protocol/codec.py``) refuses both as protocol errors,
so the scenario struck fails with a one-line reason naming the problem, the next scenario
passes on a fresh process, and every result's explanation is safe to write. The broken
testee is ``tests/protocol/testees/faulty.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.runner import FAILED, PASSED, run_corpus
from harness.scenario import Scenario, load_all
from testee_protocol.codec import MAX_DEPTH

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
FAULTY = ROOT / "tests" / "protocol" / "testees" / "faulty.py"
VICTIM = "controller/query_trigger_save"  # its first implementation step is a 'run'
OTHER = "controller/action_comments"


@pytest.fixture(scope="module")
def corpus() -> list[Scenario]:
    return load_all()


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("surrogate_error", r"lone surrogate '\ud800' in $.message: not encodable as UTF-8"),
        (
            "deep_reply",
            f"message nested more than {MAX_DEPTH} levels deep at $.events"
            + "[0]" * (MAX_DEPTH - 1),
        ),
    ],
)
def test_an_out_of_bounds_reply_fails_its_scenario_only(
    fault: str, problem: str, corpus: list[Scenario], tmp_path: Path
) -> None:
    by_id = {s.id: s for s in corpus}
    testee = SubprocessTestee([sys.executable, str(FAULTY), fault, "--on", VICTIM])
    try:
        results = run_corpus([by_id[VICTIM], by_id[OTHER]], testee, tmp_path)
    finally:
        testee.close()
    bad, good = results
    assert bad.status == FAILED, bad.explanation()
    reason = (bad.failure or "").splitlines()[0]
    assert reason.startswith(f"protocol error in the reply to step 0 (run): {problem} ("), reason
    assert good.status == PASSED, good.explanation()
    assert testee.starts == 2, "the next scenario ran on a fresh testee"
    for result in results:
        result.explanation().encode("utf-8")  # no lone surrogate reaches a writer
