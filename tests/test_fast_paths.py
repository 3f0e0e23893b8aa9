"""The fast paths give exactly what the slow, obviously-right code gives.

* :func:`reference.fast_example.encode_example_batch` vs protobuf building and serializing
  the ``ExampleBatch`` (``to_example_batch``): same bytes, or the same exception type.
* :func:`reference.fast_slots.count_slots_from_ids` vs a per-fid Python loop, and
  :func:`reference.fast_slots.ids_from_entry_dumps` vs protobuf parsing.
* The slot histogram a table keeps (what ``count_slots`` of its dump returns) vs the loop
  (more, on the benchmark's layouts and duplicate ratios, in ``tests/test_table_paths.py``).
* The numpy-backed :class:`reference.hash_table.HashTable` vs a dict model of the original
  (insert-or-overwrite, first-insert order), and the slot-count file it leads to.
* The feature dump hook's file and its order of effects.
* The optional compiled (numba) slot counter vs the numpy fallback: identical counts. The
  fallback is always tested; the compiled path when numba is installed (``nox -s fast``).
* The encoder and the hook share a leaf module (``reference.example_values``) instead of
  importing each other.

No TensorFlow here.
"""

from __future__ import annotations

import math
import os
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import fast_example
from reference.ckpt_info import (
    MAX_SLOT,
    FidSlotCountSaverListener,
    count_slots,
    render_ckpt_info,
    slot_of_v2,
)
from reference.fast_example import encode_example_batch
from reference.fast_slots import (
    count_slots_from_ids,
    count_slots_loop,
    ids_from_entry_dumps,
    slot_histogram,
)
from reference.feature_engineering_hooks import (
    FeatureEngineeringSaveHook,
    RaggedValue,
    RunConfig,
    frame,
    to_example_batch,
)
from reference.hash_table import HashTable, TableDump, to_int64
from reference.protos.embedding_hash_table_pb2 import EntryDump, OptimizerDump
from reference.runtime.graph import Graph
from reference.runtime.session import Session

FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
U64 = (1 << 64) - 1

# ---------------------------------------------------------------- strategies

INT_DTYPES = ["<i1", "<i2", "<i4", "<i8", ">i8", "<u1", "<u2", "<u4", "<u8", ">u8"]
FLOAT_DTYPES = ["<f2", "<f4", ">f4", "<f8", ">f8"]
NAN_BITS32 = [0x7F800001, 0x7FA00000, 0xFFC00001, 0x7FFFFFFF]
NAN_BITS64 = [0x7FF0000000000001, 0x7FF4000020000000, 0xFFF8000000000001, 0x7FFFFFFFFFFFFFFF]


def shapes_2d(max_side: int = 6) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, max_side), st.integers(0, max_side))


@st.composite
def int_arrays(draw: st.DrawFn, non_negative: bool = False) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(INT_DTYPES)))
    info = np.iinfo(dtype)
    elements = st.integers(0 if non_negative else int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shapes_2d(), elements=elements))


@st.composite
def float_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES)))
    array = draw(hnp.arrays(dtype, shapes_2d(), elements=hnp.from_dtype(dtype)))
    if array.size and dtype.itemsize > 2 and draw(st.booleans()):
        # Plant a NaN with a chosen payload (signalling ones included).
        bits = NAN_BITS32 if dtype.itemsize == 4 else NAN_BITS64
        raw = np.array([draw(st.sampled_from(bits))], dtype=f"u{dtype.itemsize}")
        array.flat[draw(st.integers(0, array.size - 1))] = raw.view(f"f{dtype.itemsize}")[0]
    return array


fids = st.integers(0, U64)
floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [math.nan, -0.0, 1e300, -1e300, 3.4028235677973366e38, 1e-45, 5e-324]
)


@st.composite
def ragged_rows(draw: st.DrawFn) -> RaggedValue:
    kind = draw(st.sampled_from(["int", "float", "empty"]))
    element = fids if kind == "int" else floats
    rows = draw(st.lists(st.lists(element, max_size=0 if kind == "empty" else 20), max_size=8))
    return RaggedValue(rows)


@st.composite
def ragged_splits(draw: st.DrawFn) -> RaggedValue:
    n = draw(st.integers(0, 30))
    if draw(st.booleans()):
        values = draw(hnp.arrays(np.dtype("<u8"), n))
    else:
        dtype = np.dtype(draw(st.sampled_from(["<f4", "<f8"])))
        values = draw(hnp.arrays(dtype, n, elements=hnp.from_dtype(dtype)))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=8)))
    return RaggedValue.from_row_splits(values, [0, *cuts, n])


