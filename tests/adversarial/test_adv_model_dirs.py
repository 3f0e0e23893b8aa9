"""Missing, misplaced and unwritable model dirs: what the reference hooks do, pinned.

* Missing: the slot-count listener and the feature dump create it (nested); the query
  hook creates nothing and does nothing.
* A file where the model dir should be (or above it): the listener and the feature dump
  raise an ``OSError`` subclass (``FileExistsError`` / ``NotADirectoryError``) and write
  nothing; the query hook sees no action file. The original goes through
  ``tf.io.gfile``, whose errors are ``tf.errors.OpError`` subclasses: the TF tier
  comparison is in ``tests/property/test_tf_agreement.py``.
* Read-only (needs a non-root user; skipped as root, where permissions do not apply):
  ``PermissionError`` for the listener; ``FileNotFoundError`` for the dump (its failing
  ``makedirs`` is ignored, then ``features/`` is missing); the query hook runs the action
  at every interval but can neither answer nor remove the file, and logs the error each
  time.

Like the original (``except tf.errors.OpError: pass`` around ``makedirs``), the feature
dump ignores a failing ``makedirs``: ``end`` with an empty buffer under a file-as-model-dir
only logs; with records, opening the file fails.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reference.ckpt_info import FidSlotCountSaverListener
from reference.controller_hooks import ControllerHook, QueryActionHook
from reference.feature_engineering_hooks import FeatureEngineeringSaveHook, RunConfig
from reference.hash_table import HashTable
from reference.runtime.graph import Graph, Read, Variable
from reference.runtime.session import CheckpointSaver, MonitoredSession, Session
from reference.runtime.virtual_clock import VirtualClock

pytestmark = pytest.mark.timeout(60)

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_permissions = pytest.mark.skipif(ROOT, reason="root ignores directory permissions")


def save_ckpt_info(model_dir: Path, step: int = 5) -> None:
    graph, session = Graph(), Session()
    table = HashTable("t", 1, "", graph)
    session.run(table.assign([1, 1 << 48]))
    CheckpointSaver([FidSlotCountSaverListener(str(model_dir), graph)], session).save(step)


def dump_features(model_dir: Path, elements: list[dict[str, Any]], cap: int = 100) -> None:
    """One session: a dummy first run, one run per element, then a normal close (end)."""
    data = iter(elements)
    element = Read("next", lambda store: next(data))
    hook = FeatureEngineeringSaveHook(RunConfig(str(model_dir)), element, cap, lambda: "u")
    with MonitoredSession([hook], Session()) as session:
        session.run(Variable("dummy", 1))
        for _ in elements:
            session.run(element)


ELEMENT = {"f": np.array([[1, 2]], dtype=np.int64)}


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "model"
    path.write_text("not a directory")
    return path


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "model"
    path.mkdir()
    path.chmod(0o555)
    yield path
    path.chmod(0o755)


# ------------------------------------------------------------------ missing


def test_listener_creates_a_missing_nested_model_dir(tmp_path: Path) -> None:
    save_ckpt_info(tmp_path / "a" / "b" / "model")
    assert (tmp_path / "a" / "b" / "model" / "ckpt.info-5").read_text() == (
        "slot_counts {\n  key: 0\n  value: 1\n}\nslot_counts {\n  key: 1\n  value: 1\n}\n"
    )


def test_feature_dump_creates_a_missing_nested_model_dir(tmp_path: Path) -> None:
    dump_features(tmp_path / "a" / "model", [ELEMENT])
    assert [p.name for p in (tmp_path / "a" / "model" / "features").iterdir()] == ["chief_u.pb"]


def test_feature_dump_end_with_nothing_buffered_creates_only_the_directory(
    tmp_path: Path,
) -> None:
    dump_features(tmp_path / "model", [])
    assert list((tmp_path / "model" / "features").iterdir()) == []


class QueryWorld:
    """A chief session with a controller and a query hook on a virtual clock."""

    def __init__(self, model_dir: Path) -> None:
        self.clock = VirtualClock(real_timeout=10)
        self.saves = 0
        self.controller = ControllerHook(trigger_save=self._save, clock=self.clock)
        self.query = QueryActionHook(str(model_dir), self.controller, self.clock, 60)
        self.session = MonitoredSession([self.controller, self.query], Session())
        self.session.__enter__()

    def _save(self) -> None:
        self.saves += 1

    def interval_then_run(self) -> None:
        self.clock.sleep(60)
        self.session.run(Variable("dummy", 1))

    def close(self) -> None:
        self.session.close()
        self.clock.shutdown()
        assert self.clock.thread_errors == []


def test_query_hook_on_a_missing_model_dir_does_nothing(tmp_path: Path) -> None:
    world = QueryWorld(tmp_path / "missing")
    world.interval_then_run()
    world.close()
    assert not (tmp_path / "missing").exists() and world.saves == 0


# ------------------------------------------------------------------ a file in the way


def test_listener_with_a_file_as_model_dir_raises_file_exists(a_file: Path) -> None:
    with pytest.raises(FileExistsError):
        save_ckpt_info(a_file)
    assert a_file.read_text() == "not a directory"


def test_listener_below_a_file_raises_not_a_directory(a_file: Path) -> None:
    with pytest.raises(NotADirectoryError):
        save_ckpt_info(a_file / "sub")


def test_feature_dump_with_a_file_as_model_dir_raises_not_a_directory(a_file: Path) -> None:
    with pytest.raises(NotADirectoryError):
        dump_features(a_file, [ELEMENT], cap=1)


def test_query_hook_with_a_file_as_model_dir_sees_no_action(a_file: Path) -> None:
    world = QueryWorld(a_file)
    world.interval_then_run()
    world.close()
    assert world.saves == 0 and a_file.read_text() == "not a directory"


def test_feature_dump_end_with_nothing_buffered_ignores_a_file_as_model_dir(
    a_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reference")
    dump_features(a_file, [])
    assert [r.getMessage() for r in caplog.records] == [f"save to {a_file}/features/chief_u.pb"]


# ------------------------------------------------------------------ read-only


@needs_permissions
def test_listener_in_a_read_only_model_dir_raises_permission_error(read_only: Path) -> None:
    with pytest.raises(PermissionError):
        save_ckpt_info(read_only)
    assert list(read_only.iterdir()) == []


@needs_permissions
def test_feature_dump_in_a_read_only_model_dir_cannot_open_its_file(read_only: Path) -> None:
    """The failing makedirs is ignored (as in the original); opening the file then fails."""
    with pytest.raises(FileNotFoundError):
        dump_features(read_only, [ELEMENT], cap=1)
    assert list(read_only.iterdir()) == []


@needs_permissions
def test_query_hook_in_a_read_only_model_dir_acts_every_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reference")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "monolith_action").write_text("action: TRIGGER_SAVE")
    model_dir.chmod(0o555)
    try:
        world = QueryWorld(model_dir)
        world.interval_then_run()
        world.interval_then_run()
        world.close()
    finally:
        model_dir.chmod(0o755)
    # The action ran at both intervals; neither the answer nor the removal could happen.
    assert world.saves == 2
    assert sorted(p.name for p in model_dir.iterdir()) == ["monolith_action"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all(e.rstrip().splitlines()[-1].startswith("PermissionError: ") for e in errors)
