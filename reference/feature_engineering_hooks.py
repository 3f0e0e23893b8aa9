"""Reference of ``monolith/native_training/hooks/feature_engineering_hooks.py``.

:class:`FeatureEngineeringSaveHook` buffers the dataset elements fetched by each run
(skipping the first run, the iterator's initialisation) and dumps them as a stream of
``ExampleBatch`` records to ``<model_dir>/features/``: each record is a little-endian
uint64 0 (the lagrange header), a little-endian uint64 length, then the serialized
``ExampleBatch``. It flushes at ``cap`` buffered batches and at ``end``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference.example_values import LAGRANGE_HEADER, RaggedValue, frame, to_example_batch
from reference.fast_example import encode_example_batch
from reference.runtime.session_run_hook import (
    Session,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

log = logging.getLogger(__name__)

# The value types, the message builder and the framing live in a leaf module shared with the
# direct encoder; they stay importable from here, where the original defines them.
__all__ = [
    "LAGRANGE_HEADER",
    "FeatureEngineeringSaveHook",
    "RaggedValue",
    "RunConfig",
    "feature_file_name",
    "frame",
    "to_example_batch",
]


@dataclass(frozen=True)
class RunConfig:
    """The parts of an estimator ``RunConfig`` the hook reads."""

    model_dir: str
    server_type: str = "worker"
    index: int = 0


def feature_file_name(config: RunConfig, uid: str) -> str:
    """``chief_<uid>.pb`` for worker 0, else ``worker<index>_<uid>.pb``."""
    if config.server_type == "worker" and config.index == 0:
        return f"chief_{uid}.pb"
    return f"worker{config.index}_{uid}.pb"


class FeatureEngineeringSaveHook(SessionRunHook):
    """Dumps the fetched dataset elements as framed ``ExampleBatch`` files."""

    def __init__(
        self,
        config: RunConfig,
        nxt_elem: Any,
        cap: int = 100,
        uuid_fn: Callable[[], object] = uuid.uuid1,
    ) -> None:
        self._config = config
        self._nxt_elem = nxt_elem
        self._cap = cap
        self._uuid_fn = uuid_fn

    def begin(self) -> None:
        self._batch_list: list[dict[str, Any]] = []
        self._steps = 0

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self._steps += 1
        # The first run initialises the iterator: nothing is fetched.
        if self._steps > 1:
            return SessionRunArgs(self._nxt_elem)
        return None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self._steps > 1:
            self._batch_list.append(run_values.results)
            if len(self._batch_list) >= self._cap:
                self._save_features()
                self._batch_list.clear()

    def end(self, session: Session) -> None:
        # Always true in the original (len >= 0): an empty buffer is "saved" too.
        if len(self._batch_list) >= 0:
            self._save_features()
            self._batch_list.clear()

    def _save_features(self) -> None:
        base_dir = os.path.join(self._config.model_dir, "features")
        # The original ignores a failure here (a file in the way, no permission): the
        # error, if any, comes when the file is opened for the first record.
        with contextlib.suppress(OSError):
            os.makedirs(base_dir, exist_ok=True)
        file_path = os.path.join(base_dir, feature_file_name(self._config, str(self._uuid_fn())))
        # Written directly (byte-identical to ``to_example_batch(b).SerializeToString()``).
        records = [frame(encode_example_batch(b)) for b in self._batch_list]
        # The original's file object opens lazily on the first write: no records, no file.
        if records:
            with open(file_path, "wb") as f:
                for record in records:
                    f.write(record)
        log.info("save to %s", file_path)