values = st.one_of(int_arrays(non_negative=True), float_arrays(), ragged_rows(), ragged_splits())
names = st.text(max_size=12)
batches = st.dictionaries(names, values, max_size=5)


def slow_bytes(batch: dict[str, Any]) -> bytes:
    return to_example_batch(batch).SerializeToString()


def outcome(fn: Any, batch: Any) -> Any:
    """The bytes, or the exception type, ``fn(batch)`` gives."""
    try:
        return fn(batch)
    except Exception as e:  # the type is what is compared
        return type(e)


# ---------------------------------------------------------------- ExampleBatch encoder


@FAST
@given(int_arrays(non_negative=True))
def test_dense_int_rows_identical(array: np.ndarray) -> None:
    assert encode_example_batch({"f": array}) == slow_bytes({"f": array})


@FAST
@given(float_arrays())
def test_dense_float_rows_identical(array: np.ndarray) -> None:
    assert encode_example_batch({"f": array}) == slow_bytes({"f": array})


@FAST
@given(ragged_rows())
def test_ragged_rows_identical(value: RaggedValue) -> None:
    assert encode_example_batch({"r": value}) == slow_bytes({"r": value})


@FAST
@given(ragged_splits())
def test_ragged_row_splits_identical(value: RaggedValue) -> None:
    assert encode_example_batch({"r": value}) == slow_bytes({"r": value})


@FAST
@given(batches)
def test_mixed_batches_identical(batch: dict[str, Any]) -> None:
    assert encode_example_batch(batch) == slow_bytes(batch)


@FAST
@given(st.dictionaries(names, int_arrays() | float_arrays() | ragged_rows(), max_size=4))
def test_same_bytes_or_same_exception(batch: dict[str, Any]) -> None:
    # Negative fids included: wherever protobuf raises, the fast path raises the same type.
    assert outcome(encode_example_batch, batch) == outcome(slow_bytes, batch)


def test_big_rows_and_long_names_use_multibyte_varints() -> None:
    rng = np.random.default_rng(7)
    batch = {
        "n" * 300: rng.integers(0, 2**63, (3, 2000), dtype=np.int64),
        "ragged": RaggedValue([[1] * 20, [], [U64] * 5000, [2**63]]),
        "floats": RaggedValue.from_row_splits(rng.random(4000), [0, 0, 17, 4000]),
    }
    assert encode_example_batch(batch) == slow_bytes(batch)


def test_empty_rows_and_empty_batches() -> None:
    for batch in (
        {},
        {"a": np.zeros((0, 3), np.int64)},
        {"a": np.zeros((4, 0), np.float32)},
        {"a": np.zeros((2, 0), object)},
        {"a": RaggedValue([[], []])},
        {"a": RaggedValue([])},
        {"": np.ones((2, 2), np.uint64)},
        {"a": np.ones((3, 1), np.int8), "b": np.zeros((0, 1), np.int8)},  # batch_size 0
    ):
        assert encode_example_batch(batch) == slow_bytes(batch), batch
    assert (
        encode_example_batch({"a": RaggedValue([[]])})
        == b"\x0a\x07\x0a\x01a\x12\x02\x12\x00\x18\x01"
    )


def test_nan_payloads_follow_protobuf() -> None:
    f32 = np.array(NAN_BITS32, dtype=np.uint32).view(np.float32).reshape(2, 2)
    f64 = np.array(NAN_BITS64, dtype=np.uint64).view(np.float64).reshape(2, 2)
    snan = struct.unpack("<d", struct.pack("<Q", 0x7FF4000020000000))[0]
    for batch in ({"a": f32}, {"a": f64}, {"a": RaggedValue([[snan, math.nan]])}):
        assert encode_example_batch(batch) == slow_bytes(batch)


def test_non_contiguous_arrays() -> None:
    rng = np.random.default_rng(5)
    f32 = rng.random((4, 6)).astype(np.float32)
    f32[1, 2] = np.nan
    ints = rng.integers(0, 2**63, (6, 4), dtype=np.int64)
    for value in (f32.T, f32[:, ::2], f32[::-1], ints.T, ints[::2, 1:], np.asfortranarray(ints)):
        assert not value.flags.c_contiguous or value.base is not None
        assert encode_example_batch({"v": value}) == slow_bytes({"v": value})


