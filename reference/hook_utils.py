"""Reference of ``monolith/native_training/hooks/hook_utils.py``: listener wrappers."""

from __future__ import annotations

from reference.runtime.session_run_hook import CheckpointSaverListener, Session


class BeforeSaveListener(CheckpointSaverListener):
    """Forwards only ``before_save`` to the wrapped listener."""

    def __init__(self, listener: CheckpointSaverListener) -> None:
        self._listener = listener

    def before_save(self, session: Session, global_step_value: int) -> None:
        self._listener.before_save(session, global_step_value)

    def __repr__(self) -> str:
        return super().__repr__() + repr(self._listener)


class AfterSaveListener(CheckpointSaverListener):
    """Forwards only ``after_save`` to the wrapped listener."""

    def __init__(self, listener: CheckpointSaverListener) -> None:
        self._listener = listener

    def after_save(self, session: Session, global_step_value: int) -> None:
        self._listener.after_save(session, global_step_value)

    def __repr__(self) -> str:
        return super().__repr__() + repr(self._listener)
