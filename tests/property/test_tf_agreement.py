"""The pure-Python reference and the TensorFlow tier agree on generated inputs.

* Feature dump: the same dataset elements (numpy arrays; ragged values as
  ``RaggedValue`` for the reference and ``RaggedTensorValue`` for TF) give byte-identical
  files, driven through the hooks' public lifecycle (``begin``, ``before_run``,
  ``after_run``, ``end``) with the caps and the lazy file creation.
* Slot counts: the same fid tables (over several devices) give a byte-identical
  ``ckpt.info-<step>``; and TF's in-graph slot extraction equals ``slot_of_v2``.
* Action files: any ``monolith_action`` bytes get the same response bytes, the same
  file left or removed, the same exception and the same op run, from both query hooks.
* Model dirs in the way (a file): pinned per tier (the error types differ by nature:
  ``OSError`` subclasses vs ``tf.errors.OpError``).

Runs only in the ``tf`` session (``pytest -m tf``); budgets are small, TensorFlow graphs
are slow to build.
"""

from __future__ import annotations

import logging
import os
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from budget import examples  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from harness.strategies import action_files, batches, fid_tables, fids  # noqa: E402
from reference import ckpt_info as ref_ckpt  # noqa: E402
from reference import controller_hooks as ref_ch  # noqa: E402
from reference import feature_engineering_hooks as ref_feh  # noqa: E402
from reference.hash_table import HashTable as RefHashTable  # noqa: E402
from reference.hash_table import to_int64  # noqa: E402
from reference.protos.embedding_hash_table_pb2 import EntryDump  # noqa: E402
from reference.runtime.graph import Graph  # noqa: E402
from reference.runtime.session import Session as RefSession  # noqa: E402
from reference.tf import ckpt_info as tf_ckpt  # noqa: E402
from reference.tf import controller_hooks as tf_ch  # noqa: E402
from reference.tf import feature_engineering_hooks as tf_feh  # noqa: E402
from reference.tf import hash_table as tf_ht  # noqa: E402

pytestmark = [pytest.mark.tf, pytest.mark.timeout(600)]

DEVICES = ["/device:CPU:0", "/device:CPU:1", "/device:CPU:2"]
SESSION_CONFIG = tf.compat.v1.ConfigProto(device_count={"CPU": len(DEVICES)})


def tree(root: Path) -> dict[str, bytes | None]:
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


# ------------------------------------------------------------------ feature dump


def to_tf_value(value: Any) -> Any:
    """A reference feature value as TensorFlow fetches it."""
    if not isinstance(value, ref_feh.RaggedValue):
        return value
    rows = value.to_list()
    flat = [v for row in rows for v in row]
    dtype = np.float64 if any(isinstance(v, float) for v in flat) else np.uint64
    splits = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    return tf.compat.v1.ragged.RaggedTensorValue(np.array(flat, dtype=dtype), splits)


def drive_dump(hook: Any, elements: list[dict[str, Any]]) -> None:
    """The hook's lifecycle over a session: run 1 fetches nothing, then one run per element."""
    hook.begin()
    assert hook.before_run(None) is None
    hook.after_run(None, types.SimpleNamespace(results=None))
    for element in elements:
        assert hook.before_run(None) is not None
        hook.after_run(None, types.SimpleNamespace(results=element))
    hook.end(None)


def uuids() -> Any:
    counter = iter(range(1 << 20))
    return lambda: f"{next(counter):08x}-0000-1000-8000-000000000000"


