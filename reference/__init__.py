"""Pure-Python reference implementation of Monolith's training hooks.

One module per original Monolith module; importable without TensorFlow.
"""

__all__ = [
    "barrier_ops",
    "ckpt_info",
    "clock",
    "controller_hooks",
    "feature_engineering_hooks",
    "graph",
    "hook_utils",
    "session_run_hook",
]
