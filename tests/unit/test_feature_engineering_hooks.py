"""``reference.feature_engineering_hooks.FeatureEngineeringSaveHook``: the feature dump.

Expected file bytes are built by hand from the protobuf wire format (a small encoder
below, independent of the reference's), and cross-checked against protobuf's own
serialization of ``to_example_batch``.
"""

from __future__ import annotations

import itertools
import re
import struct
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.feature_engineering_hooks import (
    FeatureEngineeringSaveHook,
    RaggedValue,
    RunConfig,
    frame,
    to_example_batch,
)
from reference.runtime.graph import Read, Variable
from reference.runtime.session import MonitoredSession, OutOfRangeError

LOGGER = "reference.feature_engineering_hooks"

# -- a hand-written encoder of the wire format, the test oracle ---------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def fid_row(values: Sequence[int]) -> bytes:
    """A Feature with ``fid_v2_list`` (field 2) of packed fixed64 values."""
    packed = b"".join(struct.pack("<Q", v) for v in values)
    return _ld(2, _ld(1, packed) if values else b"")


def float_row(values: Sequence[float]) -> bytes:
    """A Feature with ``float_list`` (field 3) of packed float32 values."""
    return _ld(3, _ld(1, b"".join(struct.pack("<f", v) for v in values)))


def feature_list(name: str, rows: Iterable[bytes]) -> bytes:
    """A NamedFeatureList: name (1), features (2); type INDIVIDUAL (0) is not written."""
    return _ld(1, name.encode()) + b"".join(_ld(2, r) for r in rows)


def example_batch(lists: Iterable[bytes], batch_size: int) -> bytes:
    size = _varint(3 << 3) + _varint(batch_size) if batch_size else b""
    return b"".join(_ld(1, fl) for fl in lists) + size


def record(payload: bytes) -> bytes:
    return b"\0" * 8 + struct.pack("<Q", len(payload)) + payload


# -- a simulated input pipeline ------------------------------------------------------------


class Dataset:
    """An iterator's ``get_next``: one element per run, then ``OutOfRangeError``."""

    def __init__(self, elements: Iterable[dict[str, Any]]) -> None:
        self.elements = list(elements)
        self.position = 0
        self.next_element = Read("IteratorGetNext", self._next)

    def _next(self, store: Any) -> dict[str, Any]:
        if self.position >= len(self.elements):
            raise OutOfRangeError("End of sequence")
        self.position += 1
        return self.elements[self.position - 1]


def uuids(prefix: str = "u") -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter)}"


def dump(
    model_dir: Path,
    elements: Sequence[dict[str, Any]],
    cap: int = 100,
    config: RunConfig | None = None,
    init_run: bool = True,
) -> Dataset:
    """Train until the data runs out: an init run, then one run per element."""
    ds = Dataset(elements)
    hook = FeatureEngineeringSaveHook(
        config or RunConfig(model_dir=str(model_dir)), ds.next_element, cap=cap, uuid_fn=uuids()
    )
    with MonitoredSession([hook]) as sess:
        if init_run:
            sess.run(Variable("iterator_init", 0))
        for _ in range(len(elements) + 1):
            sess.run(ds.next_element)  # the last one raises OutOfRangeError
        pytest.fail("the dataset never ran out")
    return ds


def files(model_dir: Path) -> dict[str, bytes]:
    features = model_dir / "features"
    return {p.name: p.read_bytes() for p in sorted(features.iterdir())}


