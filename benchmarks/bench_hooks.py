"""Benchmarks of the reference's hot paths, each measured side by side in one run.

    python benchmarks/bench_hooks.py            # full sizes (10M and 100M fids)
    python benchmarks/bench_hooks.py --quick    # small sizes, a smoke run for CI

Slot counting (what ``FidSlotCountSaverListener.before_save`` does per table):

* ``reference`` -- ``count_slots(session.run(table.dump()))`` on a table built with
  ``HashTable.from_ids``: the id array, shifted/masked chunk by chunk, ``np.bincount``.
* ``per-fid loop`` -- a plain Python loop over the fids as Python ints; and ``parse
  EntryDump`` -- the previous reference: parse every serialized entry with protobuf and count.
  Both are timed on a subsample (1M fids; the whole input when smaller) and scaled linearly.
* ``tensorflow graph`` -- ``tf.compat.v1`` graph mode: the ids in a variable, ``tf.bitcast``
  to uint64, ``tf.bitwise.right_shift`` / ``bitwise_and``, ``tf.scatter_nd`` into 102400
  int64 counters; only the counting ``session.run`` is timed (not feeding the ids). "n/a (no
  tensorflow)" when TensorFlow cannot be imported.

Peak memory is the input array plus tracemalloc's peak of what the count allocates, relative
to the input array.

``ExampleBatch`` writing (what ``FeatureEngineeringSaveHook`` does per buffered batch):
``encode_example_batch`` (direct wire bytes) vs ``to_example_batch(...).SerializeToString()``
(protobuf messages built row by row), checked byte-identical before timing.

Times are the minimum of N repeats (``time.perf_counter``). No pytest-benchmark needed.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.ckpt_info import MAX_SLOT, count_slots
from reference.fast_example import encode_example_batch
from reference.fast_slots import count_slots_loop
from reference.feature_engineering_hooks import RaggedValue, to_example_batch
from reference.hash_table import HashTable
from reference.protos.embedding_hash_table_pb2 import EntryDump
from reference.runtime.session import Session

SUBSAMPLE = 1_000_000
FULL_SLOT_SIZES = (10_000_000, 100_000_000)
QUICK_SLOT_SIZES = (100_000, 1_000_000)
FULL_BATCH = (1024, 50, 10)  # rows, features, fids per row
QUICK_BATCH = (64, 5, 10)

TARGET_FIDS_PER_S = 300e6
TARGET_VS_TF = 10.0
TARGET_ENCODER = 20.0
TARGET_PEAK = 1.5


@dataclass
class Result:
    """One measured row of the table."""

    group: str  # "slots" or "example_batch"
    case: str  # e.g. "10M fids", "1024x50x10 int64"
    impl: str
    seconds: float | None  # min of N; None when not measured
    items: int  # fids (slots) or rows*features (example_batch)
    unit: str  # "fids/s" or "rows/s"
    speedup: float | None = None  # this implementation's time / the reference fast path's
    peak: float | None = None  # (input + peak allocation) / input
    note: str = ""

    @property
    def throughput(self) -> float | None:
        return self.items / self.seconds if self.seconds else None


def best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Minimum wall time of ``repeats`` calls, and the last result."""
    best = float("inf")
    result = None
    for _ in range(max(1, repeats)):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_ratio(fn: Callable[[], Any], input_bytes: int) -> float:
    """(input + peak bytes ``fn`` allocates) / input, as tracemalloc sees it."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return (input_bytes + max(peak, 0)) / input_bytes


def make_fids(n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct int64 fids over the whole 64-bit range (1000 random slots)."""
    rng = np.random.default_rng(seed)
    tops = rng.integers(0, 1 << 16, 1000, dtype=np.uint64)  # sign bit + 15-bit slot
    fids = tops[rng.integers(0, len(tops), n)] << np.uint64(48)
    fids |= np.arange(n, dtype=np.uint64)  # low 48 bits: unique
    out = fids.view(np.int64)
    out.flags.writeable = False
    return out


