"""Slot-count family: FidSlotCountSaverListener over the tier's hash tables."""

from __future__ import annotations

from typing import Any

from reference.runtime.session import CheckpointSaver
from reference.testee import inputs
from reference.testee.world import World


class SlotCountWorld(World):
    def setup(self) -> None:
        c = self.config
        specs = c.get("tables", [])
        self.session = self.table_session([s.get("device", "") for s in specs])
        with self.building():
            self.tables = [
                self.hooks.hash_table(
                    spec.get("name", f"table{i}"), int(spec.get("dim", 1)), spec.get("device", "")
                )
                for i, spec in enumerate(specs)
            ]
            for _ in range(int(c.get("multi_hash_tables", 0))):
                self.hooks.multi_hash_table()
            updates = [
                self.hooks.assign_op(table, inputs.fids(spec["fids"]))
                for table, spec in zip(self.tables, specs, strict=True)
                if spec.get("fids")
            ]
        for update in updates:
            self.session.run(update)
        self.saver: CheckpointSaver | None = None

    def table_session(self, devices: list[str]) -> Any:
        """A session that reaches every table's device."""
        return self.plain_session()

    def op_create_listener(self, step: dict[str, Any]) -> None:
        with self.building():
            listener = self.hooks.slot_listener(self.model_dir)
        wrapped = self.hooks.wrap_listener(self.config.get("wrap"), listener)
        self.saver = CheckpointSaver([wrapped], self.session)

    def op_assign(self, step: dict[str, Any]) -> None:
        table = self.tables[int(step["table"])]
        with self.building():
            update = self.hooks.assign_op(table, inputs.fids(step["fids"]))
        self.session.run(update)

    def op_save(self, step: dict[str, Any]) -> None:
        if self.saver is None:
            self.op_create_listener(step)
        assert self.saver is not None
        self.saver.save(inputs.parse_int(step["global_step"]))
