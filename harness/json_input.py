"""The one reader of the JSON files a user hands the harness (scenario files, a deviations
file, the golden manifest, the certificate): untrusted input, read strictly.

:func:`read_json` returns the parsed value (objects as plain ``dict``) or raises
:class:`JsonInputError`, a ``ValueError`` whose message is one line: the file's path, the
location where there is one, and what is wrong::

    fixtures/controller/x.json: line 3 column 12: an integer of 100000 digits (at most 40)
    dev.json: $.deviations[3].reason: duplicate key 'reason'

It refuses, before or while parsing:

* anything but a regular file: a link is not followed, a fifo or a device is never read
  (:func:`harness.safe_fs.open_regular`, non-blocking); a file over ``max_bytes`` (never
  more than ``max_bytes + 1`` bytes are read);
* bytes that are not UTF-8, and a leading byte order mark;
* ``NaN`` and ``Infinity`` (not JSON); an integer literal of more than
  :data:`MAX_INT_DIGITS` digits, before it is converted (located by line and column);
* nesting deeper than ``max_depth`` (also when it exhausts the parser's recursion);
* a key given twice in one object; a string or key holding a lone surrogate (``"\\ud800"``),
  which cannot be encoded as UTF-8.

Structural problems are named by a JSON path (``$``, ``.key`` or ``['odd key']``, ``[3]``),
found by walks that never recurse, so no input can exhaust the stack. Standard library
only (and :mod:`harness.safe_fs`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from harness.safe_fs import LinkRefused, describe_mode, open_regular

# The longest integer literal read (a uint64 has 20 digits); longer ones are refused
# before Python converts them (whose own limit, 4300 digits, would raise unlocated).
MAX_INT_DIGITS = 40
DEFAULT_MAX_DEPTH = 64
BOM = b"\xef\xbb\xbf"

# A JSON path segment shown as ``.key`` (otherwise ``['key']``), and how much of a key
# a message shows.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_SHOWN = 60
# Strings (skipped whole) and integer literals too long to read, to locate the latter.
_LONG_INT = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a string, skipped
    r"|(?<![\d.eE+\-])(-?\d{" + str(MAX_INT_DIGITS + 1) + r",})(?![\d.eE])",  # an integer
    re.DOTALL,
)
# An escape that may decode to a surrogate: only then are strings searched for lone ones
# (strict UTF-8 input holds none otherwise; a valid pair decodes to one character).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonInputError(ValueError):
    """A JSON input file was refused. ``str()`` is one line, ``<path>: <detail>``;
    ``__cause__`` is the underlying ``OSError``, ``UnicodeDecodeError`` or
    ``json.JSONDecodeError`` where there is one (callers tell a missing file by it)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = " ".join(detail.splitlines())
        super().__init__(f"{path}: {self.detail}")


class _Refused(Exception):
    """Raised by the parser's hooks; turned into a :class:`JsonInputError`."""


