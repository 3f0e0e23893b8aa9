"""The codec's bounds on what a decoded message holds (``testee_protocol/codec.py``, module
docstring; ``docs/protocol.md``, "Transport"): nesting, lone surrogates, integer digits,
finite numbers, string length. Each refusal is one exact line saying what and where; each
bound accepts its boundary value; ``encode`` never writes what ``decode`` refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testee_protocol import codec
from testee_protocol.codec import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_REPLY_COMMAS,
    MAX_STRING_CHARS,
    ProtocolError,
)


def done_line(events: str, seq: int = 1) -> bytes:
    """A ``done`` reply line with ``events`` written as raw JSON text."""
    return f'{{"type":"done","seq":{seq},"events":{events}}}\n'.encode()


def nested(levels: int) -> str:
    """``levels`` lists, one inside the other, as JSON text."""
    return "[" * levels + "]" * levels


def refusal(line: bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        codec.decode(line)
    message = str(caught.value)
    assert "\n" not in message
    message.encode("utf-8")  # always encodable, whatever the line held
    return message


# -- nesting --------------------------------------------------------------------------


def test_the_bounds_leave_room_above_the_corpus() -> None:
    """The corpus's deepest request has 9 levels, its deepest reply 4; Python's parser
    recurses up to about 1000."""
    assert 9 * 3 < MAX_DEPTH < 100
    assert len(str(2**64 - 1)) == MAX_INT_DIGITS
    assert MAX_STRING_CHARS == 16 * 1024 * 1024


def test_depth_max_is_accepted_one_more_is_refused() -> None:
    # The reply is level 1 and ``events`` level 2: MAX_DEPTH - 1 more lists fill it.
    ok = codec.decode(done_line(nested(MAX_DEPTH - 1)))
    assert ok["type"] == "done"
    where = "$.events" + "[0]" * (MAX_DEPTH - 1)
    assert refusal(done_line(nested(MAX_DEPTH))) == (
        f"message nested more than {MAX_DEPTH} levels deep at {where}"
    )


def objects(levels: int, key: str = "k") -> str:
    """``levels`` objects, each the value of ``key`` in the one before, as JSON text."""
    return f'{{"{key}":' * levels + "1" + "}" * levels


def test_depth_counts_objects_and_names_keys() -> None:
    # events[0] is level 3: MAX_DEPTH - 2 objects reach MAX_DEPTH.
    assert codec.decode(done_line(f"[{objects(MAX_DEPTH - 2)}]"))["events"][0]
    where = "$.events[0]" + ".k" * (MAX_DEPTH - 2)
    assert refusal(done_line(f"[{objects(MAX_DEPTH - 1)}]")) == (
        f"message nested more than {MAX_DEPTH} levels deep at {where}"
    )


@pytest.mark.parametrize("levels", [MAX_DEPTH + 5, 900, 200_000])
def test_deep_replies_get_one_message_whether_the_parser_or_the_walk_sees_them(
    levels: int,
) -> None:
    """Python's parser raises RecursionError somewhere below 1000 levels; the walk after
    parsing catches the rest. Both name the first place that is too deep, the same way."""
    line = done_line(f'[{{"event":"run"}},{{"event":"x","value":{nested(levels)}}}]')
    where = "$.events[1].value" + "[0]" * (MAX_DEPTH - 3)  # value is level 4
    assert refusal(line) == f"message nested more than {MAX_DEPTH} levels deep at {where}"


def test_a_long_path_is_cut_and_odd_keys_are_quoted() -> None:
    line = done_line(f'[{{"{"x" * 300}":{objects(MAX_DEPTH, "a b")}}}]')
    where = '$.events[0]["' + "x" * 40 + '"...]' + '["a b"]' * (MAX_DEPTH - 3)
    assert len(where) > 200
    assert refusal(line) == (
        f"message nested more than {MAX_DEPTH} levels deep at {where[:200]}..."
    )


# -- lone surrogates ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            r'{"type":"error","seq":1,"message":"\ud800"}',
            r"lone surrogate '\ud800' in $.message: not encodable as UTF-8",
        ),
        (
            r'{"type":"error","seq":1,"message":"ok \udfff then"}',
            r"lone surrogate '\udfff' in $.message: not encodable as UTF-8",
        ),
        (
            r'{"type":"error","seq":1,"message":"\ud83d\ud83d\ude00"}',
            r"lone surrogate '\ud83d' in $.message: not encodable as UTF-8",
        ),
        (
            r'{"type":"done","seq":1,"events":[{"event":"log","text":["a","\uDC80"]}]}',
            r"lone surrogate '\udc80' in $.events[0].text[1]: not encodable as UTF-8",
        ),
        (
            r'{"type":"done","seq":1,"events":[{"event":"log","\ud800x":1}]}',
            r"lone surrogate '\ud800' in a key of $.events[0]: not encodable as UTF-8",
        ),
        (
            r'{"type":"\udbff","seq":1}',
            r"lone surrogate '\udbff' in $.type: not encodable as UTF-8",
        ),
    ],
)
def test_lone_surrogates_are_refused(text: str, message: str) -> None:
    assert refusal(text.encode() + b"\n") == message


@pytest.mark.parametrize(
    "text",
    [
        r'{"type":"error","seq":1,"message":"\ud83d\ude00 and \uD83D\uDE00"}',
        r'{"type":"error","seq":1,"message":"a backslash then u: \\ud800"}',
        '{"type":"error","seq":1,"message":"\U0001f600 written raw"}',
    ],
)
def test_surrogate_pairs_and_escaped_backslashes_are_fine(text: str) -> None:
    message = codec.decode(text.encode() + b"\n")["message"]
    message.encode("utf-8")


# -- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [2**64 - 1, -(2**63), 2**64 + 1, -(2**64 - 1), 10**20 - 1])
def test_every_64_bit_value_travels_exactly(value: int) -> None:
    line = codec.encode(codec.done(3, [{"event": "run", "global_step": value}]))
    assert f'"global_step":{value}'.encode() in line
    assert codec.decode(line)["events"][0]["global_step"] == value


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        (
            "1" + "0" * 20,
            "integer of 21 digits in $.events[0].global_step: more than the 20 digits a "
            "protocol integer may have",
        ),
        (
            "-" + "9" * 21,
            "integer of 21 digits in $.events[0].global_step: more than the 20 digits a "
            "protocol integer may have",
        ),
        (
            "7" * 5000,  # past Python's own 4300-digit limit: still this message
            "integer of 5000 digits in $.events[0].global_step: more than the 20 digits a "
            "protocol integer may have",
        ),
        ("1e400", "number 1e400 in $.events[0].global_step: out of range for a double"),
        ("-1E+999", "number -1E+999 in $.events[0].global_step: out of range for a double"),
    ],
)
def test_numbers_out_of_range_are_refused(literal: str, message: str) -> None:
    line = done_line(f'[{{"event":"run","global_step":{literal}}}]')
    assert refusal(line) == message


def test_small_and_fractional_numbers_are_fine() -> None:
    line = done_line('[{"event":"run","a":1.5e308,"b":-0.0,"c":1e-400,"d":0}]')
    assert codec.decode(line)["events"][0] == {
        "event": "run",
        "a": 1.5e308,
        "b": -0.0,
        "c": 0.0,
        "d": 0,
    }


# -- string length --------------------------------------------------------------------


def test_string_length_max_is_accepted_one_more_is_refused() -> None:
    ok = done_line('[{"event":"log","text":"' + "x" * MAX_STRING_CHARS + '"}]')
    assert len(codec.decode(ok)["events"][0]["text"]) == MAX_STRING_CHARS
    too_long = done_line('[{"event":"log","text":"' + "é" * (MAX_STRING_CHARS + 1) + '"}]')
    assert refusal(too_long) == (
        f"string of {MAX_STRING_CHARS + 1} characters in $.events[0].text: more than the "
        f"{MAX_STRING_CHARS} a protocol string may have"
    )
    long_key = done_line('[{"event":"log","' + "k" * (MAX_STRING_CHARS + 1) + '":1}]')
    assert refusal(long_key) == (
        f"string of {MAX_STRING_CHARS + 1} characters in a key of $.events[0]: more than "
        f"the {MAX_STRING_CHARS} a protocol string may have"
    )


# -- the largest legitimate reply -----------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        '{"event":"x"}',
        r'{"event":"\ud83d\ude00"}',  # a surrogate escape: the strings get looked at too
        '{"e":1844674407370955161}',
    ],
)
def test_the_largest_legitimate_reply_is_accepted(event: str) -> None:
    """As many tiny events as a line may carry (MAX_REPLY_COMMAS ',' in all) pass the
    bounds. (What the checks cost is a benchmark's business, not a test's.)"""
    count = MAX_REPLY_COMMAS - 1  # the reply's own two ',' and one between two events
    line = done_line("[" + ",".join([event] * count) + "]")
    assert line.count(b",") == MAX_REPLY_COMMAS
    reply = codec.decode(line)
    assert len(reply["events"]) == count
    assert reply["events"][-1] == json.loads(event)


# -- encode never writes what decode refuses ------------------------------------------


@pytest.mark.parametrize(
    ("events", "words"),
    [
        ([{"event": "log", "text": "\ud800"}], r"lone surrogate '\ud800' in $.events[0].text"),
        ([{"event": "log", "\udfff": 1}], r"lone surrogate '\udfff' in a key of $.events[0]"),
        ([{"event": "run", "n": 10**20}], "integer of 21 digits in $.events[0].n"),
        (
            [{"event": "run", "v": json.loads(nested(MAX_DEPTH - 2))}],
            f"nested more than {MAX_DEPTH} levels deep at $.events[0].v" + "[0]" * (MAX_DEPTH - 3),
        ),
        ([{"event": "run"}] * (MAX_REPLY_COMMAS + 1), "',' bytes, more than the 100000"),
    ],
)
def test_encode_refuses_what_decode_would(events: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(ValueError) as e:
        codec.encode(codec.done(1, events))
    assert str(e.value).startswith("cannot encode a message decode would refuse: ")
    assert words in str(e.value)


def test_encode_keeps_what_decode_accepts() -> None:
    deep = json.loads(nested(MAX_DEPTH - 3))
    message = codec.done(
        1, [{"event": "run", "v": deep, "big": 2**64 - 1, "small": -(2**63), "t": "é😀"}]
    )
    assert codec.decode(codec.encode(message)) == message
