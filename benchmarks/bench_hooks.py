"""Side-by-side benchmarks of the reference's hot paths, each figure against its strongest peer.

    python benchmarks/bench_hooks.py                 # full sizes
    python benchmarks/bench_hooks.py --quick         # small sizes: a smoke run (CI)
    python benchmarks/bench_hooks.py --tf            # also TensorFlow's methods (needs TF)
    python benchmarks/bench_hooks.py --write-docs docs/performance.md   # refresh the docs

Figures (each at three sizes or more), on the inputs real tables hold: fids in about 1000
clustered slots, in 200 slots of 48-bit hashes, or uniform over 64 bits; assigned once, twice
or ten times each:

* ``assign`` -- the first ``HashTable.assign`` of N ids (what every ``slot_count`` scenario
  does), N/1, N/2 or N/10 of them distinct, in each layout, against ``np.sort`` of the same
  ids and the slot count the table then feeds. Peak memory (tracemalloc, in an extra
  untimed call) relative to the id array.
* ``later`` -- a later assign of 10K new ids into a table of N (assign after assign),
  against one pass over the table's ids (a copy of them) and the first assign of the 10K
  ids alone (their own O(k log k)): its goal is at most 1.5x the sum of the two.
* ``slots`` -- v2 slot counting of a table's dump (``count_slots(session.run(table.dump()))``),
  in each layout, against ``a.sum()`` of the same array (a read at memory bandwidth: the
  limit), plain numpy (``np.bincount((u >> 48) & 0x7FFF)``), the reference counting the bare
  id array (what the table's kept histogram saves at the dump, and what an assign pays for
  its new ids; compiled and numpy paths), and with ``--tf`` TensorFlow's
  ``tf.math.bincount`` and the original's own method (the TF tier: ``decode_proto`` of the
  serialized entries, shift, mask, ``scatter_nd``).
  The per-fid Python loop is shown only where it runs in seconds.
* ``dense`` / ``ragged`` / ``tiny`` -- ``ExampleBatch`` encoding (``encode_example_batch``)
  against protobuf messages built row by row as the original does, and (dense) against
  ``tobytes()`` of the feature arrays, the least any encoder has to copy.

The judge's own scaling (the corpus through the subprocess reference testee, at the corpus's
size and at four times it) is measured by ``benchmarks/bench_harness.py``.

Method: the methods of one case run round by round, interleaved (the order rotates each
round), the same number of rounds each; every method's output on the full input is checked
identical to the subject's before timing. Reported: min and median per method, and ratios of
medians, so a load spike hits every method alike. The goal table says, per figure and size,
whether the goal is met or by how much it is missed.
"""

from __future__ import annotations

import argparse
import array
import gc
import os
import platform
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference.ckpt_info import MAX_SLOT, count_slots
from reference.example_values import RaggedValue, to_example_batch
from reference.fast_example import encode_example_batch
from reference.fast_slots import compiled_kernel, count_slots_from_ids, count_slots_loop
from reference.hash_table import HashTable
from reference.runtime.session import Session

FULL_SIZES = (1_000_000, 10_000_000, 50_000_000)
LAYOUTS = ("clustered", "200 slots", "uniform")
LAYOUT_NOTES = {
    "clustered": "about 1000 slots (random top 16 bits), unique low bits",
    "200 slots": "200 slots, a 48-bit hash below each",
    "uniform": "uniform 64-bit fids: every top 16 bits",
}
DUP_RATIOS = (1, 2, 10)  # times each distinct id is assigned
LATER_IDS = 10_000  # new ids of a later assign
LATER_GOAL = "later assign <= 1.5x one pass + its own first assign"
QUICK_SIZES = (10_000, 100_000, 300_000)
FULL_ROWS = (64, 256, 1024)  # dense and ragged: rows x 50 features x 10 values per row
QUICK_ROWS = (16, 32, 64)
TINY_ROWS = (1, 2, 4, 7)  # tiny batches: fewer than 8 rows
FEATURES, PER_ROW = 50, 10
QUICK_FEATURES = 5
LOOP_MAX = 1_000_000  # the per-fid Python loop only up to this many fids
TF_DECODE_MAX = 10_000_000  # the TF tier's decode_proto method only up to this many entries
DOC_MARK = "<!-- bench:{} {} (written by {} --write-docs) -->"


