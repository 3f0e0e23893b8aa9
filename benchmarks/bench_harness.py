"""How fast the harness itself reads, explains and judges outputs.

    python benchmarks/bench_harness.py [--quick] [--mb N] [--repeat N] [--write-docs FILE]

Prints a markdown table, each case with its goal and verdict (``--write-docs
docs/performance.md`` puts it in the docs' ``harness`` block):

- ``harness dump`` of feature-dump streams of N/10, N/2 and N MB (default N = 100; records
  of 10 000 fids), in a child process: wall time and the child's peak resident memory,
  which must not grow with the stream;
- ``harness diff`` of two streams of one N MB record differing in the last fid, and of two
  N MB byte files differing in the last byte;
- ``harness diff`` of the corpus's 1.3 MB ``ckpt.info`` with one digit off, and with 1000
  slots off (in process: the explanation only);
- loading the corpus (schema validation included) and running it in process, judged
  against the goldens as ``harness run`` does;
- the judge's own cost through the subprocess reference testee, per sandbox (``none``,
  and ``bwrap`` where it works): the corpus at 1x and 4x its size (the 4x run keeps every
  output, as ``--work`` does), the per-scenario overhead over the in-process run at each
  size (the ratio must stay near 1: linear cost) and the 4x run against the in-process
  one; and bubblewrap's start-up (a confined testee's hello, less an unconfined one's).
  These, and the in-process corpus run, write to ``/dev/shm`` where it exists: they
  measure the judge, not the disk.

``--quick`` uses 5 MB files and one repetition (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_hooks import machine, write_docs  # noqa: E402

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


@dataclass
class Row:
    """One measured case: seconds (the best of the repetitions), its goal and the issue's
    measurement of the code before (both ``None`` where there is none)."""

    case: str
    seconds: float
    goal: float | None = None
    before: str = ""
    note: str = ""
    unit: str = "s"  # "x" for a ratio

    def verdict(self) -> str:
        if self.goal is None:
            return "(no goal)"
        if self.seconds <= self.goal:
            return "met"
        return f"NOT met: {self.seconds / self.goal:.2f}x over"


#: The stream size the goals for dump and diff are set at.
GOAL_MB = 100


def run(quick: bool, mb: int, repeat: int) -> list[Row]:
    rows: list[Row] = []
    work = Path(tempfile.mkdtemp(prefix="bench-harness-"))
    mb = 5 if quick else mb

    def at_goal_size(size: int, goal: float, before: str) -> tuple[float | None, str]:
        return (goal, before) if size == GOAL_MB else (None, "")

    def diff_row(case: str, a: Path, b: Path, before: str) -> Row:
        seconds = best(repeat, lambda: child(["diff", str(a), str(b)])[0])
        return Row(case, seconds, *at_goal_size(mb, 3.0, before))

    sizes = sorted({max(1, mb // 10), max(1, mb // 2), mb})
    peaks = {}
    for size in sizes:
        stream = work / "features" / f"stream-{size}.pb"
        stream.parent.mkdir(exist_ok=True)
        write_stream(stream, size)
        seconds, peaks[size] = min(child(["dump", str(stream)]) for _ in range(repeat))
        goal, before = at_goal_size(size, 5.0, "36 s, 1.3 GB")
        rows.append(
            Row(
                f"`harness dump` of a {size} MB stream",
                seconds,
                goal,
                before,
                f"peak RSS {peaks[size]:.0f} MB",
            )
        )
        stream.unlink()
    grown = peaks[sizes[-1]] - peaks[sizes[0]]
    rows[-1].note += (
        f"; {grown:+.0f} MB over the {sizes[0]} MB dump's (memory bounded by one record,"
        f" not by the stream: {'met' if grown < 16 else 'NOT met'})"
    )

    rng = np.random.default_rng(2)
    fids = rng.integers(0, 2**63, (mb << 20) // 9, dtype=np.int64)
    one_a = work / "a" / "features" / "one.pb"
    one_b = work / "b" / "features" / "one.pb"
    for path in (one_a, one_b):
        path.parent.mkdir(parents=True)
    one_a.write_bytes(batch(fids))
    fids[-1] ^= 1
    one_b.write_bytes(batch(fids))
    rows.append(
        diff_row(f"`harness diff`, one {mb} MB record, last fid off", one_a, one_b, "17.5 s")
    )

    raw_a, raw_b = work / "a.bin", work / "b.bin"
    data = bytearray(rng.bytes(mb << 20))
    raw_a.write_bytes(data)
    data[-1] ^= 1
    raw_b.write_bytes(data)
    rows.append(
        diff_row(f"`harness diff`, {mb} MB as bytes, last byte off", raw_a, raw_b, "15.4 s")
    )

    golden = (GOLDEN_DIR / CKPT).read_bytes()
    kind = kind_of(CKPT)
    one_digit = golden.replace(b"value: 28\n", b"value: 29\n", 1)
    seconds = best(repeat, lambda: timed(lambda: kind.explain(CKPT, golden, one_digit)))
    rows.append(
        Row(
            f"explain a {len(golden) / 1e6:.1f} MB ckpt.info, 1 digit off (in process)",
            seconds,
            0.2,
            "3-4 s",
            "what `harness diff` and a failing test print",
        )
    )
    ckpt_a, ckpt_b = work / "a" / "ckpt.info-1", work / "b" / "ckpt.info-1"
    ckpt_a.write_bytes(golden)
    ckpt_b.write_bytes(one_digit)
    seconds = best(repeat, lambda: child(["diff", str(ckpt_a), str(ckpt_b)])[0])
    startup = best(repeat, lambda: child(["--help"])[0])
    rows.append(
        Row(
            "`harness diff` of it, as a command",
            seconds,
            None,
            "",
            f"includes {startup:.3f} s of interpreter start-up and imports (`harness --help`)",
        )
    )
    lines = golden.split(b"\n")
    values = [i for i, line in enumerate(lines) if line.startswith(b"  value:")]
    for i in random.Random(1).sample(values, 1000):
        lines[i] += b"1"
    many = b"\n".join(lines)
    seconds = best(repeat, lambda: timed(lambda: kind.explain(CKPT, golden, many)))
    rows.append(
        Row(
            "explain it with 1000 slots off", seconds, 0.2, "over 300 s", "the diff says it was cut"
        )
    )

    seconds = best(repeat, lambda: timed(load_all))
    scenarios = load_all()
    rows.append(
        Row(
            "load and validate the corpus",
            seconds,
            None,
            "3 validations a run",
            f"{len(scenarios)} scenarios, each validated once (compiled schema)",
        )
    )

    # In a fresh interpreter: the cases above leave this process with a heap of 100 MB
    # buffers, which slows the corpus's many small allocations by up to 2x. Its outputs go
    # to a memory file system where there is one (see memory_dir).
    corpus_work = memory_dir(work)
    out = subprocess.run(
        [sys.executable, __file__, "--corpus-child", str(repeat), str(corpus_work / "corpus")],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(corpus_work, ignore_errors=True)
    seconds = float(out.stdout)
    rows.append(
        Row(
            "corpus run, in process (judged)",
            seconds,
            CORPUS_GOAL_SECONDS * len(scenarios) / CORPUS_GOAL_SCENARIOS,
            f"{CORPUS_BEFORE}, {CORPUS_GOAL_SCENARIOS} scenarios",
            f"{len(scenarios)} scenarios, as `harness run` judges them (outputs in memory); "
            f"the goal, {CORPUS_GOAL_SECONDS} s for the {CORPUS_GOAL_SCENARIOS} scenarios it "
            "was set at, grows with the corpus",
        )
    )
    judge_work = memory_dir(work)
    try:
        rows += judge_rows(repeat, judge_work)
    finally:
        shutil.rmtree(judge_work, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    return rows


def memory_dir(fallback: Path) -> Path:
    """A fresh directory on a memory file system (``/dev/shm``) where there is one, else
    under ``fallback``: the corpus rows measure the judge, and the disk's write-back of
    hundreds of kept outputs otherwise moves them by up to 2x from one run to the next."""
    memory = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="bench-", dir=memory if memory.is_dir() else fallback))


#: The in-process corpus run's goal: seconds for the corpus of this many scenarios (when it
#: was set, from this "before"), scaled to the corpus's size at each run.
CORPUS_GOAL_SECONDS = 0.4
CORPUS_GOAL_SCENARIOS = 125
CORPUS_BEFORE = "0.645 s"

#: How many times the corpus is copied for the linear-cost rows.
COPIES = 4


def judge_rows(repeat: int, work: Path) -> list[Row]:
    """The subprocess path's cost per sandbox, each measured in a fresh interpreter."""
    from harness.adapters import confine

    rows: list[Row] = []
    modes = ["none"] + (["bwrap"] if confine.probe() is None else [])
    measured = {}
    for mode in modes:
        out = subprocess.run(
            [sys.executable, __file__, "--judge-child", mode, str(repeat), str(work / mode)],
            capture_output=True,
            text=True,
            check=True,
        )
        measured[mode] = json.loads(out.stdout)
    if "bwrap" in measured:
        rows.append(
            Row(
                "bubblewrap's start-up (`true` confined, less `true` alone)",
                bwrap_start(repeat, work),
                0.2,
                "",
                f"paid once per testee process; the reference testee's hello takes "
                f"{measured['bwrap']['hello']:.3f} s confined, {measured['none']['hello']:.3f} s "
                "unconfined (under the reaper)",
            )
        )
    for mode, m in measured.items():
        n1, n4 = int(m["scenarios"]), int(m["scenarios"]) * COPIES
        over1 = (m["sub1"] - m["in1"]) / n1
        over4 = (m["sub4"] - m["in4"]) / n4
        rows += [
            Row(
                f"corpus through the subprocess reference testee, {n1} scenarios (sandbox {mode})",
                m["sub1"],
                note=f"in process: {m['in1']:.3f} s; overhead {over1 * 1000:.1f} ms a scenario",
            ),
            Row(
                f"the same at {COPIES}x, {n4} scenarios, every output kept (sandbox {mode})",
                m["sub4"],
                note=f"in process: {m['in4']:.3f} s; overhead {over4 * 1000:.1f} ms a scenario",
            ),
            Row(
                f"overhead a scenario at {n4} / at {n1} (sandbox {mode})",
                over4 / over1 if over1 > 0 else 0.0,
                1.5,
                "3.7x (22 ms, then 82 ms)",
                "linear: the escape watch reads the scenario's own directory",
                unit="x",
            ),
            Row(
                f"{n4} scenarios, subprocess / in process (sandbox {mode})",
                m["sub4"] / m["in4"],
                2.5,
                unit="x",
            ),
        ]
    return rows


