"""Composed hypothesis strategies shared by the property and adversarial tests.

Import as ``from strategies import ...`` (``tests/`` is on ``sys.path`` through
``tests/conftest.py``). Nothing here imports TensorFlow.

Values:

* :func:`fids`: the whole unsigned 64-bit range, v1 and v2 shaped fids, the high bit set,
  and the edges (0, 2**48 - 1, 2**63, 2**64 - 1 ...); :func:`fid_tables`: fid lists of any
  size, empty included, with planted duplicates.
* :func:`dense_features` (2-D numpy arrays of the five scenario dtypes, zero rows and zero
  columns included, NaN/inf and NaN payloads for floats), :func:`ragged_features` (rows
  of any length, empty rows, as Python rows or flat values and row splits),
  :func:`batches` (a dataset element: unicode names, in order, mixed dense and ragged).
* :func:`action_files`: bytes of a ``monolith_action`` file: valid text protos (comments,
  CRLF, numeric enums, odd spacing), invalid ones, empty, binary garbage, non-UTF-8 and
  very large files.
* :func:`barrier_schedules`, :func:`controller_scripts`, :func:`scenarios`: scenario dicts
  valid for :func:`harness.scenario.parse` whose runs are bounded in virtual time.
* :func:`json_values`, :func:`corrupted`: arbitrary JSON, and byte strings mutated the
  ways a stream gets damaged (truncated, bit flips, splices, a length field overwritten).
"""

from __future__ import annotations

import base64
import functools
import os
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.feature_engineering_hooks import RaggedValue

U64 = (1 << 64) - 1
I64_MAX = (1 << 63) - 1
JSON_SAFE = (1 << 53) - 1

#: Multiplies every test's example budget (``PROPERTY_SCALE=20`` for a deep run).
SCALE = float(os.environ.get("PROPERTY_SCALE", "1"))


def examples(n: int) -> settings:
    """``settings(max_examples=n)`` scaled by ``PROPERTY_SCALE``, with no deadline (these
    tests start threads and write files: a loaded machine must not fail them), on top of
    the loaded profile (so ``ci`` stays derandomized)."""
    return settings(max_examples=max(1, round(n * SCALE)), deadline=None)


FID_EDGES = (
    0,
    1,
    (1 << 48) - 1,
    1 << 48,
    (1 << 54) - 1,
    1 << 54,
    0x7FFF << 48,
    I64_MAX,
    1 << 63,
    0x8001000000000001,
    U64,
)

# ------------------------------------------------------------------------------ fids


@functools.cache
def v2_fids() -> st.SearchStrategy[int]:
    """``(slot << 48) | low`` with a 15-bit slot, sometimes with bit 63 set as well."""
    return st.builds(
        lambda high, slot, low: (high << 63) | (slot << 48) | low,
        st.integers(0, 1),
        st.integers(0, 0x7FFF),
        st.integers(0, (1 << 48) - 1),
    )


@functools.cache
def v1_fids() -> st.SearchStrategy[int]:
    """``(slot << 54) | low`` with a 10-bit slot (slots >= 512 set the high bit)."""
    return st.builds(
        lambda slot, low: (slot << 54) | low,
        st.integers(0, 1023),
        st.integers(0, (1 << 54) - 1),
    )


@functools.cache
def fids() -> st.SearchStrategy[int]:
    """Unsigned 64-bit fids: anywhere, v1 or v2 shaped, or an edge value."""
    return st.one_of(st.integers(0, U64), v2_fids(), v1_fids(), st.sampled_from(FID_EDGES))


@functools.cache
def _fid_lists(max_size: int) -> st.SearchStrategy[list[int]]:
    return st.lists(fids(), max_size=max_size)


@st.composite
def fid_tables(draw: st.DrawFn, max_size: int = 40) -> list[int]:
    """A list of fids, maybe empty; some draws repeat fids (duplicates of earlier ones)."""
    table = draw(_fid_lists(max_size))
    if table and draw(st.booleans()):
        for _ in range(draw(st.integers(1, 5))):
            dup = table[draw(st.integers(0, len(table) - 1))]
            table.insert(draw(st.integers(0, len(table))), dup)
    return table


# ------------------------------------------------------------------------------ features

DTYPES = ("int64", "uint64", "int32", "float32", "float64")
NAN_BITS32 = (0x7FC00000, 0x7F800001, 0x7FA00000, 0xFFC00001, 0x7FFFFFFF)
NAN_BITS64 = (0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000000001, 0x7FFFFFFFFFFFFFFF)


@functools.cache
def feature_names() -> st.SearchStrategy[str]:
    """Any encodable unicode (no lone surrogates), empty included."""
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=10)


