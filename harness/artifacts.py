"""Artifact kinds: how each kind of output file is read, shown and explained when it differs.

The comparer dispatches on the kind of a path; every kind explains a byte difference in
its own terms (a record and field path, a diff, an event), never just "files differ".
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from google.protobuf import text_format

from harness.formats.example_stream import StreamError, read_records
from harness.formats.proto_diff import first_difference
from harness.trace import parse_trace, render_event
from reference.protos.ckpt_info_pb2 import CkptInfo
from reference.protos.controller_hooks_pb2 import ControllerHooksProto

MAX_DIFF_LINES = 40


def hex_context(data: bytes, offset: int, width: int = 16) -> str:
    start = max(0, offset - offset % width - width)
    lines = []
    for row in range(start, min(len(data), start + 3 * width), width):
        chunk = data[row : row + width]
        marker = " <--" if row <= offset < row + width else ""
        lines.append(f"  {row:08x}  {chunk.hex(' '):<{width * 3}}{marker}")
    return "\n".join(lines) if lines else "  (no bytes)"


def explain_bytes(expected: bytes, actual: bytes) -> str:
    """The first differing offset, with a hex view of both sides around it."""
    offset = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    return (
        f"first difference at byte offset {offset} (expected {len(expected)} bytes, "
        f"got {len(actual)})\n expected:\n{hex_context(expected, offset)}\n"
        f" actual:\n{hex_context(actual, offset)}"
    )


def unified(expected: bytes, actual: bytes, name: str) -> str:
    try:
        exp_text, act_text = expected.decode("utf-8"), actual.decode("utf-8")
    except UnicodeDecodeError:
        return explain_bytes(expected, actual)
    diff = list(
        difflib.unified_diff(
            exp_text.splitlines(keepends=True),
            act_text.splitlines(keepends=True),
            f"golden/{name}",
            f"actual/{name}",
        )
    )
    if not diff or exp_text.splitlines() == act_text.splitlines():
        return "texts differ only in line endings or a final newline:\n" + explain_bytes(
            expected, actual
        )
    shown = "".join(diff[:MAX_DIFF_LINES])
    if len(diff) > MAX_DIFF_LINES:
        shown += f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)\n"
    return shown.rstrip("\n")


@dataclass(frozen=True)
class ArtifactKind:
    name: str

    def matches(self, rel: str) -> bool:
        raise NotImplementedError

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        return explain_bytes(expected, actual)

    def render(self, data: bytes) -> str:
        return explain_bytes(b"", data) if data else "(empty)"


class TraceKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        return PurePosixPath(rel).name == "trace.jsonl"

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        try:
            exp, act = parse_trace(expected), parse_trace(actual)
        except ValueError as e:
            return f"trace is not valid: {e}\n" + explain_bytes(expected, actual)
        step = "set-up"
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            if e != a:
                return (
                    f"event {i} (line {i + 1}, during {step}) differs\n"
                    f" expected: {render_event(e)}\n actual:   {render_event(a)}"
                )
            if e.get("event") == "step":
                step = f"step {e.get('index')} ({e.get('op')})"
        if len(exp) != len(act):
            longer, which = (exp, "expected") if len(exp) > len(act) else (act, "actual")
            first = longer[min(len(exp), len(act))]
            return (
                f"trace lengths differ: expected {len(exp)} events, got {len(act)}; first "
                f"{which}-only event (line {min(len(exp), len(act)) + 1}): {render_event(first)}"
            )
        return explain_bytes(expected, actual)

    def render(self, data: bytes) -> str:
        return "\n".join(f"{i:4d}  {render_event(e)}" for i, e in enumerate(parse_trace(data)))


class ListingKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        return PurePosixPath(rel).name == "listing.txt"

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        exp = set(expected.decode("utf-8", "replace").splitlines())
        act = set(actual.decode("utf-8", "replace").splitlines())
        parts = []
        if exp - act:
            parts.append("missing: " + ", ".join(sorted(exp - act)))
        if act - exp:
            parts.append("unexpected: " + ", ".join(sorted(act - exp)))
        return "; ".join(parts) or unified(expected, actual, rel)

    def render(self, data: bytes) -> str:
        return data.decode("utf-8", "replace").rstrip("\n")


class CkptInfoKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        return re.fullmatch(r"ckpt\.info-.*", PurePosixPath(rel).name) is not None

    @staticmethod
    def parse(data: bytes) -> CkptInfo:
        """Raises ValueError (with protobuf's line:column) when it is not CkptInfo text."""
        info = CkptInfo()
        try:
            text_format.Parse(data.decode("utf-8"), info)
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8 at byte offset {e.start}") from e
        except text_format.ParseError as e:
            raise ValueError(f"not CkptInfo text: {e}") from e
        return info

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        text = unified(expected, actual, rel)
        try:
            found = first_difference(self.parse(expected), self.parse(actual))
        except ValueError as e:
            return f"{text}\n(does not parse as CkptInfo: {e})"
        if found:
            return f"{found}\n{text}"
        return f"same counts, different text:\n{text}"

    def render(self, data: bytes) -> str:
        info = self.parse(data)
        total = sum(info.slot_counts.values())
        head = f"CkptInfo: {len(info.slot_counts)} slots, {total} fids"
        return head + ("\n" + data.decode("utf-8").rstrip("\n") if data else "")


class ExampleBatchStreamKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        path = PurePosixPath(rel)
        return path.suffix == ".pb" and path.parent.name == "features"

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        try:
            exp = read_records(expected)
        except StreamError as e:
            return f"golden stream is malformed: {e}"
        try:
            act = read_records(actual)
        except StreamError as e:
            hint = ""
            if exp and exp[0].payload and actual.startswith(exp[0].payload):
                hint = " (record 0's payload starts at offset 0: the 16-byte header is missing)"
            return f"actual stream is malformed: {e}{hint}"
        for e, a in zip(exp, act, strict=False):
            where = f"record {e.index} (at byte offset {a.offset})"
            if e.header != a.header:
                return f"{where}: lagrange header: expected {e.header}, got {a.header}"
            if e.payload == a.payload:
                continue
            try:
                exp_batch, act_batch = e.decode(), a.decode()
            except StreamError as err:
                return f"{where}: {err}"
            found = first_difference(exp_batch, act_batch)
            if found:
                return f"{where}: {found}"
            return f"{where}: same ExampleBatch, different encoding:\n" + explain_bytes(
                e.payload, a.payload
            )
        if len(exp) != len(act):
            n = min(len(exp), len(act))
            longer = exp if len(exp) > len(act) else act
            return (
                f"record count: expected {len(exp)}, got {len(act)}; record {n} starts at "
                f"byte offset {longer[n].offset} of the "
                f"{'golden' if longer is exp else 'actual'} stream"
            )
        return explain_bytes(expected, actual)

    def render(self, data: bytes) -> str:
        lines = []
        for record in read_records(data):
            batch = record.decode()
            lines.append(
                f"# record {record.index} at offset {record.offset}: lagrange header "
                f"{record.header}, {len(record.payload)} bytes"
            )
            lines.append(text_format.MessageToString(batch).rstrip("\n"))
        return "\n".join(lines) if lines else "(empty stream)"


class ActionFileKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        return PurePosixPath(rel).name in ("monolith_action", "monolith_action_response")

    def explain(self, rel: str, expected: bytes, actual: bytes) -> str:
        return unified(expected, actual, rel)

    def render(self, data: bytes) -> str:
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


class BytesKind(ArtifactKind):
    def matches(self, rel: str) -> bool:
        return True


KINDS: list[ArtifactKind] = [
    TraceKind("trace"),
    ListingKind("listing"),
    CkptInfoKind("ckpt_info"),
    ExampleBatchStreamKind("example_batch_stream"),
    ActionFileKind("action_file"),
    BytesKind("bytes"),
]


def kind_of(rel: str) -> ArtifactKind:
    return next(k for k in KINDS if k.matches(rel))