@dataclass
class Goal:
    """``ratio`` of medians ``slower / faster`` (as named) must be <= ``limit`` (``at_most``)
    or >= it."""

    text: str
    numerator: str  # method whose median is divided ...
    denominator: str | tuple[str, ...]  # ... by this one's (or by the sum of these ones')
    limit: float
    at_most: bool


@dataclass
class Case:
    """One figure at one size: its methods' times (seconds, one per round)."""

    figure: str
    size: str
    items: int
    unit: str
    subject: str
    times: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    peak: float | None = None  # peak memory / input, for the subject

    def med(self, method: str) -> float:
        return median(self.times[method])

    def ratio(self, numerator: str, denominator: str | tuple[str, ...]) -> float | None:
        """Median of ``numerator`` over the median of ``denominator`` (or the sum of the
        medians of several); ``None`` when one was not measured."""
        parts = (denominator,) if isinstance(denominator, str) else denominator
        if any(m not in self.times for m in (numerator, *parts)):
            return None
        return self.med(numerator) / sum(self.med(m) for m in parts)


# ---------------------------------------------------------------- timing


def interleaved(methods: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Each method once per round, in an order rotated every round; wall times per method."""
    names = list(methods)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(max(1, rounds)):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            start = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - start)
    return times


def check_identical(methods: dict[str, Callable[[], Any]], subject: str) -> None:
    """Every method's output on the full input equals the subject's (raises otherwise)."""
    expect = methods[subject]()
    for name, fn in methods.items():
        if name == subject:
            continue
        got = fn()
        same = (
            np.array_equal(np.asarray(got), np.asarray(expect))
            if isinstance(expect, np.ndarray)
            else got == expect
        )
        if not same:
            raise AssertionError(f"{name!r} gives a different result from {subject!r}")


def traced_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes ``fn`` allocates, as tracemalloc sees them (numpy reports its buffers)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return max(tracemalloc.get_traced_memory()[1] - base, 0)
    finally:
        tracemalloc.stop()


def make_fids(n: int, seed: int = 0, layout: str = "clustered") -> np.ndarray:
    """``n`` distinct int64 fids of a layout, shuffled (read-only).

    ``clustered``: 1000 random tops (sign bit + 15-bit slot), unique low 48 bits;
    ``200 slots``: 200 random slots (sign bit clear), a 48-bit hash below;
    ``uniform``: uniform over the 64 bits. Hashes are ``i * odd`` modulo the width, a
    bijection: distinct without a dedup, and random-looking in the high bits.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.uint64)
    if layout == "clustered":
        tops = rng.integers(0, 1 << 16, 1000, dtype=np.uint64)  # sign bit + 15-bit slot
        fids = tops[rng.integers(0, len(tops), n)] << np.uint64(48)
        fids |= rng.permutation(n).astype(np.uint64)  # low 48 bits: unique, in random order
    elif layout == "200 slots":
        slots = rng.choice(1 << 15, 200, replace=False).astype(np.uint64)
        fids = slots[rng.integers(0, 200, n)] << np.uint64(48)
        fids |= (i * np.uint64(0x9E3779B97F4B)) & np.uint64((1 << 48) - 1)
        fids = fids[rng.permutation(n)]
    elif layout == "uniform":
        fids = (i * np.uint64(0x9E3779B97F4A7C15))[rng.permutation(n)]
    else:
        raise ValueError(layout)
    out = fids.view(np.int64)
    out.flags.writeable = False
    return out


