"""Feature dump family: FeatureEngineeringSaveHook over the scenario's dataset iterator."""

from __future__ import annotations

from typing import Any

from reference.feature_engineering_hooks import RunConfig
from reference.runtime.graph import Read, Store
from reference.testee import inputs
from reference.testee.world import ChiefSessionWorld

# Bounds run_until_end for a dataset that never ends (none can in this format).
MAX_RUNS = 1_000_000


def default_uuid(k: int) -> str:
    """The k-th (0-based) uuid the harness injects: ``0000000k-0000-1000-8000-000000000000``."""
    return f"{k:08x}-0000-1000-8000-000000000000"


class FeatureDumpWorld(ChiefSessionWorld):
    default_fetch = "train_op"

    def setup(self) -> None:
        c = self.config
        uuids = list(c.get("uuids", []))
        counter = iter(range(1 << 62))

        def uuid_fn() -> str:
            k = next(counter)
            return uuids[k] if k < len(uuids) else default_uuid(k)

        config = RunConfig(
            model_dir=self.model_dir,
            server_type=c.get("server_type", "worker"),
            index=int(c.get("index", 0)),
        )
        with self.building():
            next_element = self.next_element(c.get("batches", []))
            self.hook = self.hooks.feature_hook(
                config, next_element, int(c.get("cap", 100)), uuid_fn
            )
            self.fetches = {
                "train_op": self.train_op(next_element),
                "dummy": self.constant("dummy"),
            }
        self.session = self.chief_monitored([self.hook])

    # -- the tier's dataset (here: the scenario's batches, one per read) ----------------
    def next_element(self, batches: list[list[dict[str, Any]]]) -> Any:
        """The iterator's ``get_next()`` over the scenario's batches."""
        self.dataset = [inputs.batch(b) for b in batches]
        self.position = 0
        return Read("IteratorGetNext", self._next)

    def train_op(self, next_element: Any) -> Any:
        """The model's train op: it consumes the element the hook fetches in that run."""
        return next_element

    def _next(self, store: Store) -> dict[str, Any]:
        if self.position >= len(self.dataset):
            raise self.out_of_range("End of sequence")
        self.position += 1
        return self.dataset[self.position - 1]

    def op_run_until_end(self, step: dict[str, Any]) -> None:
        """``with session: while True: session.run(train_op)`` until the data runs out."""
        runs = 0
        try:
            while runs < MAX_RUNS:
                self.session.run(self.fetches["train_op"])
                runs += 1
        except self.out_of_range as e:
            self.emit({"event": "runs", "count": runs})
            self.session.__exit__(type(e), e, None)
