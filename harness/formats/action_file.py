"""``monolith_action`` / ``monolith_action_response``: a ``ControllerHooksProto`` in text
format (the request), or the hook's plain-text answer (the response): ``OK``, or the text
of the protobuf parse error (:func:`is_error_text` recognises the latter)."""

from __future__ import annotations

import json

from google.protobuf import text_format

from harness.formats.text_diff import explain_bytes
from reference.protos.controller_hooks_pb2 import ControllerHooksProto

REQUEST = "monolith_action"
RESPONSE = "monolith_action_response"


def render_request(data: bytes) -> str:
    """The text, and whether (and how) it parses as a ``ControllerHooksProto``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 (byte offset {e.start}):\n" + explain_bytes(b"", data)
    try:
        proto = text_format.Parse(text, ControllerHooksProto())
        parsed = f"parses as ControllerHooksProto: {text_format.MessageToString(proto)!r}"
    except text_format.ParseError as e:
        parsed = f"does not parse as ControllerHooksProto: {e}"
    return f"text: {json.dumps(text)}\n{parsed}"


def render_response(data: bytes) -> str:
    """The hook's answer, as text (a response is never parsed as an action)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"response, not UTF-8 (byte offset {e.start}):\n" + explain_bytes(b"", data)
    return f"response: {json.dumps(text)}"


def is_error_text(data: bytes) -> bool:
    """Whether a response reads as an error message: UTF-8 text, not blank, and not ``OK``
    (surrounding white space ignored, so ``"OK\\n"`` is not an error text either).

    The query-action hook writes exactly two kinds of response: ``OK`` after an action it
    ran, or ``str(e)`` of the ``text_format.ParseError`` that stopped it (an unknown
    action raises before writing anything). So a golden response that is an error text
    *is* a protobuf parse error, worded by python-protobuf's tokenizer.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.strip() not in ("", "OK")