def with_duplicates(n: int, ratio: int, layout: str, seed: int = 0) -> tuple[np.ndarray, Any]:
    """``n`` fids, ``n // ratio`` distinct ones each ``ratio`` times, shuffled (read-only),
    and the distinct ones in the order of their first occurrence (known from the shuffle)."""
    distinct = make_fids(n // ratio, seed, layout)
    if ratio == 1:
        return distinct, distinct
    order = np.random.default_rng(seed + 1).permutation(n)
    out = np.repeat(distinct, ratio)[order]
    out.flags.writeable = False
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n)  # where each repeated copy landed
    first = where.reshape(-1, ratio).min(axis=1)  # each distinct id's first position
    return out, distinct[np.argsort(first)]


def fmt_n(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}K"
    return str(n)


# ---------------------------------------------------------------- hash table and slot counts


def plain_numpy_count(ids: np.ndarray) -> np.ndarray:
    """The obvious numpy: one shift, one mask, one bincount over the whole array."""
    u = ids.view(np.uint64)
    return np.bincount(
        ((u >> np.uint64(48)) & np.uint64(0x7FFF)).view(np.int64), minlength=MAX_SLOT
    )


class TfCounters:
    """TensorFlow's ways of counting, built once per input (graph mode, inputs preloaded)."""

    def __init__(self, tf: Any, ids: np.ndarray, decode: bool) -> None:
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.fetch: dict[str, Any] = {}
        with self.graph.as_default():
            feed = v1.placeholder(tf.int64, shape=[None])
            table = v1.Variable(feed, trainable=False, validate_shape=False, use_resource=True)
            u = tf.bitcast(table.read_value(), tf.uint64)
            slots = tf.cast(
                tf.bitwise.bitwise_and(
                    tf.bitwise.right_shift(u, tf.constant(48, tf.uint64)),
                    tf.constant(0x7FFF, tf.uint64),
                ),
                tf.int32,
            )
            self.fetch["bincount"] = tf.cast(
                tf.math.bincount(slots, minlength=MAX_SLOT, maxlength=MAX_SLOT), tf.int64
            )
            inits = [table.initializer]
            if decode:
                from reference.tf.hash_table import encode_entries, extract_slot_from_entry

                nums = tf.zeros([tf.shape(feed)[0], 1], tf.float32)
                entries = v1.Variable(
                    encode_entries(feed, nums), trainable=False, validate_shape=False
                )
                slot = tf.minimum(extract_slot_from_entry(entries.read_value()), MAX_SLOT - 1)
                self.fetch["original"] = tf.scatter_nd(
                    tf.reshape(slot, [-1, 1]), tf.ones_like(slot), [MAX_SLOT]
                )
                inits.append(entries.initializer)
        self.session = v1.Session(graph=self.graph)
        self.session.run(inits, feed_dict={feed: ids})

    def run(self, name: str) -> Callable[[], np.ndarray]:
        return lambda: self.session.run(self.fetch[name])

    def close(self) -> None:
        self.session.close()


def table_of(ids: np.ndarray) -> tuple[Session, HashTable]:
    session, table = Session(), HashTable("bench", dim=1)
    session.run(table.assign(ids))
    return session, table


def bench_assign(n: int, ratio: int, layout: str, rounds: int) -> Case:
    """The first assign of ``n`` ids, ``n // ratio`` distinct, and the slot count it feeds."""
    ids, expected = with_duplicates(n, ratio, layout)
    distinct = "all distinct" if ratio == 1 else f"{fmt_n(n // ratio)} distinct"
    size = f"{fmt_n(n)} ids, {distinct}, {layout}"
    session, table = table_of(ids)

    def first_assign() -> Any:
        own, fresh = table_of(ids)
        return own.run(fresh.dump()).ids  # a lazy dump: the entries are not serialized

    assert np.array_equal(first_assign(), expected), "first-occurrence order"
    del expected
    case = Case("assign", size, n, "ids/s", "HashTable.assign (first)")
    case.goals = [
        Goal("first assign <= 3x np.sort", "HashTable.assign (first)", "np.sort", 3.0, True)
    ]
    methods = {
        "HashTable.assign (first)": first_assign,
        "np.sort": lambda: np.sort(ids),
        "count_slots of the table": lambda: count_slots(session.run(table.dump())),
    }
    case.times = interleaved(methods, rounds)
    case.peak = traced_peak(first_assign) / ids.nbytes
    case.notes["HashTable.assign (first)"] = (
        f"{LAYOUT_NOTES[layout]}; includes the copy assign makes of its input and the slot "
        "histogram the table keeps"
    )
    return case


