"""Encode, decode and check testee-protocol messages against ``messages.schema.json``.

The schema next to this module is the one definition of every message of protocol
version 1 (``docs/protocol.md`` explains the conversation). This module reads it at import
and checks messages against it with a small validator for the subset of JSON Schema the
file uses (``type``, ``const``, ``required``, ``properties``, ``additionalProperties:
false``, ``items``, ``minLength``, ``minimum``, ``pattern``, ``oneOf``, ``$ref``), so it
needs nothing outside the standard library; ``tests/protocol/test_protocol_schema.py``
checks that it agrees with the ``jsonschema`` package. One difference, on purpose: an
integer is a JSON integer here (``1.0`` and ``true`` are not integers).

Both sides use it: the harness (``harness.adapters.session``) and the reference testee
(``reference.testee.server``). It imports nothing from either. The wire format:

- a message is one JSON object on one line, UTF-8, ``\\n``-terminated, strict RFC 8259 (no
  ``NaN`` or ``Infinity``); :func:`encode` writes that, :func:`decode` reads it;
- integers are written exactly, as JSON integers, however large (event fields such as
  global steps can exceed 2**53); Python reads them exactly;
- ``not_applicable`` is a reply type like ``done``: :func:`check_reply` returns it, it is
  not an exception.

Every check raises :class:`ProtocolError` with a message naming the field and what was
expected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

SCHEMA: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("messages.schema.json").read_text(encoding="utf-8")
)

PROTOCOL_VERSION: int = SCHEMA["x-protocol-version"]

# Request types (harness -> testee) and reply types (testee -> harness).
HELLO = "hello"
SETUP = "setup"
STEP = "step"
TEARDOWN = "teardown"
BYE = "bye"
DONE = "done"
ERROR = "error"
NOT_APPLICABLE = "not_applicable"

REQUEST_TYPES = frozenset(SCHEMA["x-requests"])
REPLY_TYPES_ALL = frozenset(SCHEMA["x-replies"])
# What each request may be answered with (``bye`` is not answered).
REPLY_TYPES: dict[str, frozenset[str]] = {
    kind: frozenset(entry["replies"])
    for kind, entry in SCHEMA["x-requests"].items()
    if entry["replies"]
}
_NAMED = ({HELLO, SETUP, STEP, TEARDOWN, BYE}, {HELLO, DONE, ERROR, NOT_APPLICABLE})
if (REQUEST_TYPES, REPLY_TYPES_ALL) != _NAMED:  # pragma: no cover - they change together
    raise ImportError("testee_protocol: the message type constants disagree with the schema")

# Bounds on what a testee may send (they bound the harness's memory; docs/protocol.md):
# a reply line's length, and the number of ',' bytes in it, which bounds how many JSON
# values a reply can make the harness build before it is parsed (a 64 MiB line of tiny
# events would otherwise take gigabytes).
MAX_LINE_BYTES = 64 * 1024 * 1024
MAX_REPLY_COMMAS = 100_000


class ProtocolError(Exception):
    """A message broke protocol version 1; the text says how."""


# -- framing --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a protocol line: compact strict JSON, UTF-8, ``\\n``-terminated.

    Raises ``ValueError`` for a non-finite float (strict JSON has none).
    """
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a message object with a string ``type`` (nothing more is
    checked here: :func:`check_request` / :func:`check_reply` do that)."""
    shown = _show(line)
    if len(line.rstrip(b"\n")) > MAX_LINE_BYTES:
        raise ProtocolError(f"line is longer than {MAX_LINE_BYTES} bytes: {shown}")
    if not line.endswith(b"\n"):
        raise ProtocolError(f"line is not terminated by a newline: {shown}")
    commas = line.count(b",")
    if commas > MAX_REPLY_COMMAS:
        raise ProtocolError(
            f"line has {commas} ',' bytes, more than the {MAX_REPLY_COMMAS} a message may "
            f"have: {shown}"
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"line is not UTF-8 (byte {e.start}): {shown}") from e
    if text.startswith("\ufeff"):
        raise ProtocolError(f"line starts with a byte order mark: {shown}")
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
    text = line[: limit * 4].rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _show_json(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


# -- the schema validator -------------------------------------------------------------


def _resolve(ref: str) -> dict[str, Any]:
    if not ref.startswith("#/$defs/"):  # pragma: no cover - the schema only has local refs
        raise ValueError(f"unsupported $ref {ref!r}")
    return SCHEMA["$defs"][ref.removeprefix("#/$defs/")]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TYPES = {
    "object": (lambda v: isinstance(v, dict), "an object"),
    "array": (lambda v: isinstance(v, list), "a list"),
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (_is_int, "an integer"),
    "boolean": (lambda v: isinstance(v, bool), "true or false"),
    "null": (lambda v: v is None, "null"),
}


def _problem(schema: Mapping[str, Any], value: Any, where: str) -> str | None:
    """The first way ``value`` breaks ``schema``, as ``where: what``; None if it fits."""
    if "$ref" in schema:
        return _problem(_resolve(schema["$ref"]), value, where)
    if "oneOf" in schema:
        problems = [_problem(s, value, where) for s in schema["oneOf"]]
        fits = [p for p in problems if p is None]
        if len(fits) == 1:
            return None
        if fits:  # pragma: no cover - the schema's alternatives exclude each other
            return f"{where}: matches more than one alternative"
        return " or ".join(sorted({p for p in problems if p is not None}))
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        return f"{where}: must be {json.dumps(schema['const'])}, got {_show_json(value)}"
    kind = schema.get("type")
    if kind is not None:
        check, words = _TYPES[kind]
        if not check(value):
            return f"{where}: must be {words}, got {_show_json(value)}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where}: must be a non-empty string"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return f"{where}: must match {schema['pattern']} (an absolute path), got {value!r}"
    if _is_int(value) and "minimum" in schema and value < schema["minimum"]:
        return f"{where}: must be at least {schema['minimum']}, got {value}"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{where}: needs {key!r}"
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                return f"{where}: has unexpected field(s) {', '.join(map(repr, extra))}"
        for key, sub in props.items():
            if key in value:
                found = _problem(sub, value[key], f"{where}.{key}")
                if found:
                    return found
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found = _problem(schema["items"], item, f"{where}[{i}]")
            if found:
                return found
    return None


def validate(message: Mapping[str, Any], definition: str) -> None:
    """Check ``message`` against ``$defs/<definition>`` of the schema."""
    found = _problem(SCHEMA["$defs"][definition], message, definition.rsplit("_", 1)[0])
    if found:
        raise ProtocolError(found)


# -- requests -------------------------------------------------------------------------


def hello(seq: int = 0) -> dict[str, Any]:
    return {"type": HELLO, "seq": seq, "protocol": PROTOCOL_VERSION}


def setup(
    seq: int, scenario_id: str, scenario: Mapping[str, Any], files_dir: str
) -> dict[str, Any]:
    """``scenario`` holds (at least) ``family``, ``config`` and ``steps``; ``files_dir`` is
    absolute."""
    message = {
        "type": SETUP,
        "seq": seq,
        "id": scenario_id,
        "scenario": {k: scenario[k] for k in ("family", "config", "steps")},
        "files_dir": files_dir,
    }
    validate(message, "setup_request")
    return message


def step(seq: int, index: int, step_: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": STEP, "seq": seq, "index": index, "step": dict(step_)}


def teardown(seq: int) -> dict[str, Any]:
    return {"type": TEARDOWN, "seq": seq}


def bye(seq: int) -> dict[str, Any]:
    return {"type": BYE, "seq": seq}


def check_request(message: Mapping[str, Any]) -> dict[str, Any]:
    """What a testee may assume of a request: a known type whose fields fit the schema."""
    kind = message.get("type")
    if kind not in REQUEST_TYPES:
        raise ProtocolError(
            f"unknown request type {kind!r} (expected {', '.join(sorted(REQUEST_TYPES))})"
        )
    validate(message, f"{kind}_request")
    return dict(message)


# -- replies --------------------------------------------------------------------------


def hello_reply(
    seq: int, implementation: str, families: list[str], virtual_clock: bool
) -> dict[str, Any]:
    return {
        "type": HELLO,
        "seq": seq,
        "protocol": PROTOCOL_VERSION,
        "implementation": implementation,
        "capabilities": {"families": list(families), "virtual_clock": virtual_clock},
    }


def done(seq: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": DONE, "seq": seq, "events": list(events)}


def not_applicable(seq: int, reason: str) -> dict[str, Any]:
    return {"type": NOT_APPLICABLE, "seq": seq, "reason": reason or "not applicable"}


def error(seq: int | None, message: str) -> dict[str, Any]:
    return {"type": ERROR, "seq": seq, "message": message}


def check_reply(reply: Mapping[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Check that ``reply`` answers ``request``: it echoes ``seq``, its type is one the
    request can have, and its fields fit the schema. Returns the reply, whatever its type
    (``done``, ``hello``, ``not_applicable`` or ``error``): the caller dispatches on it."""
    expected = REPLY_TYPES[request["type"]]
    kind = reply.get("type")
    if "seq" not in reply:
        raise ProtocolError(f"{kind!r} reply to {request['type']!r} has no 'seq'")
    if reply["seq"] != request["seq"] or not _is_int(reply["seq"]):
        raise ProtocolError(
            f"out of order: {kind!r} reply carries seq {_show_json(reply['seq'])}, but the "
            f"outstanding request is {request['type']!r} with seq {request['seq']}"
        )
    if kind not in expected:
        raise ProtocolError(
            f"wrong reply type {kind!r} to {request['type']!r} (expected "
            f"{' or '.join(sorted(expected))})"
        )
    if kind == HELLO:
        version = reply.get("protocol")
        if version != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol version mismatch: the testee speaks {_show_json(version)}, "
                f"the harness speaks {PROTOCOL_VERSION}"
            )
    validate(reply, f"{kind}_reply")
    return dict(reply)


def check_hello(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The testee's ``hello`` reply: returns its capabilities ``{families, virtual_clock}``."""
    return dict(check_reply(reply, hello(reply.get("seq", 0)))["capabilities"])
