"""TensorFlow tier of ``monolith/native_training/hooks/hook_utils.py``.

Two ``tf.compat.v1.train.CheckpointSaverListener`` wrappers: one forwards only
``before_save``, the other only ``after_save``; every other call does nothing. Their
``repr`` is the default object repr followed by the wrapped listener's repr.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

_Listener = tf.compat.v1.train.CheckpointSaverListener


class BeforeSaveListener(_Listener):
    """Forwards only ``before_save`` to the wrapped listener."""

    def __init__(self, listener: _Listener) -> None:
        self._listener = listener

    def before_save(self, session: Any, global_step_value: int) -> None:
        self._listener.before_save(session, global_step_value)

    def __repr__(self) -> str:
        return super().__repr__() + repr(self._listener)


class AfterSaveListener(_Listener):
    """Forwards only ``after_save`` to the wrapped listener."""

    def __init__(self, listener: _Listener) -> None:
        self._listener = listener

    def after_save(self, session: Any, global_step_value: int) -> None:
        self._listener.after_save(session, global_step_value)

    def __repr__(self) -> str:
        return super().__repr__() + repr(self._listener)
