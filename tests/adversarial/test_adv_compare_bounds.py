"""Comparisons stay near-linear however much an output differs.

A 1.3 MB ``ckpt.info`` off in 1000 slots, or a text with 5000 lines missing, used to hand
the whole files to ``difflib`` (quadratic: minutes). Now the structural difference comes
first and ``difflib`` only ever sees a bounded window of the differing middle; the cost
itself is measured by ``benchmarks/bench_harness.py`` (tests assert no times), here the
bound on what ``difflib`` is given, and the exact explanation.
"""

from __future__ import annotations

import difflib
import random
from typing import Any

import pytest

from harness.artifacts import kind_of
from harness.formats import ckpt_info
from harness.formats.text_diff import WINDOW_LINES, first_difference_offset, unified
from harness.golden import GOLDEN_DIR

BIG = "slot_count/large_million_fids/files/model/ckpt.info-1000000"


@pytest.fixture
def matcher_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The sizes of every pair of sequences difflib is asked to match."""
    sizes: list[tuple[int, int]] = []
    real = difflib.SequenceMatcher

    class Recording(real):  # type: ignore[misc, valid-type]
        def set_seqs(self, a: Any, b: Any) -> None:
            sizes.append((len(a), len(b)))
            super().set_seqs(a, b)

    monkeypatch.setattr(difflib, "SequenceMatcher", Recording)
    return sizes


def test_a_ckpt_info_off_in_1000_slots_is_explained_within_a_window(
    matcher_sizes: list[tuple[int, int]],
) -> None:
    data = (GOLDEN_DIR / BIG).read_bytes()
    lines = data.split(b"\n")
    values = [i for i, line in enumerate(lines) if line.startswith(b"  value:")]
    for i in random.Random(1).sample(values, 1000):
        lines[i] += b"1"
    actual = b"\n".join(lines)
    explanation = kind_of(BIG).explain(BIG, data, actual)
    counts = ckpt_info.parse(data)
    first = min(k for k, v in ckpt_info.parse(actual).items() if counts[k] != v)
    assert explanation.startswith(
        f"slot_counts[{first}]: expected {counts[first]}, got {counts[first]}1\n"
    )
    assert explanation.endswith("only the first 400 of each were compared)")
    assert matcher_sizes and max(max(s) for s in matcher_sizes) <= WINDOW_LINES + 3


def test_5000_missing_lines_are_explained_within_a_window(
    matcher_sizes: list[tuple[int, int]],
) -> None:
    expected = "".join(f"line {i}\n" for i in range(20000)).encode()
    actual = "".join(f"line {i}\n" for i in range(20000) if not 100 <= i < 5100).encode()
    text = unified(expected, actual, "x.txt")
    assert text.splitlines()[:7] == [
        "--- golden/x.txt",
        "+++ actual/x.txt",
        "@@ -98,403 +98,3 @@",
        " line 97",
        " line 98",
        " line 99",
        "-line 100",
    ]
    assert text.endswith(
        "(diff cut: 5000 golden and 0 actual lines differ from line 101 on; "
        "only the first 400 of each were compared)"
    )
    assert max(max(s) for s in matcher_sizes) <= WINDOW_LINES + 3


def test_a_small_edit_in_a_large_text_gives_the_usual_hunk() -> None:
    expected = "".join(f"line {i}\n" for i in range(100000)).encode()
    actual = expected.replace(b"line 54321\n", b"line 54321 changed\n")
    assert unified(expected, actual, "x") == (
        "--- golden/x\n+++ actual/x\n@@ -54319,7 +54319,7 @@\n line 54318\n line 54319\n"
        " line 54320\n-line 54321\n+line 54321 changed\n line 54322\n line 54323\n line 54324"
    )


@pytest.mark.parametrize("seed", range(20))
def test_first_difference_offset_is_the_first_differing_byte(seed: int) -> None:
    rng = random.Random(seed)
    a = bytes(rng.randrange(4) for _ in range(rng.randrange(0, 300000)))
    b = bytearray(a[: rng.randrange(0, len(a) + 1)])
    if b and rng.random() < 0.7:
        b[rng.randrange(len(b))] ^= 1
    pairs = enumerate(zip(a, b, strict=False))
    expected = next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
    assert first_difference_offset(a, bytes(b)) == expected


def test_explanations_stay_short_however_large_the_difference() -> None:
    kind = kind_of("listing.txt")
    many = "".join(f"f{i}\n" for i in range(100000)).encode()
    text = kind.explain("listing.txt", b"a\n", many)
    assert (
        text
        == "missing: a; unexpected: "
        + ", ".join(sorted(f"f{i}" for i in range(100000))[:20])
        + " ... and 99980 more"
    )
    trace = kind_of("trace.jsonl")
    big = ('{"event": "log", "msg": "' + "x" * 10**6 + '"}\n').encode()
    text = trace.explain("trace.jsonl", b'{"event": "log", "msg": "y"}\n', big)
    assert len(text) < 2 * 2000 + 100
    assert text.endswith(f"... ({10**6 + 27} characters in all)")


def test_a_huge_differing_value_in_a_record_is_clipped() -> None:
    from reference.feature_engineering_hooks import frame
    from reference.protos.example_pb2 import ExampleBatch

    def stream(value: bytes) -> bytes:
        batch = ExampleBatch(batch_size=1)
        batch.named_feature_list.add(name="f").feature.add().bytes_list.value.append(value)
        return frame(batch.SerializeToString())

    rel = "files/features/x.pb"
    text = kind_of(rel).explain(rel, stream(b"a" * 10**6), stream(b"b" * 10**6))
    assert text == (
        "record 0 (at byte offset 0): named_feature_list[0].feature[0].bytes_list.value[0]: "
        f"expected {repr(b'a' * 10**6)[:77]}..., got {repr(b'b' * 10**6)[:77]}..."
    )