@examples(40)
@given(elements=st.lists(batches(max_features=3), max_size=5), cap=st.integers(1, 3))
def test_feature_dump_files_agree(elements: list[dict[str, Any]], cap: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir, tf_dir = Path(tmp, "ref"), Path(tmp, "tf")
        drive_dump(
            ref_feh.FeatureEngineeringSaveHook(ref_feh.RunConfig(str(ref_dir)), "x", cap, uuids()),
            elements,
        )
        drive_dump(
            tf_feh.FeatureEngineeringSaveHook(ref_feh.RunConfig(str(tf_dir)), "x", cap, uuids()),
            [{k: to_tf_value(v) for k, v in e.items()} for e in elements],
        )
        assert tree(tf_dir) == tree(ref_dir)


# ------------------------------------------------------------------ slot counts


@pytest.fixture(scope="module")
def slot_graph() -> Any:
    graph = tf.Graph()
    with graph.as_default():
        entries = tf.compat.v1.placeholder(tf.string, [None])
        slots = tf_ht.extract_slot_from_entry(entries)
    with tf.compat.v1.Session(graph=graph) as session:
        yield lambda data: session.run(slots, {entries: data}).tolist()


@examples(100)
@given(table=fid_tables(max_size=30) | st.lists(fids(), min_size=1, max_size=3))
def test_in_graph_slot_extraction_agrees(slot_graph: Any, table: list[int]) -> None:
    data = [EntryDump(id=to_int64(f), num=[0.0]).SerializeToString() for f in table]
    assert slot_graph(data) == [ref_ckpt.slot_of_v2(f) for f in table]


@examples(15)
@given(
    tables=st.lists(
        st.tuples(st.sampled_from(DEVICES), st.lists(fid_tables(max_size=20), max_size=2)),
        min_size=1,
        max_size=3,
    ),
    global_step=st.integers(0, 1 << 40),
)
def test_ckpt_info_files_agree(tables: list[tuple[str, list[list[int]]]], global_step: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref_dir, tf_dir = Path(tmp, "ref", "m"), Path(tmp, "tf", "m")
        graph, session = Graph(), RefSession()
        for i, (device, assigns) in enumerate(tables):
            table = RefHashTable(f"t{i}", 1, device, graph)
            for fid_list in assigns:
                session.run(table.assign(fid_list))
        ref_ckpt.FidSlotCountSaverListener(str(ref_dir), graph).before_save(session, global_step)

        with tf.Graph().as_default():
            ops = []
            for i, (device, assigns) in enumerate(tables):
                table = tf_ht.HashTable(f"t{i}", 1, device)
                for fid_list in assigns:
                    ops.append(table.assign(fid_list).as_op())
            listener = tf_ckpt.FidSlotCountSaverListener(str(tf_dir))
            with tf.compat.v1.Session(config=SESSION_CONFIG) as sess:
                for op in ops:  # in order: a later assign overwrites an earlier one
                    sess.run(op)
                listener.before_save(sess, global_step)
        assert tree(tf_dir) == tree(ref_dir)


# ------------------------------------------------------------------ action files


class Recorder:
    """Stands in for the controller hook (its ops) and the session (records runs)."""

    trigger_save_op = "trigger_save_op"
    stop_op = "stop_op"

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, fetches: Any, feed_dict: Any = None) -> None:
        self.ran.append(fetches)


def query_once(query_cls: Any, model_dir: Path, data: bytes) -> dict[str, Any]:
    model_dir.mkdir(parents=True)
    (model_dir / "monolith_action").write_bytes(data)
    recorder = Recorder()
    hook = query_cls(str(model_dir), recorder)
    hook._session = recorder  # what after_create_session stores
    try:
        hook._query()
        error = None
    except Exception as e:  # the polling loop logs it; compare the type
        error = type(e).__name__
    return {"files": tree(model_dir), "error": error, "ran": recorder.ran}


@examples(150)
@given(data=action_files())
def test_action_files_are_handled_alike(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ref = query_once(ref_ch.QueryActionHook, Path(tmp, "ref"), data)
        got = query_once(tf_ch.QueryActionHook, Path(tmp, "tf"), data)
    assert got == ref


# ------------------------------------------------------------------ a file as model dir


def test_listener_with_a_file_as_model_dir_raises_in_both_tiers(tmp_path: Path) -> None:
    """The reference raises FileExistsError; the TF tier (like the original, through
    tf.io.gfile) raises a tf.errors.OpError. An implementation only has to fail."""
    model_dir = tmp_path / "model"
    model_dir.write_text("x")
    graph, session = Graph(), RefSession()
    session.run(RefHashTable("t", 1, "", graph).assign([1]))
    with pytest.raises(FileExistsError):
        ref_ckpt.FidSlotCountSaverListener(str(model_dir), graph).before_save(session, 1)
    with tf.Graph().as_default():
        op = tf_ht.HashTable("t").assign([1]).as_op()
        listener = tf_ckpt.FidSlotCountSaverListener(str(model_dir))
        with tf.compat.v1.Session() as sess, pytest.raises(tf.errors.OpError):
            sess.run(op)
            listener.before_save(sess, 1)
    assert model_dir.read_text() == "x"


def end_with_a_file_as_model_dir(hook_module: Any, model_dir: Path) -> list[str]:
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger(hook_module.__name__)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        drive_dump(
            hook_module.FeatureEngineeringSaveHook(
                ref_feh.RunConfig(str(model_dir)), "x", 100, lambda: "u"
            ),
            [],
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return records


def test_tf_tier_end_with_nothing_buffered_ignores_a_file_as_model_dir(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.write_text("x")
    assert end_with_a_file_as_model_dir(tf_feh, model_dir) == [
        f"save to {os.path.join(model_dir, 'features', 'chief_u.pb')}"
    ]


def test_reference_end_with_nothing_buffered_ignores_a_file_as_model_dir(
    tmp_path: Path,
) -> None:
    model_dir = tmp_path / "model"
    model_dir.write_text("x")
    assert end_with_a_file_as_model_dir(ref_feh, model_dir) == [
        f"save to {os.path.join(model_dir, 'features', 'chief_u.pb')}"
    ]
