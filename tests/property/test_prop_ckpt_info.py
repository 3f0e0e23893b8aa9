"""``ckpt.info-<step>`` parses back (protobuf text format) to a plain per-fid count.

Tables on one or more devices are filled by assigns (insert or overwrite: a fid counts
once per table however often it is assigned, and once in each table holding it); the
listener writes the file at each save. The oracle is the obvious loop: for every distinct
fid of every table, bump ``min((fid >> 48) & 0x7FFF, 102399)``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from budget import examples
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from harness.artifacts import kind_of
from harness.strategies import fid_tables
from reference.ckpt_info import FidSlotCountSaverListener
from reference.hash_table import HashTable
from reference.protos.ckpt_info_pb2 import CkptInfo
from reference.runtime.graph import Graph
from reference.runtime.session import CheckpointSaver, Session

pytestmark = pytest.mark.timeout(120)

DEVICES = ["", "/job:ps/task:0", "/job:ps/task:1"]


def loop_counts(tables: list[set[int]]) -> dict[int, int]:
    counts: Counter[int] = Counter()
    for table in tables:
        for fid in table:
            counts[min((fid >> 48) & 0x7FFF, 102399)] += 1
    return dict(counts)


@st.composite
def table_histories(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, list[int]]]]:
    """Devices of 1-3 tables, and a history of ``(table, fids)`` assigns."""
    devices = draw(st.lists(st.sampled_from(DEVICES), min_size=1, max_size=3))
    history = draw(
        st.lists(st.tuples(st.integers(0, len(devices) - 1), fid_tables(max_size=25)), max_size=4)
    )
    return devices, history


@examples(100)
@given(tables=table_histories(), global_steps=st.lists(st.integers(0, 1 << 62), max_size=3))
def test_ckpt_info_parses_back_to_the_per_fid_loop(
    tables: tuple[list[str], list[tuple[int, list[int]]]], global_steps: list[int]
) -> None:
    devices, history = tables
    graph, session = Graph(), Session()
    hash_tables = [HashTable(f"t{i}", 1, d, graph) for i, d in enumerate(devices)]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "not" / "yet" / "there"
        saver = CheckpointSaver([FidSlotCountSaverListener(str(model_dir), graph)], session)
        contents: list[set[int]] = [set() for _ in devices]
        # Save after every assign, and at each extra global step.
        schedule = [(t, fids, None) for t, fids in history] + [(None, [], s) for s in global_steps]
        for step, (table, fids, global_step) in enumerate(schedule):
            if table is not None:
                session.run(hash_tables[table].assign(fids))
                contents[table] |= set(fids)
            global_step = step if global_step is None else global_step
            saver.save(global_step)
            path = model_dir / f"ckpt.info-{global_step}"
            data = path.read_bytes()  # written even when empty
            info = CkptInfo()
            text_format.Parse(data.decode("utf-8"), info)
            expected = loop_counts(contents)
            assert dict(info.slot_counts) == expected
            assert not info.feature_counts
            # Entries in ascending key order, as str(CkptInfo) prints a map.
            keys = [int(line.split()[1]) for line in data.decode().splitlines() if "key:" in line]
            assert keys == sorted(expected)
            assert (data == b"") == (not expected)
            head = kind_of(f"files/{path.name}").render(data).splitlines()[0]
            assert head == f"CkptInfo: {len(expected)} slots, {sum(expected.values())} fids"
