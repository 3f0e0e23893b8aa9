"""The hash table's bulk paths against the plain code they stand in for.

What a real table holds: ids in clusters of about 1000 slots, 200 slots of 48-bit hashes,
or uniform 64-bit fids; each assigned once, twice or ten times per assign. For each, an
assign (first or later) must leave exactly the entries a dict fid -> embedding gets
(insertion order, deduplicated), the sorted copy must be those ids sorted, and the slot
counts of the dump (the histogram the table keeps) must be those of the per-fid loop
``count_slots_loop``. The dedup's two modes (the two sorts one after the other, or at once in
two threads), its shared-hash resolution (forced with weak hashes), the in-place appends of
later assigns are each pinned (the numpy and numba histograms on these layouts, in
``tests/test_fast_paths.py``, which ``nox -s fast`` runs with numba). No TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference import hash_table
from reference.ckpt_info import MAX_SLOT, count_slots
from reference.fast_slots import count_slots_loop
from reference.hash_table import (
    HashTable,
    TableDump,
    TableState,
    _first_occurrences,
    _merge,
    to_int64,
)
from reference.runtime.session import Session

U64 = (1 << 64) - 1
LAYOUTS = ("clustered", "200 slots", "uniform")
RATIOS = (1, 2, 10)


def layout_ids(layout: str, distinct: int, seed: int = 0) -> np.ndarray:
    """``distinct`` distinct int64 fids of a layout (the benchmark's, smaller)."""
    rng = np.random.default_rng(seed)
    if layout == "clustered":  # 1000 random tops (sign bit + 15-bit slot), unique low bits
        tops = rng.integers(0, 1 << 16, 1000, dtype=np.uint64)[rng.integers(0, 1000, distinct)]
        fids = (tops << np.uint64(48)) | rng.permutation(distinct).astype(np.uint64)
    elif layout == "200 slots":  # v2 fids: 200 slots, a 48-bit hash below them
        slots = rng.choice(1 << 15, 200, replace=False).astype(np.uint64)
        fids = (slots[rng.integers(0, 200, distinct)] << np.uint64(48)) | rng.integers(
            0, 1 << 48, distinct, dtype=np.uint64
        )
    else:  # uniform 64-bit fids
        fids = rng.integers(0, U64, distinct, dtype=np.uint64, endpoint=True)
    return np.unique(fids.view(np.int64))[rng.permutation(len(np.unique(fids)))]


def repeated(ids: np.ndarray, ratio: int, seed: int = 1) -> np.ndarray:
    """Every id ``ratio`` times, shuffled."""
    out = np.repeat(ids, ratio)
    return out[np.random.default_rng(seed).permutation(len(out))]


def model_ids(*assigns: np.ndarray | list[int]) -> list[int]:
    """The entries a dict fid -> embedding holds after these assigns, in insertion order."""
    entries: dict[int, None] = {}
    for fids in assigns:
        for fid in fids.tolist() if isinstance(fids, np.ndarray) else fids:
            entries.setdefault(to_int64(fid), None)
    return list(entries)


def check_table(dump: Any, expected: list[int]) -> None:
    assert dump.ids.tolist() == expected
    assert dump.sorted_ids is None or dump.sorted_ids.tolist() == sorted(expected)
    assert np.array_equal(count_slots(dump), count_slots_loop(expected))


@pytest.fixture(params=["one after the other", "at once"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dedup's two sorts one after the other, or at once in two threads (forced from
    small sizes on, whatever the machine's CPUs)."""
    if request.param == "at once":
        monkeypatch.setattr(hash_table, "PARALLEL_SORT_MIN", 64)
        monkeypatch.setattr(hash_table, "usable_cpus", lambda: 2)
    else:
        monkeypatch.setattr(hash_table, "usable_cpus", lambda: 1)
    return request.param


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_first_assign_matches_the_dict_model(layout: str, ratio: int, mode: str) -> None:
    fids = repeated(layout_ids(layout, 6000), ratio)
    session, table = Session(), HashTable("t")
    session.run(table.assign(fids))
    check_table(session.run(table.dump()), model_ids(fids))


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_later_assigns_match_the_dict_model(layout: str, ratio: int, mode: str) -> None:
    ids = layout_ids(layout, 9000, seed=2)
    first, rest = ids[:6000], ids[6000:]
    session, table = Session(), HashTable("t")
    session.run(table.assign(repeated(first, ratio)))
    steps = [repeated(first, ratio)]
    rng = np.random.default_rng(3)
    for part in np.array_split(rest, 4):
        # New ids, ids already present, and repeats of both, shuffled together.
        step = repeated(np.concatenate([part, rng.choice(first, 200)]), ratio, seed=len(steps))
        session.run(table.assign(step))
        steps.append(step)
        check_table(session.run(table.dump()), model_ids(*steps))
    session.run(table.assign(first[:10]))  # nothing new: the same entries
    check_table(session.run(table.dump()), model_ids(*steps))


@pytest.mark.parametrize("weak_hash", [1, 0, 3])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_shared_hashes_are_resolved_id_by_id(
    layout: str, weak_hash: int, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1: the hash is the id itself, so ids that differ only in their low bits share a key
    # group; 0: every id in one group; 3: a poor mix. The result must not depend on it.
    monkeypatch.setattr(hash_table, "_HASH", np.uint64(weak_hash))
    ids = layout_ids(layout, 3000, seed=4)
    near = (ids & ~np.int64(0xFF)) | np.int64(1)  # neighbours in the low bits
    for fids in (repeated(ids, 2), repeated(np.concatenate([ids, near]), 3), near):
        in_order, uniq = _first_occurrences(fids)
        assert in_order.tolist() == model_ids(fids)
        assert uniq.tolist() == sorted(set(fids.tolist()))


EDGE_CASES = {
    "empty": [],
    "one id": [5],
    "all duplicates": [7] * 1000,
    "two values, all duplicates": [9, 9, -9] * 400,
    "negative and high-bit": [-1, -(1 << 63), (1 << 63) - 1, 0, -1, 1 << 62, -(1 << 62)] * 50,
    # Tops at and past the 15-bit slot: the sign bit set, every slot bit set.
    "slots above the mask": [
        (top << 48) | low for top in (0x7FFF, 0x8000, 0xFFFF) for low in (0, 1)
    ]
    * 30,
    "sorted, with repeats": sorted([1, 2, 2, 3, 3, 3] * 100),
    "descending": list(range(2000, 0, -1)) * 2,
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases(case: str, mode: str) -> None:
    fids = [f & U64 for f in EDGE_CASES[case]]
    as_array = np.array(fids, dtype=np.uint64)
    for given_fids in (as_array, fids):
        session, table = Session(), HashTable("t")
        session.run(table.assign(given_fids))
        session.run(table.assign(given_fids[::-1]))  # again, reversed: nothing new
        dump = session.run(table.dump())
        check_table(dump, model_ids(fids))
        counts = count_slots(dump)
        assert counts.shape == (MAX_SLOT,) and not counts[1 << 15 :].any()  # nothing past 32767


def test_later_assigns_append_in_place_and_earlier_snapshots_keep_their_ids() -> None:
    session, table = Session(), HashTable("t")
    session.run(table.assign(np.arange(1000, dtype=np.int64)))
    first = session.run(table.dump())
    session.run(table.assign(np.arange(1000, 1010, dtype=np.int64)))  # grows the buffer
    second = session.run(table.dump())
    session.run(table.assign(np.arange(1010, 1020, dtype=np.int64)))  # room left: in place
    third = session.run(table.dump())
    assert np.shares_memory(second.ids, third.ids)
    assert first.ids.tolist() == list(range(1000))
    assert second.ids.tolist() == list(range(1010))
    assert third.ids.tolist() == list(range(1020))
    assert not third.ids.flags.writeable


def test_a_branch_from_an_older_snapshot_copies_instead_of_overwriting() -> None:
    base = TableState(np.arange(100, dtype=np.int64), 1)
    grown = _merge(base, np.array([100, 101], dtype=np.int64), None, 1)
    tip = _merge(grown, np.array([102], dtype=np.int64), None, 1)  # in place after grown's
    branch = _merge(grown, np.array([7, 555, 556], dtype=np.int64), None, 1)  # from grown again
    assert np.shares_memory(grown.ids, tip.ids)
    assert not np.shares_memory(grown.ids, branch.ids)
    assert tip.ids.tolist() == [*range(102), 102]
    assert branch.ids.tolist() == [*range(102), 555, 556]
    assert grown.ids.tolist() == list(range(102))
    for state in (base, grown, tip, branch):
        assert state.sorted_ids().tolist() == sorted(state.ids.tolist())
        assert np.array_equal(state.slot_counts(), count_slots_loop(state.ids.tolist())[: 1 << 15])


@pytest.fixture
def compiled_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled merge of the sorted copy from 16 ids on (numba required)."""
    from reference.fast_slots import compiled_merge

    if compiled_merge() is None:
        pytest.skip("numba is not installed (nox -s fast runs this)")
    monkeypatch.setattr(hash_table, "COMPILED_MIN", 16)


def assert_sorted_copy(state: TableState) -> None:
    assert state.sorted_ids().tolist() == sorted(state.ids.tolist())


@pytest.mark.usefixtures("compiled_merge")
def test_the_sorted_copy_is_merged_into_in_place_and_handed_to_the_next_snapshot() -> None:
    base = TableState(np.arange(0, 200, 2, dtype=np.int64), 1)
    grown = _merge(base, np.array([5, 1001], dtype=np.int64), None, 1)  # a new buffer
    before = TableDump(grown).sorted_ids
    tip = _merge(grown, np.array([7, -3, 5, 999], dtype=np.int64), None, 1)  # in place
    assert tip.sorted_buffer is grown.sorted_buffer is not None
    assert not grown.keeps_sorted_ids() and tip.keeps_sorted_ids()
    assert before is not None and before.tolist() == sorted([*range(0, 200, 2), 5, 1001])
    assert tip.ids.tolist() == [*range(0, 200, 2), 5, 1001, 7, -3, 999]
    branch = _merge(grown, np.array([3, 1001], dtype=np.int64), None, 1)  # grown again: a copy
    assert branch.sorted_buffer is not tip.sorted_buffer
    with_values = _merge(tip, np.array([1, 7], dtype=np.int64), [[0.5], [0.25]], 1)
    assert with_values.sorted_buffer is tip.sorted_buffer  # the embeddings' path, in place
    assert not tip.keeps_sorted_ids()
    for state in (base, grown, tip, branch, with_values):
        assert_sorted_copy(state)
    assert TableDump(tip).sorted_ids is None
    copy = TableDump(with_values).sorted_ids
    assert copy is not None and not copy.flags.writeable
    assert not np.shares_memory(copy, with_values.sorted_buffer.array)


@pytest.mark.usefixtures("compiled_merge")
def test_a_sorted_buffer_without_room_is_copied_into_a_bigger_one() -> None:
    state = TableState(np.arange(100, dtype=np.int64), 1)
    state = _merge(state, np.array([100], dtype=np.int64), None, 1)
    room = len(state.sorted_buffer.array)
    fids = np.arange(1000, 1000 + room, dtype=np.int64)[::-1]  # more than the room left
    grown = _merge(state, fids, None, 1)
    assert grown.sorted_buffer is not state.sorted_buffer
    assert state.keeps_sorted_ids()  # not taken: its copy stays as it was
    for s in (state, grown):
        assert_sorted_copy(s)


def assign_at_once(state: TableState, batches: list[np.ndarray]) -> list[TableState]:
    """``_merge`` of each batch into ``state``, each in its own thread, started together;
    the new snapshots in the batches' order."""
    import threading

    results: dict[int, TableState] = {}
    start = threading.Barrier(len(batches))

    def assign(i: int) -> None:
        start.wait()
        results[i] = _merge(state, batches[i], None, 1)

    threads = [threading.Thread(target=assign, args=(i,)) for i in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [results[i] for i in range(len(batches))]


@pytest.mark.usefixtures("compiled_merge")
def test_assigns_to_one_snapshot_from_two_threads_both_see_its_ids() -> None:
    # One takes the sorted buffer over and merges in place; the other must not read it
    # meanwhile (the buffer's lock), and sorts the ids itself.
    rng = np.random.default_rng(5)
    for _ in range(20):
        tip = _merge(TableState(np.arange(5000, dtype=np.int64), 1), np.array([-1]), None, 1)
        batches = [rng.integers(-(1 << 40), 1 << 40, 300, dtype=np.int64) for _ in range(2)]
        for state, fids in zip(assign_at_once(tip, batches), batches, strict=True):
            assert_sorted_copy(state)
            assert state.ids.tolist() == model_ids(tip.ids, fids)


def test_without_numba_the_sorted_copy_is_a_new_array_each_assign(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reference import fast_slots

    monkeypatch.setattr(fast_slots, "_compiled", [None])
    monkeypatch.setattr(hash_table, "COMPILED_MIN", 16)
    state = TableState(np.arange(100, dtype=np.int64), 1)
    for fids in ([100], [5, 101], [-7]):
        state = _merge(state, np.array(fids, dtype=np.int64), None, 1)
        assert state.sorted_buffer is None
        assert_sorted_copy(state)


def test_two_sessions_sharing_a_from_ids_table_do_not_see_each_other() -> None:
    table = HashTable.from_ids("t", np.arange(50, dtype=np.int64))
    one, two = Session(), Session()
    one.run(table.assign(np.array([50, 51], dtype=np.int64)))
    two.run(table.assign(np.array([60], dtype=np.int64)))
    one.run(table.assign(np.array([52], dtype=np.int64)))
    two.run(table.assign(np.array([61, 50], dtype=np.int64)))
    check_table(one.run(table.dump()), [*range(50), 50, 51, 52])
    check_table(two.run(table.dump()), [*range(50), 60, 61, 50])


def test_duplicates_the_sample_misses_take_the_second_sort_afterwards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hash_table, "PARALLEL_SORT_MIN", 64)
    monkeypatch.setattr(hash_table, "usable_cpus", lambda: 2)
    monkeypatch.setattr(hash_table, "SAMPLE", 16)
    ids = layout_ids("uniform", 4000, seed=6)
    fids = np.concatenate([ids, ids[5:6]])  # one repeat, at a position the sample skips
    assert not hash_table._sample_repeats(fids)
    in_order, uniq = _first_occurrences(fids)
    assert in_order.tolist() == ids.tolist() and uniq.tolist() == sorted(ids.tolist())
    assert hash_table._sample_repeats(np.concatenate([ids, ids]))  # 4000 = 8 strides of 500


FAST = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
small_fids = (
    st.integers(-3, 3)
    | st.integers(-(1 << 63), (1 << 63) - 1)
    | st.sampled_from([-(1 << 63), (1 << 63) - 1, -1, 1 << 48])
    # A slot's fids (the tops of the three layouts, and past the 15-bit slot): few low bits,
    # so they repeat within and across assigns.
    | st.builds(
        lambda top, low: (top << 48) | low,
        st.sampled_from([0, 1, 199, 0x7FFF, 0x8000, 0xFFFF]),
        st.integers(0, 7) | st.integers(0, (1 << 48) - 1),
    )
)


@FAST
@given(
    st.lists(st.lists(small_fids, max_size=60), min_size=1, max_size=4),
    st.sampled_from([0x9E3779B97F4A7C15, 1, 0, 3]),
    st.sampled_from([1, 2, 3, 64]),
    st.booleans(),
    st.booleans(),
)
def test_any_assigns_match_the_dict_model(
    monkeypatch: pytest.MonkeyPatch,
    steps: list[list[int]],
    weak: int,
    chunk: int,
    at_once: bool,
    built: bool,
) -> None:
    # Chunks smaller than the input (every chunk boundary case), any hash, either mode; the
    # first step assigned, or (``built``) given to ``HashTable.from_ids``.
    with monkeypatch.context() as m:
        m.setattr(hash_table, "_HASH", np.uint64(weak))
        m.setattr(hash_table, "CHUNK", chunk)
        m.setattr(hash_table, "PARALLEL_SORT_MIN", 2 if at_once else 1 << 62)
        m.setattr(hash_table, "SAMPLE", 4)
        m.setattr(hash_table, "usable_cpus", lambda: 2)
        arrays = [np.array([f & U64 for f in step], dtype=np.uint64) for step in steps]
        session = Session()
        table = HashTable.from_ids("t", arrays[0]) if built else HashTable("t")
        for fids in arrays[1:] if built else arrays:
            session.run(table.assign(fids))
        check_table(session.run(table.dump()), model_ids(*steps))
