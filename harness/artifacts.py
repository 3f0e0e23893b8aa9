"""Artifact kinds: how each kind of output file is recognised, shown and explained when
it differs.

Each kind is a class with its ``name`` and its file ``patterns`` (globs matched from the
right of a posix path, like ``PurePosixPath.match``: ``features/*.pb`` matches
``files/model/features/x.pb``) as class attributes; defining a subclass registers it.
Kinds are looked up by name (:func:`kind_named`) or by path (:func:`kind_of`); no two
kinds may match the same path (:func:`kind_of` raises if they do), so their definition
order does not matter, and a path no kind claims is :class:`BytesKind`. Parsing each
format lives in :mod:`harness.formats`; a kind only says how to explain and show it.

Every kind explains a byte difference in its own terms (a record and field path, a slot,
an event), never just "files differ", and stays near-linear in the size of the files:
the structural difference first, a bounded text diff after.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import BinaryIO, ClassVar

from harness.formats import action_file, ckpt_info, listing
from harness.formats.example_stream import StreamError, iter_records, read_records
from harness.formats.proto_diff import first_difference
from harness.formats.proto_text import message_to_text
from harness.formats.text_diff import MAX_DIFF_LINES, explain_bytes, hex_context, unified
from harness.trace import parse_trace, render_event

__all__ = [
    "MAX_DIFF_LINES",
    "ArtifactKind",
    "explain_bytes",
    "hex_context",
    "kind_named",
    "kind_of",
    "kinds",
    "unified",
]

_REGISTRY: dict[str, ArtifactKind] = {}
MAX_EVENT_CHARS = 2000  # of one event in an explanation (a testee's event may be huge)


def _clip(text: str) -> str:
    if len(text) <= MAX_EVENT_CHARS:
        return text
    return f"{text[: MAX_EVENT_CHARS - 40]}... ({len(text)} characters in all)"


_BY_PATH: dict[str, ArtifactKind] = {}  # kind_of's answers (bounded, see there)


class ArtifactKind:
    """One kind of artifact. Subclasses set ``name`` and ``patterns`` and are registered
    (one instance each) when defined."""

    name: ClassVar[str] = ""
    patterns: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.name:
            raise TypeError(f"{cls.__name__} needs a name")
        if cls.name in _REGISTRY:
            raise TypeError(f"artifact kind {cls.name!r} is defined twice")
        _REGISTRY[cls.name] = cls()
        _BY_PATH.clear()  # a new kind may claim paths already looked up

    def matches(self, rel: str) -> bool:
        parts = rel.split("/")
        for pattern in self.patterns:
            want = pattern.split("/")
            if len(want) <= len(parts) and all(
                fnmatchcase(part, w) for part, w in zip(parts[-len(want) :], want, strict=True)
            ):
                return True
        return False

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        return explain_bytes(expected, actual)

    def render(self, data: bytes) -> str:
        return explain_bytes(b"", data) if data else "(empty)"

    def render_stream(self, f: BinaryIO, size: int) -> Iterator[str]:
        """The rendering of a file, in pieces (kinds that can, stream it record by
        record; the others read it whole: ``size`` is already bounded by the caller)."""
        yield self.render(f.read(size))

    def __repr__(self) -> str:
        return f"<artifact kind {self.name}>"


class TraceKind(ArtifactKind):
    name = "trace"
    patterns = ("trace.jsonl",)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        try:
            exp, act = parse_trace(expected), parse_trace(actual)
        except ValueError as e:
            return f"trace is not valid: {e}\n" + explain_bytes(expected, actual)
        step = "set-up"
        for i, (e, a) in enumerate(zip(exp, act, strict=False)):
            if e != a:
                return (
                    f"event {i} (line {i + 1}, during {step}) differs\n"
                    f" expected: {_clip(render_event(e))}\n actual:   {_clip(render_event(a))}"
                )
            if e.get("event") == "step":
                step = f"step {e.get('index')} ({e.get('op')})"
        if len(exp) != len(act):
            longer, which = (exp, "expected") if len(exp) > len(act) else (act, "actual")
            first = _clip(render_event(longer[min(len(exp), len(act))]))
            return (
                f"trace lengths differ: expected {len(exp)} events, got {len(act)}; first "
                f"{which}-only event (line {min(len(exp), len(act)) + 1}): {first}"
            )
        return explain_bytes(expected, actual)

    def render(self, data: bytes) -> str:
        return "\n".join(f"{i:4d}  {render_event(e)}" for i, e in enumerate(parse_trace(data)))


class ListingKind(ArtifactKind):
    name = "listing"
    patterns = ("listing.txt",)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        return listing.explain(expected, actual) or unified(expected, actual, rel, labels)

    def render(self, data: bytes) -> str:
        return data.decode("utf-8", "replace").rstrip("\n")


class CkptInfoKind(ArtifactKind):
    name = "ckpt_info"
    patterns = ("ckpt.info-*",)

    @staticmethod
    def parse(data: bytes) -> dict[int, int]:
        """Slot -> count; ValueError (with protobuf's line:column) when not CkptInfo text."""
        return ckpt_info.parse(data)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        text = unified(expected, actual, rel, labels)
        try:
            found = ckpt_info.first_difference(self.parse(expected), self.parse(actual))
        except ValueError as e:
            return f"{text}\n(does not parse as CkptInfo: {e})"
        if found:
            return f"{found}\n{text}"
        return f"same counts, different text:\n{text}"

    def render(self, data: bytes) -> str:
        head = ckpt_info.summary(self.parse(data))
        return head + ("\n" + data.decode("utf-8").rstrip("\n") if data else "")


class ExampleBatchStreamKind(ArtifactKind):
    name = "example_batch_stream"
    patterns = ("features/*.pb",)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
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

    @staticmethod
    def _render_record(record: object) -> str:
        batch = record.decode()  # type: ignore[attr-defined]
        return (
            f"# record {record.index} at offset {record.offset}: lagrange header "  # type: ignore[attr-defined]
            f"{record.header}, {len(record.payload)} bytes\n" + message_to_text(batch).rstrip("\n")  # type: ignore[attr-defined]
        )

    def render(self, data: bytes) -> str:
        lines = [self._render_record(r) for r in read_records(data)]
        return "\n".join(lines) if lines else "(empty stream)"

    def render_stream(self, f: BinaryIO, size: int) -> Iterator[str]:
        if size == 0:
            yield "(empty stream)"
        for record in iter_records(f, size):
            yield self._render_record(record)


class ActionFileKind(ArtifactKind):
    name = "action_file"
    patterns = (action_file.REQUEST,)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        return unified(expected, actual, rel, labels)

    def render(self, data: bytes) -> str:
        return action_file.render_request(data)


class ActionResponseKind(ArtifactKind):
    name = "action_response"
    patterns = (action_file.RESPONSE,)

    def explain(
        self, rel: str, expected: bytes, actual: bytes, labels: tuple[str, str] | None = None
    ) -> str:
        return unified(expected, actual, rel, labels)

    def render(self, data: bytes) -> str:
        return action_file.render_response(data)


class BytesKind(ArtifactKind):
    """Any file no other kind claims."""

    name = "bytes"
    patterns = ()


def kinds() -> tuple[ArtifactKind, ...]:
    """Every registered kind, by name."""
    return tuple(_REGISTRY[n] for n in sorted(_REGISTRY))


def kind_named(name: str) -> ArtifactKind:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"no artifact kind {name!r} (known: {', '.join(sorted(_REGISTRY))})"
        ) from None


def kind_of(rel: str) -> ArtifactKind:
    """The kind whose patterns match ``rel``; :class:`BytesKind` when none does."""
    kind = _BY_PATH.get(rel)
    if kind is None:
        found = [k for k in _REGISTRY.values() if k.matches(rel)]
        if len(found) > 1:
            raise AssertionError(f"{rel}: claimed by several artifact kinds: {found}")
        kind = found[0] if found else _REGISTRY[BytesKind.name]
        if len(_BY_PATH) >= 4096:
            _BY_PATH.clear()
        _BY_PATH[rel] = kind
    return kind


#: Every kind's name (what ``dump --as KIND`` and ``diff --as KIND`` accept).
ARTIFACT_KINDS = tuple(sorted(_REGISTRY))


def kind_for(as_given: str | None, path: str) -> ArtifactKind | None:
    """The kind a command reads ``path`` as: ``as_given`` when it names a kind, else the
    kind of ``as_given`` (a path in an output directory) or of ``path`` itself; None when
    no kind claims the path (only a :class:`BytesKind` fallback would)."""
    if as_given in _REGISTRY:
        return _REGISTRY[as_given]
    kind = kind_of(as_given or path)
    return None if kind.name == BytesKind.name else kind
