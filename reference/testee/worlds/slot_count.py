"""Slot-count family: FidSlotCountSaverListener over stand-in hash tables."""

from __future__ import annotations

from typing import Any

from reference import hook_utils
from reference.ckpt_info import FidSlotCountSaverListener
from reference.hash_table import MULTI_HASH_TABLE_COLLECTION, HashTable
from reference.runtime.graph import Graph
from reference.runtime.session import CheckpointSaver, Session
from reference.testee import inputs
from reference.testee.world import World

WRAPPERS = {
    None: lambda listener: listener,
    "before": hook_utils.BeforeSaveListener,
    "after": hook_utils.AfterSaveListener,
}


class SlotCountWorld(World):
    def setup(self) -> None:
        c = self.config
        self.graph = Graph()
        self.session = Session()
        self.tables = []
        for i, spec in enumerate(c.get("tables", [])):
            table = HashTable(
                spec.get("name", f"table{i}"),
                dim=int(spec.get("dim", 1)),
                device=spec.get("device", ""),
                graph=self.graph,
            )
            self.tables.append(table)
            if spec.get("fids"):
                self.session.run(table.assign(inputs.fids(spec["fids"])))
        for _ in range(int(c.get("multi_hash_tables", 0))):
            self.graph.add_to_collection(MULTI_HASH_TABLE_COLLECTION, object())
        self.saver: CheckpointSaver | None = None

    def op_create_listener(self, step: dict[str, Any]) -> None:
        listener = FidSlotCountSaverListener(self.model_dir, self.graph)
        wrapped = WRAPPERS[self.config.get("wrap")](listener)
        self.saver = CheckpointSaver([wrapped], self.session)

    def op_assign(self, step: dict[str, Any]) -> None:
        self.session.run(self.tables[int(step["table"])].assign(inputs.fids(step["fids"])))

    def op_save(self, step: dict[str, Any]) -> None:
        if self.saver is None:
            self.op_create_listener(step)
        assert self.saver is not None
        self.saver.save(inputs.parse_int(step["global_step"]))
