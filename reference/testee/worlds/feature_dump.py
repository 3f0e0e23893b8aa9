"""Feature dump family: FeatureEngineeringSaveHook over a simulated dataset iterator."""

from __future__ import annotations

from typing import Any

from reference.feature_engineering_hooks import FeatureEngineeringSaveHook, RunConfig
from reference.runtime.graph import Read, Store, Variable
from reference.runtime.session import MonitoredSession, OutOfRangeError, Session
from reference.testee import inputs
from reference.testee.world import World, close_error

# Bounds run_until_end for a dataset that never ends (none can in this format).
MAX_RUNS = 1_000_000


def default_uuid(k: int) -> str:
    """The k-th (0-based) uuid the harness injects: ``0000000k-0000-1000-8000-000000000000``."""
    return f"{k:08x}-0000-1000-8000-000000000000"


class FeatureDumpWorld(World):
    def setup(self) -> None:
        c = self.config
        self.dataset = [inputs.batch(b) for b in c.get("batches", [])]
        self.position = 0
        uuids = list(c.get("uuids", []))
        counter = iter(range(1 << 62))

        def uuid_fn() -> str:
            k = next(counter)
            return uuids[k] if k < len(uuids) else default_uuid(k)

        next_element = Read("IteratorGetNext", self._next)
        self.hook = FeatureEngineeringSaveHook(
            RunConfig(
                model_dir=self.model_dir,
                server_type=c.get("server_type", "worker"),
                index=int(c.get("index", 0)),
            ),
            next_element,
            cap=int(c.get("cap", 100)),
            uuid_fn=uuid_fn,
        )
        # The model's train op consumes the same element the hook fetches in that run.
        self.fetches = {"train_op": next_element, "dummy": Variable("dummy", 1)}
        self.session = MonitoredSession([self.hook], Session())
        self.session.__enter__()

    def _next(self, store: Store) -> dict[str, Any]:
        if self.position >= len(self.dataset):
            raise OutOfRangeError("End of sequence")
        self.position += 1
        return self.dataset[self.position - 1]

    def op_run(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", "train_op")
        self.session.run(self.fetches[name])
        self.emit({"event": "run", "worker": 0, "fetch": name, "should_stop": False})

    def op_run_until_end(self, step: dict[str, Any]) -> None:
        """``with session: while True: session.run(train_op)`` until the data runs out."""
        runs = 0
        try:
            while runs < MAX_RUNS:
                self.session.run(self.fetches["train_op"])
                runs += 1
        except OutOfRangeError as e:
            self.emit({"event": "runs", "count": runs})
            self.session.__exit__(OutOfRangeError, e, None)

    def op_end(self, step: dict[str, Any]) -> None:
        error = close_error(step.get("error"))
        if error is None:
            self.session.__exit__(None, None, None)
        else:
            self.session.__exit__(error[0], error[1], None)
