"""Every one-byte edit of a golden file fails with an explanation that locates it."""

import shutil
import struct

import pytest

from harness.artifacts import explain_bytes, kind_of
from harness.compare import compare_output, files_under
from harness.formats.example_stream import StreamError, read_records
from harness.golden import CERTIFICATE, GOLDEN_DIR, MANIFEST
from reference.feature_engineering_hooks import frame
from reference.protos.example_pb2 import ExampleBatch

GOLDEN_FILES = sorted(rel for rel in files_under(GOLDEN_DIR) if rel not in (MANIFEST, CERTIFICATE))
LOCATED = ("offset", "event", "record", "@@", "missing", "unexpected", "expected")


def scenario_dir(rel):
    parts = rel.split("/")
    return "/".join(parts[:2]), "/".join(parts[2:])


@pytest.mark.parametrize("rel", GOLDEN_FILES)
def test_one_byte_edit_is_located(rel, tmp_path):
    scenario, inner = scenario_dir(rel)
    actual = tmp_path / "actual"
    shutil.copytree(GOLDEN_DIR / scenario, actual)
    target = actual / inner
    data = bytearray(target.read_bytes())
    if not data:
        target.write_bytes(b"x")
        offset = 0
    else:
        offset = len(data) // 2
        data[offset] ^= 0x01
        target.write_bytes(bytes(data))
    differences = compare_output(GOLDEN_DIR / scenario, actual)
    assert [d.path for d in differences] == [inner]
    explanation = differences[0].explanation
    assert explanation and explanation != "files differ"
    assert any(word in explanation for word in LOCATED), explanation


def test_missing_and_extra_files(tmp_path):
    golden = tmp_path / "g"
    actual = tmp_path / "a"
    (golden / "files").mkdir(parents=True)
    (actual / "files").mkdir(parents=True)
    (golden / "files" / "ckpt.info-1").write_text("")
    (actual / "files" / "ckpt.info-2").write_text("")
    found = {(d.path, d.explanation) for d in compare_output(golden, actual)}
    assert found == {
        ("files/ckpt.info-1", "expected file was not written"),
        ("files/ckpt.info-2", "file was written but not expected"),
    }


def test_no_golden_says_so(tmp_path):
    (d,) = compare_output(tmp_path / "nothing", tmp_path)
    assert "no golden output" in d.explanation


def batch_stream(*batches):
    return b"".join(frame(b.SerializeToString()) for b in batches)


def example_batch(fids):
    batch = ExampleBatch(batch_size=len(fids))
    named = batch.named_feature_list.add(name="f")
    for row in fids:
        named.feature.add().fid_v2_list.value.extend(row)
    return batch


def test_example_batch_difference_names_record_and_field():
    kind = kind_of("files/features/chief_x.pb")
    expected = batch_stream(example_batch([[1]]), example_batch([[1, 2], [3]]))
    actual = batch_stream(example_batch([[1]]), example_batch([[1, 2], [4]]))
    explanation = kind.explain("files/features/chief_x.pb", expected, actual)
    assert explanation == (
        "record 1 (at byte offset 37): "
        "named_feature_list[0].feature[1].fid_v2_list.value[0]: expected 3, got 4"
    )


def test_example_batch_missing_header_is_explained():
    kind = kind_of("files/features/chief_x.pb")
    payload = example_batch([[1]]).SerializeToString()
    explanation = kind.explain("files/features/x.pb", frame(payload), payload)
    assert explanation.startswith("actual stream is malformed: offset ")


def test_stream_errors_have_offsets():
    good = frame(b"abc")
    with pytest.raises(StreamError, match=r"^offset 19: record 1: truncated header \(8 bytes left"):
        read_records(good + b"\0" * 8)
    with pytest.raises(StreamError, match=r"^offset 8: record 0: length 100 runs past the end"):
        read_records(struct.pack("<QQ", 0, 100) + b"x")
    assert [r.payload for r in read_records(good + good)] == [b"abc", b"abc"]


def test_trace_difference_names_event_and_step():
    kind = kind_of("trace.jsonl")
    expected = (
        b'{"event": "setup"}\n{"event": "step", "index": 0, "op": "run"}\n{"a": 1, "event": "x"}\n'
    )
    actual = (
        b'{"event": "setup"}\n{"event": "step", "index": 0, "op": "run"}\n{"a": 2, "event": "x"}\n'
    )
    assert kind.explain("trace.jsonl", expected, actual) == (
        "event 2 (line 3, during step 0 (run)) differs\n"
        ' expected: {"a": 1, "event": "x"}\n actual:   {"a": 2, "event": "x"}'
    )


def test_ckpt_info_difference_names_slot():
    kind = kind_of("files/ckpt.info-3")
    expected = b"slot_counts {\n  key: 1\n  value: 2\n}\n"
    actual = b"slot_counts {\n  key: 1\n  value: 3\n}\n"
    explanation = kind.explain("files/ckpt.info-3", expected, actual)
    assert explanation.startswith("slot_counts[1]: expected 2, got 3\n")
    assert "-  value: 2" in explanation and "+  value: 3" in explanation


def test_bytes_fallback_shows_offset_and_hex():
    text = explain_bytes(b"\x00\x01\x02\x03", b"\x00\x01\xff\x03")
    assert text.startswith("first difference at byte offset 2 (expected 4 bytes, got 4)")
    assert "00 01 02 03" in text and "00 01 ff 03" in text and "<--" in text


def test_not_applicable_is_reported_as_skipped(tmp_path):
    from harness.adapters.base import NotApplicable
    from harness.adapters.inprocess import InProcessReference
    from harness.report import junit_xml, summary_line
    from harness.runner import NOT_APPLICABLE, judge
    from harness.scenario import load_all

    class NoBarrier(InProcessReference):
        name = "partial"

        def setup(self, scenario, files_dir):
            raise NotApplicable("no barrier here")

    scenario = load_all()[0]
    result = judge(scenario, NoBarrier(), tmp_path / "out")
    assert (result.status, result.reason) == (NOT_APPLICABLE, "no barrier here")
    assert result.served_family  # the reference serves every family
    assert summary_line([result]) == (
        "reference: 0 passed, 0 failed, 1 not applicable; "
        "served 0 of 1, 1 not applicable in a family it serves"
    )
    assert b'<skipped message="not applicable: no barrier here"' in junit_xml([result])