def _fmt_n(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}K"
    return str(n)


# ---------------------------------------------------------------- slot counting


class TfSlotCounter:
    """The TensorFlow graph method, built once per input array."""

    def __init__(self, tf: Any, ids: np.ndarray) -> None:
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        with self.graph.as_default():
            feed = v1.placeholder(tf.int64, shape=[None])
            table = v1.Variable(feed, trainable=False, validate_shape=False, use_resource=True)
            u = tf.bitcast(table.read_value(), tf.uint64)
            slots = tf.bitwise.bitwise_and(
                tf.bitwise.right_shift(u, tf.constant(48, tf.uint64)),
                tf.constant(0x7FFF, tf.uint64),
            )
            slots = tf.minimum(tf.cast(slots, tf.int64), MAX_SLOT - 1)
            self.counts = tf.scatter_nd(
                tf.expand_dims(slots, 1), tf.ones_like(slots), tf.constant([MAX_SLOT], tf.int64)
            )
            init = table.initializer
        self.session = v1.Session(graph=self.graph)
        self.session.run(init, feed_dict={feed: ids})

    def __call__(self) -> np.ndarray:
        return self.session.run(self.counts)

    def close(self) -> None:
        self.session.close()


def import_tensorflow() -> Any | None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except Exception:  # ImportError, or a broken install
        return None
    tf.compat.v1.disable_eager_execution()
    return tf


def old_count_slots(serialized: list[bytes]) -> np.ndarray:
    """The previous reference: parse every entry with protobuf, count per fid."""
    counts = np.zeros(MAX_SLOT, dtype=np.int64)
    entry = EntryDump()
    for data in serialized:
        entry.ParseFromString(data)
        counts[min((entry.id >> 48) & 0x7FFF, MAX_SLOT - 1)] += 1
    return counts


def time_previous_reference(ids: np.ndarray) -> tuple[float, np.ndarray]:
    """Time :func:`old_count_slots` on the serialized entries of a table of ``ids``."""
    table = HashTable.from_ids("previous", ids, assume_unique=True)
    entries = Session().run(table.dump()).serialized()  # built outside the timing
    return best_of(lambda: old_count_slots(entries), 1)


def bench_slots(n: int, repeats: int, tf: Any | None, subsample: int = SUBSAMPLE) -> list[Result]:
    """Slot counting over ``n`` fids: reference fast path, loops, TensorFlow."""
    case = f"{_fmt_n(n)} fids"
    ids = make_fids(n)
    table = HashTable.from_ids("bench", ids, dim=1, assume_unique=True)
    session = Session()

    def fast() -> np.ndarray:
        return count_slots(session.run(table.dump()))

    t_fast, counts = best_of(fast, repeats)
    assert int(counts.sum()) == n
    peak = peak_ratio(fast, ids.nbytes)
    rows = [
        Result("slots", case, "reference (numpy, chunked bincount)", t_fast, n, "fids/s", 1.0, peak)
    ]

    m = min(n, subsample)
    scaled = f"timed on {_fmt_n(m)} fids, scaled x{n / m:g}" if m < n else ""
    sub = ids[:m]
    expect = count_slots(sub)
    t_loop, got = best_of(lambda: count_slots_loop(sub.tolist()), max(1, min(repeats, 2)))
    assert np.array_equal(got, expect)
    t_loop *= n / m
    rows.append(
        Result(
            "slots",
            case,
            "plain per-fid Python loop",
            t_loop,
            n,
            "fids/s",
            t_loop / t_fast,
            note=scaled,
        )
    )
    t_parse, got = time_previous_reference(sub)
    assert np.array_equal(got, expect)
    t_parse *= n / m
    rows.append(
        Result(
            "slots",
            case,
            "parse EntryDump per entry (previous reference)",
            t_parse,
            n,
            "fids/s",
            t_parse / t_fast,
            note=scaled,
        )
    )

    if tf is None:
        rows.append(
            Result("slots", case, "tensorflow graph", None, n, "fids/s", note="n/a (no tensorflow)")
        )
    else:
        counter = TfSlotCounter(tf, ids)
        try:
            t_tf, got = best_of(counter, repeats)
        finally:
            counter.close()
        assert np.array_equal(got, counts)
        rows.append(
            Result(
                "slots",
                case,
                f"tensorflow {tf.__version__} graph (scatter_nd)",
                t_tf,
                n,
                "fids/s",
                t_tf / t_fast,
                note="ids preloaded in a variable",
            )
        )
    return rows


