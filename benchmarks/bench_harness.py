"""How fast the harness itself reads, explains and judges outputs.

    python benchmarks/bench_harness.py [--quick] [--mb N]

Prints a markdown table (the numbers in docs/performance.md come from it):

- ``harness dump`` of an N MB feature-dump stream (default 100; records of 10 000 fids),
  in a child process: wall time and the child's peak resident memory;
- ``harness diff`` of two streams of one N MB record differing in the last fid, and of two
  N MB byte files differing in the last byte;
- ``harness diff`` of the corpus's 1.3 MB ``ckpt.info`` with one digit off, and with 1000
  slots off (in process: the explanation only);
- loading the corpus (schema validation included) and running it in process, judged
  against the goldens as ``harness run`` does.

``--quick`` uses 5 MB files and one repetition (a smoke run).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from harness.adapters.inprocess import InProcessReference  # noqa: E402
from harness.artifacts import kind_of  # noqa: E402
from harness.golden import GOLDEN_DIR  # noqa: E402
from harness.runner import run_corpus  # noqa: E402
from harness.scenario import load_all  # noqa: E402
from reference.feature_engineering_hooks import frame  # noqa: E402
from reference.protos.example_pb2 import ExampleBatch  # noqa: E402

CKPT = "slot_count/large_million_fids/files/model/ckpt.info-1000000"


def batch(fids: np.ndarray) -> bytes:
    b = ExampleBatch(batch_size=len(fids) // 100 or 1)
    named = b.named_feature_list.add(name="f")
    for row in np.array_split(fids, 100):
        named.feature.add().fid_v2_list.value.extend(row.tolist())
    return frame(b.SerializeToString())


def write_stream(path: Path, mb: int, fids_per_record: int = 10_000) -> None:
    rng = np.random.default_rng(1)
    with open(path, "wb") as f:
        written = 0
        while written < mb << 20:
            record = batch(rng.integers(0, 2**63, fids_per_record, dtype=np.int64))
            f.write(record)
            written += len(record)


def child(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``python -m harness <args>`` (output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, stdout=null, check=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss is the largest child so far (KB on Linux): exact for the first, a bound after
    return seconds, max(peak, before) / 1024


def best(repeat: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(quick: bool, mb: int, repeat: int) -> list[tuple[str, float, str]]:
    rows: list[tuple[str, float, str]] = []
    work = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    mb = 5 if quick else mb
    stream = work / "features" / "stream.pb"
    stream.parent.mkdir()
    write_stream(stream, mb)
    seconds, peak = child(["dump", str(stream)])
    rows.append((f"`harness dump` of a {mb} MB stream", seconds, f"peak RSS {peak:.0f} MB"))

    rng = np.random.default_rng(2)
    fids = rng.integers(0, 2**63, (mb << 20) // 9, dtype=np.int64)
    one_a = work / "a" / "features" / "one.pb"
    one_b = work / "b" / "features" / "one.pb"
    for path in (one_a, one_b):
        path.parent.mkdir(parents=True)
    one_a.write_bytes(batch(fids))
    fids[-1] ^= 1
    one_b.write_bytes(batch(fids))
    seconds = best(repeat, lambda: child(["diff", str(one_a), str(one_b)])[0])
    rows.append((f"`harness diff`, one {mb} MB record, last fid off", seconds, ""))

    raw_a, raw_b = work / "a.bin", work / "b.bin"
    data = bytearray(rng.bytes(mb << 20))
    raw_a.write_bytes(data)
    data[-1] ^= 1
    raw_b.write_bytes(data)
    seconds = best(repeat, lambda: child(["diff", str(raw_a), str(raw_b)])[0])
    rows.append((f"`harness diff`, {mb} MB as bytes, last byte off", seconds, ""))

    golden = (GOLDEN_DIR / CKPT).read_bytes()
    kind = kind_of(CKPT)
    one_digit = golden.replace(b"value: 28\n", b"value: 29\n", 1)
    seconds = best(repeat, lambda: timed(lambda: kind.explain(CKPT, golden, one_digit)))
    rows.append((f"explain a {len(golden) / 1e6:.1f} MB ckpt.info, 1 digit off", seconds, ""))
    ckpt_a, ckpt_b = work / "a" / "ckpt.info-1", work / "b" / "ckpt.info-1"
    ckpt_a.write_bytes(golden)
    ckpt_b.write_bytes(one_digit)
    seconds = best(repeat, lambda: child(["diff", str(ckpt_a), str(ckpt_b)])[0])
    rows.append(("`harness diff` of it (with interpreter start-up)", seconds, ""))
    lines = golden.split(b"\n")
    values = [i for i, line in enumerate(lines) if line.startswith(b"  value:")]
    for i in random.Random(1).sample(values, 1000):
        lines[i] += b"1"
    many = b"\n".join(lines)
    seconds = best(repeat, lambda: timed(lambda: kind.explain(CKPT, golden, many)))
    rows.append(("explain it with 1000 slots off", seconds, ""))

    seconds = best(repeat, lambda: timed(load_all))
    rows.append(("load and validate the corpus", seconds, f"{len(load_all())} scenarios"))
    scenarios = load_all()

    def corpus() -> None:
        results = run_corpus(scenarios, InProcessReference(), work / "corpus")
        assert all(r.ok for r in results), [r.scenario for r in results if not r.ok]

    seconds = best(repeat, lambda: timed(corpus))
    rows.append(("corpus run, in process (judged)", seconds, ""))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    rows = run(args.quick, args.mb, 1 if args.quick else args.repeat)
    print("| case | seconds | note |\n| --- | --- | --- |")
    for case, seconds, note in rows:
        print(f"| {case} | {seconds:.3f} | {note} |")


if __name__ == "__main__":
    main()
