"""The benchmark script runs in quick mode and yields well-formed results.

Only the shape of the results is checked, never a timing: timings depend on the machine.
TensorFlow is left out here (its comparison is a benchmark concern, and importing it is slow).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hooks.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_hooks", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_hooks"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop("bench_hooks", None)
    return module


@pytest.fixture(scope="module")
def results(bench: ModuleType) -> list:
    return bench.run(quick=True, use_tf=False, repeats=1)


def test_quick_run_covers_every_benchmark(bench: ModuleType, results: list) -> None:
    groups = {(r.group, r.case) for r in results}
    slot_cases = {case for group, case in groups if group == "slots"}
    assert slot_cases == {f"{bench._fmt_n(n)} fids" for n in bench.QUICK_SLOT_SIZES}
    batch_cases = [case for group, case in groups if group == "example_batch"]
    assert len(batch_cases) == 4
    for case in slot_cases | set(batch_cases):
        rows = [r for r in results if r.case == case]
        assert sum(r.speedup == 1.0 for r in rows) == 1, case  # one baseline per case


def test_results_are_well_formed(results: list) -> None:
    for r in results:
        assert r.group in ("slots", "example_batch")
        assert r.items > 0 and r.unit in ("fids/s", "rows/s")
        if r.seconds is None:
            assert r.speedup is None and r.note == "n/a (no tensorflow)"
            continue
        assert math.isfinite(r.seconds) and r.seconds > 0
        assert r.throughput is not None and r.throughput > 0
        assert r.speedup is not None and r.speedup > 0
        if r.peak is not None:
            assert r.peak >= 1.0


def test_table_and_targets_render(bench: ModuleType, results: list) -> None:
    table = bench.format_table(results)
    lines = table.splitlines()
    assert len(lines) == len(results) + 2
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert "n/a (no tensorflow)" in table
    checks = bench.check_targets(results)
    assert {name for name, _, _ in checks} >= {
        "slot counting >= 300M fids/s",
        "peak memory <= 1.5x input",
        "slot counting >= 10x TF graph",
    }
    for _, met, measured in checks:
        assert met in (True, False, None) and measured


def test_main_prints_the_table(
    bench: ModuleType, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "QUICK_SLOT_SIZES", (1000,))
    monkeypatch.setattr(bench, "QUICK_BATCH", (4, 2, 3))
    assert bench.main(["--quick", "--no-tf", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| benchmark |" in out and "1K fids" in out and "4x2x3 int64" in out
