"""Text a testee produced, made safe to show anywhere: the one place that decides how.

Everything an implementation under test sends or leaves (error messages, stderr, file
names, reasons, names) can hold bytes and characters that break a writer: a lone
surrogate (from a JSON ``\\ud800`` escape, or a non-UTF-8 file name decoded with
``surrogateescape``) cannot be encoded as UTF-8; control characters (ESC, OSC sequences)
drive the user's terminal and make XML ill-formed; bidirectional overrides reorder what a
reader sees. :func:`shown` turns any ``str`` into one that has none of these, escaping each
offending character as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN`` (a byte that
``surrogateescape`` carried is shown as the byte, ``\\xNN``). Every other character is
kept, so plain text is unchanged. Backslashes are not escaped: the result is for reading,
not for parsing back.

The result is valid UTF-8, valid XML 1.0 character data, and holds no C0 or C1 control
character except newline and tab (and those only when ``multiline``). It is idempotent:
``shown(shown(s)) == shown(s)``.
"""

from __future__ import annotations

import os
import re

# Characters never shown raw: C0 controls but tab and newline, DEL and the C1 controls,
# surrogates, the two noncharacters XML forbids, and the bidirectional controls
# (embeddings, overrides, isolates, marks) that reorder a line on screen.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_UNSAFE_ONE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\t\n]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape carried
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def shown(text: str, *, multiline: bool = True, limit: int | None = None) -> str:
    """``text`` with every unsafe character escaped (see the module docstring); newlines
    and tabs are kept when ``multiline``. With ``limit``, at most that many characters of
    the input are shown, followed by ``... (N characters in all)``."""
    if not isinstance(text, str):
        text = str(text)
    cut = limit is not None and len(text) > limit
    body = text[:limit] if cut else text
    pattern = _UNSAFE if multiline else _UNSAFE_ONE_LINE
    out = pattern.sub(_escape, body)
    return f"{out}... ({len(text)} characters in all)" if cut else out


def shown_name(name: str | bytes | os.PathLike[str]) -> str:
    """A file name (or path) on one line: undecodable bytes as ``\\xNN``, controls
    escaped."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    return shown(os.fspath(name), multiline=False)


def is_safe(text: str, *, multiline: bool = True) -> bool:
    """Whether :func:`shown` would leave ``text`` as it is."""
    return (_UNSAFE if multiline else _UNSAFE_ONE_LINE).search(text) is None