@pytest.mark.parametrize(
    "batch",
    [
        {"a": np.arange(3)},  # 1-D: scalar rows
        {"a": np.zeros((), np.int64)},
        {"a": np.array([[1, -1]])},  # negative fid
        {"a": np.array([[True]])},
        {"a": np.zeros((1, 1, 1), np.int64)},
        {"a": np.array([["x"]])},
        {"a": np.array([[1 + 2j]])},
        {"a": RaggedValue([[-1]])},
        {"a": RaggedValue([[1 << 64]])},
        {"a": RaggedValue([[1, 2.5]])},
        {"a": RaggedValue([[1.5, 1 << 1100]])},
        {"a": RaggedValue([["s"]])},
        {"a": RaggedValue.from_row_splits(np.array([-3]), [0, 1])},
        {"a": RaggedValue.from_row_splits(np.zeros((2, 2), np.int64), [0, 2])},
        {"a": [[1, 2]]},  # no tolist()
        {1: np.ones((1, 1), np.int64)},  # a name that is not a string
        {"\ud800": np.ones((1, 1), np.int64)},  # not encodable as UTF-8
        {"ok": np.ones((1, 1), np.int64), "bad": np.arange(2)},
    ],
)
def test_bad_inputs_raise_what_protobuf_raises(batch: dict[Any, Any]) -> None:
    slow = outcome(slow_bytes, batch)
    assert isinstance(slow, type) and issubclass(slow, Exception)
    assert outcome(encode_example_batch, batch) is slow


def test_inputs_protobuf_accepts_by_fallback() -> None:
    # Not handled in bulk, but accepted by protobuf: the fallback gives its bytes.
    for batch in (
        {"a": RaggedValue([[1.5, True]])},  # float row with a bool
        {"a": RaggedValue([[np.float64(1.5)]])},  # numpy float: a float subclass
        {"a": RaggedValue([[1.5, 2]])},  # int in a float row
        {b"bytes-name": np.ones((1, 1), np.int64)},  # bytes name, valid UTF-8
        {"a": np.full((1, 2), np.nan, np.float16)},
        {"a": np.ones((2, 2), np.float16)},
    ):
        assert encode_example_batch(batch) == slow_bytes(batch), batch


# ---------------------------------------------------------------- the hook's file


def _hook(tmp_path: Any, uuids: list[str]) -> FeatureEngineeringSaveHook:
    hook = FeatureEngineeringSaveHook(RunConfig(str(tmp_path)), None, uuid_fn=uuids.pop)
    hook.begin()
    return hook


@FAST
@given(st.lists(batches, max_size=3))
def test_hook_file_is_the_framed_protobuf_stream(tmp_path_factory: Any, batch_list: list) -> None:
    tmp_path = tmp_path_factory.mktemp("dump")
    hook = _hook(tmp_path, ["u1"])
    hook._batch_list.extend(batch_list)
    hook._save_features()
    path = tmp_path / "features" / "chief_u1.pb"
    expected = b"".join(frame(slow_bytes(b)) for b in batch_list)
    assert path.exists() == bool(batch_list)
    if batch_list:
        assert path.read_bytes() == expected


def test_hook_raises_before_creating_the_file(tmp_path: Any) -> None:
    uuids = ["u2", "u1"]
    hook = _hook(tmp_path, uuids)
    hook._batch_list.extend([{"a": np.ones((1, 1), np.int64)}, {"a": np.array([[-1]])}])
    with pytest.raises(ValueError):
        hook._save_features()
    assert uuids == ["u2"]  # the name was drawn first
    assert os.listdir(tmp_path / "features") == []


# ---------------------------------------------------------------- slot counting

ids_64 = st.integers(-(1 << 63), (1 << 63) - 1)


@FAST
@given(st.lists(ids_64, max_size=300), st.integers(1, 3))
def test_slot_counts_match_the_per_fid_loop(ids: list[int], threads: int) -> None:
    expected = count_slots_loop(ids)
    signed = np.array(ids, dtype=np.int64)
    assert np.array_equal(count_slots_from_ids(signed, threads=threads), expected)
    assert np.array_equal(count_slots_from_ids(signed.view(np.uint64)), expected)
    assert np.array_equal(count_slots_from_ids(signed.astype(">i8")), expected)
    assert np.array_equal(count_slots_from_ids(signed[::-1]), expected)


