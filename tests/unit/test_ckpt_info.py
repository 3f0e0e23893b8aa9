"""``reference.ckpt_info.FidSlotCountSaverListener``: what it counts and the exact file."""

from __future__ import annotations

import collections
import tempfile
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from google.protobuf.internal import api_implementation
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import ckpt_info
from reference.ckpt_info import FidSlotCountSaverListener, count_slots, render_ckpt_info
from reference.hash_table import MULTI_HASH_TABLE_COLLECTION, HashTable
from reference.protos import ckpt_info_pb2
from reference.protos.embedding_hash_table_pb2 import EntryDump
from reference.runtime.graph import Graph
from reference.runtime.session import CheckpointSaver, Session

U64 = (1 << 64) - 1


def v2(slot: int, low: int = 1) -> int:
    return (slot << 48) | low


def _graph_with(*tables: tuple[str, str, list[int]]) -> tuple[Graph, Session]:
    """Tables ``(name, device, fids)`` in a fresh graph, filled in a fresh session."""
    graph = Graph()
    session = Session()
    for name, device, fids in tables:
        table = HashTable(name, dim=1, device=device, graph=graph)
        if fids:
            session.run(table.assign(fids))
    return graph, session


def _saved_text(model_dir: Path, graph: Graph, session: Session, step: int = 0) -> bytes:
    FidSlotCountSaverListener(str(model_dir), graph).before_save(session, step)
    return (model_dir / f"ckpt.info-{step}").read_bytes()


def _parsed(data: bytes) -> dict[int, int]:
    info = ckpt_info_pb2.CkptInfo()
    text_format.Parse(data.decode("utf-8"), info)
    return dict(info.slot_counts)


def test_no_tables_raises_value_error_with_the_exact_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as exc:
        FidSlotCountSaverListener(str(tmp_path), Graph())
    assert exc.value.args == (
        "Unable to find hash tables. It may be caused by creating the listener before "
        "calling model_fn",
    )


@pytest.mark.parametrize("with_plain_tables", [False, True])
def test_multi_hash_table_mode_writes_nothing(tmp_path: Path, with_plain_tables: bool) -> None:
    graph, session = _graph_with(("t", "", [1, 2])) if with_plain_tables else (Graph(), Session())
    graph.add_to_collection(MULTI_HASH_TABLE_COLLECTION, object())
    model_dir = tmp_path / "model"
    listener = FidSlotCountSaverListener(str(model_dir), graph)
    assert listener.before_save(session, 7) is None
    assert not model_dir.exists()


def test_exact_text_sorted_by_slot_with_zero_counts_omitted(tmp_path: Path) -> None:
    graph, session = _graph_with(("t", "", [v2(5, 1), v2(0, 1), v2(5, 2), v2(3, 9)]))
    data = _saved_text(tmp_path, graph, session, step=12)
    assert data == (
        b"slot_counts {\n  key: 0\n  value: 1\n}\n"
        b"slot_counts {\n  key: 3\n  value: 1\n}\n"
        b"slot_counts {\n  key: 5\n  value: 2\n}\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.info-12"]


def test_slot_is_the_v2_slot_even_for_fids_at_or_above_2_pow_63(tmp_path: Path) -> None:
    fids = [
        (1 << 63) | v2(3),  # bit 63 is not part of the 15-bit slot
        1 << 63,  # slot 0
        U64,  # slot 0x7FFF
        0x7FFF << 48,  # slot 0x7FFF
        1 << 54,  # a v1 fid of slot 1: counted under its v2 reading, slot 64
    ]
    graph, session = _graph_with(("t", "", fids))
    assert _parsed(_saved_text(tmp_path, graph, session)) == {3: 1, 0: 1, 32767: 2, 64: 1}


@pytest.mark.parametrize(
    ("fid", "slot_v1", "slot_v2"),
    [
        (0, 0, 0),
        (v2(5), 0, 5),
        (1 << 54, 1, 64),
        ((7 << 54) | 123, 7, 7 << 6),
        (1 << 63, 512, 0),
        (U64, 1023, 0x7FFF),
        (-1, 1023, 0x7FFF),  # the signed view of 2**64 - 1, as an sfixed64 id holds it
        (-(1 << 63), 512, 0),
    ],
)
def test_slot_extraction_v1_and_v2(fid: int, slot_v1: int, slot_v2: int) -> None:
    assert ckpt_info.slot_of_v1(fid) == slot_v1
    assert ckpt_info.slot_of_v2(fid) == slot_v2


def test_tables_on_several_devices_are_summed(tmp_path: Path) -> None:
    graph, session = _graph_with(
        ("a", "/job:ps/task:0", [v2(1, 1), v2(1, 2), v2(2, 1)]),
        ("b", "/job:ps/task:0", [v2(1, 1)]),  # same fid, other table: counted again
        ("c", "/job:ps/task:1", [v2(2, 5), v2(7, 1)]),
        ("d", "", []),
    )
    assert _saved_text(tmp_path, graph, session) == (
        b"slot_counts {\n  key: 1\n  value: 3\n}\n"
        b"slot_counts {\n  key: 2\n  value: 2\n}\n"
        b"slot_counts {\n  key: 7\n  value: 1\n}\n"
    )


