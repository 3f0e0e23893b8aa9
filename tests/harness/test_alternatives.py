"""Orders TensorFlow leaves open: every legal outcome is golden, any one passes.

A controller run fetching ``stop_op`` or ``trigger_save_op`` assigns a flag the controller
hook reads in the same run; ``"order": "open"`` says the order of the two is not fixed.
The goldens hold one outcome per order (``golden/<id>/s<i>-<order>/``), each certified by
forcing that order on the original; a testee passes with either, and the result names it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from harness import certificate, report
from harness.adapters.subprocess_testee import SubprocessTestee
from harness.golden import GOLDEN_DIR, golden_dirs, stale_dirs
from harness.runner import FAILED, PASSED, ScenarioResult, judge_every_outcome, run_corpus
from harness.scenario import ScenarioError, load_all, parse

pytestmark = pytest.mark.timeout(120)

ORDERING = Path(__file__).resolve().parents[1] / "protocol" / "testees" / "ordering.py"
OPEN_ID = "controller/trigger_save_order_open"


def controller(*steps: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": 1,
        "family": "controller",
        "description": "x",
        "config": config or {},
        "steps": list(steps),
    }


@pytest.fixture(scope="module")
def corpus() -> dict[str, Any]:
    return {s.id: s for s in load_all()}


def test_an_open_placement_race_has_two_outcomes(corpus: dict[str, Any]) -> None:
    scenario = corpus["controller/workers_race_to_place"]
    names = [name for name, _ in scenario.alternatives()]
    assert names == ["place_race-first", "place_race-together"]
    forced = dict(scenario.alternatives())
    assert [forced[n].config["place_race"] for n in names] == ["first", "together"]
    first, together = ((GOLDEN_DIR / scenario.id / n / "trace.jsonl").read_text() for n in names)
    assert '"type": "BarrierAlreadyPlacedError"' in first  # the chief's check found it placed
    assert "BarrierAlreadyPlacedError" not in together
    assert together.count("Trying to stop all workers.") >= 3  # each of the three placed it


def test_an_open_order_has_one_golden_per_legal_outcome(corpus: dict[str, Any]) -> None:
    scenario = corpus[OPEN_ID]
    assert scenario.open_steps == [0]
    assert [name for name, _ in scenario.alternatives()] == ["s0-assign_first", "s0-read_first"]
    forced = dict(scenario.alternatives())["s0-read_first"]
    assert forced.steps[0]["order"] == "read_first" and scenario.steps[0]["order"] == "open"
    assert [p.relative_to(GOLDEN_DIR).as_posix() for _, p in golden_dirs(scenario)] == [
        f"{OPEN_ID}/s0-assign_first",
        f"{OPEN_ID}/s0-read_first",
    ]
    assert stale_dirs(list(corpus.values())) == []
    # the two outcomes: trigger_save in the run that assigned, or in the next one
    first, later = (
        (GOLDEN_DIR / OPEN_ID / name / "trace.jsonl").read_text().splitlines()
        for name in ("s0-assign_first", "s0-read_first")
    )
    assert first.index('{"event": "trigger_save"}') < first.index(
        '{"event": "step", "index": 1, "op": "run"}'
    )
    assert later.index('{"event": "trigger_save"}') > later.index(
        '{"event": "step", "index": 1, "op": "run"}'
    )


@pytest.mark.parametrize("order", ["assign_first", "read_first"])
def test_a_testee_passes_with_either_outcome_and_the_result_says_which(
    corpus: dict[str, Any], order: str, tmp_path: Path
) -> None:
    testee = SubprocessTestee([sys.executable, str(ORDERING), order], sandbox="none")
    try:
        [result] = run_corpus([corpus[OPEN_ID]], testee, tmp_path)
    finally:
        testee.close()
    assert (result.status, result.alternative) == (PASSED, f"s0-{order}")
    assert f"outcome: s0-{order} (one of the legal outcomes)" in report.terminal(
        [result], verbose=True
    )
    case = ElementTree.fromstring(report.junit_xml([result])).find(".//testcase")
    assert case is not None
    assert [(p.get("name"), p.get("value")) for p in case.iter("property")] == [
        ("outcome", f"s0-{order}")
    ]
    assert f"outcome s0-{order}" in report.html_page([result])


def test_an_outcome_no_order_gives_fails_naming_the_closest(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    testee = SubprocessTestee([sys.executable, str(ORDERING), "neither"], sandbox="none")
    try:
        [result] = run_corpus([corpus[OPEN_ID]], testee, tmp_path)
    finally:
        testee.close()
    assert (result.status, result.alternative) == (FAILED, "")
    assert str(result.differences[0]) == (
        ". [outcome]: matches none of the 2 legal outcomes (the order is left open); the "
        "differences below are from the closest, s0-assign_first"
    )


def test_every_outcome_is_judged_when_certifying(corpus: dict[str, Any], tmp_path: Path) -> None:
    """judge_every_outcome forces each order and judges it against its own golden: a
    testee that always takes one order passes only that outcome."""
    from harness.adapters.inprocess import InProcessReference

    good = judge_every_outcome(corpus[OPEN_ID], InProcessReference(), tmp_path / "ref")
    assert (good.status, good.alternative) == (PASSED, "s0-assign_first, s0-read_first")
    testee = SubprocessTestee([sys.executable, str(ORDERING), "ignore_order"], sandbox="none")
    try:
        bad = judge_every_outcome(corpus[OPEN_ID], testee, tmp_path / "bad")
    finally:
        testee.close()
    assert (bad.status, bad.alternative) == (FAILED, "")
    assert "trace.jsonl" in bad.explanation()


def test_the_certificate_counts_scenarios_with_alternatives(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    import shutil

    scenarios = [corpus[OPEN_ID], corpus["controller/trigger_save_op"]]
    golden = tmp_path / "golden"
    for s in scenarios:
        shutil.copytree(GOLDEN_DIR / s.id, golden / s.id)
    runs = [[ScenarioResult(s.id, "original", PASSED) for s in scenarios]]
    built = certificate.build(scenarios, runs, golden, certificate.PINNED_UPSTREAM)
    assert built["scenarios"][OPEN_ID]["outcomes"] == ["s0-assign_first", "s0-read_first"]
    assert "outcomes" not in built["scenarios"]["controller/trigger_save_op"]
    certificate.write(built, golden)
    check = certificate.check(scenarios, golden)
    assert check.summary() == (
        "2 certified (1 accepting alternative outcomes, each certified), 0 not applicable, "
        "0 uncertified"
    )
    del built["scenarios"][OPEN_ID]["outcomes"]  # certified without forcing each order
    certificate.write(built, golden)
    assert certificate.check(scenarios, golden).uncertified == [
        (OPEN_ID, "its legal outcomes were not each certified")
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            controller({"op": "run", "order": "open"}),
            "steps[0].order: only a controller run whose fetch assigns a flag the hooks read "
            "(stop_op or trigger_save_op) has an order to choose",
        ),
        (
            controller(*[{"op": "run", "fetch": "stop_op", "order": "open"}] * 4),
            "steps: 4 steps leave their order open, more than the 3 a scenario may (8 outcomes)",
        ),
        (
            controller({"op": "end", "order": "open"}),
            "steps[0].order: only run and run_while_not_stopped take it, not end",
        ),
        (
            controller(
                {"op": "end"},
                config={"barrier": {"capacity": 2}, "workers": [{"index": 1, "controller": True}]},
            ),
            "config.workers: a worker's ControllerHook shares the chief's stop flag only on a "
            "parameter server: set config.num_ps to 1 or more",
        ),
        (
            controller({"op": "end"}, config={"place_race": "open"}),
            "config.place_race: no worker builds a ControllerHook, so nothing races to place "
            "the barrier",
        ),
    ],
)
def test_the_loader_refuses_an_order_where_there_is_none(data: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse(json.loads(json.dumps(data)), "controller/x", "f.json")
    assert str(e.value) == f"f.json: {message}"
