"""``ckpt_info_test.py`` of Monolith, ported onto the simulated runtime.

The test hash table with dimension 1 becomes a ``reference.hash_table.HashTable`` in a
graph's collection; the session is a simulated one. Same scenario and assertion.
"""

from __future__ import annotations

import os
from pathlib import Path

from google.protobuf import text_format

from reference import ckpt_info
from reference.hash_table import HashTable
from reference.protos import ckpt_info_pb2
from reference.runtime.graph import Graph
from reference.runtime.session import CheckpointSaver, Session


def _read_ckpt_info(path: str) -> ckpt_info_pb2.CkptInfo:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    ckpt = ckpt_info_pb2.CkptInfo()
    text_format.Parse(text, ckpt)
    return ckpt


def test_basic(tmp_path: Path) -> None:
    graph = Graph()
    h = HashTable("test_hash_table", dim=1, graph=graph)
    model_dir = os.path.join(tmp_path, "basic")
    assign = h.assign([1], [[0.0]])
    listener = ckpt_info.FidSlotCountSaverListener(model_dir, graph)
    sess = Session()
    sess.run(assign)
    listener.before_save(sess, 0)

    ckpt = _read_ckpt_info(os.path.join(model_dir, "ckpt.info-0"))
    assert ckpt.slot_counts[0] == 1


def test_basic_through_a_checkpoint_saver(tmp_path: Path) -> None:
    graph = Graph()
    h = HashTable("test_hash_table", dim=1, graph=graph)
    model_dir = os.path.join(tmp_path, "basic")
    sess = Session()
    sess.run(h.assign([1], [[0.0]]))
    saver = CheckpointSaver([ckpt_info.FidSlotCountSaverListener(model_dir, graph)], sess)
    saver.save(0)

    ckpt = _read_ckpt_info(os.path.join(model_dir, "ckpt.info-0"))
    assert ckpt.slot_counts[0] == 1
