"""TensorFlow tier: the hooks built on real TensorFlow graphs and monitored sessions.

Each module mirrors one module of the pure-Python reference (same behaviour, same files,
same log messages, same errors), but builds TensorFlow variables and ops the way the
original Monolith code does and runs inside ``tf.compat.v1.train`` monitored sessions
in graph mode. Importing this package needs TensorFlow: install the ``tf`` extra
(``pip install -e '.[tf]'``).

:mod:`reference.tf.executor` runs the harness's scenarios against this tier, with the
same interface as :mod:`reference.testee.executor`.
"""

from __future__ import annotations

try:
    import tensorflow as _tf  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "reference.tf needs TensorFlow, which is not installed: install the `tf` extra "
        "(pip install -e '.[tf]', which pins tensorflow-cpu==2.21.0)"
    ) from e

__all__ = [
    "barrier_ops",
    "ckpt_info",
    "controller_hooks",
    "executor",
    "feature_engineering_hooks",
    "hash_table",
    "hook_utils",
]
