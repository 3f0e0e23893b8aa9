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
- integers are written exactly, as JSON integers (event fields such as global steps can
  exceed 2**53), of at most :data:`MAX_INT_DIGITS` digits; Python reads them exactly;
- ``not_applicable`` is a reply type like ``done``: :func:`check_reply` returns it, it is
  not an exception.

:func:`decode` is the one boundary for a testee's untrusted bytes: every later layer can
trust what it gets. What it returns is a ``dict`` with a ``str`` ``type``, built of
``dict`` (``str`` keys), ``list``, ``str``, ``int``, ``float``, ``bool`` and ``None``
only, in which

- nothing nests deeper than :data:`MAX_DEPTH` (the message object is level 1), so any
  recursive consumer (``json.dumps``, ``repr``, ``copy.deepcopy``, pytest-xdist's
  serialization, the recursive schema check) stays far from Python's recursion limit;
- every string and key encodes as UTF-8 (no lone surrogate, which a JSON ``\\ud800``
  escape can produce from valid JSON) and has at most :data:`MAX_STRING_CHARS`
  characters, so every writer (terminal, JUnit XML, HTML, trace files) can encode it;
- every integer has at most :data:`MAX_INT_DIGITS` decimal digits (every signed and
  unsigned 64-bit value fits; Python's 4300-digit conversion limit is never reached) and
  every float is finite, so the value can be written back as strict JSON;
- the line held at most :data:`MAX_LINE_BYTES` bytes and :data:`MAX_REPLY_COMMAS` ``,``
  bytes, which bounds the number of values.

Anything else is refused with a one-line :class:`ProtocolError` saying what and where (a
path such as ``$.events[0].message``). :func:`encode` never writes a line that
:func:`decode` would refuse: it raises ``ValueError`` instead.

Every check raises :class:`ProtocolError` with a message naming the field and what was
expected.
"""

from __future__ import annotations

import json
import math
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
# Bounds on what a decoded message may hold (see the module docstring for why each one).
# How deep containers may nest, the message object being level 1. The corpus's deepest
# request (a setup carrying its scenario) has 9 levels, its deepest reply 4 (a list inside
# an event); 32 leaves ample room and stays far below Python's recursion limit (1000),
# which the parser hits on deeper lines.
MAX_DEPTH = 32
# Decimal digits of an integer, sign not counted: 20 is the widest 64-bit value
# (18446744073709551615; -9223372036854775808 has 19), so every signed and unsigned
# 64-bit value travels exactly. A longer literal is refused before it is converted.
MAX_INT_DIGITS = 20
# Characters of one string or key (16 Mi); the corpus's longest is under 200.
MAX_STRING_CHARS = 16 * 1024 * 1024


class ProtocolError(Exception):
    """A message broke protocol version 1; the text says how."""


# -- framing --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Refused:
    """A number the parser's hooks refused. They do not know where they are, so they leave
    this in its place and :func:`_refusal` reports it with its path: ``what in where: why``.
    """

    __slots__ = ("what", "why")

    def __init__(self, what: str, why: str) -> None:
        self.what, self.why = what, why


def _parse_int(literal: str) -> int | _Refused:
    """``parse_int`` hook: a literal of more than MAX_INT_DIGITS digits is never converted
    (so Python's own 4300-digit limit never speaks)."""
    if len(literal) > MAX_INT_DIGITS and len(literal.lstrip("-")) > MAX_INT_DIGITS:
        return _Refused(
            f"integer of {len(literal.lstrip('-'))} digits",
            f"more than the {MAX_INT_DIGITS} digits a protocol integer may have",
        )
    return int(literal)


def _parse_float(literal: str) -> float | _Refused:
    """``parse_float`` hook: a literal beyond a double's range (``1e400``) would become an
    infinity, which strict JSON cannot write back."""
    value = float(literal)
    if math.isinf(value):
        return _Refused(f"number {_cut(literal, 40)}", "out of range for a double")
    return value


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a protocol line: compact strict JSON, UTF-8, ``\\n``-terminated.

    Raises ``ValueError`` for a non-finite float (strict JSON has none), and for a message
    :func:`decode` would refuse (too deep, a lone surrogate, an integer or string past the
    bounds, a line too long or with too many ``,``), naming what and where.
    """
    try:
        text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except RecursionError as e:
        raise ValueError(f"cannot encode: nested too deep for JSON ({e})") from None
    try:
        line = text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: say where
        found = _refusal(json.loads(text)) or "a lone surrogate: not encodable as UTF-8"
        raise ValueError(f"cannot encode a message decode would refuse: {found}") from None
    try:
        decode(line)  # the very check the other side makes
    except ProtocolError as e:
        raise ValueError(f"cannot encode a message decode would refuse: {e}") from None
    return line


def decode(line: bytes) -> dict[str, Any]:
    """Parse one line into a message object with a string ``type`` (nothing more is
    checked here: :func:`check_request` / :func:`check_reply` do that), which every later
    layer can trust: within the bounds the module docstring lists."""
    _check_frame(line)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"line is not UTF-8 (byte {e.start}): {_show(line)}") from e
    if text.startswith("\ufeff"):
        raise ProtocolError(f"line starts with a byte order mark: {_show(line)}")
    return _parse(text)


def _check_frame(line: bytes) -> None:
    """The bounds on the bytes of a line: its length, its newline, its ``,`` count."""
    if len(line) - line.endswith(b"\n") > MAX_LINE_BYTES:
        raise ProtocolError(f"line is longer than {MAX_LINE_BYTES} bytes: {_show(line)}")
    if not line.endswith(b"\n"):
        raise ProtocolError(f"line is not terminated by a newline: {_show(line)}")
    commas = line.count(b",")
    if commas > MAX_REPLY_COMMAS:
        raise ProtocolError(
            f"line has {commas} ',' bytes, more than the {MAX_REPLY_COMMAS} a message may "
            f"have: {_show(line)}"
        )


def _parse(text: str) -> dict[str, Any]:
    """``text`` (one line, without framing concerns) as a message within the bounds."""
    try:
        message = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except RecursionError:
        where = _too_deep_at(text)
        if where is None:  # not the message's depth: the caller's own stack was deep
            raise
        raise ProtocolError(_too_deep(where)) from None
    except ValueError as e:
        raise ProtocolError(f"line is not JSON ({e}): {_show_text(text)}") from e
    if type(message) is not dict:
        raise ProtocolError(f"line is JSON but not an object: {_show_text(text)}")
    # The strings need a look only if the text could hold a bad one: no string is longer
    # than the text, and (the text being decoded UTF-8, which has no surrogates) a lone
    # surrogate can only come from a \\uD800-\\uDFFF escape. Otherwise the cheap check of
    # depth and numbers is all it takes.
    strings_unsafe = len(text) > MAX_STRING_CHARS or (
        "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    )
    if strings_unsafe or not _fits(message):
        found = _refusal(message)
        if found:
            raise ProtocolError(found)
    if not isinstance(message.get("type"), str):
        raise ProtocolError(f"message has no string 'type': {_show_text(text)}")
    return message


# -- the bounds on a parsed message ---------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}", re.ASCII)
# The tokens that matter for nesting: strings (whose brackets do not count) and punctuation.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]')


def _fits(message: dict[str, Any]) -> bool:
    """Whether a parsed message nests at most MAX_DEPTH deep and holds no refused number:
    the cheap check every message gets (strings aside). Iterative, level by level, one
    loop turn per value and nothing built but the list of the next level's containers
    (the largest legitimate reply, MAX_REPLY_COMMAS tiny events, takes milliseconds)."""
    level: list[Any] = [message]
    depth = 1
    while level:
        deeper = []
        for container in level:
            for value in container.values() if type(container) is dict else container:
                cls = type(value)
                if cls is dict or cls is list:
                    deeper.append(value)
                elif cls is _Refused:
                    return False
        if deeper and depth == MAX_DEPTH:
            return False
        level = deeper
        depth += 1
    return True


def _refusal(message: dict[str, Any]) -> str | None:
    """The first value (in document order) of a parsed message that breaks a bound, as a
    one-line ``what in where: why``; None if there is none. It checks all that
    :func:`_fits` checks, and the strings and keys.

    Iterative: a stack of the open containers' iterators, one loop turn per value and no
    recursion. A location is a chain ``(parent, key)``, spelled out only on refusal.
    """
    # (items, is_object, depth, where): the container's (key, value) iterator.
    stack: list[tuple[Any, bool, int, Any]] = [(iter(message.items()), True, 1, None)]
    while stack:
        items, is_object, depth, where = stack[-1]
        for key, value in items:
            if is_object and (len(key) > MAX_STRING_CHARS or not key.isascii()):
                found = _bad_string(key, "a key of", where)
                if found:
                    return found
            cls = type(value)
            if cls is str:
                if len(value) > MAX_STRING_CHARS or not value.isascii():
                    found = _bad_string(value, "", (where, key))
                    if found:
                        return found
            elif cls is dict or cls is list:
                if depth == MAX_DEPTH:
                    return _too_deep(_path((where, key)))
                inner = iter(value.items()) if cls is dict else enumerate(value)
                stack.append((inner, cls is dict, depth + 1, (where, key)))
                break
            elif cls is _Refused:
                return f"{value.what} in {_path((where, key))}: {value.why}"
        else:
            stack.pop()
    return None


def _bad_string(text: str, role: str, where: Any) -> str | None:
    place = f"{role} {_path(where)}" if role else _path(where)
    if len(text) > MAX_STRING_CHARS:
        return (
            f"string of {len(text)} characters in {place}: more than the {MAX_STRING_CHARS} "
            "a protocol string may have"
        )
    lone = _SURROGATE.search(text)
    if lone:
        return f"lone surrogate '\\u{ord(lone.group()):04x}' in {place}: not encodable as UTF-8"
    return None


def _too_deep(where: str) -> str:
    return f"message nested more than {MAX_DEPTH} levels deep at {where}"


def _too_deep_at(text: str) -> str | None:
    """Where ``text`` first opens a container deeper than MAX_DEPTH (as :func:`_refusal`
    would say), found by scanning its tokens without recursion; None if it does not."""
    # Per open container: [key or index of the current member, is_object, expecting_key].
    stack: list[list[Any]] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            if len(stack) == MAX_DEPTH:
                where = None
                for key, _, _ in stack:
                    where = (where, key)
                return _path(where)
            stack.append([None if token == "{" else 0, token == "{", True])
        elif token == "]" or token == "}":
            if stack:
                stack.pop()
        elif not stack:
            continue
        elif token == ",":
            top = stack[-1]
            if top[1]:
                top[2] = True
            else:
                top[0] += 1
        elif stack[-1][1] and stack[-1][2]:  # a string where an object's key goes
            try:
                stack[-1][0] = json.loads(token)
            except ValueError:
                stack[-1][0] = token
            stack[-1][2] = False
    return None


def _path(where: Any, limit: int = 200) -> str:
    """A location chain ``(parent, key)`` (None for the message) as ``$.a[0]["b c"]``,
    ASCII only (keys are shown JSON-escaped), cut after ``limit`` characters."""
    keys = []
    while where is not None:
        where, key = where
        keys.append(key)
    parts = ["$"]
    for key in reversed(keys):
        if type(key) is int:
            parts.append(f"[{key}]")
        elif not isinstance(key, str):  # a malformed line's scan found no key
            parts.append("[?]")
        elif _NAME.fullmatch(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key[:40])}{'...' if len(key) > 40 else ''}]")
    return _cut("".join(parts), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _show(line: bytes, limit: int = 200) -> str:
    text = line[: limit * 4].rstrip(b"\n").decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _show_text(text: str, limit: int = 200) -> str:
    return _show(text[: limit * 4].encode("utf-8", "surrogatepass"), limit)


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