def read_json(
    path: str | os.PathLike[str],
    what: str,
    max_bytes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Any:
    """The JSON value in the regular file ``path``, read strictly (see the module
    docstring). ``what`` names the kind of file in the size message ("a deviations
    file"); ``max_bytes`` bounds the file, ``max_depth`` the nesting (the top-level value
    is at depth 0; keep it well below the interpreter's recursion limit, whose
    ``RecursionError`` in the parser is reported as nesting past ``max_depth``)."""
    shown = _show_path(path)
    raw = _read_bounded(Path(path), shown, what, max_bytes)
    if raw.startswith(BOM):
        raise JsonInputError(shown, "starts with a byte order mark; save it as UTF-8 without one")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonInputError(shown, f"not UTF-8 at byte offset {e.start}") from e
    del raw
    duplicates: dict[int, tuple[dict[str, Any], str]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    duplicates[id(obj)] = (obj, key)  # obj kept alive: its id stays its own
                    break
                seen.add(key)
        return obj

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_int=_parse_int,
            parse_constant=_reject_constant,
        )
    except _Refused as e:
        if e.args[0] == "int":
            raise JsonInputError(shown, _long_integer(text, e.args[1])) from None
        raise JsonInputError(shown, e.args[1]) from None
    except json.JSONDecodeError as e:
        raise JsonInputError(shown, f"line {e.lineno} column {e.colno}: {e.msg}") from e
    except RecursionError:
        raise JsonInputError(shown, f"nested more than {max_depth} levels deep") from None
    problem = _first_problem(
        value, duplicates, max_depth, surrogates=_SURROGATE_ESCAPE.search(text) is not None
    )
    if problem is not None:
        raise JsonInputError(shown, problem)
    return value


def _show_path(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    text = text if isinstance(text, str) else os.fsdecode(text)
    return text if text.isprintable() else repr(text)


def _read_bounded(path: Path, shown: str, what: str, max_bytes: int) -> bytes:
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            # Refused before open_regular, whose os.fdopen of a directory raises
            # IsADirectoryError without closing the descriptor.
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        f, size = open_regular(path)
    except LinkRefused as e:
        raise JsonInputError(shown, f"cannot read: {_not_regular(path)}") from e
    except OSError as e:
        raise JsonInputError(shown, f"cannot read: {e.strerror or e}") from e
    with f:  # type: ignore[attr-defined]
        if size > max_bytes:
            raise JsonInputError(
                shown, f"{size} bytes, more than the {max_bytes} allowed for {what}"
            )
        try:
            data: bytes = f.read(max_bytes + 1)  # type: ignore[attr-defined]
        except OSError as e:
            raise JsonInputError(shown, f"cannot read: {e.strerror or e}") from e
    if len(data) > max_bytes:  # it grew after it was opened
        raise JsonInputError(
            shown, f"at least {len(data)} bytes, more than the {max_bytes} allowed for {what}"
        )
    return data


def _not_regular(path: Path) -> str:
    """Why ``path`` (refused by :func:`open_regular`) is not read, in words."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "not a regular file"
    if stat.S_ISDIR(mode):
        return os.strerror(errno.EISDIR)
    if stat.S_ISLNK(mode):
        return "a symbolic link; it is not followed"
    return f"a {describe_mode(mode)}, not a regular file"


def _parse_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _Refused("int", digits)
    return int(literal)


def _reject_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` (the scenario loader's wording, kept)."""
    raise _Refused("constant", f'{name} is not valid JSON (use the strings "nan"/"inf" for floats)')


def _long_integer(text: str, digits: int) -> str:
    """The message for the first integer literal of more than MAX_INT_DIGITS digits (the
    one the parser stopped at: it read everything before it), with its line and column."""
    what = f"an integer of {digits} digits (at most {MAX_INT_DIGITS})"
    for m in _LONG_INT.finditer(text):
        if m.group(1) is not None:
            return f"{_line_column(text, m.start(1))}: {what}"
    return what  # pragma: no cover - the parser only calls parse_int on such a literal


def _line_column(text: str, pos: int) -> str:
    """``line L column C`` of ``pos``, counted as ``json.JSONDecodeError`` counts them."""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {column}"


# A JSON path, built only when a message needs it: (parent, key or index), None at $.
_Where = tuple[Any, str | int] | None


def _render(where: _Where) -> str:
    parts: list[str | int] = []
    while where is not None:
        where, part = where
        parts.append(part)
    out = "$"
    for part in reversed(parts):
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += f"[{_show_key(part)}]"
    return out


def _show_key(key: str) -> str:
    return repr(key) if len(key) <= _KEY_SHOWN else f"{key[:_KEY_SHOWN]!r}..."


def _lone_surrogate(text: str, what: str) -> str | None:
    m = _SURROGATE.search(text)
    if m is None:
        return None
    return (
        f"{what} holds a lone surrogate \\u{ord(m.group()):04x} (character {m.start()}), "
        "which cannot be encoded as UTF-8"
    )


def _first_problem(
    value: Any,
    duplicates: dict[int, tuple[dict[str, Any], str]],
    max_depth: int,
    surrogates: bool,
) -> str | None:
    """The first structural problem in document order (depth, duplicate key, lone
    surrogate), as ``<JSON path>: <message>``; None when there is none. Iterative."""
    # Only containers (and strings, when they may hold a surrogate) are visited: a
    # scalar's depth is its container's plus one, checked there.
    visited = (dict, list, str) if surrogates else (dict, list)
    if not isinstance(value, visited):
        return None
    stack: list[tuple[Any, int, _Where]] = [(value, 0, None)]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, str):
            problem = _lone_surrogate(node, "the string")
            if problem is not None:
                return f"{_render(where)}: {problem}"
            continue
        if isinstance(node, dict):
            found = duplicates.get(id(node))
            if found is not None and found[0] is node:
                return f"{_render((where, found[1]))}: duplicate key {_show_key(found[1])}"
            if surrogates:
                for key in node:
                    problem = _lone_surrogate(key, "the key")
                    if problem is not None:
                        return f"{_render((where, key))}: {problem}"
            items: Any = node.items()
        else:
            items = enumerate(node)
        if not node:
            continue
        if depth >= max_depth:  # its first member is one level too deep
            first = next(iter(items))[0]
            return f"{_render((where, first))}: nested more than {max_depth} levels deep"
        below = [(v, depth + 1, (where, k)) for k, v in items if isinstance(v, visited)]
        stack.extend(reversed(below))
    return None
