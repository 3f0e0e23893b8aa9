"""The testee protocol, version 1: the single definition in code of ``docs/protocol.md``.

A testee is one persistent process. The harness writes requests to its stdin and reads
replies from its stdout: UTF-8 JSON, one object per ``\\n``-terminated line. Its stderr is
free-form logging. Every request carries ``seq`` (0 for ``hello``, then +1 per request)
and every reply echoes it. The conversation::

    hello -> hello            once, right after start
    setup -> done | error | not_applicable   per scenario
    step -> done | error      per implementation step (harness-side steps are not sent)
    teardown -> done | error  per scenario
    bye                       no reply; the testee exits with status 0

This module builds and checks messages and holds the rules the adapter applies (reply
deadlines, the escape check); it does no I/O with processes. Every check raises
:class:`ProtocolError` with a message that says what was expected.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1

# Request types (harness -> testee) and reply types (testee -> harness).
HELLO = "hello"
SETUP = "setup"
STEP = "step"
TEARDOWN = "teardown"
BYE = "bye"
DONE = "done"
ERROR = "error"
NOT_APPLICABLE = "not_applicable"

REQUEST_TYPES = frozenset({HELLO, SETUP, STEP, TEARDOWN, BYE})
# What each request may be answered with (``bye`` is not answered).
REPLY_TYPES: dict[str, frozenset[str]] = {
    HELLO: frozenset({HELLO, ERROR}),
    SETUP: frozenset({DONE, ERROR, NOT_APPLICABLE}),
    STEP: frozenset({DONE, ERROR}),
    TEARDOWN: frozenset({DONE, ERROR}),
}

# A reply line longer than this is a protocol error (it bounds the harness's memory).
MAX_LINE_BYTES = 64 * 1024 * 1024

# A testee without a virtual clock gets this much extra time per second of ``advance``
# on top of the per-call timeout (its sleep overshoots; its threads need to settle).
REAL_TIME_TOLERANCE = 0.5


class ProtocolError(Exception):
    """A message broke protocol version 1; the text says how."""


class TesteeError(Exception):
    """The testee answered ``error``: it failed internally (not an observation)."""


class ScenarioNotApplicable(Exception):
    """The testee answered ``setup`` with ``not_applicable``: it cannot express the scenario."""


# -- encoding -------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a protocol line: compact strict JSON, UTF-8, ``\\n``-terminated."""
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a message object; :class:`ProtocolError` says what is wrong."""
    shown = _show(line)
    if not line.endswith(b"\n"):
        raise ProtocolError(f"line is not terminated by a newline: {shown}")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"line is not UTF-8 (byte {e.start}): {shown}") from e
    try:
        message = json.loads(text, parse_constant=_reject_constant)
    except ValueError as e:
        raise ProtocolError(f"line is not JSON ({e}): {shown}") from e
    if not isinstance(message, dict):
        raise ProtocolError(f"line is JSON but not an object: {shown}")
    if not isinstance(message.get("type"), str):
        raise ProtocolError(f"message has no string 'type': {shown}")
    return message


def _show(line: bytes, limit: int = 200) -> str:
    text = line.rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


# -- requests -------------------------------------------------------------------------


def hello(seq: int = 0) -> dict[str, Any]:
    return {"type": HELLO, "seq": seq, "protocol": PROTOCOL_VERSION}


def setup(seq: int, scenario: Mapping[str, Any], files_dir: str) -> dict[str, Any]:
    """``scenario`` is :meth:`harness.scenario.Scenario.to_json`; ``files_dir`` is absolute."""
    if not os.path.isabs(files_dir):
        raise ValueError(f"files_dir must be absolute: {files_dir!r}")
    return {
        "type": SETUP,
        "seq": seq,
        "id": scenario["id"],
        "scenario": {k: scenario[k] for k in ("family", "config", "steps")},
        "files_dir": files_dir,
    }


def step(seq: int, index: int, step_: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": STEP, "seq": seq, "index": index, "step": dict(step_)}


def teardown(seq: int) -> dict[str, Any]:
    return {"type": TEARDOWN, "seq": seq}


def bye(seq: int) -> dict[str, Any]:
    return {"type": BYE, "seq": seq}


def check_request(message: Mapping[str, Any]) -> None:
    """What a testee may assume of every request (the reference server does not check)."""
    kind = message.get("type")
    if kind not in REQUEST_TYPES:
        raise ProtocolError(f"unknown request type {kind!r}")
    if not _is_seq(message.get("seq")):
        raise ProtocolError(f"{kind}: 'seq' must be a non-negative integer")
    if kind == HELLO and message.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(f"hello: 'protocol' must be {PROTOCOL_VERSION}")
    if kind == SETUP:
        scenario = message.get("scenario")
        if not isinstance(message.get("id"), str) or not isinstance(scenario, dict):
            raise ProtocolError("setup: needs a string 'id' and an object 'scenario'")
        if set(scenario) != {"family", "config", "steps"}:
            raise ProtocolError("setup: 'scenario' has exactly family, config and steps")
        files_dir = message.get("files_dir")
        if not isinstance(files_dir, str) or not os.path.isabs(files_dir):
            raise ProtocolError("setup: 'files_dir' must be an absolute path")
    if kind == STEP:
        if not _is_seq(message.get("index")) or not isinstance(message.get("step"), dict):
            raise ProtocolError("step: needs an integer 'index' and an object 'step'")
        if not isinstance(message["step"].get("op"), str):
            raise ProtocolError("step: 'step' needs a string 'op'")


# -- replies --------------------------------------------------------------------------


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_reply(reply: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``reply`` answers ``request``: its type is allowed and it echoes ``seq``.

    Returns the reply. Raises :class:`TesteeError` for an ``error`` reply,
    :class:`ScenarioNotApplicable` for ``not_applicable``, and :class:`ProtocolError` for
    anything else that is wrong.
    """
    expected = REPLY_TYPES[request["type"]]
    kind = reply.get("type")
    if "seq" not in reply:
        raise ProtocolError(f"{kind!r} reply to {request['type']!r} has no 'seq'")
    if reply["seq"] != request["seq"]:
        raise ProtocolError(
            f"out of order: {kind!r} reply carries seq {reply['seq']!r}, but the outstanding "
            f"request is {request['type']!r} with seq {request['seq']}"
        )
    if kind not in expected:
        raise ProtocolError(
            f"wrong reply type {kind!r} to {request['type']!r} (expected "
            f"{' or '.join(sorted(expected))})"
        )
    if kind == ERROR:
        message = reply.get("message")
        if not isinstance(message, str):
            raise ProtocolError("'error' reply needs a string 'message'")
        raise TesteeError(message)
    if kind == NOT_APPLICABLE:
        reason = reply.get("reason")
        if not isinstance(reason, str) or not reason:
            raise ProtocolError("'not_applicable' reply needs a non-empty string 'reason'")
        raise ScenarioNotApplicable(reason)
    if kind == DONE:
        check_events(reply.get("events"))
    return dict(reply)


