"""The original tier's virtual time, on stand-in modules shaped like the originals.

The original Monolith modules are not in this repository (the original tier imports them
from a checkout), so these tests patch small modules that use ``time``, ``threading`` and
absl's ``log_every_n_seconds`` the way the originals do, and check that everything runs
on the virtual clock, that the throttle is kept per call site and simulated process, and
that :meth:`VirtualTime.restore` puts every global back.
"""

from __future__ import annotations

import threading
import time
import types

import pytest

pytest.importorskip("tensorflow")
absl_logging = pytest.importorskip("absl.logging")

from reference.original.virtual_time import VirtualTime, simulated_process  # noqa: E402
from reference.runtime.virtual_clock import VirtualClock  # noqa: E402

pytestmark = pytest.mark.tf


def _module() -> types.ModuleType:
    """A module with the originals' globals: ``time`` and ``threading``."""
    module = types.ModuleType("fake_original")
    module.time = time
    module.threading = threading
    return module


def test_time_threads_and_events_run_on_the_virtual_clock() -> None:
    clock, module = VirtualClock(), _module()
    patched = VirtualTime(clock, [module])
    try:
        seen: list[tuple[str, float]] = []
        stop = module.threading.Event()

        def loop() -> None:
            while not stop.wait(timeout=60):  # QueryActionHook's loop
                seen.append(("query", module.time.time()))

        thread = module.threading.Thread(name="QuertActionHookThread", target=loop, daemon=True)
        thread.start()
        module.time.sleep(150)  # allow-sleep: the patched, virtual sleep (no real time)
        stop.set()
        thread.join()
        assert seen == [("query", 60.0), ("query", 120.0)]
        assert module.time.monotonic is time.monotonic  # anything else is the real module
    finally:
        patched.restore()
        clock.shutdown()
    assert module.time is time and module.threading is threading


def test_the_log_throttle_is_per_call_site_and_simulated_process() -> None:
    clock, module = VirtualClock(), _module()
    original = absl_logging._seconds_have_elapsed
    patched = VirtualTime(clock, [module])
    try:
        check = absl_logging._seconds_have_elapsed
        verdicts: list[tuple[str, float, bool]] = []

        def poll(name: str) -> None:
            for _ in range(3):
                verdicts.append((simulated_process(), clock.time(), check("site", 60)))
                clock.sleep(40)

        for name in ("worker1", "worker2"):
            clock.thread(lambda name=name: poll(name), name=name).start()
        poll("chief")
        clock.sleep(1)
        by_process: dict[str, list[bool]] = {}
        for process, _, logged in verdicts:
            by_process.setdefault(process, []).append(logged)
        # Each simulated process logs at 0 and 80 (60 s after 0), not at 40.
        assert by_process == {p: [True, False, True] for p in ("chief", "worker1", "worker2")}
    finally:
        patched.restore()
        clock.shutdown()
    assert absl_logging._seconds_have_elapsed is original


def test_set_changes_another_global_until_restore() -> None:
    clock, module = VirtualClock(), _module()
    module.QUERY_INTERVAL = 60
    patched = VirtualTime(clock, [module])
    patched.set(module, "QUERY_INTERVAL", 0.5)
    assert module.QUERY_INTERVAL == 0.5
    patched.restore()
    clock.shutdown()
    assert module.QUERY_INTERVAL == 60
