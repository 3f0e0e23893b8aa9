"""Damaged artifacts: ``python -m harness dump`` / ``diff`` and the comparer name the offset.

Every bad ExampleBatch stream (a truncated header, a lagrange length past the end, a
payload that is not an ExampleBatch) makes ``dump`` exit 1 with
``<path>: cannot read as example_batch_stream: offset N: record K: ...`` on stderr, and
the comparer explain it as ``actual stream is malformed: offset N: ...``. Other bad
artifacts (a ckpt.info that does not parse, trace lines nested too deep or holding huge
integers) are located too, by byte offset or line.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from harness.artifacts import kind_of
from harness.cli import main
from harness.compare import compare_output
from reference.feature_engineering_hooks import frame, to_example_batch

pytestmark = pytest.mark.timeout(60)

PAYLOAD = to_example_batch({"f": np.array([[1, 2]], dtype=np.int64)}).SerializeToString()
GOOD = frame(PAYLOAD)  # 16 + 29 bytes
STREAM = "files/features/chief_x.pb"
CORRUPT = "Error parsing message with type 'monolith.io.proto.ExampleBatch'"

BAD_STREAMS = {
    "header_cut_after_8": (
        GOOD[:8],
        "offset 0: record 0: truncated header (8 bytes left, need 16)",
    ),
    "second_header_cut": (
        GOOD + GOOD[:15],
        "offset 45: record 1: truncated header (15 bytes left, need 16)",
    ),
    "payload_cut": (
        GOOD[:-1],
        "offset 8: record 0: length 29 runs past the end (28 bytes left)",
    ),
    "length_past_end": (
        struct.pack("<QQ", 0, 1000) + PAYLOAD,
        "offset 8: record 0: length 1000 runs past the end (29 bytes left)",
    ),
    "length_max_u64": (
        GOOD + struct.pack("<QQ", 0, 2**64 - 1),
        "offset 53: record 1: length 18446744073709551615 runs past the end (0 bytes left)",
    ),
    "payload_not_a_batch": (
        GOOD + frame(b"\xff\xff\xff"),
        f"offset 61: record 1: payload is not an ExampleBatch: {CORRUPT}",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_dump_names_the_offset(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data, message = BAD_STREAMS[name]
    path = tmp_path / "features" / "chief_x.pb"
    path.parent.mkdir()
    path.write_bytes(data)
    assert main(["dump", str(path)]) == 1
    out, err = capsys.readouterr()
    # streamed: the records before the bad one are shown, then the error
    bad_record = int(re.search(r"record (\d+)", message).group(1))
    assert out.count("# record ") == bad_record
    assert err.startswith(f"{path}: cannot read as example_batch_stream: {message}")


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_dump_as_a_stream_names_the_offset(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--as`` makes any file name a stream."""
    data, message = BAD_STREAMS[name]
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert main(["dump", str(path), "--as", "features/x.pb"]) == 1
    assert capsys.readouterr().err.startswith(
        f"{path}: cannot read as example_batch_stream: {message}"
    )


def expected_explanation(name: str, side: str) -> str:
    message = BAD_STREAMS[name][1]
    if name == "payload_not_a_batch":  # well framed: record 0 is equal, record 1 does not decode
        return f"record 1 (at byte offset 45): {message}"
    return f"{side} stream is malformed: {message}"


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_comparer_explains_a_malformed_actual_stream(name: str) -> None:
    explanation = kind_of(STREAM).explain(STREAM, GOOD + GOOD, BAD_STREAMS[name][0])
    assert explanation.startswith(expected_explanation(name, "actual"))


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_comparer_explains_a_malformed_golden_stream(name: str) -> None:
    explanation = kind_of(STREAM).explain(STREAM, BAD_STREAMS[name][0], GOOD + GOOD)
    assert explanation.startswith(expected_explanation(name, "golden"))


def test_diff_cli_on_a_truncated_stream(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    golden, actual = tmp_path / "golden.pb", tmp_path / "actual.pb"
    golden.write_bytes(GOOD)
    actual.write_bytes(GOOD[:20])
    assert main(["diff", str(golden), str(actual), "--as", STREAM]) == 1
    assert capsys.readouterr().out == (
        f"{golden} -> {actual} [example_batch_stream]: actual stream is malformed: "
        "offset 8: record 0: length 29 runs past the end (4 bytes left)\n"
    )


def test_compare_output_on_a_truncated_stream(tmp_path: Path) -> None:
    for side, data in (("golden", GOOD), ("out", GOOD[:-3])):
        (tmp_path / side / STREAM).parent.mkdir(parents=True)
        (tmp_path / side / STREAM).write_bytes(data)
    (difference,) = compare_output(tmp_path / "golden", tmp_path / "out")
    assert str(difference) == (
        f"{STREAM} [example_batch_stream]: actual stream is malformed: offset 8: record 0: "
        "length 29 runs past the end (26 bytes left)"
    )


def test_a_nonzero_lagrange_header_is_shown_and_explained() -> None:
    odd = struct.pack("<QQ", 7, len(PAYLOAD)) + PAYLOAD
    kind = kind_of(STREAM)
    assert kind.render(odd).splitlines()[0] == "# record 0 at offset 0: lagrange header 7, 29 bytes"
    assert kind.explain(STREAM, GOOD, odd) == (
        "record 0 (at byte offset 0): lagrange header: expected 0, got 7"
    )


def test_dump_of_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["dump", str(tmp_path / "nope.pb")]) == 2
    assert capsys.readouterr().err == (
        f"error: [Errno 2] No such file or directory: '{tmp_path / 'nope.pb'}'\n"
    )


def test_dump_of_a_non_utf8_ckpt_info(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "ckpt.info-1"
    path.write_bytes(b"slot_counts {\xff")
    assert main(["dump", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}: cannot read as ckpt_info: not UTF-8 at byte offset 13\n"
    )


def test_dump_of_a_bad_trace_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b'{"event": "setup"}\n[1, 2]\n')
    assert main(["dump", str(path), "--as", "trace.jsonl"]) == 1
    assert capsys.readouterr().err == f"{path}: cannot read as trace: line 2: not a JSON object\n"


def test_dump_of_a_trace_by_its_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "out" / "trace.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"event": "setup"}\n')
    assert main(["dump", str(path)]) == 0
    assert capsys.readouterr().out == '   0  {"event": "setup"}\n'


def test_dump_of_a_bad_ckpt_info_exits_1_with_the_location(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "ckpt.info-1"
    path.write_bytes(b"slot_counts {\n  key: 1\n  value: x\n}\n")
    assert main(["dump", str(path)]) == 1
    assert capsys.readouterr().err.startswith(
        f"{path}: cannot read as ckpt_info: not CkptInfo text: 3:10 : "
    )


def test_a_deeply_nested_trace_line_is_explained() -> None:
    deep = b"[" * 100_000 + b"\n"
    explanation = kind_of("trace.jsonl").explain("trace.jsonl", b'{"event": "setup"}\n', deep)
    assert explanation.startswith(
        "trace is not valid: line 1: not a readable JSON value: maximum recursion depth"
    )
    with pytest.raises(ValueError, match=r"^line 1: not a readable JSON value: "):
        kind_of("trace.jsonl").render(deep)


def test_a_huge_integer_in_a_trace_is_located() -> None:
    data = b'{"event": "setup"}\n{"event": "x", "n": ' + b"1" * 5000 + b"}\n"
    with pytest.raises(ValueError, match=r"^line 2: not a readable JSON value: Exceeds the limit"):
        kind_of("trace.jsonl").render(data)
