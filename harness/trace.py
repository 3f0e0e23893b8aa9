"""The canonical trace: normalised events, one sorted-key JSON object per line."""

from __future__ import annotations

import json
from typing import Any

FILES_TOKEN = "$FILES"


def normalize(value: Any, files_dir: str) -> Any:
    """Replace the absolute ``files/`` path in every string with ``$FILES``."""
    if isinstance(value, str):
        return value.replace(files_dir, FILES_TOKEN)
    if isinstance(value, dict):
        return {k: normalize(v, files_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, files_dir) for v in value]
    return value


# One encoder for every event: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=True)


def render_event(event: dict[str, Any]) -> str:
    """``json.dumps(event, sort_keys=True, ensure_ascii=True)``."""
    return _ENCODER.encode(event)


class Trace:
    """Collects events of one scenario run."""

    def __init__(self, files_dir: str) -> None:
        self._files_dir = files_dir
        self.events: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ValueError(f"an event must be an object with a string 'event': {event!r}")
        self.events.append(normalize(event, self._files_dir))

    def extend(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.add(event)

    def render(self) -> bytes:
        return "".join(render_event(e) + "\n" for e in self.events).encode("ascii")


def parse_trace(data: bytes) -> list[dict[str, Any]]:
    """Decode a trace file; raises ValueError naming the line that is not a JSON object."""
    events = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {number}: not JSON: {e.msg} at column {e.colno}") from e
        except (ValueError, RecursionError) as e:  # e.g. huge integers, deep nesting
            raise ValueError(f"line {number}: not a readable JSON value: {e}") from e
        if not isinstance(event, dict):
            raise ValueError(f"line {number}: not a JSON object")
        events.append(event)
    return events
