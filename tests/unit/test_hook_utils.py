"""``reference.hook_utils``: listener wrappers that forward one call each."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from reference.ckpt_info import FidSlotCountSaverListener
from reference.hash_table import HashTable
from reference.hook_utils import AfterSaveListener, BeforeSaveListener
from reference.runtime.graph import Graph
from reference.runtime.session import CheckpointSaver, Session
from reference.runtime.session_run_hook import CheckpointSaverListener


class Spy(CheckpointSaverListener):
    """Records every call; returns True from the save calls (a stop request in TF)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def begin(self) -> None:
        self.calls.append(("begin",))

    def before_save(self, session: Any, global_step_value: int) -> bool:
        self.calls.append(("before_save", session, global_step_value))
        return True

    def after_save(self, session: Any, global_step_value: int) -> bool:
        self.calls.append(("after_save", session, global_step_value))
        return True

    def end(self, session: Any, global_step_value: int) -> None:
        self.calls.append(("end", session, global_step_value))

    def __repr__(self) -> str:
        return "<Spy listener>"


def _drive(wrapper: CheckpointSaverListener, session: Session) -> list[Any]:
    return [
        wrapper.begin(),
        wrapper.before_save(session, 3),
        wrapper.after_save(session, 3),
        wrapper.end(session, 3),
    ]


def test_before_save_listener_forwards_only_before_save() -> None:
    spy, session = Spy(), Session()
    results = _drive(BeforeSaveListener(spy), session)
    assert spy.calls == [("before_save", session, 3)]
    # The wrapped listener's return value is not passed on.
    assert results == [None, None, None, None]


def test_after_save_listener_forwards_only_after_save() -> None:
    spy, session = Spy(), Session()
    results = _drive(AfterSaveListener(spy), session)
    assert spy.calls == [("after_save", session, 3)]
    assert results == [None, None, None, None]


def test_wrappers_through_a_checkpoint_saver() -> None:
    before, after, session = Spy(), Spy(), Session()
    saver = CheckpointSaver([BeforeSaveListener(before), AfterSaveListener(after)], session)
    saver.save(1)
    saver.save(2)
    saver.end(2)
    assert before.calls == [("before_save", session, 1), ("before_save", session, 2)]
    assert after.calls == [("after_save", session, 1), ("after_save", session, 2)]


@pytest.mark.parametrize("wrapper_cls", [BeforeSaveListener, AfterSaveListener])
def test_repr_is_the_default_object_repr_followed_by_the_wrapped_repr(
    wrapper_cls: type[CheckpointSaverListener],
) -> None:
    spy = Spy()
    wrapper = wrapper_cls(spy)  # type: ignore[call-arg]
    text = repr(wrapper)
    name = wrapper_cls.__name__
    match = re.fullmatch(
        rf"<reference\.hook_utils\.{name} object at (0x[0-9a-fA-F]+)><Spy listener>", text
    )
    assert match is not None, text
    assert int(match.group(1), 16) == id(wrapper)
    assert text == object.__repr__(wrapper) + repr(spy)


def test_repr_nests() -> None:
    inner = BeforeSaveListener(Spy())
    outer = AfterSaveListener(inner)
    assert repr(outer) == object.__repr__(outer) + object.__repr__(inner) + "<Spy listener>"


@pytest.mark.parametrize(
    ("wrapper_cls", "written"), [(BeforeSaveListener, True), (AfterSaveListener, False)]
)
def test_wrapping_the_slot_count_listener(
    tmp_path: Path, wrapper_cls: type[CheckpointSaverListener], written: bool
) -> None:
    graph = Graph()
    table = HashTable("t", graph=graph)
    session = Session()
    session.run(table.assign([1 << 48]))
    listener = wrapper_cls(FidSlotCountSaverListener(str(tmp_path), graph))  # type: ignore[call-arg]
    CheckpointSaver([listener], session).save(4)
    path = tmp_path / "ckpt.info-4"
    assert path.exists() is written
    if written:
        assert path.read_bytes() == b"slot_counts {\n  key: 1\n  value: 1\n}\n"
