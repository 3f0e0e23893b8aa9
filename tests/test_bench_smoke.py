"""The benchmark script runs in quick mode and yields well-formed, complete results.

Only the shape of the results is checked, never a timing: timings depend on the machine.
TensorFlow is left out here (its comparison is a benchmark concern, and importing it is slow).
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hooks.py"
HARNESS_BENCH = BENCH.with_name("bench_harness.py")
BENCH_NAME = "benchmarks/bench_hooks.py"
SIZES = (1000, 3000, 70_000)  # the last one past the compiled slot counter's threshold
ROWS = (9, 12, 16)


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("bench_hooks", BENCH)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.fixture(scope="module")
def cases(bench: ModuleType) -> list:
    return bench.run(quick=True, rounds=2, sizes=SIZES, rows=ROWS)


def test_every_figure_is_measured_at_three_sizes_or_more(bench: ModuleType, cases: list) -> None:
    for figure in ("assign", "later", "slots", "dense", "ragged", "tiny", "other"):
        sizes = {c.size for c in cases if c.figure == figure}
        assert len(sizes) >= 3, figure
    for c in cases:
        assert c.subject in c.times
        rounds = {len(t) for t in c.times.values()}
        assert rounds == {2}, c.size  # the same number of rounds for every method
        for times in c.times.values():
            assert all(math.isfinite(t) and t > 0 for t in times)
    # Every input class a table holds: each layout at each duplicate ratio and size.
    assign = [c.size for c in cases if c.figure == "assign"]
    assert len(set(assign)) == len(SIZES) * len(bench.LAYOUTS) * len(bench.DUP_RATIOS)
    assert {size.rsplit(", ", 1)[1] for size in assign} == set(bench.LAYOUTS)
    slots = [c for c in cases if c.figure == "slots"]
    assert {c.size.rsplit(", ", 1)[1] for c in slots} == set(bench.LAYOUTS)
    assert len(slots) == len(SIZES) * len(bench.LAYOUTS)
    assert all({"a.sum() (bandwidth)", "plain numpy"} <= set(c.times) for c in slots)
    assert all("per-fid Python loop" in c.times for c in slots)  # small sizes: loop included
    assert all(c.peak is not None and c.peak >= 1.0 for c in slots)
    assert all(c.peak is not None and c.peak > 0 for c in cases if c.figure == "assign")
    dense = [c for c in cases if c.figure == "dense"]
    assert all("tobytes() (the limit)" in c.times for c in dense)


def test_every_goal_gets_a_verdict(bench: ModuleType, cases: list) -> None:
    rows = bench.goal_rows(cases)
    goals = {goal for goal, *_ in rows}
    assert goals == {
        "first assign <= 3x np.sort",
        "first assign peak memory <= 4x the ids",
        "later assign <= 1.5x one pass + its own first assign",
        "slot counting <= 2x a.sum()",
        "dense encoding <= 2x tobytes()",
        "ragged Python lists >= 5x protobuf",
        "tiny batches >= 1x protobuf (never slower)",
    }
    for _goal, _size, measured, verdict in rows:
        assert measured.endswith("x") and (verdict == "met" or verdict.startswith("NOT met: "))
    # Three sizes per goal (tiny batches: one per row count and input kind).
    assert all(sum(r[0] == g for r in rows) >= 3 for g in goals)


def test_identity_check_catches_a_different_output(bench: ModuleType) -> None:
    methods = {"a": lambda: b"x", "b": lambda: b"x", "c": lambda: b"y"}
    with pytest.raises(AssertionError, match="'c'"):
        bench.check_identical(methods, "a")
    bench.check_identical({"a": lambda: b"x", "b": lambda: b"x"}, "a")


def test_interleaving_rotates_the_order(bench: ModuleType) -> None:
    order: list[str] = []
    bench.interleaved({k: (lambda k=k: order.append(k)) for k in "abc"}, 3)
    assert order == list("abcbcacab")


def test_report_renders_and_docs_block_is_replaced(
    bench: ModuleType, cases: list, tmp_path: Path
) -> None:
    text = bench.report(cases, "python benchmarks/bench_hooks.py --quick", 1.0)
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.endswith("|") and line.count("|") >= 5
    doc = tmp_path / "perf.md"
    begin, end = (bench.DOC_MARK.format(m, "main", BENCH_NAME) for m in ("begin", "end"))
    doc.write_text(f"intro\n{begin}\nold numbers\n{end}\noutro\n", encoding="utf-8")
    bench.write_docs(doc, text)
    bench.write_docs(doc, text)  # idempotent: replaces its own block again
    written = doc.read_text(encoding="utf-8")
    assert written.startswith("intro\n") and written.endswith("outro\n")
    assert "old numbers" not in written and written.count(begin) == 1
    assert "| goal | case |" in written and "command: python" in written
    with pytest.raises(SystemExit, match="no"):
        bench.write_docs(doc, text, block="other")


def test_main_prints_every_goal(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "QUICK_SIZES", (1000, 2000, 3000))
    monkeypatch.setattr(bench, "QUICK_ROWS", (9, 10, 11))
    monkeypatch.setattr(bench, "TINY_ROWS", (1, 2, 3))
    assert bench.main(["--quick", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "command: python benchmarks/bench_hooks.py --quick --rounds 1" in out
    assert "#### Goals" in out and "slot counting <= 2x a.sum()" in out


def test_the_docs_tables_are_a_written_run(bench: ModuleType) -> None:
    # docs/performance.md shows runs written by --write-docs, not hand-copied numbers: each
    # block holds a run's header and its goal table, every verdict agreeing with its ratio.
    doc = (BENCH.parents[1] / "docs" / "performance.md").read_text(encoding="utf-8")
    for block in ("main", "tf"):
        begin, end = (
            bench.DOC_MARK.format(m, block, "benchmarks/bench_hooks.py") for m in ("begin", "end")
        )
        assert doc.count(begin) == 1 and doc.count(end) == 1, block
        text = doc.split(begin, 1)[1].split(end, 1)[0]
        assert "command: python benchmarks/bench_hooks.py" in text, block
        goals = text.split("#### Goals", 1)[1]
        rows = [
            line.split(" | ")
            for line in goals.splitlines()
            if line.startswith("| ") and "x |" in line
        ]
        assert {r[0].lstrip("| ") for r in rows} >= {
            "first assign <= 3x np.sort",
            "slot counting <= 2x a.sum()",
            "dense encoding <= 2x tobytes()",
            "ragged Python lists >= 5x protobuf",
            "tiny batches >= 1x protobuf (never slower)",
        }, block
        for goal, _case, measured, verdict in rows:
            ratio = float(measured.rstrip("x"))
            limit = float(re.search(r"([<>]=) ([\d.]+)x", goal).group(2))
            met = ratio <= limit if "<=" in goal else ratio >= limit
            assert verdict.rstrip(" |").startswith("met") == met, (block, goal, measured)


def test_the_harness_table_is_a_written_run_with_a_verdict_per_goal(bench: ModuleType) -> None:
    harness_bench = _load("bench_harness", HARNESS_BENCH)
    row = harness_bench.Row("case", 2.0, 1.0)
    assert row.verdict() == "NOT met: 2.00x over"
    assert harness_bench.Row("case", 0.5, 1.0).verdict() == "met"
    assert harness_bench.Row("case", 0.5).verdict() == "(no goal)"
    doc = (BENCH.parents[1] / "docs" / "performance.md").read_text(encoding="utf-8")
    begin, end = (
        bench.DOC_MARK.format(m, "harness", "benchmarks/bench_harness.py") for m in ("begin", "end")
    )
    text = doc.split(begin, 1)[1].split(end, 1)[0]
    assert "command: python benchmarks/bench_harness.py" in text
    rows = [
        line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| `")
        or line.startswith("| explain")
        or line.startswith("| corpus")
        or line.startswith("| load")
    ]
    assert {r[0].lstrip("| ").split(" of ")[0] for r in rows} >= {
        "`harness dump`",
        "`harness diff`, one 100 MB record, last fid off",
        "`harness diff`, 100 MB as bytes, last byte off",
        "explain a 1.3 MB ckpt.info, 1 digit off (in process)",
        "corpus run, in process (judged)",
    }
    for r in rows:
        seconds, goal, verdict = float(r[1]), r[2], r[4]
        if goal:
            met = seconds <= float(re.search(r"under ([\d.]+) s", goal).group(1))
            assert verdict.startswith("met") == met, r
