"""The simulated TensorFlow runtime the reference hooks and every tier's worlds run on.

A leaf package (it imports nothing from the rest of the project): the hook lifecycle and
its value types (``session_run_hook``), the graph model (``graph``), the injectable
time/thread surface (``clock``), the deterministic :class:`~.virtual_clock.VirtualClock`,
and the sessions that drive hooks as TensorFlow's monitored sessions do (``session``). As
in TensorFlow, where ``session_run_hook.py`` sits beside ``monitored_session.py``, the
lifecycle and its driver live together; the harness (the judge) never depends on them.
"""