def test_an_entry_assigned_twice_is_one_entry(tmp_path: Path) -> None:
    graph = Graph()
    table = HashTable("t", graph=graph)
    session = Session()
    session.run(table.assign([v2(4)]))
    session.run(table.assign([v2(4)], [[1.5]]))
    assert _parsed(_saved_text(tmp_path, graph, session)) == {4: 1}


def test_counts_start_from_zero_at_every_save(tmp_path: Path) -> None:
    graph = Graph()
    table = HashTable("t", graph=graph)
    session = Session()
    listener = FidSlotCountSaverListener(str(tmp_path), graph)
    session.run(table.assign([v2(1, 1), v2(1, 2)]))
    listener.before_save(session, 1)
    session.run(table.assign([v2(1, 3)]))
    listener.before_save(session, 2)
    assert _parsed((tmp_path / "ckpt.info-1").read_bytes()) == {1: 2}
    assert _parsed((tmp_path / "ckpt.info-2").read_bytes()) == {1: 3}


def test_no_entries_still_creates_an_empty_file(tmp_path: Path) -> None:
    graph, session = _graph_with(("t", "", []))
    path = tmp_path / "ckpt.info-3"
    FidSlotCountSaverListener(str(tmp_path), graph).before_save(session, 3)
    assert path.exists()
    assert path.read_bytes() == b""


def test_the_model_dir_is_created_and_an_old_file_overwritten(tmp_path: Path) -> None:
    model_dir = tmp_path / "a" / "b" / "model"
    graph, session = _graph_with(("t", "", [v2(9)]))
    listener = FidSlotCountSaverListener(str(model_dir), graph)
    listener.before_save(session, 5)
    assert (model_dir / "ckpt.info-5").read_bytes() == b"slot_counts {\n  key: 9\n  value: 1\n}\n"
    (model_dir / "ckpt.info-5").write_bytes(b"x" * 1000)
    listener.before_save(session, 5)
    assert (model_dir / "ckpt.info-5").read_bytes() == b"slot_counts {\n  key: 9\n  value: 1\n}\n"


def test_a_second_listener_in_one_graph_raises_as_the_original() -> None:
    """The original builds one count variable a device with ``get_variable`` and no reuse:
    a second listener in the same graph raises ``ValueError`` at the first device both
    count (found by fuzzing the reference against the original tier)."""
    graph, _ = _graph_with(("t", "", [v2(9)]))
    FidSlotCountSaverListener("m", graph)
    with pytest.raises(ValueError, match=r"^Variable monolith_fid_slot_count/ already exists"):
        FidSlotCountSaverListener("m", graph)


def test_only_before_save_writes(tmp_path: Path) -> None:
    graph, session = _graph_with(("t", "", [v2(1)]))
    listener = FidSlotCountSaverListener(str(tmp_path), graph)
    listener.begin()
    listener.after_save(session, 1)
    listener.end(session, 1)
    assert list(tmp_path.iterdir()) == []
    CheckpointSaver([listener], session).save(2)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.info-2"]


def test_count_vector_is_102400_int64_and_v2_slots_never_reach_the_clamp() -> None:
    counts = count_slots([EntryDump(id=-1).SerializeToString()])
    assert ckpt_info.MAX_SLOT == 102400
    assert counts.shape == (102400,)
    assert counts.dtype == np.int64
    assert int(counts[0x7FFF]) == 1
    assert int(counts.sum()) == 1


def test_the_backend_is_upb_which_prints_key_zero() -> None:
    # The hand-written rendering matches upb's str(); the pure-Python backend omits `key: 0`.
    assert api_implementation.Type() == "upb"
    info = ckpt_info_pb2.CkptInfo()
    info.slot_counts[0] = 1
    assert str(info) == "slot_counts {\n  key: 0\n  value: 1\n}\n"


slot_counts = st.dictionaries(
    st.integers(min_value=0, max_value=ckpt_info.MAX_SLOT - 1),
    st.integers(min_value=1, max_value=2**40),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(slot_counts)
def test_rendering_equals_protobuf_str(counts_by_slot: dict[int, int]) -> None:
    counts = np.zeros(ckpt_info.MAX_SLOT, dtype=np.int64)
    info = ckpt_info_pb2.CkptInfo()
    for slot, count in counts_by_slot.items():
        counts[slot] = count
        info.slot_counts[slot] = count
    assert render_ckpt_info(counts) == str(info)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=U64), max_size=40))
def test_saved_counts_are_the_v2_slot_histogram_of_distinct_fids(fids: list[int]) -> None:
    graph, session = _graph_with(("t", "", fids))
    expected = collections.Counter(((f >> 48) & 0x7FFF) for f in set(fids))
    with tempfile.TemporaryDirectory() as d:
        data = _saved_text(Path(d), graph, session, step=1)
    assert _parsed(data) == dict(expected)


def test_tables_created_after_the_listener_are_not_counted(tmp_path: Path) -> None:
    graph, session = _graph_with(("first", "", [v2(1)]))
    listener = FidSlotCountSaverListener(str(tmp_path), graph)
    late = HashTable("late", graph=graph)
    session.run(late.assign([v2(2)]))
    listener.before_save(session, 1)
    assert _parsed((tmp_path / "ckpt.info-1").read_bytes()) == {1: 1}