def _int_elements(dtype: str, negative: bool) -> st.SearchStrategy[int]:
    info = np.iinfo(np.dtype(dtype))
    low = int(info.min) if negative else 0
    return st.integers(low, int(info.max))


def _float_elements(dtype: str) -> st.SearchStrategy[float]:
    width = 32 if dtype == "float32" else 64
    return st.floats(width=width, allow_nan=True, allow_infinity=True) | st.sampled_from(
        [0.0, -0.0, float("inf"), float("-inf"), float("nan")]
        + ([1e300, -1e300, 3.4028235677973366e38, 5e-324] if width == 64 else [1e-45])
    )


@st.composite
def dense_features(
    draw: st.DrawFn,
    dtypes: Sequence[str] = DTYPES,
    max_rows: int = 4,
    max_cols: int = 4,
    negative: bool = False,
) -> np.ndarray:
    """A 2-D array (zero rows or columns possible). Integers are non-negative unless
    ``negative`` (a negative fid is something protobuf rejects); floats plant NaN payloads,
    signalling ones included."""
    dtype = draw(st.sampled_from(list(dtypes)))
    shape = (draw(st.integers(0, max_rows)), draw(st.integers(0, max_cols)))
    if dtype.startswith("float"):
        array = draw(hnp.arrays(np.dtype(dtype), shape, elements=_float_elements(dtype)))
        if array.size and draw(st.booleans()):
            bits = NAN_BITS32 if dtype == "float32" else NAN_BITS64
            raw = np.array([draw(st.sampled_from(bits))], dtype=f"u{array.itemsize}")
            array.flat[draw(st.integers(0, array.size - 1))] = raw.view(dtype)[0]
        return array
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=_int_elements(dtype, negative)))


@st.composite
def ragged_features(draw: st.DrawFn, max_rows: int = 4, max_len: int = 4) -> RaggedValue:
    """Rows of one element type (fids, float32 values or float64 values), empty rows
    included, given as Python rows or as flat values plus row splits."""
    kind = draw(st.sampled_from(["uint64", "float32", "float64"]))
    element = fids() if kind == "uint64" else _float_elements(kind)
    rows = draw(st.lists(st.lists(element, max_size=max_len), max_size=max_rows))
    if kind == "float32":  # values a float32 ragged tensor can hold
        rows = [np.array(r, dtype=np.float32).tolist() for r in rows]
    if draw(st.booleans()):
        return RaggedValue(rows)
    flat = np.array([v for r in rows for v in r], dtype=kind)
    splits = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    return RaggedValue.from_row_splits(flat, splits)


@functools.cache
def features() -> st.SearchStrategy[Any]:
    return st.one_of(dense_features(), ragged_features())


@st.composite
def batches(draw: st.DrawFn, max_features: int = 4) -> dict[str, Any]:
    """A dataset element as the hook fetches it: names in order, each dense or ragged."""
    names = draw(st.lists(feature_names(), unique=True, max_size=max_features))
    return {name: draw(features()) for name in names}


# ------------------------------------------------------------------------------ action files

VALID_ACTIONS = (
    b"action: TRIGGER_SAVE",
    b"action: STOP",
    b"action: UNKNOWN",
    b"action: 1",
    b"action: 2",
    b"action:TRIGGER_SAVE",
    b"  action :  STOP  \n",
    b"# a comment\naction: TRIGGER_SAVE\n",
    b"action: STOP # trailing comment",
    b"action: TRIGGER_SAVE\r\n",
    b"\r\n# crlf\r\naction: STOP\r\n",
    b"",
    b"\n\n",
    b"# only a comment",
)
INVALID_ACTIONS = (
    b"action: TRIG",
    b"action: ",
    b"action",
    b"acti",
    b"action: 7",
    b"action: -1",
    b'action: "STOP"',
    b"action: STOP\naction: TRIGGER_SAVE",
    b"action { }",
    b"stop: true",
    b"action: stop",
    b"{",
    b"\xef\xbb\xbfaction: STOP",  # a UTF-8 byte order mark
    "action: STÖP".encode(),
)


