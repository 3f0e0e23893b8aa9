"""Barrier family: BarrierOp driven directly by the chief, BarrierHook on worker threads."""

from __future__ import annotations

from typing import Any

from reference.testee.world import BarrierRecorder, World
from reference.testee.worlds.workers import Workers

QUERIES = (
    "is_barrier_placed",
    "is_barrier_removed",
    "is_all_blocked",
    "is_none_blocked",
    "get_blocked_indices",
    "get_unblocked_indices",
)


def plain(value: Any) -> Any:
    """A query's answer as JSON values: a tier on TensorFlow answers numpy scalars (the
    original's ``is_barrier_placed`` returns ``session.run``'s ``numpy.bool_`` as is)."""
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


class BarrierWorld(World):
    def setup(self) -> None:
        c = self.config
        with self.building():
            self.op = self.hooks.barrier_op(
                int(c["capacity"]),
                is_chief=True,
                wait_seconds=float(c.get("wait_seconds", 1)),
                name_prefix=c.get("name_prefix", "default"),
                callbacks=[BarrierRecorder(self.emit, 0)],
            )
            self.workers = Workers(self, c.get("workers", []), c)
        self.session = self.chief_session()
        self.waiters: list[Any] = []

    def chief_session(self) -> Any:
        """The chief's plain session, once every graph object is built."""
        return self.plain_session(worker=0)

    def waiter_session(self, index: int) -> Any:
        """The session a ``wait`` step's thread waits with."""
        return self.plain_session(worker=index)

    def op_place(self, step: dict[str, Any]) -> None:
        self.op.place_barrier(self.session, action=step.get("action", ""))

    def op_remove(self, step: dict[str, Any]) -> None:
        self.op.remove_barrier(self.session)

    def op_query(self, step: dict[str, Any]) -> None:
        what = step["what"]
        if what not in QUERIES:
            raise ValueError(f"unknown barrier query {what!r}")
        value = getattr(self.op, what)(self.session)
        self.emit({"event": "result", "what": what, "value": plain(value)})

    def op_wait(self, step: dict[str, Any]) -> None:
        """``wait_until_barrier_removed(index)`` on its own thread, like a blocked worker."""
        index = int(step["index"])

        def wait() -> None:
            self.op.wait_until_barrier_removed(self.waiter_session(index), index)
            self.emit({"event": "wait_returned", "index": index})

        thread = self.clock.thread(wait, name=f"wait{index}")
        thread.start()
        self.waiters.append(thread)

    def op_start_workers(self, step: dict[str, Any]) -> None:
        self.workers.start()

    def op_join_workers(self, step: dict[str, Any]) -> None:
        self.workers.join()
        for thread in self.waiters:
            thread.join()
        self.waiters.clear()
