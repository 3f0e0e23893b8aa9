"""The rules docs/scenarios.md and docs/trace.md state, checked against every golden.

A port author reads the format docs, not the goldens; each rule stated there that the
goldens pin is checked here over the whole corpus, so the docs cannot drift from them:
the uuid naming rule, ``run_until_end``'s events, the chief's recording barrier callback
and its order, the errors of runs after ``should_stop`` and after the session closed, and
what a 1-D or 3-D ``dense`` feature does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from harness.golden import GOLDEN_DIR
from harness.paths import CHECKOUT_ROOT
from harness.scenario import Scenario, load_all

SAVE_LOG = "save to $FILES/"
STOP_LOG = "Receive the request to stop the training."
DOCS = CHECKOUT_ROOT / "docs"


@pytest.fixture(scope="module")
def corpus() -> list[Scenario]:
    """Every scenario; one that leaves an order open once per legal outcome (its order
    forced, its id that outcome's golden directory), so each outcome follows the rules."""
    found = []
    for s in load_all():
        alternatives = s.alternatives()
        found += [replace(v, id=f"{s.id}/{name}") for name, v in alternatives] or [s]
    return found


def trace(scenario: Scenario) -> list[dict[str, Any]]:
    text = (GOLDEN_DIR / scenario.id / "trace.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def by_step(events: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(op, events during that step)`` for every step of the trace, in order."""
    op, current = None, []
    for e in events:
        if e["event"] in ("step", "teardown"):
            if op is not None:
                yield op, current
            op, current = e.get("op"), []
        else:
            current.append(e)


def default_uuid(k: int) -> str:
    """The rule as docs/scenarios.md states it (not the reference's code)."""
    return f"{k:08x}-0000-1000-8000-000000000000"


def test_the_docs_state_the_rules() -> None:
    scenarios_md = (DOCS / "scenarios.md").read_text(encoding="utf-8")
    trace_md = (DOCS / "trace.md").read_text(encoding="utf-8")
    for phrase in (
        "`00000002-0000-1000-8000-000000000000`",
        "3-D or deeper",
        "It reports no `run` events",
        'reports `"worker": 0`, whatever the index',
        "raises `RuntimeError`",
        "raises `AttributeError`",
    ):
        assert phrase in scenarios_md, phrase
    assert "`run_until_end` reports none" in trace_md


def test_feature_files_are_named_by_the_uuid_rule(corpus: list[Scenario]) -> None:
    checked = 0
    for s in corpus:
        if s.family != "feature_dump":
            continue
        uuids = s.config.get("uuids", [])
        c = s.config
        prefix = (
            "chief"
            if c.get("server_type", "worker") == "worker" and c.get("index", 0) == 0
            else f"worker{c.get('index', 0)}"
        )
        saves = [
            e["message"].removeprefix(SAVE_LOG)
            for e in trace(s)
            if e["event"] == "log" and e["message"].startswith(SAVE_LOG)
        ]
        model_dir = c.get("model_dir", ".")
        base = "features" if model_dir == "." else f"{model_dir}/features"
        expected = [
            f"{base}/{prefix}_{uuids[k] if k < len(uuids) else default_uuid(k)}.pb"
            for k in range(len(saves))
        ]
        assert saves == expected, s.id
        listing = (GOLDEN_DIR / s.id / "listing.txt").read_text(encoding="utf-8").splitlines()
        assert {p for p in listing if p.endswith(".pb")} <= set(expected), s.id
        checked += len(saves)
    assert checked > 20


def test_run_until_end_reports_one_runs_event_and_no_run_events(
    corpus: list[Scenario],
) -> None:
    seen = 0
    for s in corpus:
        for op, events in by_step(trace(s)):
            if op != "run_until_end":
                continue
            kinds = [e["event"] for e in events]
            assert "run" not in kinds, s.id
            # one runs event, unless another error than OutOfRangeError ended it
            # (docs/conventions.md, rule 10: then only that error is reported)
            assert kinds.count("runs") == 1 or (kinds.count("runs") == 0 and "error" in kinds), s.id
            seen += 1
    assert seen >= 10


def test_the_chiefs_recorder_runs_before_the_stop_helpers_callback(
    corpus: list[Scenario],
) -> None:
    seen = 0
    for s in corpus:
        if s.family != "controller" or not s.config.get("stop_helper"):
            continue
        events = trace(s)
        for i, e in enumerate(events):
            if e["event"] == "barrier_callback" and e["action"] == "Stop":
                assert events[i + 1] == {"event": "log", "level": "INFO", "message": STOP_LOG}
                seen += e["worker"] == 0
    assert seen >= 3


def test_wait_threads_report_the_chiefs_callback_as_worker_0(corpus: list[Scenario]) -> None:
    seen = 0
    for s in corpus:
        if s.family != "barrier":
            continue
        for op, events in by_step(trace(s)):
            if op == "wait":
                for e in events:
                    if e["event"] == "barrier_callback":
                        assert e["worker"] == 0, s.id
                        seen += 1
    assert seen >= 2


def test_runs_after_should_stop_and_after_close_raise_the_documented_types(
    corpus: list[Scenario],
) -> None:
    after_stop = after_close = 0
    for s in corpus:
        if s.family not in ("controller", "feature_dump"):
            continue
        stopped = closed = False
        for op, events in by_step(trace(s)):
            errors = [e["type"] for e in events if e["event"] == "error"]
            if op == "run" and closed:
                assert errors[:1] == ["AttributeError"], s.id
                after_close += 1
            elif op == "run" and stopped:
                assert errors[:1] == ["RuntimeError"], s.id
                after_stop += 1
            chief_runs = [e for e in events if e["event"] == "run" and e["worker"] == 0]
            stopped = stopped or any(e["should_stop"] for e in chief_runs)
            closed = closed or op in ("end", "run_until_end")
    assert after_stop >= 1 and after_close >= 1


@pytest.mark.parametrize(
    ("scenario_id", "error"),
    [("feature_dump/dense_3d_rows", "TypeError"), ("feature_dump/dense_1d_at_end", "TypeError")],
)
def test_dense_depth_decides_the_row(corpus: list[Scenario], scenario_id: str, error: str) -> None:
    (s,) = [s for s in corpus if s.id == scenario_id]
    assert [e["type"] for e in trace(s) if e["event"] == "error"] == [error]
