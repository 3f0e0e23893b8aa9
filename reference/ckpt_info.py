"""Reference of ``monolith/native_training/hooks/ckpt_info.py``.

:class:`FidSlotCountSaverListener` counts, before each checkpoint save, how many
entries of each slot the hash tables hold and writes ``<model_dir>/ckpt.info-<step>``
as ``monolith.CkptInfo`` in protobuf text format (``str(message)``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from reference.fast_slots import MAX_SLOT, count_slots_from_ids, ids_from_entry_dumps
from reference.hash_table import (
    HASH_TABLE_COLLECTION,
    MULTI_HASH_TABLE_COLLECTION,
    HashTable,
    TableDump,
)
from reference.runtime.graph import Graph
from reference.runtime.session_run_hook import CheckpointSaverListener, Session

__all__ = [
    "MAX_SLOT",
    "FidSlotCountSaverListener",
    "count_slots",
    "render_ckpt_info",
    "slot_of_v1",
    "slot_of_v2",
]


def slot_of_v2(fid: int) -> int:
    """The slot of a v2 fid: bits 48..62."""
    return (fid >> 48) & 0x7FFF


def slot_of_v1(fid: int) -> int:
    """The slot of a v1 fid: the top 10 bits (of the unsigned value)."""
    return (fid & ((1 << 64) - 1)) >> 54


def count_slots(entries: TableDump | np.ndarray | Iterable[bytes]) -> np.ndarray:
    """A ``MAX_SLOT``-long int64 vector: entries per v2 slot, clamped to ``MAX_SLOT - 1``.

    ``entries`` is what a table dump yields (a :class:`TableDump`: the slot histogram its table
    keeps), an array of ids, or serialized ``EntryDump`` messages (ids decoded in bulk). The
    counts are those of parsing every entry and bumping ``min(slot_of_v2(id), MAX_SLOT - 1)``.
    """
    if isinstance(entries, TableDump):
        return entries.slot_counts()
    if isinstance(entries, np.ndarray):
        return count_slots_from_ids(entries)
    return count_slots_from_ids(ids_from_entry_dumps(list(entries)))


def render_ckpt_info(counts: np.ndarray) -> str:
    """``str(CkptInfo)`` with every non-zero count (keys ascending).

    Written out directly because protobuf's backends disagree on it: upb's ``str()``
    prints a zero key (``key: 0``) where the pure-Python backend omits it; the original
    ran on a backend that prints it. Tests check this against upb's ``str()``.
    """
    slots = np.flatnonzero(counts)
    return "".join(
        f"slot_counts {{\n  key: {slot}\n  value: {value}\n}}\n"
        for slot, value in zip(slots.tolist(), counts[slots].tolist(), strict=True)
    )


class FidSlotCountSaverListener(CheckpointSaverListener):
    """Writes per-slot fid counts next to each checkpoint."""

    def __init__(self, model_dir: str, graph: Graph) -> None:
        self._model_dir = model_dir
        all_tables: list[HashTable] = graph.get_collection(HASH_TABLE_COLLECTION)
        self.all_multi_hash_tables = graph.get_collection(MULTI_HASH_TABLE_COLLECTION)
        if not all_tables and not self.all_multi_hash_tables:
            raise ValueError(
                "Unable to find hash tables. "
                "It may be caused by creating the listener before calling model_fn"
            )
        self._device_to_tables: dict[str, list[HashTable]] = defaultdict(list)
        for table in all_tables:
            self._device_to_tables[table.device].append(table)
        # One count variable a device, named after it, created without reuse: a second
        # listener in one graph raises ValueError at the first device they share.
        for device in self._device_to_tables:
            graph.create_variable_name(f"monolith_fid_slot_count/{device.replace(':', '_')}")

    def before_save(self, session: Session, global_step_value: int) -> None:
        if self.all_multi_hash_tables:
            return
        per_device = [
            sum((count_slots(session.run(t.dump())) for t in tables), np.zeros(MAX_SLOT, np.int64))
            for tables in self._device_to_tables.values()
        ]
        counts = np.sum(per_device, axis=0) if per_device else np.zeros(MAX_SLOT, np.int64)
        os.makedirs(self._model_dir, exist_ok=True)
        path = os.path.join(self._model_dir, f"ckpt.info-{global_step_value}")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(render_ckpt_info(counts))
