"""The first differing field between two protobuf messages, as a readable path."""

from __future__ import annotations

import math
import struct
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and (math.isnan(a) or math.isnan(b)):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return a == b and type(a) is type(b)


def _fields(message: Message) -> dict[str, FieldDescriptor]:
    return {fd.name: fd for fd, _ in message.ListFields()}


_BLOCK = 4096


def _first_scalar_mismatch(expected: list[Any], actual: list[Any]) -> int | None:
    """The first index where two scalar lists differ (NaNs compared bitwise): blocks are
    compared at C speed first, so a long equal run costs little."""
    n = min(len(expected), len(actual))
    for start in range(0, n, _BLOCK):
        end = min(n, start + _BLOCK)
        if expected[start:end] == actual[start:end]:
            continue
        for i in range(start, end):
            if not _same_scalar(expected[i], actual[i]):
                return i
    return None


def first_difference(expected: Message, actual: Message, path: str = "") -> str | None:
    """``path: expected X, got Y`` for the first field that differs, or None."""
    if expected == actual:  # C-speed; floats equal under == are equal here too
        return None
    exp_fields, act_fields = _fields(expected), _fields(actual)
    names = sorted(
        set(exp_fields) | set(act_fields),
        key=lambda n: (exp_fields.get(n) or act_fields[n]).number,
    )
    for name in names:
        here = f"{path}.{name}" if path else name
        if name not in act_fields:
            return f"{here}: expected {_show(getattr(expected, name))}, but it is not set"
        if name not in exp_fields:
            return f"{here}: not expected, got {_show(getattr(actual, name))}"
        fd = exp_fields[name]
        exp_value, act_value = getattr(expected, name), getattr(actual, name)
        is_repeated = fd.is_repeated
        if is_repeated and fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            exp_map, act_map = dict(exp_value), dict(act_value)
            for key in sorted(set(exp_map) | set(act_map)):
                if key not in act_map or key not in exp_map or exp_map[key] != act_map[key]:
                    return (
                        f"{here}[{_show(key)}]: expected {_show(exp_map.get(key, '(absent)'))}, "
                        f"got {_show(act_map.get(key, '(absent)'))}"
                    )
            continue
        if is_repeated:
            if fd.type == FieldDescriptor.TYPE_MESSAGE:
                for i, (e, a) in enumerate(zip(exp_value, act_value, strict=False)):
                    found = first_difference(e, a, f"{here}[{i}]")
                    if found:
                        return found
            else:
                exp_list, act_list = list(exp_value), list(act_value)
                i = _first_scalar_mismatch(exp_list, act_list)
                if i is not None:
                    return f"{here}[{i}]: expected {_show(exp_list[i])}, got {_show(act_list[i])}"
            if len(exp_value) != len(act_value):
                return f"{here}: expected {len(exp_value)} items, got {len(act_value)}"
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            found = first_difference(exp_value, act_value, here)
            if found:
                return found
        elif not _same_scalar(exp_value, act_value):
            return f"{here}: expected {_show(exp_value)}, got {_show(act_value)}"
    return None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, Message) else f"{{{str(value).strip()}}}"
    return text if len(text) <= 80 else text[:77] + "..."