def bwrap_start(repeat: int, work: Path) -> float:
    """Seconds bubblewrap adds to starting a program, with the harness's own flags."""
    from harness.adapters import confine

    work.mkdir(parents=True, exist_ok=True)
    true = shutil.which("true") or "/bin/true"
    confined = confine.resolve("bwrap").command([true], writable=[work], cwd=work)

    def run(argv: list[str]) -> float:
        return timed(lambda: subprocess.run(argv, check=True))

    return max(best(repeat * 5, lambda: run(confined)) - best(repeat * 5, lambda: run([true])), 0.0)


def judge_child(mode: str, repeat: int, work: Path) -> dict[str, float]:
    """The corpus (1x and COPIES x) in process and through the subprocess reference
    testee in ``mode``, judged; and the testee's start-up to its hello."""
    from harness.adapters.subprocess_testee import SubprocessTestee
    from harness.workdir import WorkDir

    scenarios = load_all()
    argv = [sys.executable, "-m", "reference.testee"]

    def corpus(make: Callable[[], object], copies: int, where: Path) -> float:
        with WorkDir(where) as root:
            impl = make()
            watch = getattr(impl, "watch", None)
            if watch is not None:
                watch(root.path)
            impl.capabilities()  # type: ignore[attr-defined]  # started before the clock
            start = time.perf_counter()
            for k in range(copies):
                results = run_corpus(scenarios, impl, root.path / f"copy{k}", watch_root=root)
                assert all(r.ok for r in results), [r.scenario for r in results if not r.ok]
            seconds = time.perf_counter() - start
            impl.close()  # type: ignore[attr-defined]
        shutil.rmtree(where, ignore_errors=True)
        return seconds

    def hello() -> float:
        testee = SubprocessTestee(argv, sandbox=mode)
        testee.watch(work)
        start = time.perf_counter()
        testee.capabilities()
        seconds = time.perf_counter() - start
        testee.close()
        return seconds

    work.mkdir(parents=True, exist_ok=True)
    corpus(InProcessReference, 1, work / "warm")  # imports, first calls
    out = {"scenarios": float(len(scenarios)), "hello": best(repeat, hello)}
    for copies, key in ((1, "1"), (COPIES, "4")):
        out[f"in{key}"] = best(repeat, lambda c=copies: corpus(InProcessReference, c, work / "in"))
        out[f"sub{key}"] = best(
            repeat,
            lambda c=copies: corpus(lambda: SubprocessTestee(argv, sandbox=mode), c, work / "sub"),
        )
    return out


