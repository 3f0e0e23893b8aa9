"""Declared deviations: what one implementation knowingly does differently.

A deviation file is JSON, validated against ``harness/deviations.schema.json`` (shipped
with the package; docs/deviations.md explains it with examples)::

    {"implementation": "monolith-rs",
     "deviations": [
       {"quirk": "unknown-action-typeerror", "reason": "we answer 'Unknown action'"},
       {"scenario": "feature_dump/end_empty_buffer", "reason": "..."},
       {"relax": "protobuf-error-wording", "reason": "our own text-format parser"}]}

Each entry names exactly one of:

* ``scenario``: that scenario is expected to fail (*expected deviation*; if it matches
  anyway it is an *unexpected pass*, which fails the run);
* ``quirk``: the same, for every scenario that pins that quirk;
* ``relax``: a named relaxation of the byte-for-byte comparison
  (:data:`harness.compare.RELAXATIONS`); a scenario that matches only thanks to it passes
  and is counted apart as *relaxed*.

Each entry needs a non-blank ``reason``. ``implementation`` scopes the file: it applies
only to the implementation whose name (the ``implementation`` of its testee's ``hello``,
or ``reference`` / ``tf``) is exactly that string; in a run of several implementations
the others are judged without it. A file without ``implementation`` (or with ``""``)
applies to every implementation, as files written before the field was a scope do.

Every error is a :class:`DeviationError` naming the file and the JSON path of the entry.
The file is read by :func:`harness.json_input.read_json` (a regular file of at most
:data:`MAX_FILE_BYTES`, strict UTF-8 and JSON, no key given twice).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness.json_input import JsonInputError, read_json
from harness.scenario import Scenario

SCHEMA_PATH = Path(__file__).resolve().parent / "deviations.schema.json"
TARGETS = ("scenario", "quirk", "relax")
FIELDS = (*TARGETS, "reason")
# A deviations file is a few entries; this bounds what one is read into memory.
MAX_FILE_BYTES = 1 << 20


class DeviationError(ValueError):
    """A deviation file is malformed or names something that does not exist."""


@dataclass(frozen=True)
class Deviations:
    implementation: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # scenario id -> reason
    relaxations: dict[str, str] = field(default_factory=dict)  # relaxation -> reason
    path: str = ""  # the file, for what reports say of it
    # Each scenario or quirk entry: (how reports name it, the scenario ids it targets).
    entries: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def unmatched(self, implementations: Sequence[str], scenario_ids: Sequence[str]) -> list[str]:
        """One line for each way this file matches nothing in a run of ``implementations``
        on ``scenario_ids``: scoped to an implementation the run does not have, or an entry
        none of whose scenarios the run selected."""
        if not self.path:
            return []
        if self.implementation and self.implementation not in implementations:
            ran = ", ".join(repr(i) for i in implementations) or "none"
            return [
                f"deviations: {self.path} is for implementation {self.implementation!r}, "
                f"which is not in this run (it ran {ran}): nothing in it applied"
            ]
        selected = set(scenario_ids)
        return [
            f"deviations: {self.path}: {name} matches no scenario of this run"
            for name, targets in self.entries
            if not selected.intersection(targets)
        ]

    def expected_to_fail(self, scenario_id: str) -> str | None:
        return self.reasons.get(scenario_id)

    def applies_to(self, implementation: str) -> bool:
        """Whether these deviations are declared for ``implementation``."""
        return not self.implementation or self.implementation == implementation


@cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _json_path(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _quoted(names: Sequence[str], conjunction: str = "or") -> str:
    shown = [repr(n) for n in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} {conjunction} {shown[-1]}"


def _explain(error: Any) -> str:
    """One schema error in the loader's words: ``JSON path: what is wrong``."""
    path = list(error.absolute_path)
    where = _json_path(path)
    value, kind = error.instance, error.validator
    if not path or path == ["deviations"]:
        if kind == "additionalProperties":
            unknown = sorted(set(value) - set(error.schema["properties"]))
            return (
                f"unknown field {_quoted(unknown, 'and')} (a deviations file has 'implementation' "
                "and 'deviations')"
            )
        return "expected an object with a 'deviations' list"
    if path == ["implementation"]:
        return f"implementation: must be a string, got {value!r}"
    entry = _json_path(path[:2])
    if len(path) == 2:
        if kind == "type":
            return f"{entry}: an entry must be an object with a 'reason', got {value!r}"
        if kind == "required":
            return f"{entry}: needs a 'reason' string"
        if kind == "additionalProperties":
            unknown = sorted(set(value) - set(FIELDS))
            return (
                f"{entry}: unknown field {_quoted(unknown, 'and')} (an entry has "
                f"{_quoted(FIELDS, 'and')})"
            )
        if kind == "oneOf":
            named = [t for t in TARGETS if t in value]
            if not named:
                return f"{entry}: needs {_quoted(TARGETS)}"
            return f"{entry}: names {_quoted(named, 'and')}: one target per entry"
    key = path[2] if len(path) > 2 else None
    if key == "reason":
        blank = " (a blank reason explains nothing)" if isinstance(value, str) else ""
        return f"{entry}: needs a 'reason' string, got {value!r}{blank}"
    if key == "relax" and kind == "enum":
        return f"{where}: unknown relaxation {value!r} (known: {_quoted(error.validator_value)})"
    if key in ("scenario", "quirk") and kind == "type":
        return f"{where}: must be a string, got {value!r}"
    return f"{where or '(top level)'}: {error.message}"


