"""Action files caught while being written, and other odd action files (virtual time).

A poll that finds ``monolith_action`` half written answers what the half says: a prefix
that does not parse gets protobuf's parse error as the response (``<line>:<column> :
...``), an empty one is the UNKNOWN action (a ``TypeError`` is logged, nothing answered),
and the file is removed either way. The completed file, written afterwards, is answered
``OK`` at the next interval and the next run triggers the save. Every prefix of
``action: TRIGGER_SAVE\\n`` is tried.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from adv_helpers import scenario

pytestmark = pytest.mark.timeout(60)

FULL = "action: TRIGGER_SAVE\n"
# protobuf's text-format errors, e.g. "1:9 : 'action: TRIG': Enum type ... named TRIG."
PARSE_ERROR = re.compile(
    r"1:\d+ : (?:'[^\n]*': )?"
    r"(?:Message type \"monolith\.ControllerHooksProto\" has no field named \"\w+\"\."
    r"|Expected \":\"\."
    r"|Enum type \"monolith\.ControllerHooksProto\.Action\" has no value named \w*\.)"
)


def half_then_whole(half: dict[str, Any]) -> dict[str, Any]:
    return scenario(
        "controller",
        [
            {"op": "run"},
            {"op": "write_action", **half},
            {"op": "advance", "seconds": 60},
            {"op": "run"},
            {"op": "write_action", "text": FULL},
            {"op": "advance", "seconds": 60},
            {"op": "run"},
            {"op": "end"},
        ],
        {"query_action": True, "model_dir": "model"},
    )


def events_of_step(trace: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    start = trace.index({"event": "step", "index": index, "op": trace_op(trace, index)})
    out = []
    for event in trace[start + 1 :]:
        if event["event"] in ("step", "teardown"):
            break
        out.append(event)
    return out


def trace_op(trace: list[dict[str, Any]], index: int) -> str:
    return next(e["op"] for e in trace if e["event"] == "step" and e["index"] == index)


@pytest.mark.parametrize("cut", range(len(FULL) + 1))
def test_a_half_written_action_then_the_whole_one(cut: int, run: Any, tmp_path: Any) -> None:
    half = FULL[:cut]
    ran = run(half_then_whole({"text": half}))
    trace = ran.trace()
    response = ran.files / "model" / "monolith_action_response"
    first_poll = events_of_step(trace, 2)  # the advance after the half file
    complete = half.strip() == FULL.strip()
    if complete:
        assert first_poll == []
        assert [e for e in events_of_step(trace, 3) if e["event"] == "trigger_save"]
    elif half == "":
        # UNKNOWN: the original's response writer gets one argument too many.
        assert first_poll == [{"event": "logged_error", "type": "TypeError"}]
    else:
        assert first_poll == []
        assert not events_of_step(trace, 3)[:-1]  # only the run event, no trigger_save
    # After the whole file's interval: answered OK, removed, and the save triggered once.
    assert response.read_bytes() == b"OK"
    assert "model/monolith_action" not in ran.listing()
    assert events_of_step(trace, 6)[0] == {"event": "trigger_save"}
    assert len(ran.events("trigger_save")) == (2 if complete else 1)


@pytest.mark.parametrize(
    "cut", [c for c in range(1, len(FULL)) if FULL[:c].strip() != FULL.strip()]
)
def test_the_response_to_a_half_written_action_is_the_parse_error(cut: int, run: Any) -> None:
    ran = run(
        scenario(
            "controller",
            [
                {"op": "write_action", "text": FULL[:cut]},
                {"op": "advance", "seconds": 60},
            ],
            {"query_action": True},
        )
    )
    response = (ran.files / "monolith_action_response").read_text(encoding="utf-8")
    assert PARSE_ERROR.fullmatch(response), response
    assert ran.listing() == ["monolith_action_response"]


ODD_FILES = {
    "crlf": (b"action: TRIGGER_SAVE\r\n", b"OK"),
    "comment_then_action": (b"# from the operator\naction: STOP\n", b"OK"),
    "numeric_enum": (b"action: 1", b"OK"),
    "bom": (
        b"\xef\xbb\xbfaction: STOP",
        "1:1 : '\ufeffaction: STOP': Expected identifier or number, got \ufeff.".encode(),
    ),
    "big_padding": (b" " * 300_000 + b"action: TRIGGER_SAVE", b"OK"),
    "nul_byte": (b"action: STOP\x00", rb"1:13 : .*"),
}


@pytest.mark.parametrize("name", sorted(ODD_FILES))
def test_odd_action_files_are_answered(name: str, run: Any) -> None:
    data, expected = ODD_FILES[name]
    ran = run(
        scenario(
            "controller",
            [
                {"op": "write_action", "base64": base64.b64encode(data).decode()},
                {"op": "advance", "seconds": 60},
            ],
            {"query_action": True},
        )
    )
    response = (ran.files / "monolith_action_response").read_bytes()
    assert re.fullmatch(re.escape(expected) if name == "bom" else expected, response), response
    assert ran.listing() == ["monolith_action_response"]


def test_a_non_utf8_action_file_stays_and_is_logged_at_every_interval(run: Any) -> None:
    ran = run(
        scenario(
            "controller",
            [
                {"op": "write_action", "base64": base64.b64encode(b"action: \xffSTOP").decode()},
                {"op": "advance", "seconds": 180},
            ],
            {"query_action": True},
        )
    )
    assert (
        ran.events("logged_error") == [{"event": "logged_error", "type": "UnicodeDecodeError"}] * 3
    )
    assert ran.listing() == ["monolith_action"]
