"""Helpers for the bad-input tests (``from adv_helpers import ...``): run a scenario dict
on the reference, within a real-time bound.

``run_bounded`` runs the scenario on a helper thread and, if it is not done within a real
time bound, shuts the testee's virtual clock down (every simulated thread then unwinds)
and reports the hang instead of blocking the test run.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.adapters.inprocess import InProcessReference
from harness.driver import RunOutput, run_scenario
from harness.scenario import Scenario, parse


def scenario(
    family: str, steps: list[dict[str, Any]], config: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "format": 1,
        "family": family,
        "description": "adversarial",
        "config": config or {},
        "steps": steps,
    }


@dataclass
class Ran:
    out: Path
    result: RunOutput | None  # None: it hung and was unwound
    virtual_time: float | None = None

    @property
    def files(self) -> Path:
        return self.out / "files"

    def trace(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.out / "trace.jsonl").read_text().splitlines()]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.trace() if e["event"] == kind]

    def listing(self) -> list[str]:
        return (self.out / "listing.txt").read_text().splitlines()


def run_bounded(data: dict[str, Any] | Scenario, out: Path, seconds: float = 10.0) -> Ran:
    parsed = data if isinstance(data, Scenario) else parse(data, f"{data['family']}/adv", "a")
    impl = InProcessReference()
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["result"] = run_scenario(parsed, impl, out)
        except BaseException as e:  # reported below
            box["error"] = e

    thread = threading.Thread(target=go, name="run_bounded", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        clock = impl._executor._clock
        now = clock.time() if clock is not None else None
        if clock is not None:
            clock.shutdown()
        thread.join(seconds)
        assert not thread.is_alive(), "the hung scenario could not be unwound"
        return Ran(out, None, now)
    if "error" in box:
        raise box["error"]
    return Ran(out, box["result"])