def ints(*rows: Sequence[int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def single(name: str, rows: Sequence[Sequence[int]]) -> bytes:
    """The record of a batch with one fid feature."""
    return record(example_batch([feature_list(name, [fid_row(r) for r in rows])], len(rows)))


# -- tests -------------------------------------------------------------------------------


def test_one_batch_exact_bytes(tmp_path: Path) -> None:
    dump(tmp_path, [{"a": ints([1, 2])}])
    payload = bytes.fromhex(
        "0a19"  # named_feature_list, 25 bytes
        "0a0161"  # name "a"
        "1214"  # feature, 20 bytes
        "1212"  # fid_v2_list, 18 bytes
        "0a10" + "0100000000000000" + "0200000000000000"  # packed fixed64 [1, 2]
        "1801"  # batch_size 1
    )
    assert files(tmp_path) == {"chief_u0.pb": b"\0" * 8 + struct.pack("<Q", 29) + payload}
    assert frame(payload) == record(payload)


def test_the_first_run_is_skipped_even_if_it_consumed_an_element(tmp_path: Path) -> None:
    elements = [{"a": ints([i])} for i in (10, 20, 30)]
    ds = dump(tmp_path, elements, init_run=False)
    assert ds.position == 3
    assert files(tmp_path) == {"chief_u0.pb": single("a", [[20]]) + single("a", [[30]])}


def test_the_hook_dumps_the_element_the_model_consumed_in_the_same_run(tmp_path: Path) -> None:
    elements = [{"a": ints([i])} for i in range(1, 4)]
    ds = dump(tmp_path, elements)
    assert ds.position == 3  # one element per run, shared by the model and the hook
    assert files(tmp_path) == {"chief_u0.pb": b"".join(single("a", [[i]]) for i in (1, 2, 3))}


def test_saves_at_cap_and_at_end(tmp_path: Path, logs: Any) -> None:
    elements = [{"a": ints([i])} for i in range(5)]
    dump(tmp_path, elements, cap=2)
    assert files(tmp_path) == {
        "chief_u0.pb": single("a", [[0]]) + single("a", [[1]]),
        "chief_u1.pb": single("a", [[2]]) + single("a", [[3]]),
        "chief_u2.pb": single("a", [[4]]),
    }
    features = tmp_path / "features"
    assert logs.messages(LOGGER) == [f"save to {features / f'chief_u{i}.pb'}" for i in range(3)]


def test_end_with_an_empty_buffer_creates_the_dir_and_logs_but_writes_no_file(
    tmp_path: Path, logs: Any
) -> None:
    dump(tmp_path, [{"a": ints([i])} for i in range(4)], cap=2)
    assert sorted(files(tmp_path)) == ["chief_u0.pb", "chief_u1.pb"]
    features = tmp_path / "features"
    assert logs.messages(LOGGER)[-1] == f"save to {features / 'chief_u2.pb'}"
    assert len(logs.messages(LOGGER)) == 3


def test_end_right_after_creation_saves_nothing_but_the_directory(
    tmp_path: Path, logs: Any
) -> None:
    model_dir = tmp_path / "model"
    hook = FeatureEngineeringSaveHook(RunConfig(str(model_dir)), None, uuid_fn=uuids())
    with MonitoredSession([hook]):
        pass
    assert list((model_dir / "features").iterdir()) == []
    assert logs.messages(LOGGER) == [f"save to {model_dir / 'features' / 'chief_u0.pb'}"]


@pytest.mark.parametrize(
    ("server_type", "index", "name"),
    [
        ("worker", 0, "chief_u0.pb"),
        ("worker", 3, "worker3_u0.pb"),
        ("ps", 0, "worker0_u0.pb"),
        ("ps", 2, "worker2_u0.pb"),
        ("chief", 0, "worker0_u0.pb"),
    ],
)
def test_file_naming(tmp_path: Path, server_type: str, index: int, name: str) -> None:
    config = RunConfig(model_dir=str(tmp_path), server_type=server_type, index=index)
    dump(tmp_path, [{"a": ints([1])}], config=config)
    assert list(files(tmp_path)) == [name]


def test_default_file_name_uses_a_time_based_uuid(tmp_path: Path) -> None:
    ds = Dataset([{"a": ints([1])}])
    hook = FeatureEngineeringSaveHook(RunConfig(str(tmp_path)), ds.next_element)
    with MonitoredSession([hook]) as sess:
        sess.run(Variable("init", 0))
        sess.run(ds.next_element)
    (name,) = files(tmp_path)
    match = re.fullmatch(r"chief_(.{36})\.pb", name)
    assert match is not None
    assert uuid.UUID(match.group(1)).version == 1
    assert str(uuid.UUID(match.group(1))) == match.group(1)


def test_dense_int_and_float_arrays(tmp_path: Path) -> None:
    batch = {
        "fids": np.array([[1, 2], [3, 4]], dtype=np.int64),
        "dense": np.array([[0.5, -1.25, 3.0]], dtype=np.float32),
        "doubles": np.array([[0.1]], dtype=np.float64),
    }
    dump(tmp_path, [batch])
    expected = example_batch(
        [
            feature_list("fids", [fid_row([1, 2]), fid_row([3, 4])]),
            feature_list("dense", [float_row([0.5, -1.25, 3.0])]),
            feature_list("doubles", [float_row([0.1])]),  # a double, stored as float32
        ],
        1,
    )
    assert files(tmp_path) == {"chief_u0.pb": record(expected)}


def test_ragged_values_with_empty_rows(tmp_path: Path) -> None:
    batch = {"r": RaggedValue([[7], [], [8, 9], []]), "f": RaggedValue([[], [1.5]])}
    dump(tmp_path, [batch])
    expected = example_batch(
        [
            feature_list("r", [fid_row([7]), fid_row([]), fid_row([8, 9]), fid_row([])]),
            feature_list("f", [fid_row([]), float_row([1.5])]),
        ],
        2,
    )
    assert fid_row([]) == b"\x12\x00"
    assert files(tmp_path) == {"chief_u0.pb": record(expected)}


def test_fids_at_or_above_2_pow_63_from_uint64(tmp_path: Path) -> None:
    fids = [1 << 63, (1 << 64) - 1, (0x7FFF << 48) | 5]
    dump(tmp_path, [{"a": np.array([fids], dtype=np.uint64)}])
    assert files(tmp_path) == {"chief_u0.pb": single("a", [fids])}


def test_a_negative_int64_fid_is_refused_by_protobuf(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as exc:
        dump(tmp_path, [{"a": ints([-1])}])
    assert str(exc.value) == "Value out of range: -1"
    assert list((tmp_path / "features").iterdir()) == []


def test_float_detection_looks_at_the_first_element_only(tmp_path: Path) -> None:
    dump(tmp_path, [{"a": RaggedValue([[1.5, 2]])}])
    expected = example_batch([feature_list("a", [float_row([1.5, 2.0])])], 1)
    assert files(tmp_path) == {"chief_u0.pb": record(expected)}


def test_an_int_first_row_with_a_float_later_is_refused_by_protobuf(tmp_path: Path) -> None:
    # [1, 2.5] goes to fid_v2_list.extend, which refuses the float.
    with pytest.raises(TypeError) as exc:
        dump(tmp_path, [{"a": RaggedValue([[1, 2.5]])}])
    assert str(exc.value) == "'float' object cannot be interpreted as an integer"


def test_a_1d_array_raises_type_error_at_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError) as exc:
        dump(tmp_path, [{"a": np.array([1, 2], dtype=np.int64)}])
    assert str(exc.value) == "object of type 'int' has no len()"
    assert list((tmp_path / "features").iterdir()) == []


@pytest.mark.parametrize(("order", "batch_size"), [(("two", "three"), 3), (("three", "two"), 2)])
def test_batch_size_is_the_row_count_of_the_last_key_and_key_order_is_kept(
    tmp_path: Path, order: tuple[str, str], batch_size: int
) -> None:
    values = {"two": ints([1], [2]), "three": ints([3], [4], [5])}
    dump(tmp_path, [{k: values[k] for k in order}])
    rows = {"two": [[1], [2]], "three": [[3], [4], [5]]}
    expected = example_batch(
        [feature_list(k, [fid_row(r) for r in rows[k]]) for k in order], batch_size
    )
    assert files(tmp_path) == {"chief_u0.pb": record(expected)}


def test_a_last_key_without_rows_leaves_batch_size_zero(tmp_path: Path) -> None:
    batch = {"a": ints([1]), "empty": np.zeros((0, 2), dtype=np.int64)}
    dump(tmp_path, [batch])
    expected = example_batch([feature_list("a", [fid_row([1])]), feature_list("empty", [])], 0)
    assert expected.endswith(b"\x0a\x07\x0a\x05empty")  # no batch_size field at all
    assert files(tmp_path) == {"chief_u0.pb": record(expected)}


@pytest.mark.parametrize("error", [OutOfRangeError("End of sequence"), StopIteration()])
def test_end_saves_the_buffer_when_the_block_ends_with_out_of_range_or_stop_iteration(
    tmp_path: Path, error: BaseException
) -> None:
    ds = Dataset([{"a": ints([1])}, {"a": ints([2])}])
    hook = FeatureEngineeringSaveHook(RunConfig(str(tmp_path)), ds.next_element, uuid_fn=uuids())
    with MonitoredSession([hook]) as sess:
        sess.run(Variable("init", 0))
        sess.run(ds.next_element)
        sess.run(ds.next_element)
        raise error
    assert files(tmp_path) == {"chief_u0.pb": single("a", [[1]]) + single("a", [[2]])}


def test_other_errors_skip_end_and_lose_the_buffer(tmp_path: Path, logs: Any) -> None:
    ds = Dataset([{"a": ints([1])}, {"a": ints([2])}])
    hook = FeatureEngineeringSaveHook(RunConfig(str(tmp_path)), ds.next_element, uuid_fn=uuids())
    with pytest.raises(RuntimeError), MonitoredSession([hook]) as sess:
        sess.run(Variable("init", 0))
        sess.run(ds.next_element)
        raise RuntimeError("training failed")
    assert not (tmp_path / "features").exists()
    assert logs.messages(LOGGER) == []


def test_begin_resets_the_buffer_and_step_counter(tmp_path: Path) -> None:
    ds = Dataset([{"a": ints([i])} for i in range(4)])
    hook = FeatureEngineeringSaveHook(RunConfig(str(tmp_path)), ds.next_element, uuid_fn=uuids())
    for _ in range(2):
        with MonitoredSession([hook]) as sess:
            sess.run(ds.next_element)  # skipped: the first run of each session
            sess.run(ds.next_element)
    assert files(tmp_path) == {"chief_u0.pb": single("a", [[1]]), "chief_u1.pb": single("a", [[3]])}


# -- property: the file is exactly protobuf's serialization, framed ------------------------

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
f32 = st.floats(width=32, allow_nan=False)
int_rows = st.lists(st.lists(u64, max_size=4), max_size=4)
float_rows = st.lists(st.lists(f32, min_size=1, max_size=4), max_size=4)


@st.composite
def features(draw: Any) -> Any:
    kind = draw(st.sampled_from(["ragged_int", "ragged_float", "dense_u64", "dense_f32"]))
    if kind == "ragged_int":
        return RaggedValue(draw(int_rows))
    if kind == "ragged_float":
        return RaggedValue(draw(float_rows))
    rows, cols = draw(st.integers(0, 3)), draw(st.integers(1, 3))
    if kind == "dense_u64":
        values = draw(st.lists(u64, min_size=rows * cols, max_size=rows * cols))
        return np.array(values, dtype=np.uint64).reshape(rows, cols)
    values = draw(st.lists(f32, min_size=rows * cols, max_size=rows * cols))
    return np.array(values, dtype=np.float32).reshape(rows, cols)


batches = st.dictionaries(st.text(max_size=5), features(), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(batches, min_size=1, max_size=3))
def test_file_bytes_are_protobufs_serialization_framed(elements: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        dump(Path(d), elements)
        written = files(Path(d))
    expected = b"".join(record(to_example_batch(b).SerializeToString()) for b in elements)
    assert written == {"chief_u0.pb": expected}