def test_slot_counts_of_small_dtypes_sign_extend() -> None:
    ids = np.array([-1, 0, 5, -(1 << 31)], dtype=np.int32)
    assert np.array_equal(count_slots_from_ids(ids), count_slots_loop(ids.tolist()))


def test_slot_counts_over_many_chunks_and_threads() -> None:
    rng = np.random.default_rng(3)
    ids = rng.integers(0, U64, 1_300_003, dtype=np.uint64, endpoint=True)
    slots = (ids >> np.uint64(48)) & np.uint64(0x7FFF)
    expected = np.bincount(slots.astype(np.int64), minlength=MAX_SLOT)
    for threads in (None, 1, 2, 5):
        assert np.array_equal(count_slots_from_ids(ids, threads=threads), expected)


def test_a_dump_is_counted_from_the_histogram_the_table_keeps() -> None:
    session, table = Session(), HashTable("t")
    session.run(table.assign(np.array([3 << 48, 5, -1, 1 << 48], dtype=np.int64)))
    dump = session.run(table.dump())
    assert dump.sorted_ids is not None
    assert dump.sorted_ids.tolist() == [-1, 5, 1 << 48, 3 << 48]
    counts = count_slots(dump)
    assert {i: int(c) for i, c in enumerate(counts) if c} == {0: 1, 1: 1, 3: 1, 0x7FFF: 1}
    assert counts.flags.writeable  # a fresh vector: the caller may add into it
    counts[:] = 0
    assert np.array_equal(count_slots(dump), count_slots_loop([3 << 48, 5, -1, 1 << 48]))
    session.run(table.assign(np.array([5, 2 << 48, 2 << 48], dtype=np.int64)))
    later = session.run(table.dump())
    assert np.array_equal(count_slots(later), count_slots_loop(later.ids.tolist()))
    assert np.array_equal(count_slots(dump), count_slots_loop(dump.ids.tolist()))  # unchanged
    built = HashTable.from_ids("u", np.array([7, 8, 1 << 60], dtype=np.int64))
    built_dump = Session().run(built.dump())
    assert built_dump.sorted_ids is None  # no sorted copy; the histogram is counted when asked
    assert np.array_equal(count_slots(built_dump), count_slots_loop([7, 8, 1 << 60]))


def test_the_default_thread_count_is_used_past_the_parallel_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reference import fast_slots

    rng = np.random.default_rng(4)
    ids = rng.integers(-(1 << 63), (1 << 63) - 1, 600_000, dtype=np.int64)
    expected = count_slots_loop(ids.tolist())
    monkeypatch.setattr(fast_slots, "PARALLEL_THRESHOLD", 1 << 10)
    assert fast_slots.usable_cpus() >= 1
    assert np.array_equal(count_slots_from_ids(ids, compiled=False), expected)


def test_count_slots_takes_a_dump_an_id_array_or_serialized_entries() -> None:
    ids = np.array([1 << 48, 5, -1, 3 << 48, 1 << 48 | 7], dtype=np.int64)
    expected = count_slots_loop(ids.tolist())
    session, table = Session(), HashTable("t")
    session.run(table.assign(ids))
    dump = session.run(table.dump())
    assert np.array_equal(count_slots(dump), expected)
    assert np.array_equal(count_slots(ids), expected)
    assert np.array_equal(count_slots(dump.serialized()), expected)


def test_slot_counting_rejects_non_integers() -> None:
    with pytest.raises(TypeError):
        count_slots_from_ids(np.zeros(3, np.float64))
    with pytest.raises(TypeError):
        count_slots_from_ids(np.zeros(3, bool))


@st.composite
def entry_dumps(draw: st.DrawFn) -> bytes:
    """Valid ``EntryDump`` bytes: canonical, with extra fields, reordered or repeated ids."""
    fid = draw(ids_64)
    num = draw(st.lists(st.floats(width=32), max_size=4))
    shape = draw(st.sampled_from(["canonical", "full", "no-id", "num-first", "id-twice"]))
    if shape == "canonical":
        return EntryDump(id=fid, num=num).SerializeToString()
    if shape == "full":
        return EntryDump(
            id=fid, num=num, opt=OptimizerDump(), last_update_ts_sec=draw(st.integers(0, 2**40))
        ).SerializeToString()
    if shape == "no-id":
        return EntryDump(num=num).SerializeToString()
    id_bytes = b"\x09" + struct.pack("<q", fid)
    num_bytes = b"".join(b"\x15" + struct.pack("<f", x) for x in num)
    if shape == "num-first":
        return num_bytes + id_bytes
    return b"\x09" + struct.pack("<q", draw(ids_64)) + num_bytes + id_bytes


