"""Declared deviations: the scenarios (or quirks) an implementation is expected to fail.

A deviation file is JSON::

    {"implementation": "monolith-rs",
     "deviations": [
       {"quirk": "unknown-action-typeerror", "reason": "we answer 'Unknown action'"},
       {"scenario": "feature_dump/end_empty_buffer", "reason": "..."}]}

A quirk entry covers every scenario that pins that quirk. Each entry needs a reason.

``implementation`` scopes the file: it applies only to the implementation whose name
(the ``implementation`` of its testee's ``hello``, or ``reference`` / ``tf``) is exactly
that string; in a run of several implementations the others are judged without it. A file
without ``implementation`` (or with ``""``) applies to every implementation, as files
written before the field was a scope do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.scenario import Scenario


class DeviationError(ValueError):
    """A deviation file is malformed or names something that does not exist."""


@dataclass(frozen=True)
class Deviations:
    implementation: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # scenario id -> reason

    def expected_to_fail(self, scenario_id: str) -> str | None:
        return self.reasons.get(scenario_id)

    def applies_to(self, implementation: str) -> bool:
        """Whether these deviations are declared for ``implementation``."""
        return not self.implementation or self.implementation == implementation


def load_deviations(path: str | Path | None, scenarios: Sequence[Scenario]) -> Deviations:
    if path is None:
        return Deviations()
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DeviationError(f"{path}: cannot read: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise DeviationError(f"{path}: not UTF-8 at byte offset {e.start}") from e
    except json.JSONDecodeError as e:
        raise DeviationError(f"{path}: line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(data, dict) or not isinstance(data.get("deviations"), list):
        raise DeviationError(f"{path}: expected an object with a 'deviations' list")
    scope = data.get("implementation", "")
    if not isinstance(scope, str):
        raise DeviationError(f"{path}: implementation: must be a string, got {scope!r}")
    by_id = {s.id: s for s in scenarios}
    reasons: dict[str, str] = {}
    for i, entry in enumerate(data["deviations"]):
        where = f"{path}: deviations[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("reason"), str):
            raise DeviationError(f"{where}: needs a 'reason' string")
        for key in ("scenario", "quirk"):
            if key in entry and not isinstance(entry[key], str):
                raise DeviationError(f"{where}.{key}: must be a string, got {entry[key]!r}")
        if "scenario" in entry:
            if entry["scenario"] not in by_id:
                raise DeviationError(f"{where}.scenario: no scenario {entry['scenario']!r}")
            reasons[entry["scenario"]] = entry["reason"]
        elif "quirk" in entry:
            pinned = [s.id for s in scenarios if entry["quirk"] in s.pins]
            if not pinned:
                raise DeviationError(f"{where}.quirk: no scenario pins {entry['quirk']!r}")
            for scenario_id in pinned:
                reasons[scenario_id] = f"quirk {entry['quirk']}: {entry['reason']}"
        else:
            raise DeviationError(f"{where}: needs 'scenario' or 'quirk'")
    return Deviations(scope, reasons)
