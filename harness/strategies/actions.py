"""The bytes of a ``monolith_action`` file: valid text protos (comments, CRLF, numeric
enums, odd spacing), invalid ones (a UTF-8 byte order mark, quoted enums, two actions),
half-written prefixes, binary garbage, non-UTF-8 (a UTF-16 byte order mark included) and
very large files."""

from __future__ import annotations

from hypothesis import strategies as st

VALID_ACTIONS = (
    b"action: TRIGGER_SAVE",
    b"action: STOP",
    b"action: UNKNOWN",
    b"action: 1",
    b"action: 2",
    b"action:TRIGGER_SAVE",
    b"  action :  STOP  \n",
    b"# a comment\naction: TRIGGER_SAVE\n",
    b"action: STOP # trailing comment",
    b"action: TRIGGER_SAVE\r\n",
    b"\r\n# crlf\r\naction: STOP\r\n",
    b"",
    b"\n\n",
    b"# only a comment",
)
INVALID_ACTIONS = (
    b"action: TRIG",
    b"action: ",
    b"action",
    b"acti",
    b"action: 7",
    b"action: -1",
    b'action: "STOP"',
    b"action: STOP\naction: TRIGGER_SAVE",
    b"action { }",
    b"stop: true",
    b"action: stop",
    b"{",
    b"\xef\xbb\xbfaction: STOP",  # a UTF-8 byte order mark
    b"\xef\xbb\xbfaction: TRIGGER_SAVE\r\n",
    "action: STÖP".encode(),
)


# Bytes no UTF-8 text holds: lone lead and continuation bytes, an encoded surrogate, and
# the UTF-16 byte order marks (big- and little-endian).
NON_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc", b"\xfe\xff", b"\xff\xfe")


@st.composite
def action_files(draw: st.DrawFn) -> bytes:
    """The bytes of a ``monolith_action`` file."""
    kind = draw(
        st.sampled_from(
            ["valid", "invalid", "prefix", "garbage", "non_utf8", "large", "text", "crlf"]
        )
    )
    if kind == "valid":
        return draw(st.sampled_from(VALID_ACTIONS))
    if kind == "invalid":
        return draw(st.sampled_from(INVALID_ACTIONS))
    if kind == "prefix":  # a file caught half-written
        full = draw(st.sampled_from(VALID_ACTIONS))
        return full[: draw(st.integers(0, len(full)))]
    if kind == "garbage":
        return draw(st.binary(max_size=64))
    if kind == "non_utf8":
        head = draw(st.sampled_from(VALID_ACTIONS))
        bad = draw(
            st.sampled_from(
                [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc", b"\xfe\xff", b"\xff\xfe"]
            )
        )
        at = draw(st.integers(0, len(head)))
        return head[:at] + bad + head[at:]
    if kind == "large":
        pad = draw(st.sampled_from([b" ", b"\n", b"# pad\n", b"\r\n"]))
        times = draw(st.integers(1, 1 << 17))
        return pad * times + draw(st.sampled_from(VALID_ACTIONS + INVALID_ACTIONS))
    if kind == "crlf":
        return draw(st.sampled_from(VALID_ACTIONS)).replace(b"\n", b"\r\n")
    return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