@FAST
@given(st.lists(entry_dumps(), max_size=40))
def test_ids_from_entry_dumps_match_protobuf(entries: list[bytes]) -> None:
    expected = [EntryDump.FromString(e).id for e in entries]
    assert ids_from_entry_dumps(entries).tolist() == expected
    loop = count_slots_loop(expected)
    assert np.array_equal(count_slots(entries), loop)


def test_ids_from_entry_dumps_raises_protobuf_errors() -> None:
    from google.protobuf.message import DecodeError

    with pytest.raises(DecodeError):
        ids_from_entry_dumps([EntryDump(id=1).SerializeToString(), b"\x09\x01"])


# ---------------------------------------------------------------- the hash table


class DictTable:
    """The original stand-in: a dict fid -> embedding list, dumped through protobuf."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.entries: dict[int, list[float]] = {}

    def assign(self, fids: list[int], embeddings: list[list[float]] | None) -> None:
        for i, fid in enumerate(fids):
            key = to_int64(fid)
            self.entries[key] = list(embeddings[i]) if embeddings is not None else [0.0] * self.dim

    def dump(self) -> list[bytes]:
        return [EntryDump(id=f, num=n).SerializeToString() for f, n in self.entries.items()]


any_fid = st.integers(-(1 << 63), U64) | st.integers(-3, 3)


@st.composite
def assigns(draw: st.DrawFn) -> tuple[list[int], list[list[float]] | None, bool]:
    fid_list = draw(st.lists(any_fid, max_size=12))
    embeddings = None
    if draw(st.booleans()):
        embeddings = draw(
            st.lists(
                st.lists(st.floats(width=32), max_size=3),
                min_size=len(fid_list),
                max_size=len(fid_list),
            )
        )
    return fid_list, embeddings, draw(st.booleans())


@FAST
@given(st.integers(0, 3), st.lists(assigns(), max_size=5))
def test_table_matches_the_dict_model(dim: int, steps: list) -> None:
    session, table, model = Session(), HashTable("t", dim=dim), DictTable(dim)
    for fid_list, embeddings, as_array in steps:
        fids = np.array([f & U64 for f in fid_list], dtype=np.uint64) if as_array else fid_list
        session.run(table.assign(fids, embeddings))
        model.assign(fid_list, embeddings)
    dump = session.run(table.dump())
    assert isinstance(dump, TableDump)
    assert dump.ids.tolist() == list(model.entries)
    assert dump.serialized() == model.dump()
    assert dump == model.dump() and list(dump) == model.dump() and len(dump) == len(model.entries)
    assert np.array_equal(count_slots(dump), count_slots_loop(list(model.entries)))


@FAST
@given(st.lists(any_fid.map(lambda f: f & U64), max_size=40), st.integers(0, 2))
def test_from_ids_is_assign_on_an_empty_table(fid_list: list[int], dim: int) -> None:
    built = HashTable.from_ids("a", np.array(fid_list, dtype=np.uint64), dim=dim)
    assigned = HashTable("b", dim=dim)
    session = Session()
    session.run(assigned.assign(fid_list))
    a, b = session.run([built.dump(), assigned.dump()])
    assert a.ids.tolist() == b.ids.tolist()
    assert a.serialized() == b.serialized()
    session.run(built.assign(fid_list[:3], [[1.0]] * min(3, len(fid_list))))
    model = DictTable(dim)
    model.assign(fid_list, None)
    model.assign(fid_list[:3], [[1.0]] * min(3, len(fid_list)))
    assert session.run(built.dump()).serialized() == model.dump()


def test_from_ids_uses_a_read_only_array_in_place() -> None:
    ids = np.arange(10, dtype=np.int64)
    ids.flags.writeable = False
    table = HashTable.from_ids("t", ids, assume_unique=True)
    assert np.shares_memory(Session().run(table.dump()).ids, ids)
    writable = np.arange(10, dtype=np.int64)
    table = HashTable.from_ids("t", writable)
    writable[0] = 99
    assert Session().run(table.dump()).ids[0] == 0


def test_table_errors_happen_when_the_original_raised_them() -> None:
    session, table = Session(), HashTable("t")
    with pytest.raises(IndexError):
        session.run(table.assign([1, 2], [[1.0]]))  # fewer embeddings than fids, at run
    assert session.run(table.dump()).ids.tolist() == []  # nothing written
    session.run(table.assign([1], [["x"]]))
    with pytest.raises(TypeError):
        session.run(table.dump())  # protobuf rejects the value when the entry is dumped
    with pytest.raises(TypeError):
        table.assign([1.5])  # to_int64 at graph-building time


def test_table_dim_is_read_when_zero_entries_are_made() -> None:
    session, table, model = Session(), HashTable("t", dim=1), DictTable(1)
    for dim, fid_list, embeddings in [
        (1, [1, 2], None),
        (3, [2, 3], None),  # a later dim applies to the entries written then
        (0, [4], [[0.5, 1.5]]),
        (0, [1, 5], None),
    ]:
        table.dim = model.dim = dim
        session.run(table.assign(fid_list, embeddings))
        model.assign(fid_list, embeddings)
    assert session.run(table.dump()).serialized() == model.dump()
    odd = HashTable("odd", dim="x")  # type: ignore[arg-type]
    session.run(odd.assign([7], [[1.0]]))  # dim unused with explicit embeddings
    with pytest.raises(TypeError):
        session.run(odd.assign([8]))  # [0.0] * "x"


def _slow_before_save_text(tables: list[tuple[str, list[int]]]) -> str:
    per_device: dict[str, np.ndarray] = {}
    for device, fid_list in tables:
        counts = np.zeros(MAX_SLOT, np.int64)
        for fid in dict.fromkeys(to_int64(f) for f in fid_list):
            counts[min(slot_of_v2(fid), MAX_SLOT - 1)] += 1
        per_device[device] = per_device.get(device, np.zeros(MAX_SLOT, np.int64)) + counts
    total = np.sum(list(per_device.values()), axis=0)
    return render_ckpt_info(total)


@FAST
@given(st.lists(st.tuples(st.sampled_from(["", "ps0", "ps1"]), st.lists(any_fid)), min_size=1))
def test_slot_count_file_is_unchanged(tmp_path_factory: Any, tables: list) -> None:
    model_dir = tmp_path_factory.mktemp("ckpt")
    graph, session = Graph(), Session()
    for i, (device, fid_list) in enumerate(tables):
        session.run(HashTable(f"t{i}", device=device, graph=graph).assign(fid_list))
    FidSlotCountSaverListener(str(model_dir), graph).before_save(session, 7)
    text = (model_dir / "ckpt.info-7").read_text(encoding="utf-8")
    assert text == _slow_before_save_text(tables)


def test_fast_example_module_names() -> None:
    assert fast_example.varint(300) == b"\xac\x02"
    assert fast_example.varint(0) == b"\x00"


def test_the_encoder_and_the_hook_share_a_leaf_instead_of_importing_each_other() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "reference"

    def imported(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text(encoding="utf-8"))
        return {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        } | {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}

    assert "reference.feature_engineering_hooks" not in imported("fast_example")
    leaf = imported("example_values")
    assert not {
        m for m in leaf if m.startswith("reference.") and m != "reference.protos.example_pb2"
    }
    assert "reference.example_values" in imported("fast_example")
    assert "reference.example_values" in imported("feature_engineering_hooks")
    # The hook module still names them (the protocol testees patch ``frame`` there).
    import reference.example_values as leaf_module
    import reference.feature_engineering_hooks as hooks

    assert hooks.RaggedValue is leaf_module.RaggedValue and hooks.frame is leaf_module.frame
    assert hooks.to_example_batch is leaf_module.to_example_batch


@FAST
@given(
    st.lists(st.integers(-4, 4) | any_fid, max_size=300),
    st.lists(st.integers(-6, 6), max_size=300),
)
def test_first_occurrences_keep_the_first_of_each_id(first: list[int], second: list[int]) -> None:
    from reference.hash_table import _first_occurrences

    ids = np.array([to_int64(f) for f in first], dtype=np.int64)
    in_order, sorted_ids = _first_occurrences(ids)
    assert in_order.tolist() == list(dict.fromkeys(ids.tolist()))
    assert sorted_ids.tolist() == sorted(set(ids.tolist()))
    # Heavily duplicated assigns on top of each other, against the dict model.
    session, table, model = Session(), HashTable("t", dim=1), DictTable(1)
    for step in (first, second, first[::-1]):
        session.run(table.assign(np.array([f & U64 for f in step], dtype=np.uint64)))
        model.assign(step, None)
    assert session.run(table.dump()).serialized() == model.dump()


# ---------------------------------------------------------------- compiled (numba) paths


def _numba_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _slot_inputs() -> list[np.ndarray]:
    from reference.fast_slots import COMPILED_MIN

    rng = np.random.default_rng(7)
    n = COMPILED_MIN * 3 + 5  # past the compiled threshold, not a multiple of anything
    every_bit = rng.integers(0, U64, n, dtype=np.uint64, endpoint=True)
    few_slots = rng.integers(0, 1 << 16, 40, dtype=np.uint64)[rng.integers(0, 40, n)] << 48
    # Sorted ids: long runs of one slot, where neighbours bump the same counter.
    in_order = np.sort(every_bit.view(np.int64))
    return [
        every_bit,
        every_bit.view(np.int64),
        few_slots | np.uint64(3),
        np.zeros(n, np.int64),
        in_order,
        np.sort(few_slots.view(np.int64)),
    ]


def test_slot_counting_fallback_is_the_numpy_path() -> None:
    for ids in _slot_inputs():
        expect = count_slots_loop(ids.tolist())
        for threads in (1, 3):
            assert np.array_equal(count_slots_from_ids(ids, threads, compiled=False), expect)
            assert np.array_equal(count_slots_from_ids(ids, threads), expect)


@pytest.mark.skipif(not _numba_installed(), reason="the fast extra (numba) is not installed")
def test_compiled_slot_counting_is_identical_to_numpy() -> None:
    for ids in _slot_inputs():
        numpy_counts = count_slots_from_ids(ids, compiled=False)
        for threads in (1, 2, 3):
            got = count_slots_from_ids(ids, threads, compiled=True)
            assert got.dtype == np.int64 and np.array_equal(got, numpy_counts)
            histogram = slot_histogram(ids, threads, compiled=True)
            assert np.array_equal(histogram, slot_histogram(ids, threads, compiled=False))
            assert np.array_equal(histogram, numpy_counts[: len(histogram)])
        for tail in range(1, 5):  # the kernel's four counter rows, and the ids after them
            part = ids[:tail]
            assert np.array_equal(
                count_slots_from_ids(part, compiled=True), count_slots_loop(part.tolist())
            )
    assert np.array_equal(
        count_slots_from_ids(np.array([-1, 1 << 48], dtype=np.int64), compiled=True),
        count_slots_loop([-1, 1 << 48]),
    )


@pytest.mark.parametrize("layout", ["clustered", "200 slots", "uniform"])
def test_the_kept_histogram_is_the_same_on_the_numpy_and_compiled_paths(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The layouts real tables hold (tests/test_table_paths.py), each id twice, large enough
    # for the compiled loop (when numba is installed) to count the assign's new ids.
    from test_table_paths import layout_ids, model_ids, repeated

    from reference import fast_slots

    fids = repeated(layout_ids(layout, fast_slots.COMPILED_MIN + 1000, seed=5), 2)
    expected = count_slots_loop(model_ids(fids))

    def counted() -> np.ndarray:
        session, table = Session(), HashTable("t")
        session.run(table.assign(fids))
        return count_slots(session.run(table.dump()))

    assert np.array_equal(counted(), expected)  # compiled when available
    assert np.array_equal(slot_histogram(fids, compiled=False), expected[: 1 << 15] * 2)
    monkeypatch.setattr(fast_slots, "_compiled", [None])  # the numpy path
    assert np.array_equal(counted(), expected)


@st.composite
def sorted_table_and_query(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """A table's sorted distinct ids and an assign's sorted distinct ids: some of the
    table's, some new (extremes, neighbours, runs in one gap)."""
    ints = st.integers(-(1 << 63), (1 << 63) - 1) | st.integers(-3, 3)
    old = sorted(draw(st.sets(ints, max_size=60)))
    present = draw(st.lists(st.sampled_from(old), max_size=20)) if old else []
    query = sorted(set(present) | draw(st.sets(ints, max_size=30)))
    return np.array(old, dtype=np.int64), np.array(query, dtype=np.int64)