def _first_error(data: Any) -> Any | None:
    """The schema error to report: the first entry's (in file order) that has one; within
    it, a wrong type before a missing field before the rest."""
    errors = list(_validator().iter_errors(data))
    if not errors:
        return None
    rank = {"type": 0, "required": 1, "additionalProperties": 2, "oneOf": 3}

    def order(e: Any) -> tuple[Any, ...]:
        path = list(e.absolute_path)
        index = path[1] if len(path) > 1 and path[0] == "deviations" else -1
        return (index, len(path) > 2, rank.get(e.validator, 9), e.json_path)

    return min(errors, key=order)


def load_deviations(path: str | Path | None, scenarios: Sequence[Scenario]) -> Deviations:
    if path is None:
        return Deviations()
    path = Path(path)
    try:
        data = read_json(path, "a deviations file", MAX_FILE_BYTES)
    except JsonInputError as e:
        raise DeviationError(str(e)) from e
    error = _first_error(data)
    if error is not None:
        raise DeviationError(f"{path}: {_explain(error)}")
    by_id = {s.id: s for s in scenarios}
    reasons: dict[str, str] = {}
    relaxations: dict[str, str] = {}
    entries: list[tuple[str, tuple[str, ...]]] = []
    for i, entry in enumerate(data["deviations"]):
        where = f"{path}: deviations[{i}]"
        if "scenario" in entry:
            if entry["scenario"] not in by_id:
                raise DeviationError(f"{where}.scenario: no scenario {entry['scenario']!r}")
            reasons[entry["scenario"]] = entry["reason"]
            entries.append(
                (f"deviations[{i}] (scenario {entry['scenario']})", (entry["scenario"],))
            )
        elif "quirk" in entry:
            pinned = [s.id for s in scenarios if entry["quirk"] in s.pins]
            if not pinned:
                raise DeviationError(f"{where}.quirk: no scenario pins {entry['quirk']!r}")
            for scenario_id in pinned:
                reasons[scenario_id] = f"quirk {entry['quirk']}: {entry['reason']}"
            entries.append((f"deviations[{i}] (quirk {entry['quirk']})", tuple(pinned)))
        else:
            if entry["relax"] in relaxations:
                raise DeviationError(f"{where}.relax: {entry['relax']!r} is declared twice")
            relaxations[entry["relax"]] = entry["reason"]
    return Deviations(
        data.get("implementation", ""), reasons, relaxations, str(path), tuple(entries)
    )