@st.composite
def action_files(draw: st.DrawFn) -> bytes:
    """The bytes of a ``monolith_action`` file."""
    kind = draw(
        st.sampled_from(
            ["valid", "invalid", "prefix", "garbage", "non_utf8", "large", "text", "crlf"]
        )
    )
    if kind == "valid":
        return draw(st.sampled_from(VALID_ACTIONS))
    if kind == "invalid":
        return draw(st.sampled_from(INVALID_ACTIONS))
    if kind == "prefix":  # a file caught half-written
        full = draw(st.sampled_from(VALID_ACTIONS))
        return full[: draw(st.integers(0, len(full)))]
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    if kind == "non_utf8":
        head = draw(st.sampled_from(VALID_ACTIONS))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc", b"\xfe\xff"]))
        at = draw(st.integers(0, len(head)))
        return head[:at] + bad + head[at:]
    if kind == "large":
        pad = draw(st.sampled_from([b" ", b"\n", b"# pad\n", b"\r\n"]))
        times = draw(st.integers(1, 1 << 17))
        return pad * times + draw(st.sampled_from(VALID_ACTIONS + INVALID_ACTIONS))
    if kind == "crlf":
        return draw(st.sampled_from(VALID_ACTIONS)).replace(b"\n", b"\r\n")
    return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")


# ------------------------------------------------------------------------------ JSON helpers


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


def json_values(max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Any JSON value Python's ``json.loads`` can give (NaN and infinities included)."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(1 << 70), 1 << 70),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["run", "advance", "controller", "barrier", "0x10", "../x", "/abs", "."]),
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8) | st.sampled_from(KEYS), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


KEYS = (
    "format",
    "family",
    "description",
    "pins",
    "config",
    "steps",
    "op",
    "count",
    "seconds",
    "text",
    "base64",
    "path",
    "model_dir",
    "capacity",
    "workers",
    "index",
    "global_step",
    "fids",
    "gen",
    "batches",
    "dense",
    "ragged",
    "shape",
    "values",
    "name",
    "dtype",
)


# ------------------------------------------------------------------------------ scenarios

FAMILIES = ("slot_count", "controller", "feature_dump", "barrier", "hook_utils")
MODEL_DIRS = (".", "model", "a/b", "m.d", "x-1/y_2")
BARRIER_QUERIES = (
    "is_barrier_placed",
    "is_barrier_removed",
    "is_all_blocked",
    "is_none_blocked",
    "get_blocked_indices",
    "get_unblocked_indices",
)
# Polling periods and sleeps stay well above zero: every simulated wait then moves virtual
# time forward, so each run is bounded (see docs/testing.md on zero and tiny periods).
WAIT_SECONDS = (0.5, 1, 2, 5)
RUN_SECONDS = (0, 0.5, 1, 3)
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


def _with_count(draw: st.DrawFn, step: dict[str, Any], most: int = 3) -> dict[str, Any]:
    if draw(st.integers(0, 4)) == 0:
        step["count"] = draw(st.integers(0, most))
    return step


@st.composite
def value_lists(draw: st.DrawFn, max_literals: int = 12) -> list[Any]:
    """A fid value list: literals (ints or int strings) and small generators."""
    items: list[Any] = [json_int(f, draw) for f in draw(fid_tables(max_size=max_literals))]
    for _ in range(draw(st.integers(0, 2))):
        gen = draw(st.sampled_from(["range", "slot_range", "splitmix64", "uniform"]))
        spec: dict[str, Any] = {"gen": gen, "count": draw(st.integers(0, 20))}
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
    tables = [
        {
            "name": f"t{i}",
            "device": draw(st.sampled_from(["", "/job:ps/task:0", "/job:ps/task:1"])),
            "dim": draw(st.integers(0, 3)),
            "fids": draw(value_lists()),
        }
        for i in range(draw(st.integers(0, 3)))
    ]
    config: dict[str, Any] = {"model_dir": draw(st.sampled_from(MODEL_DIRS)), "tables": tables}
    if draw(st.integers(0, 5)) == 0:
        config["multi_hash_tables"] = draw(st.integers(1, 2))
    wrap = draw(st.sampled_from([None, "before", "after"]))
    if wrap:
        config["wrap"] = wrap
    steps = []
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["save", "save", "assign", "create_listener", "advance"]))
        if op == "save":
            step = {"op": "save", "global_step": _global_step(draw)}
        elif op == "assign":
            table = draw(st.integers(0, max(len(tables), 1)))  # sometimes out of range
            step = {"op": "assign", "table": table, "fids": draw(value_lists(max_literals=6))}
        elif op == "advance":
            step = _advance(draw)
        else:
            step = {"op": "create_listener"}
        steps.append(step)
    return _base("slot_count", config, steps)


