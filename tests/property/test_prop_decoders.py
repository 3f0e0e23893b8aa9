"""The harness's decoders, dump renderers and comparers never crash, whatever the bytes.

For every artifact kind, on random bytes, valid artifacts and damaged ones (truncated,
bit flips, splices, a length field overwritten):

* ``kind.render`` returns text, or raises a ``ValueError`` subclass whose message locates
  the problem (a byte offset or position, or a line and column for text formats);
* ``kind.explain`` and ``compare_output`` return a non-empty explanation for any two
  different byte strings.

Inputs no generator here produces (deep JSON nesting, integers of thousands of digits, a
ckpt.info that does not parse) have their own tests in
``tests/adversarial/test_adv_streams.py``.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from budget import examples
from hypothesis import given
from hypothesis import strategies as st

from harness.artifacts import kind_of
from harness.compare import compare_output
from harness.formats.example_stream import StreamError, read_records
from harness.strategies import action_files, batches, corrupted, feature_names
from reference.feature_engineering_hooks import frame, to_example_batch

pytestmark = pytest.mark.timeout(120)

KIND_PATHS = {
    "trace": "trace.jsonl",
    "listing": "listing.txt",
    "ckpt_info": "files/model/ckpt.info-3",
    "example_batch_stream": "files/features/chief_0.pb",
    "action_file": "files/monolith_action",
    "bytes": "files/model/other.bin",
}
# A location in an error message: byte offset/position, or line (and column).
LOCATED = re.compile(r"\b(offset|position|line) \d+|\b\d+:\d+ ")


def _event() -> st.SearchStrategy[dict]:
    scalar = st.none() | st.booleans() | st.integers(-(1 << 64), 1 << 64) | st.text(max_size=8)
    return st.fixed_dictionaries(
        {"event": st.sampled_from(["setup", "step", "run", "log", "error", "teardown"])},
        optional={"index": st.integers(0, 9), "message": scalar, "value": scalar},
    )


def valid_artifacts(kind: str) -> st.SearchStrategy[bytes]:
    if kind == "trace":
        return st.lists(_event(), max_size=6).map(
            lambda events: "".join(json.dumps(e, sort_keys=True) + "\n" for e in events).encode()
        )
    if kind == "listing":
        return st.lists(feature_names(), max_size=6).map(
            lambda paths: "".join(p + "\n" for p in sorted(paths)).encode()
        )
    if kind == "ckpt_info":
        return st.dictionaries(st.integers(0, 102399), st.integers(1, 1 << 40), max_size=5).map(
            lambda counts: "".join(
                f"slot_counts {{\n  key: {k}\n  value: {v}\n}}\n" for k, v in sorted(counts.items())
            ).encode()
        )
    if kind == "example_batch_stream":
        return st.lists(batches(max_features=2), max_size=3).map(
            lambda bs: b"".join(frame(to_example_batch(b).SerializeToString()) for b in bs)
        )
    if kind == "action_file":
        return action_files()
    return st.binary(max_size=64)


def artifact_bytes(kind: str) -> st.SearchStrategy[bytes]:
    own = valid_artifacts(kind)
    other = st.sampled_from(sorted(KIND_PATHS)).flatmap(valid_artifacts)
    return st.one_of(st.binary(max_size=200), own, corrupted(own), corrupted(other))


@examples(100)
@pytest.mark.parametrize("kind", sorted(KIND_PATHS))
@given(data=st.data())
def test_render_returns_text_or_a_located_value_error(kind: str, data: st.DataObject) -> None:
    blob = data.draw(artifact_bytes(kind), label="blob")
    renderer = kind_of(KIND_PATHS[kind])
    assert renderer.name == kind
    try:
        text = renderer.render(blob)
    except ValueError as e:
        assert LOCATED.search(str(e)), f"{type(e).__name__} without a location: {e}"
    else:
        # An empty trace or listing renders as nothing; every other kind says something.
        assert isinstance(text, str) and (text or kind in ("trace", "listing"))


@examples(100)
@given(data=st.data())
def test_stream_decoder_errors_carry_the_offset(data: st.DataObject) -> None:
    """``read_records`` and ``Record.decode`` raise only ``StreamError``, whose ``offset``
    attribute is the one in the message and lies inside the stream."""
    blob = data.draw(artifact_bytes("example_batch_stream"), label="blob")
    try:
        for record in read_records(blob):
            record.decode()
    except StreamError as e:
        assert str(e).startswith(f"offset {e.offset}: ")
        assert 0 <= e.offset <= len(blob)


@examples(100)
@pytest.mark.parametrize("kind", sorted(KIND_PATHS))
@given(data=st.data())
def test_explain_is_never_empty(kind: str, data: st.DataObject) -> None:
    expected = data.draw(artifact_bytes(kind), label="expected")
    actual = data.draw(
        st.one_of(artifact_bytes(kind), corrupted(st.just(expected))).filter(
            lambda b: b != expected
        ),
        label="actual",
    )
    rel = KIND_PATHS[kind]
    explanation = kind_of(rel).explain(rel, expected, actual)
    assert isinstance(explanation, str) and explanation.strip()


@examples(40)
@given(
    rel=st.sampled_from(sorted(KIND_PATHS.values())),
    expected=st.binary(max_size=80),
    actual=st.binary(max_size=80) | st.none(),
)
def test_compare_output_explains_every_differing_file(
    rel: str, expected: bytes, actual: bytes | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        golden, out = Path(tmp, "golden"), Path(tmp, "out")
        (golden / rel).parent.mkdir(parents=True)
        (golden / rel).write_bytes(expected)
        (out / "files").mkdir(parents=True)
        if actual is not None:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(actual)
        differences = compare_output(golden, out)
        if actual == expected:
            assert differences == []
        else:
            (difference,) = differences
            assert difference.path == rel and difference.kind == kind_of(rel).name
            assert difference.explanation.strip()
