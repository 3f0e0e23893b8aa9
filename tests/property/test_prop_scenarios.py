"""Scenarios: generated ones are valid and run the same every time; the loader is total.

* Every scenario from :func:`harness.strategies.scenarios` passes ``harness.scenario.parse`` and
  runs on the in-process reference without an implementation failure.
* Determinism of the virtual clock: the same scenario run twice (on the same testee, then
  on a fresh one) gives identical trace bytes, listing and files; random barrier
  schedules and controller scripts are where threads interleave. And below the driver:
  random thread programs on a bare :class:`VirtualClock` interleave identically.
* The loader raises nothing but ``ScenarioError`` on arbitrary JSON, on valid scenarios
  with one node replaced, deleted or added, and (``load``) on arbitrary file bytes.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from budget import examples
from hypothesis import given
from hypothesis import strategies as st

from harness.adapters.inprocess import InProcessReference
from harness.compare import files_under
from harness.driver import run_scenario
from harness.scenario import Scenario, ScenarioError, load, parse
from harness.strategies import barrier_schedules, controller_scripts, json_values, scenarios
from reference.runtime.virtual_clock import VirtualClock

pytestmark = pytest.mark.timeout(120)


def parsed(data: dict[str, Any]) -> Scenario:
    return parse(data, f"{data['family']}/generated", "generated.json")


def outputs(out_dir: Path) -> dict[str, bytes]:
    return {rel: p.read_bytes() for rel, p in files_under(out_dir).items()}


@examples(60)
@given(scenario=scenarios())
def test_generated_scenarios_are_valid_and_run(scenario: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_scenario(parsed(scenario), InProcessReference(), Path(tmp) / "out")
        assert result.failure is None
        trace = (Path(tmp) / "out" / "trace.jsonl").read_bytes().splitlines()
        assert trace[0] == b'{"event": "setup"}' and trace[-1].startswith(b"{")


@examples(50)
@given(scenario=st.one_of(barrier_schedules(), controller_scripts(), scenarios()))
def test_same_scenario_twice_gives_identical_bytes(scenario: dict[str, Any]) -> None:
    s = parsed(scenario)
    impl = InProcessReference()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            run_scenario(s, impl, Path(tmp) / "first"),
            run_scenario(s, impl, Path(tmp) / "again"),
            run_scenario(s, InProcessReference(), Path(tmp) / "fresh"),
        ]
        assert [r.failure for r in runs] == [None] * 3
        first = outputs(Path(tmp) / "first")
        assert outputs(Path(tmp) / "again") == first
        assert outputs(Path(tmp) / "fresh") == first


# -------------------------------------------------------------------- the bare clock

Program = list[tuple[str, float, int]]  # (op, seconds, event)


def programs() -> st.SearchStrategy[list[Program]]:
    op = st.tuples(
        st.sampled_from(["sleep", "wait", "wait_timeout", "set", "locked_sleep"]),
        st.sampled_from([0, 0.5, 1, 2, 7.5]),
        st.integers(0, 2),
    )
    return st.lists(st.lists(op, max_size=6), min_size=1, max_size=4)


def run_programs(threads: list[Program], driver_sleeps: list[float]) -> list[tuple]:
    clock = VirtualClock(real_timeout=10)
    trace: list[tuple] = []
    events = [clock.event() for _ in range(3)]
    lock = clock.lock()

    def body(name: str, program: Program) -> Any:
        def run() -> None:
            for op, seconds, ev in program:
                if op == "sleep":
                    clock.sleep(seconds)
                elif op == "wait":
                    events[ev].wait()
                elif op == "wait_timeout":
                    trace.append((name, "woke", events[ev].wait(seconds)))
                elif op == "set":
                    events[ev].set()
                else:
                    with lock:
                        clock.sleep(seconds)
                trace.append((name, op, clock.time()))

        return run

    started = [clock.thread(body(f"t{i}", p), f"t{i}") for i, p in enumerate(threads)]
    try:
        for t in started:
            t.start()
        for seconds in driver_sleeps:
            clock.sleep(seconds)
            trace.append(("driver", "slept", clock.time()))
        for ev in events:
            ev.set()  # nobody waits forever
        for t in started:
            t.join()
        trace.append(("driver", "joined", clock.time()))
    finally:
        clock.shutdown()
    assert clock.thread_errors == []
    return trace


@examples(60)
@given(threads=programs(), driver_sleeps=st.lists(st.sampled_from([0, 1, 3, 10]), max_size=4))
def test_virtual_clock_interleaves_random_programs_identically(
    threads: list[Program], driver_sleeps: list[float]
) -> None:
    first = run_programs(threads, driver_sleeps)
    assert run_programs(threads, driver_sleeps) == first
    times = [e[2] for e in first if e[1] != "woke"]
    assert times == sorted(times)  # virtual time never goes back


# -------------------------------------------------------------------- the loader


def parse_or_scenario_error(data: Any, scenario_id: str = "controller/x") -> None:
    try:
        parse(data, scenario_id, "f.json")
    except ScenarioError as e:
        assert str(e).startswith("f.json: ")


@examples(150)
@given(data=json_values() | st.fixed_dictionaries({}, optional={"format": st.just(1)}))
def test_loader_raises_only_scenario_error_on_any_json(data: Any) -> None:
    parse_or_scenario_error(data)


def _paths(node: Any, here: tuple = ()) -> Iterator[tuple]:
    yield here
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*here, i))


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A valid scenario with one node replaced by any JSON, deleted, or given an extra key."""
    data = copy.deepcopy(draw(scenarios()))
    path = draw(st.sampled_from([p for p in _paths(data) if p]))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "replace":
        parent[path[-1]] = draw(json_values(max_leaves=6))
    elif how == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["count", "seconds", "path", "index", "x"]))] = draw(
            json_values(max_leaves=3)
        )
    return data


@examples(150)
@given(data=mutated_scenarios())
def test_loader_raises_only_scenario_error_on_mutated_scenarios(data: dict[str, Any]) -> None:
    family = data.get("family")
    parse_or_scenario_error(data, f"{family}/x" if isinstance(family, str) else "x")


@examples(30)
@given(blob=st.binary(max_size=100) | json_values().map(lambda v: repr(v).encode()))
def test_load_raises_only_scenario_error_on_any_file(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "controller" / "x.json"
        path.parent.mkdir()
        path.write_bytes(blob)
        try:
            load(path, tmp)
        except ScenarioError as e:
            assert str(e).startswith(f"{path}: ")


def _generators(value: Any) -> Iterator[dict[str, Any]]:
    """Every generator object (``{"gen": ...}``) anywhere in ``value``."""
    if isinstance(value, dict):
        if "gen" in value:
            yield value
        for v in value.values():
            yield from _generators(v)
    elif isinstance(value, list):
        for v in value:
            yield from _generators(v)


@examples(200)
@given(scenario=scenarios())
def test_generated_scenarios_hold_no_step_that_does_nothing(scenario: dict[str, Any]) -> None:
    """What the fuzzer shrinks is what it generates: without ``count: 0`` steps, loops of
    no runs or empty generators, a shrunk divergence holds no step that does nothing
    (the shrinker deletes a step rather than emptying it)."""
    for step in [*scenario.get("before_setup", []), *scenario["steps"]]:
        assert step.get("count", 2) >= 2, step  # absent, or a real repetition
        if step["op"] == "run_while_not_stopped":
            assert step["max_runs"] >= 1, step
    assert all(g["count"] >= 1 for g in _generators(scenario)), scenario