def bench_later(n: int, rounds: int) -> Case:
    """Assigns of ``LATER_IDS`` new ids, one after the other, into a table of ``n`` ids."""
    k = min(LATER_IDS, max(1, n // 10))
    ids = make_fids(n + k * (rounds + 1), seed=3)
    base, batches = ids[:n], ids[n:].reshape(rounds + 1, k)
    session, table = table_of(base)
    session.run(table.assign(batches[0]))  # the first later assign makes the id buffer
    done = [1]

    def later_assign() -> None:
        session.run(table.assign(batches[done[0]]))
        done[0] += 1

    def table_ids() -> np.ndarray:
        return session.run(table.dump()).ids

    def own_first() -> Any:
        own, fresh = table_of(batches[0])
        return own.run(fresh.dump()).ids

    case = Case("later", f"{fmt_n(k)} new ids into {fmt_n(n)}", k, "ids/s", "later assign")
    one_pass, own = (
        "copy of the table's ids (one pass)",
        f"first assign of the {fmt_n(k)} ids alone",
    )
    case.goals = [Goal(LATER_GOAL, "later assign", (one_pass, own), 1.5, True)]
    methods = {"later assign": later_assign, one_pass: lambda: table_ids().copy(), own: own_first}
    case.times = interleaved(methods, rounds)
    assert np.array_equal(table_ids(), ids[: n + k * done[0]]), "ids appended in order"
    dump = session.run(table.dump())
    assert np.array_equal(dump.sorted_ids, np.sort(ids[: n + k * done[0]]))
    case.notes["later assign"] = (
        "assign after assign: the ids appended in place, the sorted copy merged in one pass"
    )
    return case


def bench_slots(n: int, layout: str, rounds: int, tf: Any | None) -> Case:
    """The slot count of a table of ``n`` distinct ids of ``layout``."""
    ids = make_fids(n, layout=layout)
    session, table = table_of(ids)

    def count() -> np.ndarray:
        return count_slots(session.run(table.dump()))

    slots = Case("slots", f"{fmt_n(n)} ids, {layout}", n, "fids/s", "reference count_slots")
    slots.goals = [
        Goal("slot counting <= 2x a.sum()", "reference count_slots", "a.sum() (bandwidth)", 2, True)
    ]
    methods = {
        "reference count_slots": count,
        "a.sum() (bandwidth)": lambda: ids.sum(),
        "plain numpy": lambda: plain_numpy_count(ids),
        "reference, bare id array": lambda: count_slots_from_ids(ids),
    }
    compiled = compiled_kernel() is not None
    slots.notes["reference count_slots"] = (
        f"{LAYOUT_NOTES[layout]}; from the slot histogram the table keeps"
    )
    slots.notes["reference, bare id array"] = "every id counted, " + (
        "compiled loop (numba)" if compiled and n >= 1 << 16 else "numpy path (no numba)"
    )
    if compiled:
        methods["reference, bare id array, numpy path"] = lambda: count_slots_from_ids(
            ids, compiled=False
        )
    if n <= LOOP_MAX:
        listed = ids.tolist()
        methods["per-fid Python loop"] = lambda: count_slots_loop(listed)
    counters = None
    if tf is not None:
        counters = TfCounters(tf, ids, decode=n <= TF_DECODE_MAX)
        methods["tf.math.bincount"] = counters.run("bincount")
        slots.notes["tf.math.bincount"] = "ids preloaded in a variable"
        if "original" in counters.fetch:
            methods["TF tier: decode_proto + scatter_nd"] = counters.run("original")
            slots.notes["TF tier: decode_proto + scatter_nd"] = "entries preloaded in a variable"
    try:
        check_identical(
            {k: v for k, v in methods.items() if not k.startswith("a.sum")},
            "reference count_slots",
        )
        slots.times = interleaved(methods, rounds)
    finally:
        if counters is not None:
            counters.close()
    slots.peak = (ids.nbytes + traced_peak(count)) / ids.nbytes
    return slots


def bench_table(n: int, rounds: int, tf: Any | None) -> list[Case]:
    """Every hash-table and slot-count case of one size."""
    cases = [bench_assign(n, r, layout, rounds) for layout in LAYOUTS for r in DUP_RATIOS]
    gc.collect()
    cases.append(bench_later(n, rounds))
    cases += [bench_slots(n, layout, rounds, tf) for layout in LAYOUTS]
    return cases


# ---------------------------------------------------------------- ExampleBatch encoding


def dense_batch(rows: int, features: int, per_row: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        f"fc_{i}": rng.integers(0, 1 << 63, (rows, per_row), dtype=np.int64)
        for i in range(features)
    }


def float_batch(rows: int, features: int, per_row: int, seed: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {f"dense_{i}": rng.random((rows, per_row)).astype(np.float32) for i in range(features)}


def ragged_batches(rows: int, features: int, per_row: int, seed: int = 3) -> tuple[dict, dict]:
    """The same ragged features as Python rows, and as flat values plus row splits."""
    rng = np.random.default_rng(seed)
    lists, splits_form = {}, {}
    for i in range(features):
        lengths = rng.integers(0, 2 * per_row + 1, rows)  # mean per_row, some empty
        splits = np.concatenate([[0], np.cumsum(lengths)])
        flat = rng.integers(0, 1 << 63, int(splits[-1]), dtype=np.int64)
        splits_form[f"seq_{i}"] = RaggedValue.from_row_splits(flat, splits)
        as_list = flat.tolist()
        lists[f"seq_{i}"] = RaggedValue([as_list[splits[j] : splits[j + 1]] for j in range(rows)])
    return lists, splits_form


def protobuf(batch: dict[str, Any]) -> Callable[[], bytes]:
    return lambda: to_example_batch(batch).SerializeToString()


def encoder(batch: dict[str, Any]) -> Callable[[], bytes]:
    return lambda: encode_example_batch(batch)


def bench_encoding(rows: int, features: int, rounds: int, tiny: bool = False) -> list[Case]:
    shape = f"{rows}x{features}x{PER_ROW}"
    cases = []
    lists, splits = ragged_batches(rows, features, PER_ROW)
    dense = dense_batch(rows, features, PER_ROW)
    variants: list[tuple[str, str, dict[str, Any]]] = [
        ("tiny" if tiny else "dense", "int64", dense),
        ("tiny" if tiny else "ragged", "ragged, Python lists", lists),
    ]
    if not tiny:
        variants += [
            ("other", "float32", float_batch(rows, features, PER_ROW)),
            ("other", "ragged, values + row_splits", splits),
        ]
    for figure, kind, batch in variants:
        case = Case(figure, f"{shape} {kind}", rows * features, "rows/s", "encode_example_batch")
        methods: dict[str, Callable[[], Any]] = {
            "encode_example_batch": encoder(batch),
            "protobuf, row by row": protobuf(batch),
        }
        check_identical(methods, "encode_example_batch")
        if figure == "dense":
            arrays = list(batch.values())
            methods["tobytes() (the limit)"] = lambda a=arrays: b"".join([x.tobytes() for x in a])
            case.goals.append(
                Goal(
                    "dense encoding <= 2x tobytes()",
                    "encode_example_batch",
                    "tobytes() (the limit)",
                    2.0,
                    True,
                )
            )
        elif figure == "ragged":
            rows_of = [v.rows for v in batch.values()]
            methods["flatten + array('Q') only"] = lambda r=rows_of: [
                array.array("Q", list(chain.from_iterable(x))) for x in r
            ]
            case.notes["flatten + array('Q') only"] = (
                "the per-value conversion any encoder of Python ints does: its ceiling"
            )
            case.goals.append(
                Goal(
                    "ragged Python lists >= 5x protobuf",
                    "protobuf, row by row",
                    "encode_example_batch",
                    5.0,
                    False,
                )
            )
        elif figure == "tiny":
            case.goals.append(
                Goal(
                    "tiny batches >= 1x protobuf (never slower)",
                    "protobuf, row by row",
                    "encode_example_batch",
                    1.0,
                    False,
                )
            )
        # Tiny batches take microseconds: time 200 calls per round.
        reps = 200 if tiny else 1
        timed = {
            name: (lambda f=fn, k=reps: [f() for _ in range(k)]) for name, fn in methods.items()
        }
        case.times = {k: [t / reps for t in v] for k, v in interleaved(timed, rounds).items()}
        case.notes["encode_example_batch"] = (
            f"{len(methods['encode_example_batch']()) / 1e6:.2f} MB per batch"
        )
        cases.append(case)
    return cases


# ---------------------------------------------------------------- driver


def import_tensorflow() -> Any | None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except Exception:  # ImportError, or a broken install
        return None
    tf.compat.v1.disable_eager_execution()
    return tf


def run(
    quick: bool = False,
    use_tf: bool = False,
    rounds: int | None = None,
    sizes: tuple[int, ...] | None = None,
    rows: tuple[int, ...] | None = None,
) -> list[Case]:
    """Every figure at every size; ``quick`` uses the small sizes and few rounds."""
    rounds = rounds if rounds is not None else (3 if quick else 7)
    tf = import_tensorflow() if use_tf else None
    if use_tf and tf is None:
        raise SystemExit("--tf: tensorflow cannot be imported")
    cases: list[Case] = []
    # The collections before every timed call then walk only what the run allocates, not
    # every object the process already holds (a test run's modules made each one slow).
    gc.collect()
    gc.freeze()
    try:
        for n in sizes or (QUICK_SIZES if quick else FULL_SIZES):
            cases += bench_table(n, rounds if n < 10_000_000 else max(3, rounds - 2), tf)
            gc.collect()
        features = QUICK_FEATURES if quick else FEATURES
        for r in rows or (QUICK_ROWS if quick else FULL_ROWS):
            cases += bench_encoding(r, features, rounds)
        for r in TINY_ROWS:
            cases += bench_encoding(r, features, rounds, tiny=True)
    finally:
        gc.unfreeze()
    return cases


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_rate(rate: float, unit: str) -> str:
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if rate >= scale:
            return f"{rate / scale:.2f}{prefix} {unit}"
    return f"{rate:.0f} {unit}"


FIGURE_TITLES = {
    "assign": "First `HashTable.assign` of N ids (vs `np.sort` of the same ids)",
    "later": (
        "A later `HashTable.assign` of 10K new ids into a table of N (vs one pass over the "
        "table's ids)"
    ),
    "slots": "v2 slot counting of a table's dump (vs `a.sum()`, memory bandwidth)",
    "dense": "`ExampleBatch` encoding, dense int64 features (vs protobuf and `tobytes()`)",
    "ragged": "`ExampleBatch` encoding, ragged rows as Python lists (vs protobuf)",
    "tiny": "`ExampleBatch` encoding, tiny batches of fewer than 8 rows (vs protobuf)",
    "other": "`ExampleBatch` encoding, other inputs (no goal)",
}


def format_tables(cases: list[Case]) -> str:
    """One markdown table per figure: every method's min, median, rate and ratio."""
    out = []
    for figure, title in FIGURE_TITLES.items():
        chosen = [c for c in cases if c.figure == figure]
        if not chosen:
            continue
        out.append(f"#### {title}\n")
        out.append(
            "| case | method | min | median | per second (median) | median / subject's | note |"
        )
        out.append("|---|---|---|---|---|---|---|")
        for c in chosen:
            for method, times in c.times.items():
                ratio = c.ratio(method, c.subject)
                rel = "(subject)" if method == c.subject else f"{ratio:.2f}x"
                note = c.notes.get(method, "")
                if method == c.subject and c.peak is not None:
                    note = "; ".join(filter(None, [note, f"peak memory {c.peak:.2f}x the ids"]))
                cells = [
                    c.size,
                    method,
                    fmt_time(min(times)),
                    fmt_time(median(times)),
                    fmt_rate(c.items / median(times), c.unit),
                    rel,
                    note,
                ]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def goal_rows(cases: list[Case]) -> list[tuple[str, str, str, str]]:
    """(goal, case, measured, verdict) for every goal of every case."""
    rows = []
    for c in cases:
        for g in c.goals:
            ratio = c.ratio(g.numerator, g.denominator)
            if ratio is None:
                rows.append((g.text, c.size, "n/a", "not measured"))
                continue
            met = ratio <= g.limit if g.at_most else ratio >= g.limit
            gap = ratio / g.limit if g.at_most else g.limit / ratio
            verdict = "met" if met else f"NOT met: {gap:.2f}x short"
            rows.append((g.text, c.size, f"{ratio:.2f}x", verdict))
        if c.figure == "assign" and c.peak is not None:
            met = c.peak <= 4.0
            verdict = "met" if met else f"NOT met: {c.peak / 4.0:.2f}x short"
            rows.append(
                ("first assign peak memory <= 4x the ids", c.size, f"{c.peak:.2f}x", verdict)
            )
    return rows


def format_goals(cases: list[Case]) -> str:
    lines = ["| goal | case | measured (ratio of medians) | verdict |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in goal_rows(cases)]
    return "\n".join(lines)


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

    parts = [
        f"{cpu}, {cores} cores",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"protobuf {google.protobuf.__version__} ({api_implementation.Type()})",
    ]
    for name in ("numba", "tensorflow"):
        module = sys.modules.get(name)
        parts.append(f"{name} {module.__version__}" if module else f"no {name}")
    return ", ".join(parts)


def report(cases: list[Case], command: str, seconds: float) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KB on Linux -> GB
    return "\n".join(
        [
            f"command: {command}",
            f"machine: {machine()}",
            f"load average at the end (1, 5, 15 min): {load}; "
            f"peak RSS {rss:.2f} GB; total {seconds:.0f} s",
            "",
            format_tables(cases),
            "#### Goals\n",
            format_goals(cases),
        ]
    )


def write_docs(
    path: Path, text: str, block: str = "main", script: str = "benchmarks/bench_hooks.py"
) -> None:
    """Replace the text between the ``block`` markers (naming ``script``) of ``path`` with
    ``text``: its first paragraph (the command and machine) fenced, the rest as markdown."""
    begin, end = DOC_MARK.format("begin", block, script), DOC_MARK.format("end", block, script)
    doc = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{path}: no {begin!r} ... {end!r} block to replace")
    body = f"{begin}\n\n```\n{text.split(chr(10) + chr(10), 1)[0]}\n```\n\n"
    body += text.split("\n\n", 1)[1] + f"\n\n{end}"
    path.write_text(pattern.sub(lambda _: body, doc, count=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--tf", action="store_true", help="also TensorFlow's counting methods")
    parser.add_argument("--no-tf", action="store_true", help="(the default) no TensorFlow")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case")
    parser.add_argument("--write-docs", type=Path, help="put the tables in this markdown file")
    parser.add_argument("--doc-block", default="main", help="which marked block to replace")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    cases = run(quick=args.quick, use_tf=args.tf and not args.no_tf, rounds=args.rounds)
    given = sys.argv[1:] if argv is None else argv
    hidden = ("--write-docs", "--doc-block")
    shown = [
        a for i, a in enumerate(given) if a not in hidden and (i == 0 or given[i - 1] not in hidden)
    ]
    command = " ".join(["python benchmarks/bench_hooks.py", *shown])
    text = report(cases, command, time.perf_counter() - started)
    print(text)
    if args.write_docs:
        write_docs(args.write_docs, text, args.doc_block)
        print(f"\n(tables written to {args.write_docs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