@FAST
@given(sorted_table_and_query())
def test_the_sorted_union_is_union1d_on_both_paths(ids: tuple[np.ndarray, np.ndarray]) -> None:
    from reference import fast_slots
    from reference.fast_slots import compiled_merge
    from reference.hash_table import _union

    old, query = ids
    found, merged = _union(old, query)  # a small table: binary search and np.insert
    assert np.array_equal(found, np.isin(query, old))
    assert np.array_equal(merged, np.union1d(old, query))
    merge = compiled_merge()
    if merge is not None:  # the compiled kernel, called directly at any size, in place
        found = np.zeros(len(query), dtype=bool)
        buf = np.full(len(old) + len(query) + 3, 7, dtype=np.int64)
        buf[: len(old)] = old
        w = merge(buf, len(old), query, found)
        assert np.array_equal(found, np.isin(query, old))
        assert np.array_equal(buf[:w], np.union1d(old, query))
        assert buf[w:].tolist() == [7] * (len(buf) - w)  # nothing written past the union
        kernels = fast_slots._kernels()  # both ways the merge finds the query ids' places
        for find in (kernels.find_scanning, kernels.find_searching):
            found = np.zeros(len(query), dtype=bool)
            at = np.full(len(query), -1, dtype=np.int64)
            new = find(old, len(old), query, found, at)
            assert np.array_equal(at, np.searchsorted(old, query))
            assert np.array_equal(found, np.isin(query, old))
            assert new == len(query) - found.sum()


