"""The protocol's one definition agrees with itself: schema, codec, docs and the reference.

``testee_protocol/messages.schema.json`` is the definition; ``testee_protocol.codec``
validates against it without the ``jsonschema`` package, so here the two are checked to
reach the same verdict on the doc's messages and on many broken variants of them;
``docs/protocol.md`` must document every message type and its example must validate.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from reference.testee.server import Server, serve, write
from testee_protocol import codec

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
VALIDATOR = jsonschema.Draft202012Validator(codec.SCHEMA)


def doc_messages() -> list[tuple[str, dict[str, Any]]]:
    """(direction, message) for every line of the doc's example exchange."""
    block = DOC.split("## Example exchange", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return [(line[0], json.loads(line[2:])) for line in block.splitlines() if line[:1] in "<>"]


def definition(direction: str, message: dict[str, Any]) -> str:
    kind = message.get("type")
    return f"{kind}_request" if direction == ">" else f"{kind}_reply"


def schema_verdict(message: Any, name: str) -> bool:
    sub = {"$ref": f"#/$defs/{name}", "$defs": codec.SCHEMA["$defs"]}
    return jsonschema.Draft202012Validator(sub).is_valid(message)


def codec_verdict(message: Any, name: str) -> bool:
    try:
        codec.validate(message, name)
    except codec.ProtocolError:
        return False
    return True


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(codec.SCHEMA)


def test_versions_agree() -> None:
    assert codec.PROTOCOL_VERSION == codec.SCHEMA["x-protocol-version"] == 1
    assert DOC.startswith(f"# Testee protocol (version {codec.PROTOCOL_VERSION})")
    assert Server().handle(codec.hello(0))["protocol"] == codec.PROTOCOL_VERSION


def test_every_message_type_is_documented() -> None:
    requests = DOC.split("Requests (harness to testee):", 1)[1].split("Replies (", 1)[0]
    replies = DOC.split("Replies (testee to harness):", 1)[1].split("Any other field", 1)[0]
    assert set(re.findall(r"^\| `(\w+)` \|", requests, re.M)) == set(codec.REQUEST_TYPES)
    assert set(re.findall(r"^\| `(\w+)` \|", replies, re.M)) == set(codec.REPLY_TYPES_ALL)
    for kind, allowed in codec.REPLY_TYPES.items():  # the doc's "answers" column
        for reply in allowed:
            row = re.search(rf"^\| `{reply}` \|.*$", replies, re.M)
            assert row is not None, reply
            answers = row.group(0).replace("\\|", "").split("|")[3]
            assert f"`{kind}`" in answers or "any request" in answers, (reply, kind)


def test_doc_example_validates_against_the_schema_and_the_codec() -> None:
    messages = doc_messages()
    assert {m["type"] for d, m in messages if d == ">"} == set(codec.REQUEST_TYPES)
    for direction, message in messages:
        errors = sorted(e.message for e in VALIDATOR.iter_errors(message))
        assert not errors, (message, errors)
        side = "request" if direction == ">" else "reply"
        assert schema_verdict(message, side) and schema_verdict(
            message, definition(direction, message)
        )
        assert codec_verdict(message, definition(direction, message)), message


WRONG_VALUES: list[Any] = [None, "x", "", -1, 7, [], {}, True, [{"x": 1}], "relative/path"]


def variants() -> list[tuple[str, Any]]:
    """(definition, message): each doc message with one field removed, replaced by a value
    of another kind, or joined by an unknown field; and a few whole non-objects."""
    out: list[tuple[str, Any]] = []
    for direction, message in doc_messages():
        name = definition(direction, message)
        out.append((name, {**message, "extra_field": 1}))
        for key in message:
            out.append((name, {k: v for k, v in message.items() if k != key}))
            for value in WRONG_VALUES:
                out.append((name, {**message, key: value}))
            inner = message[key]
            if isinstance(inner, dict):
                for sub in inner:
                    out.append(
                        (name, {**message, key: {k: v for k, v in inner.items() if k != sub}})
                    )
                    for value in WRONG_VALUES:
                        out.append((name, {**message, key: {**inner, sub: value}}))
    for name in codec.SCHEMA["$defs"]:
        if name.endswith(("_request", "_reply")):
            out += [(name, value) for value in ([], "hello", 3, None)]
    return out


def test_codec_and_jsonschema_agree_on_broken_messages() -> None:
    disagree = [
        (name, message, schema_verdict(message, name))
        for name, message in variants()
        if schema_verdict(message, name) != codec_verdict(message, name)
    ]
    assert not disagree, disagree[:5]
    assert len(variants()) > 500


def test_codec_messages_name_the_field() -> None:
    setup = next(m for d, m in doc_messages() if m["type"] == "setup")
    with pytest.raises(codec.ProtocolError, match=r"^setup.files_dir: must match"):
        codec.check_request({**setup, "files_dir": "relative"})
    with pytest.raises(codec.ProtocolError, match=r"^setup.scenario: has unexpected field"):
        codec.check_request({**setup, "scenario": {**setup["scenario"], "id": "x"}})
    with pytest.raises(codec.ProtocolError, match=r"^unknown request type 'launch'"):
        codec.check_request({"type": "launch", "seq": 1})


def test_big_integers_travel_exactly() -> None:
    """Integers above 2**53 are JSON integers, written and read exactly."""
    big = 2**64 + 1
    line = codec.encode(codec.done(3, [{"event": "run", "global_step": big}]))
    assert b'"global_step":18446744073709551617' in line
    assert codec.decode(line)["events"][0]["global_step"] == big


def test_reference_server_checks_requests() -> None:
    reply = Server().handle({"type": "step", "seq": 2, "index": 0, "step": {"no_op": 1}})
    assert reply == {
        "type": "error",
        "seq": 2,
        "message": "bad request: step.step: needs 'op'",
    }


def test_reference_server_never_writes_nan() -> None:
    out = io.StringIO()
    write(out, codec.done(5, [{"event": "result", "value": float("nan")}]))
    reply = json.loads(out.getvalue())
    assert (reply["type"], reply["seq"]) == ("error", 5)
    assert "not strict JSON" in reply["message"]


def test_reference_server_answers_unreadable_lines_with_error() -> None:
    out = io.StringIO()
    serve(io.StringIO('{"type": "hello", "seq": 0, "protocol": NaN}\n'), out)
    reply = json.loads(out.getvalue())
    assert (reply["type"], reply["seq"]) == ("error", None)
    assert "not JSON" in reply["message"]
