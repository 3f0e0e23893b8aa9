"""Scenario dicts for every family and every step kind, valid for
:func:`harness.scenario.parse` and bounded in virtual time.

:func:`scenarios` draws from the families asked for; each family has its own script
strategy (:func:`slot_count_scenarios`, :func:`controller_scripts`,
:func:`feature_dump_scenarios`, :func:`barrier_schedules`, :func:`hook_utils_scenarios`).
Integers are written the ways the format allows (JSON ints, decimal and hex strings),
floats as JSON numbers or the strings ``"nan"``/``"inf"``/``"-inf"``. Sizes are bounded
(a few tables, batches, workers and at most about a dozen steps) so one scenario runs in
milliseconds and a shrunk one is small.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from harness.strategies.actions import VALID_ACTIONS, action_files
from harness.strategies.features import DTYPES, dense_features, feature_names, float_elements
from harness.strategies.fids import I64_MAX, U64, fid_tables, fids
from reference.testee.worlds.barrier import QUERIES

JSON_SAFE = (1 << 53) - 1
T = TypeVar("T")


def _repeated(
    draw: st.DrawFn, one: Callable[[st.DrawFn], T], max_size: int, min_size: int = 0
) -> list[T]:
    """Up to ``max_size`` draws of ``one``, drawn as a hypothesis list: the shrinker can
    then delete any element (a drawn count only lets it drop the last ones)."""
    return draw(st.lists(st.composite(one)(), min_size=min_size, max_size=max_size))


def json_int(value: int, draw: st.DrawFn) -> Any:
    """``value`` as the scenario format writes integers: a JSON int when safe, else a
    decimal or hex string (sometimes a string even when a JSON int would do)."""
    if abs(value) <= JSON_SAFE and draw(st.integers(0, 3)):
        return value
    if draw(st.booleans()):
        return str(value)
    return ("-" if value < 0 else "") + hex(abs(value))


def json_float(value: float) -> Any:
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return value


FAMILIES = ("slot_count", "controller", "feature_dump", "barrier", "hook_utils")
MODEL_DIRS = (".", "model", "a/b", "m.d", "x-1/y_2")
BARRIER_QUERIES = QUERIES  # what the barrier world answers
# Polling periods and sleeps stay well above zero: every simulated wait then moves virtual
# time forward, so each run is bounded (see docs/testing.md on zero and tiny periods).
WAIT_SECONDS = (0.5, 1, 2, 5)
RUN_SECONDS = (0, 0.5, 1, 3)
START_SECONDS = (0.5, 1, 3, 61)
ADVANCE_SECONDS = (0, 0.5, 1, 2, 30, 59.5, 60, 61, 120)


def _write_action_step(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        data = draw(st.sampled_from(VALID_ACTIONS[:5]))
    else:
        data = draw(action_files().filter(lambda b: len(b) < 4096))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and draw(st.booleans()):
        return {"op": "write_action", "text": text}
    return {"op": "write_action", "base64": base64.b64encode(data).decode("ascii")}


def _advance(draw: st.DrawFn) -> dict[str, Any]:
    return {"op": "advance", "seconds": draw(st.sampled_from(ADVANCE_SECONDS))}


def _run_step(draw: st.DrawFn, op: str, fetches: list[str], max_runs: int) -> dict[str, Any]:
    """A ``run`` (with a count) or a ``run_while_not_stopped`` loop (with ``max_runs``) of
    one of ``fetches`` (or the default), sometimes ending the session with its error."""
    step: dict[str, Any] = {"op": op}
    fetch = draw(st.sampled_from([None, *fetches]))
    if fetch:
        step["fetch"] = fetch
    if fetch in ("stop_op", "trigger_save_op") and draw(st.booleans()):
        # a concrete order: both sides of a differential run must make the same choice
        step["order"] = draw(st.sampled_from(["assign_first", "read_first"]))
    if draw(st.integers(0, 3)) == 0:
        step["on_error"] = "end"
    if op == "run_while_not_stopped":
        return {**step, "max_runs": draw(st.integers(1, max(max_runs, 1)))}
    return _with_count(draw, step)


def _with_count(draw: st.DrawFn, step: dict[str, Any], most: int = 3) -> dict[str, Any]:
    """``step``, sometimes repeated (``count`` 2 to ``most``). Never ``count`` 0 or 1, nor
    a loop of no runs: a shrunk scenario then holds no step that does nothing (the
    shrinker deletes a step instead of emptying it)."""
    if most >= 2 and draw(st.integers(0, 4)) == 0:
        step["count"] = draw(st.integers(2, most))
    return step


@st.composite
def value_lists(draw: st.DrawFn, max_literals: int = 12) -> list[Any]:
    """A fid value list: literals (ints or int strings) and small generators."""
    items: list[Any] = [json_int(f, draw) for f in draw(fid_tables(max_size=max_literals))]
    for _ in range(draw(st.integers(0, 2))):
        gen = draw(st.sampled_from(["range", "slot_range", "splitmix64", "uniform"]))
        spec: dict[str, Any] = {"gen": gen, "count": draw(st.integers(1, 20))}
        if gen == "range":
            spec["start"] = json_int(draw(fids()), draw)
            spec["step"] = json_int(draw(st.integers(-5, 1 << 50)), draw)
        elif gen == "slot_range":
            spec["slot"] = draw(st.integers(0, 0x7FFF))
            spec["start"] = json_int(draw(st.integers(0, U64)), draw)
            spec["version"] = draw(st.sampled_from([1, 2]))
        else:
            spec["seed"] = json_int(draw(st.integers(0, U64)), draw)
        items.insert(draw(st.integers(0, len(items))), spec)
    return items


def _global_step(draw: st.DrawFn) -> Any:
    """A global step: a JSON int, a decimal string or a hex string."""
    step = draw(st.integers(0, 1 << 40))
    how = draw(st.integers(0, 3))
    if how == 0:
        return hex(step)
    return str(step) if how == 1 else step


def _base(family: str, config: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": 1,
        "family": family,
        "description": f"generated {family} scenario",
        "config": config,
        "steps": steps,
    }


@st.composite
def slot_count_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    def table(draw: st.DrawFn) -> dict[str, Any]:
        return {
            "device": draw(st.sampled_from(["", "/job:ps/task:0", "/job:ps/task:1"])),
            "dim": draw(st.integers(0, 3)),
            "fids": draw(value_lists()),
        }

    tables = [{"name": f"t{i}", **t} for i, t in enumerate(_repeated(draw, table, 3))]
    config: dict[str, Any] = {"model_dir": draw(st.sampled_from(MODEL_DIRS)), "tables": tables}
    if draw(st.integers(0, 5)) == 0:
        config["multi_hash_tables"] = draw(st.integers(1, 2))
    wrap = draw(st.sampled_from([None, "before", "after"]))
    if wrap:
        config["wrap"] = wrap

    def step(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(st.sampled_from(["save", "save", "assign", "create_listener", "advance"]))
        if op == "save":
            return {"op": "save", "global_step": _global_step(draw)}
        if op == "assign":
            table = draw(st.integers(0, max(len(tables), 1)))  # sometimes out of range
            return {"op": "assign", "table": table, "fids": draw(value_lists(max_literals=6))}
        if op == "advance":
            return _advance(draw)
        return {"op": "create_listener"}

    return _base("slot_count", config, _repeated(draw, step, 6))


@st.composite
def _workers(draw: st.DrawFn, capacity: int, controllers: bool = False) -> list[dict[str, Any]]:
    """Workers at a barrier of ``capacity``; some start late, and with ``controllers``
    some build their own ControllerHook (racing the chief to place the barrier)."""
    indices = draw(st.lists(st.integers(1, capacity), unique=True, max_size=capacity))
    workers = []
    for i in indices:
        worker: dict[str, Any] = {
            "index": i,
            "runs": draw(st.integers(0, 4)),
            "run_seconds": draw(st.sampled_from(RUN_SECONDS)),
        }
        if draw(st.integers(0, 3)) == 0:
            worker["start_seconds"] = draw(st.sampled_from(START_SECONDS))
        if controllers and draw(st.integers(0, 3)) == 0:
            worker["controller"] = True
        workers.append(worker)
    return workers


@st.composite
def barrier_schedules(draw: st.DrawFn, max_steps: int = 10) -> dict[str, Any]:
    """A barrier scenario: capacity 1-5, workers with runs and run seconds, and a script of
    place / remove / query / wait / advance / start and join steps.

    Scripts that could never end are not generated (they would deadlock the original
    too): ``join_workers`` only while the barrier is down (a worker blocked at it waits
    for a removal only the chief can do). A ``place`` while a ``wait`` thread polls is
    allowed: the wait does not hold the BarrierOp's lock while it polls.
    """
    capacity = draw(st.integers(1, 5))
    config: dict[str, Any] = {
        "capacity": capacity,
        "wait_seconds": draw(st.sampled_from(WAIT_SECONDS)),
        "stop_helper": draw(st.booleans()),
        "workers": draw(_workers(capacity)),
    }
    if draw(st.booleans()):
        config["name_prefix"] = draw(st.sampled_from(["default", "b", "x_y"]))

    def step(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(
            st.sampled_from(
                ["place", "remove", "query", "wait", "advance", "start_workers", "join_workers"]
            )
        )
        if op == "place":
            step = {"op": "place"}
            action = draw(st.sampled_from([None, "", "Stop", "stop", "Resume", "Ünïcode"]))
            if action is not None:
                step["action"] = action
            return step
        if op == "query":
            return {"op": "query", "what": draw(st.sampled_from(BARRIER_QUERIES))}
        if op == "wait":
            return {"op": "wait", "index": draw(st.integers(-1, capacity))}
        if op == "advance":
            return _advance(draw)
        return {"op": op}

    placed = False
    steps = _repeated(draw, step, max_steps)
    for i, s in enumerate(steps):
        if s["op"] == "join_workers" and placed:
            steps[i] = s = {"op": "remove"}
        if s["op"] in ("place", "remove"):
            placed = s["op"] == "place"
    if draw(st.booleans()):
        steps += [{"op": "remove"}, {"op": "join_workers"}]
    return _base("barrier", config, steps)


@st.composite
def controller_scripts(draw: st.DrawFn, max_steps: int = 10) -> dict[str, Any]:
    """A controller scenario: hooks, optional barrier and workers, and a step script of
    runs (dummy, stop, trigger save), action files, advances, ends and joins."""
    config: dict[str, Any] = {
        "model_dir": draw(st.sampled_from(MODEL_DIRS)),
        "query_action": draw(st.booleans()),
        "query_interval": draw(st.sampled_from([1, 7.5, 60])),
        "trigger_save": draw(st.booleans()),
        "stop_helper": draw(st.booleans()),
    }
    if draw(st.booleans()):
        config["num_ps"] = draw(st.integers(0, 2))
    if draw(st.booleans()):
        capacity = draw(st.integers(1, 5))
        config["barrier"] = {
            "capacity": capacity,
            "wait_seconds": draw(st.sampled_from(WAIT_SECONDS)),
        }
        config["workers"] = draw(_workers(capacity, int(config.get("num_ps", 0)) >= 1))
    prefix = "" if config["model_dir"] == "." else config["model_dir"] + "/"

    def step(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(
            st.sampled_from(
                [
                    *("run", "run", "write_action", "advance", "advance", "remove_file"),
                    *("join_workers", "run_while_not_stopped", "snapshot", "advance_until"),
                ]
            )
        )
        if op in ("run", "run_while_not_stopped"):
            return _run_step(draw, op, ["dummy", "stop_op", "trigger_save_op"], max_runs=5)
        if op == "write_action":
            return _write_action_step(draw)
        if op == "advance":
            return _advance(draw)
        if op == "remove_file":
            name = draw(st.sampled_from(["monolith_action", "monolith_action_response", "none"]))
            return {"op": "remove_file", "path": prefix + name}
        if op == "snapshot":
            names = ["monolith_action", "monolith_action_response"]
            return {"op": "snapshot", "read": [prefix + n for n in draw(st.permutations(names))]}
        if op == "advance_until":
            return {
                "op": "advance_until",
                "until": draw(st.sampled_from(["action_removed", "response_written"])),
                "step_seconds": draw(st.sampled_from([0.5, 5, 30])),
                "max_seconds": draw(st.sampled_from([0, 10, 120])),
            }
        return {"op": "join_workers"}

    steps = _repeated(draw, step, max_steps)
    steps += draw(
        _endings(["OutOfRangeError", "StopIteration", "RuntimeError", "KeyboardInterrupt"])
    )
    scenario = _base("controller", config, steps)
    if draw(st.integers(0, 3)) == 0:  # an action file already waiting at session creation
        scenario["before_setup"] = [
            {**_write_action_step(draw), "path": prefix + "monolith_action"}
        ]
    return scenario


@st.composite
def _endings(draw: st.DrawFn, errors: Sequence[str]) -> list[dict[str, Any]]:
    """Mostly one ``end`` (normal or with an error) closing the script; sometimes none,
    and sometimes a run after it (which the closed session refuses)."""
    how = draw(st.integers(0, 5))
    if how == 0:
        return []
    end: dict[str, Any] = {"op": "end"}
    error = draw(st.sampled_from([None, *errors]))
    if error:
        end["error"] = error
    if draw(st.booleans()):
        end["if_open"] = True
    return [end, {"op": "run"}] if how == 1 else [end]


def _json_number(value: Any, dtype: str, draw: st.DrawFn) -> Any:
    if dtype.startswith("float"):
        return json_float(float(value))
    return json_int(int(value), draw)


@st.composite
def feature_specs(draw: st.DrawFn, name: str) -> dict[str, Any]:
    """One feature of a scenario batch (JSON): dense nested rows, dense values + shape,
    or ragged rows."""
    dtype = draw(st.sampled_from(DTYPES))
    spec: dict[str, Any] = {"name": name}
    if dtype != "int64" or draw(st.booleans()):
        spec["dtype"] = dtype
    form = draw(st.sampled_from(["dense", "shaped", "ragged"]))
    # Now and then a signed feature holds negative values (down to its minimum): the
    # original writes every integer as a fid, so one negative value fails the save.
    negative = dtype in ("int64", "int32") and draw(st.integers(0, 7)) == 0
    if form == "ragged":
        element = float_elements(dtype) if dtype.startswith("float") else fids()
        if dtype == "int64":
            element = st.integers(-(1 << 63) if negative else 0, I64_MAX)
        elif dtype == "int32":
            element = st.integers(-(1 << 31) if negative else 0, (1 << 31) - 1)
        rows = draw(st.lists(st.lists(element, max_size=3), max_size=3))
        spec["ragged"] = [[_json_number(v, dtype, draw) for v in row] for row in rows]
        return spec
    array = draw(dense_features(dtypes=[dtype], max_rows=3, max_cols=3, negative=negative))
    if form == "dense" and array.shape[0] > 0:
        spec["dense"] = [[_json_number(v, dtype, draw) for v in row] for row in array.tolist()]
    else:
        spec["dense"] = {
            "values": [_json_number(v, dtype, draw) for v in array.reshape(-1).tolist()],
            "shape": list(array.shape),
        }
    return spec


@st.composite
def feature_dump_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    def feature(draw: st.DrawFn) -> dict[str, Any]:
        return draw(feature_specs(draw(feature_names())))

    # Each feature one list element (names unique), so the shrinker can drop any of them.
    element = st.lists(
        st.composite(feature)(), unique_by=lambda f: f["name"], min_size=1, max_size=3
    )
    elements = draw(st.lists(element, max_size=5))
    config: dict[str, Any] = {
        "model_dir": draw(st.sampled_from(MODEL_DIRS)),
        "cap": draw(st.integers(1, 4)),
        "batches": elements,
    }
    if draw(st.booleans()):
        config["server_type"] = draw(st.sampled_from(["worker", "ps", "chief"]))
        config["index"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        config["uuids"] = draw(st.lists(st.sampled_from(["a", "b-1", "C0FFEE"]), max_size=3))

    def step(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(
            st.sampled_from(
                ["run", "run", "run", "run_until_end", "advance", "run_while_not_stopped"]
            )
        )
        if op in ("run", "run_while_not_stopped"):
            return _run_step(draw, op, ["train_op", "dummy"], max_runs=6)
        if op == "advance":
            return _advance(draw)
        return {"op": op}

    steps = _repeated(draw, step, 6)
    ends = [i for i, s in enumerate(steps) if s["op"] == "run_until_end"]
    if ends:
        del steps[ends[0] + 1 :]  # the session is closed after it
    else:
        steps += draw(_endings(["OutOfRangeError", "StopIteration", "RuntimeError"]))
    return _base("feature_dump", config, steps)


@st.composite
def hook_utils_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    listeners = draw(st.lists(st.sampled_from(["before", "after", "plain"]), max_size=4))

    def step(draw: st.DrawFn) -> dict[str, Any]:
        op = draw(st.sampled_from(["begin", "save", "end", "call", "repr"]))
        step: dict[str, Any] = {"op": op}
        if op in ("save", "end"):
            step["global_step"] = _global_step(draw)
        elif op == "repr":
            if not listeners:
                return {"op": "begin"}
            step["listener"] = draw(st.integers(0, len(listeners) - 1))
        elif op == "call" and listeners:
            step["listener"] = draw(st.integers(0, len(listeners) - 1))
            step["method"] = draw(st.sampled_from(["begin", "before_save", "after_save", "end"]))
            if step["method"] != "begin":
                step["global_step"] = _global_step(draw)
        elif op == "call":
            step = {"op": "begin"}
        return step

    return _base("hook_utils", {"listeners": listeners}, _repeated(draw, step, 6))


def scenarios(families: Sequence[str] = FAMILIES) -> st.SearchStrategy[dict[str, Any]]:
    """Valid scenario dicts (``harness.scenario.parse`` accepts them under the id
    ``<family>/generated``) whose runs stay bounded in virtual time."""
    by_family = {
        "slot_count": slot_count_scenarios(),
        "controller": controller_scripts(),
        "feature_dump": feature_dump_scenarios(),
        "barrier": barrier_schedules(),
        "hook_utils": hook_utils_scenarios(),
    }
    return st.one_of([by_family[f] for f in families])