@st.composite
def _workers(draw: st.DrawFn, capacity: int) -> list[dict[str, Any]]:
    indices = draw(st.lists(st.integers(1, capacity), unique=True, max_size=capacity))
    return [
        {
            "index": i,
            "runs": draw(st.integers(0, 4)),
            "run_seconds": draw(st.sampled_from(RUN_SECONDS)),
        }
        for i in indices
    ]


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
    placed = False
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, max_steps))):
        op = draw(
            st.sampled_from(
                ["place", "remove", "query", "wait", "advance", "start_workers", "join_workers"]
            )
        )
        if op == "join_workers" and placed:
            op = "remove"
        if op == "place":
            step = {"op": "place"}
            action = draw(st.sampled_from([None, "", "Stop", "stop", "Resume", "Ünïcode"]))
            if action is not None:
                step["action"] = action
            placed = True
        elif op == "remove":
            step = {"op": "remove"}
            placed = False
        elif op == "query":
            step = {"op": "query", "what": draw(st.sampled_from(BARRIER_QUERIES))}
        elif op == "wait":
            step = {"op": "wait", "index": draw(st.integers(-1, capacity))}
        elif op == "advance":
            step = _advance(draw)
        else:
            step = {"op": op}
        steps.append(step)
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
        config["workers"] = draw(_workers(capacity))
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, max_steps))):
        op = draw(
            st.sampled_from(
                ["run", "run", "write_action", "advance", "advance", "remove_file", "join_workers"]
            )
        )
        if op == "run":
            step = {"op": "run"}
            fetch = draw(st.sampled_from([None, "dummy", "stop_op", "trigger_save_op"]))
            if fetch:
                step["fetch"] = fetch
            step = _with_count(draw, step)
        elif op == "write_action":
            step = _write_action_step(draw)
        elif op == "advance":
            step = _advance(draw)
        elif op == "remove_file":
            prefix = "" if config["model_dir"] == "." else config["model_dir"] + "/"
            name = draw(st.sampled_from(["monolith_action", "monolith_action_response", "none"]))
            step = {"op": "remove_file", "path": prefix + name}
        else:
            step = {"op": "join_workers"}
        steps.append(step)
    steps += draw(
        _endings(["OutOfRangeError", "StopIteration", "RuntimeError", "KeyboardInterrupt"])
    )
    return _base("controller", config, steps)


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
    if form == "ragged":
        element = _float_elements(dtype) if dtype.startswith("float") else fids()
        if dtype == "int64":
            element = st.integers(0, I64_MAX)
        elif dtype == "int32":
            element = st.integers(0, (1 << 31) - 1)
        rows = draw(st.lists(st.lists(element, max_size=3), max_size=3))
        spec["ragged"] = [[_json_number(v, dtype, draw) for v in row] for row in rows]
        return spec
    array = draw(dense_features(dtypes=[dtype], max_rows=3, max_cols=3))
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
    elements = []
    for _ in range(draw(st.integers(0, 5))):
        names = draw(st.lists(feature_names(), unique=True, min_size=1, max_size=3))
        elements.append([draw(feature_specs(name)) for name in names])
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
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["run", "run", "run", "run_until_end", "advance"]))
        if op == "run":
            step: dict[str, Any] = {"op": "run"}
            fetch = draw(st.sampled_from([None, "train_op", "dummy"]))
            if fetch:
                step["fetch"] = fetch
            step = _with_count(draw, step)
        elif op == "advance":
            step = _advance(draw)
        else:
            step = {"op": op}
        steps.append(step)
        if op == "run_until_end":
            break  # the session is closed after it
    else:
        steps += draw(_endings(["OutOfRangeError", "StopIteration", "RuntimeError"]))
    return _base("feature_dump", config, steps)


@st.composite
def hook_utils_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    listeners = draw(st.lists(st.sampled_from(["before", "after", "plain"]), max_size=4))
    steps: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["begin", "save", "end", "call"]))
        step: dict[str, Any] = {"op": op}
        if op in ("save", "end"):
            step["global_step"] = _global_step(draw)
        elif op == "call" and listeners:
            step["listener"] = draw(st.integers(0, len(listeners) - 1))
            step["method"] = draw(st.sampled_from(["begin", "before_save", "after_save", "end"]))
            if step["method"] != "begin":
                step["global_step"] = _global_step(draw)
        elif op == "call":
            step = {"op": "begin"}
        steps.append(step)
    return _base("hook_utils", {"listeners": listeners}, steps)


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


# ------------------------------------------------------------------------------ damage


@st.composite
def corrupted(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base`` damaged once or a few times: truncated, a bit flipped, bytes inserted or
    deleted, or a 64-bit length field overwritten with a large value."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "length"]))
        if how == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif how == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "delete" and data:
            at = draw(st.integers(0, len(data) - 1))
            del data[at : at + draw(st.integers(1, 16))]
        elif how == "length" and len(data) >= 16:
            at = draw(st.integers(0, len(data) - 8))
            big = draw(st.sampled_from([len(data), 1 << 31, 1 << 63, U64]))
            data[at : at + 8] = struct.pack("<Q", big)
    return bytes(data)