def corpus_child(repeat: int, work: Path) -> float:
    """The best of ``repeat`` in-process corpus runs, each judged as ``harness run`` does,
    after one untimed run (imports, first calls). Each run writes into a fresh directory,
    as ``harness run`` does by default: a reused one would add the removal of the previous
    run's outputs to the time."""
    scenarios = load_all()
    runs = iter(range(repeat + 1))

    def corpus() -> None:
        results = run_corpus(scenarios, InProcessReference(), work / f"run{next(runs)}")
        assert all(r.ok for r in results), [r.scenario for r in results if not r.ok]

    corpus()
    return best(repeat, lambda: timed(corpus))


def report(rows: list[Row], command: str) -> str:
    out = [
        f"command: {command}",
        f"machine: {machine()}",
        "load average at the end (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "",
        "| case | seconds (best), or a ratio | goal | value / goal | verdict | before | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        goal, ratio = "", ""
        if r.goal is not None:
            goal, ratio = f"under {r.goal:g} {r.unit}", f"{r.seconds / r.goal:.2f}x"
        out.append(
            f"| {r.case} | {r.seconds:.3f} | {goal} | {ratio} | {r.verdict()} | {r.before} "
            f"| {r.note} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--write-docs", type=Path, help="put the table in this markdown file")
    p.add_argument("--corpus-child", nargs=2, metavar=("REPEAT", "DIR"), help=argparse.SUPPRESS)
    p.add_argument("--judge-child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.judge_child:
        mode, repeat, where = args.judge_child
        print(json.dumps(judge_child(mode, int(repeat), Path(where))))
        return 0
    if args.corpus_child:
        print(corpus_child(int(args.corpus_child[0]), Path(args.corpus_child[1])))
        return 0
    rows = run(args.quick, args.mb, 1 if args.quick else args.repeat)
    shown = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--write-docs"]
    if args.write_docs:
        shown = [a for a in shown if a != str(args.write_docs)]
    text = report(rows, " ".join(["python benchmarks/bench_harness.py", *shown]))
    print(text)
    if args.write_docs:
        write_docs(args.write_docs, text, "harness", "benchmarks/bench_harness.py")
        print(f"\n(table written to {args.write_docs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
