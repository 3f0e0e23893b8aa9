"""TF tier of ckpt_info (and the stand-in hash table): original test, parity, quirks."""

from __future__ import annotations

import os

import pytest

tf = pytest.importorskip("tensorflow")

from google.protobuf import text_format  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reference import ckpt_info as ref_ckpt_info  # noqa: E402
from reference import hash_table as ref_hash_table  # noqa: E402
from reference.protos import ckpt_info_pb2  # noqa: E402
from reference.protos.embedding_hash_table_pb2 import EntryDump  # noqa: E402
from reference.runtime import graph as ref_graph  # noqa: E402
from reference.runtime.session import Session as RefSession  # noqa: E402
from reference.tf import ckpt_info, hash_table  # noqa: E402

pytestmark = [pytest.mark.tf]

DEVICES = ["/device:CPU:0", "/device:CPU:1", "/device:CPU:2"]
SESSION_CONFIG = {"device_count": {"CPU": len(DEVICES)}}


def _session():
    return tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(**SESSION_CONFIG))


# ------------------------------------------------------------------ ported from ckpt_info_test


def test_basic(graph, tmp_path):
    h = hash_table.HashTable("test_table", dim=1)
    model_dir = os.path.join(tmp_path, "basic")
    h = h.assign(tf.constant([1], dtype=tf.int64), [[0.0]])
    listener = ckpt_info.FidSlotCountSaverListener(model_dir)
    with tf.compat.v1.Session() as sess:
        sess.run(h.as_op())
        listener.before_save(sess, 0)
    with tf.io.gfile.GFile(os.path.join(model_dir, "ckpt.info-0")) as f:
        text = f.read()
    ckpt = ckpt_info_pb2.CkptInfo()
    text_format.Parse(text, ckpt)
    assert ckpt.slot_counts[0] == 1


# ------------------------------------------------------------------------------- behaviour


def test_no_tables_raises_the_reference_message(graph, tmp_path):
    with pytest.raises(ValueError) as ref_err:
        ref_ckpt_info.FidSlotCountSaverListener(str(tmp_path), ref_graph.Graph())
    with pytest.raises(ValueError) as tf_err:
        ckpt_info.FidSlotCountSaverListener(str(tmp_path))
    assert str(tf_err.value) == str(ref_err.value)


def test_multi_hash_tables_return_at_once(graph, tmp_path):
    t = hash_table.HashTable("t").assign([1])
    hash_table.MultiHashTable("m")
    model_dir = tmp_path / "model"
    listener = ckpt_info.FidSlotCountSaverListener(str(model_dir))
    with tf.compat.v1.Session() as sess:
        sess.run(t.as_op())
        listener.before_save(sess, 5)
    assert not model_dir.exists()


def test_only_multi_hash_tables_is_enough(graph, tmp_path):
    hash_table.MultiHashTable("m")
    listener = ckpt_info.FidSlotCountSaverListener(str(tmp_path / "m"))
    listener.before_save(None, 1)  # returns before touching the session
    assert not (tmp_path / "m").exists()


def test_second_listener_in_one_graph_raises(graph, tmp_path):
    hash_table.HashTable("t")
    ckpt_info.FidSlotCountSaverListener(str(tmp_path))
    with pytest.raises(ValueError, match="monolith_fid_slot_count/ already exists"):
        ckpt_info.FidSlotCountSaverListener(str(tmp_path))


def test_dump_entries_are_reference_entry_dumps(graph):
    fids = [1, 2**64 - 1, (5 << 48) | 3, 1, -7]
    t = hash_table.HashTable("t", dim=2)
    a = t.assign(fids, [[0.5, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]])
    b = t.assign([(5 << 48) | 3, 9])
    dump = t.dump()
    slots = hash_table.extract_slot_from_entry(dump)
    with tf.compat.v1.Session() as sess:
        assert sess.run(dump).tolist() == []
        sess.run(a.as_op())
        sess.run(b.as_op())
        entries, got_slots = sess.run([dump, slots])
    ref_table = ref_hash_table.HashTable("t", dim=2)
    ref_session = RefSession()
    ref_session.run(
        ref_table.assign(fids, [[0.5, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0], [8.0, 9.0]])
    )
    ref_session.run(ref_table.assign([(5 << 48) | 3, 9]))
    assert entries.tolist() == list(ref_session.run(ref_table.dump()))
    ids = [EntryDump.FromString(e).id for e in entries]
    assert ids == [1, -1, (5 << 48) | 3, -7, 9]
    assert got_slots.tolist() == [ref_ckpt_info.slot_of_v2(i) for i in ids]