@pytest.mark.parametrize("compiled", [True, False])
def test_later_assigns_into_a_large_table_merge_alike(
    compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From COMPILED_MIN ids on, the sorted copy is merged by the compiled kernel when numba
    # is installed; np.insert otherwise. Same sorted copy, same entries.
    from reference import fast_slots

    if not compiled:
        monkeypatch.setattr(fast_slots, "_compiled", [None])
    rng = np.random.default_rng(10)
    first = rng.integers(-(1 << 63), (1 << 63) - 1, fast_slots.COMPILED_MIN + 10, dtype=np.int64)
    session, table, model = Session(), HashTable("t"), DictTable(1)
    for fids in (first, rng.choice(first, 500), rng.integers(0, 1 << 62, 2000), first[:3] - 1):
        session.run(table.assign(fids))
        model.assign(fids.tolist(), None)
    dump = session.run(table.dump())
    assert dump.ids.tolist() == list(model.entries)
    assert dump.sorted_ids.tolist() == sorted(model.entries)
    assert np.array_equal(count_slots(dump), count_slots_loop(list(model.entries)))


@pytest.mark.skipif(_numba_installed(), reason="numba is installed")
def test_requiring_the_compiled_path_without_numba_says_what_to_install() -> None:
    with pytest.raises(ImportError, match=r"numba.*\[fast\]"):
        count_slots_from_ids(np.arange(10, dtype=np.int64), compiled=True)


def test_the_compiled_path_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from reference import fast_slots

    monkeypatch.setenv("MONOLITH_PARITY_COMPILED", "0")
    monkeypatch.setattr(fast_slots, "_compiled", [])
    assert fast_slots.compiled_kernel() is None
    ids = _slot_inputs()[0]
    assert np.array_equal(count_slots_from_ids(ids), count_slots_from_ids(ids, compiled=False))


mixed_element = st.one_of(
    st.integers(-2, 3), st.integers(0, U64), st.floats(width=32), st.booleans(), st.just(1 << 64)
)


@FAST
@given(
    st.lists(st.lists(mixed_element, max_size=4), max_size=12),
    st.sampled_from(["rows", "splits-like"]),
)
def test_python_rows_of_any_mix_match_protobuf(rows: list[list[Any]], form: str) -> None:
    # Rows may mix fid and float rows (each row's first value picks its list), bools, negative
    # or too-large fids: the bytes or the exception type of protobuf, for few and many rows.
    batch = {"a": RaggedValue(rows)}
    if form == "splits-like":
        batch = {"a": RaggedValue(rows * 3), "b": RaggedValue([[1], [2.5]])}
    assert outcome(encode_example_batch, batch) == outcome(slow_bytes, batch)
