"""The TensorFlow tier (:mod:`reference.tf.executor`), in process; needs the ``tf`` extra."""

from __future__ import annotations

from harness.adapters.inprocess import InProcess


class TensorFlowTier(InProcess):
    """Runs scenarios through real ``tf.compat.v1`` monitored sessions."""

    def __init__(self) -> None:
        from reference.tf.executor import Executor

        super().__init__("tf", Executor)