def check_events(events: Any) -> list[dict[str, Any]]:
    if not isinstance(events, list):
        raise ProtocolError(f"'done' reply needs an 'events' list, got {type(events).__name__}")
    for i, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise ProtocolError(
                f"events[{i}] must be an object with a string 'event': {_show_json(event)}"
            )
    return events


def _show_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def check_hello(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The testee's ``hello``: returns its capabilities ``{families, virtual_clock}``."""
    version = reply.get("protocol")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version mismatch: the testee speaks {version!r}, "
            f"the harness speaks {PROTOCOL_VERSION}"
        )
    if not isinstance(reply.get("implementation"), str) or not reply["implementation"]:
        raise ProtocolError("hello: 'implementation' must be a non-empty string")
    caps = reply.get("capabilities")
    if not isinstance(caps, dict):
        raise ProtocolError("hello: 'capabilities' must be an object")
    families = caps.get("families")
    if not isinstance(families, list) or not all(isinstance(f, str) for f in families):
        raise ProtocolError("hello: capabilities.families must be a list of strings")
    if not isinstance(caps.get("virtual_clock"), bool):
        raise ProtocolError("hello: capabilities.virtual_clock must be true or false")
    return dict(caps)


# -- timing ---------------------------------------------------------------------------


def advance_seconds(step_: Mapping[str, Any]) -> float:
    """Seconds an ``advance`` step covers (``seconds`` x ``count``); 0 for other steps."""
    if step_.get("op") != "advance":
        return 0.0
    try:
        seconds = float(step_.get("seconds", 0)) * int(step_.get("count", 1))
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def reply_timeout(step_: Mapping[str, Any] | None, timeout: float, virtual_clock: bool) -> float:
    """How long the harness waits for the reply to a request.

    ``timeout`` for every request, except that a testee without a virtual clock must let
    an ``advance``'s time really pass before it answers: it gets that time on top, plus
    :data:`REAL_TIME_TOLERANCE` of it.
    """
    if step_ is None or virtual_clock:
        return timeout
    return timeout + advance_seconds(step_) * (1.0 + REAL_TIME_TOLERANCE)


# -- the escape rule ------------------------------------------------------------------

Snapshot = dict[str, tuple[bool, int, int]]  # relative path -> (is_dir, size, mtime_ns)


def snapshot(root: str | os.PathLike[str], skip: str | os.PathLike[str] | None = None) -> Snapshot:
    """Every path under ``root`` (not following symlinks), except the subtree ``skip``."""
    root = Path(root)
    skip_path = Path(skip).resolve() if skip is not None else None
    found: Snapshot = {}
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip_path is not None:
            dirnames[:] = [d for d in dirnames if (here / d).resolve() != skip_path]
        for name in dirnames + filenames:
            path = here / name
            try:
                st = path.lstat()
            except FileNotFoundError:  # removed while walking
                continue
            rel = path.relative_to(root).as_posix()
            found[rel] = (path.is_dir() and not path.is_symlink(), st.st_size, st.st_mtime_ns)
    return found


def escapes(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths created, changed or removed between two snapshots (directories: created or
    removed only, since their mtime moves whenever an entry does)."""
    changed = []
    for rel in sorted(set(before) | set(after)):
        if rel not in before:
            changed.append(f"{rel} (created)")
        elif rel not in after:
            changed.append(f"{rel} (removed)")
        elif not after[rel][0] and before[rel] != after[rel]:
            changed.append(f"{rel} (modified)")
    return changed