# ---------------------------------------------------------------- ExampleBatch writing


def make_batches(rows: int, features: int, per_row: int, seed: int = 1) -> dict[str, dict]:
    """The encoder's inputs: dense int64, float-heavy, and two ragged forms."""
    rng = np.random.default_rng(seed)

    def fid_matrix() -> np.ndarray:
        return rng.integers(0, 1 << 63, (rows, per_row), dtype=np.int64)

    dense = {f"fc_{i}": fid_matrix() for i in range(features)}
    n_float = max(1, features * 4 // 5)
    float_heavy = {
        f"dense_{i}": rng.random((rows, per_row)).astype(np.float32) for i in range(n_float)
    }
    float_heavy.update({f"fc_{i}": fid_matrix() for i in range(features - n_float)})
    ragged_lists, ragged_splits = {}, {}
    for i in range(features):
        lengths = rng.integers(0, 2 * per_row + 1, rows)  # mean per_row, some empty
        splits = np.concatenate([[0], np.cumsum(lengths)])
        flat = rng.integers(0, 1 << 63, int(splits[-1]), dtype=np.int64)
        ragged_splits[f"seq_{i}"] = RaggedValue.from_row_splits(flat, splits)
        as_list = flat.tolist()
        ragged_lists[f"seq_{i}"] = RaggedValue(
            [as_list[splits[j] : splits[j + 1]] for j in range(rows)]
        )
    return {
        "int64": dense,
        f"float-heavy ({n_float} float32 + {features - n_float} int64 features)": float_heavy,
        "ragged, Python rows": ragged_lists,
        "ragged, values + row_splits": ragged_splits,
    }


def bench_example_batches(rows: int, features: int, per_row: int, repeats: int) -> list[Result]:
    out = []
    for variant, batch in make_batches(rows, features, per_row).items():
        case = f"{rows}x{features}x{per_row} {variant}"
        slow_bytes = to_example_batch(batch).SerializeToString()
        assert encode_example_batch(batch) == slow_bytes, variant
        t_fast, _ = best_of(lambda b=batch: encode_example_batch(b), repeats)
        t_slow, _ = best_of(
            lambda b=batch: to_example_batch(b).SerializeToString(), max(1, min(repeats, 3))
        )
        items = rows * features
        note = f"{len(slow_bytes) / 1e6:.2f} MB per batch"
        out.append(
            Result(
                "example_batch",
                case,
                "fast encoder (numpy wire bytes)",
                t_fast,
                items,
                "rows/s",
                1.0,
                note=note,
            )
        )
        out.append(
            Result(
                "example_batch",
                case,
                "protobuf messages, row by row",
                t_slow,
                items,
                "rows/s",
                t_slow / t_fast,
            )
        )
    return out


# ---------------------------------------------------------------- driver and report


def run(quick: bool = False, use_tf: bool = True, repeats: int | None = None) -> list[Result]:
    """Every benchmark; ``quick`` uses the small sizes."""
    repeats = repeats if repeats is not None else (2 if quick else 5)
    tf = import_tensorflow() if use_tf else None
    results: list[Result] = []
    for n in QUICK_SLOT_SIZES if quick else FULL_SLOT_SIZES:
        results += bench_slots(n, repeats, tf, subsample=min(SUBSAMPLE, n))
        gc.collect()
    results += bench_example_batches(*(QUICK_BATCH if quick else FULL_BATCH), repeats=repeats)
    return results


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def _fmt_rate(rate: float | None, unit: str) -> str:
    if rate is None:
        return "n/a"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if rate >= scale:
            return f"{rate / scale:.1f}{prefix} {unit}"
    return f"{rate:.0f} {unit}"


def format_table(results: list[Result]) -> str:
    header = [
        "benchmark",
        "implementation",
        "time (min)",
        "throughput",
        "fast path is",
        "peak mem / input",
        "note",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        speed = (
            "n/a"
            if r.speedup is None
            else ("(baseline)" if r.speedup == 1.0 else f"{r.speedup:.1f}x faster")
        )
        cells = [
            r.case,
            r.impl,
            _fmt_time(r.seconds),
            _fmt_rate(r.throughput, r.unit),
            speed,
            "" if r.peak is None else f"{r.peak:.3f}x",
            r.note,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_targets(results: list[Result]) -> list[tuple[str, bool | None, str]]:
    """(target, met?, measured); ``None`` when not measured (e.g. no TensorFlow)."""
    checks: list[tuple[str, bool | None, str]] = []
    fast = [r for r in results if r.group == "slots" and r.speedup == 1.0]
    if fast:
        worst = min(r.throughput or 0.0 for r in fast)
        checks.append(
            (
                "slot counting >= 300M fids/s",
                worst >= TARGET_FIDS_PER_S,
                f"slowest {_fmt_rate(worst, 'fids/s')}",
            )
        )
        peak = max(r.peak or 0.0 for r in fast)
        checks.append(("peak memory <= 1.5x input", peak <= TARGET_PEAK, f"max {peak:.3f}x"))
    tf_rows = [r for r in results if r.impl.startswith("tensorflow") and r.speedup is not None]
    if tf_rows:
        low = min(r.speedup or 0.0 for r in tf_rows)
        checks.append(("slot counting >= 10x TF graph", low >= TARGET_VS_TF, f"min {low:.1f}x"))
    else:
        checks.append(("slot counting >= 10x TF graph", None, "n/a (no tensorflow)"))
    enc = [
        r
        for r in results
        if r.group == "example_batch"
        and "int64" in r.case
        and r.speedup not in (None, 1.0)
        and "ragged" not in r.case
        and "float" not in r.case
    ]
    if enc:
        low = min(r.speedup or 0.0 for r in enc)
        checks.append(
            ("encoder >= 20x protobuf (dense int64)", low >= TARGET_ENCODER, f"{low:.1f}x")
        )
    return checks


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    import google.protobuf
    from google.protobuf.internal import api_implementation

    protobuf = f"protobuf {google.protobuf.__version__} ({api_implementation.Type()})"
    tf = sys.modules.get("tensorflow")
    tf_version = f", tensorflow {tf.__version__}" if tf is not None else ""
    return (
        f"{cpu}, {cores} cores, Python {platform.python_version()}, numpy {np.__version__}, "
        f"{protobuf}{tf_version}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--no-tf", action="store_true", help="skip the TensorFlow comparison")
    parser.add_argument("--repeats", type=int, default=None, help="min-of-N repeats")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(quick=args.quick, use_tf=not args.no_tf, repeats=args.repeats)
    given = sys.argv[1:] if argv is None else argv
    print(" ".join(["command: python benchmarks/bench_hooks.py", *given]))
    print(f"machine: {machine()}")
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"load average at the end (1, 5, 15 min): {load}")
    print()
    print(format_table(results))
    print()
    for target, met, measured in check_targets(results):
        status = "n/a" if met is None else ("met" if met else "NOT met")
        print(f"- {target}: {status} ({measured})")
    print(f"\n(total {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