def test_empty_table_writes_an_empty_file(graph, tmp_path):
    hash_table.HashTable("t")
    listener = ckpt_info.FidSlotCountSaverListener(str(tmp_path / "new" / "dir"))
    with tf.compat.v1.Session() as sess:
        listener.before_save(sess, 7)
    assert (tmp_path / "new" / "dir" / "ckpt.info-7").read_bytes() == b""


# -------------------------------------------------------------------- parity with reference


def _run_tf(tables, saves, model_dir):
    """``tables``: [(name, device, dim, [fid batches])]; ``saves``: steps after each batch."""
    built = [hash_table.HashTable(name, dim, device) for name, device, dim, _ in tables]
    assigns = [
        [t.assign(batch).as_op() for batch in batches]
        for t, (_, _, _, batches) in zip(built, tables, strict=True)
    ]
    listener = ckpt_info.FidSlotCountSaverListener(model_dir)
    with _session() as sess:
        for round_, step in enumerate(saves):
            for ops in assigns:
                if round_ < len(ops):
                    sess.run(ops[round_])
            listener.before_save(sess, step)


def _run_ref(tables, saves, model_dir):
    g = ref_graph.Graph()
    built = [
        ref_hash_table.HashTable(name, dim, device, graph=g) for name, device, dim, _ in tables
    ]
    listener = ref_ckpt_info.FidSlotCountSaverListener(model_dir, g)
    session = RefSession()
    for round_, step in enumerate(saves):
        for t, (_, _, _, batches) in zip(built, tables, strict=True):
            if round_ < len(batches):
                session.run(t.assign(batches[round_]))
        listener.before_save(session, step)


def _outputs(root):
    return {p: open(os.path.join(root, p), "rb").read() for p in sorted(os.listdir(root))}


def _compare(tmp_path, tables, saves):
    _run_ref(tables, saves, str(tmp_path / "ref"))
    with tf.Graph().as_default():
        _run_tf(tables, saves, str(tmp_path / "tf"))
    ref, got = _outputs(tmp_path / "ref"), _outputs(tmp_path / "tf")
    assert got == ref
    return got


def test_upb_backend():
    # str(CkptInfo) prints "key: 0" for slot 0 on upb only (see reference.ckpt_info); the
    # byte-for-byte comparisons below assume the backend this venv ships.
    assert api_implementation.Type() == "upb"


def test_several_tables_and_devices_match_reference(tmp_path):
    v1 = [(s << 54) | i for s in (1, 3, 1023) for i in range(3)]
    high = [2**64 - 1, 2**63, (0xFFFF << 48) | 1, (0x8001 << 48) | 2]
    tables = [
        ("a", DEVICES[0], 1, [[1, 2, 3, (7 << 48) | 1], [(7 << 48) | 2, 1]]),
        ("b", DEVICES[1], 2, [v1, [v1[0]]]),
        ("c", DEVICES[1], 1, [high, []]),
        ("d", DEVICES[2], 4, [[], [(0x7FFF << 48) | 9, 5]]),
        ("e", "", 1, [[(2 << 48) + i for i in range(50)]]),
    ]
    out = _compare(tmp_path, tables, saves=[10, 20, 20, 30])
    assert sorted(out) == ["ckpt.info-10", "ckpt.info-20", "ckpt.info-30"]
    info = text_format.Parse(out["ckpt.info-30"].decode(), ckpt_info_pb2.CkptInfo())
    # v1 fids land on v2 slot (s << 6) & 0x7FFF; 2**63 and 5 on slot 0; 0x8001.. on slot 1.
    assert dict(info.slot_counts) == {
        0: 3 + 1 + 1,
        1: 1,
        2: 50,
        7: 2,
        1 << 6: 3,
        3 << 6: 3,
        (1023 << 6) & 0x7FFF: 3,
        0x7FFF: 3,
    }


def test_empty_tables_match_reference(tmp_path):
    out = _compare(tmp_path, [("a", DEVICES[0], 1, [[]]), ("b", DEVICES[2], 1, [])], [0, 1])
    assert out == {"ckpt.info-0": b"", "ckpt.info-1": b""}


fids = st.one_of(
    st.integers(0, 2**64 - 1),
    st.builds(lambda s, low: (s << 48) | low, st.integers(0, 0xFFFF), st.integers(0, 2**48 - 1)),
    st.builds(lambda s, low: (s << 54) | low, st.integers(0, 1023), st.integers(0, 2**54 - 1)),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tables=st.lists(
        st.tuples(st.sampled_from([*DEVICES, ""]), st.lists(fids, max_size=30)),
        min_size=1,
        max_size=3,
    ),
    step=st.integers(0, 2**40),
)
def test_random_tables_match_reference(tmp_path_factory, tables, step):
    spec = [(f"t{i}", device, 1, [batch]) for i, (device, batch) in enumerate(tables)]
    _compare(tmp_path_factory.mktemp("ckpt"), spec, [step])
