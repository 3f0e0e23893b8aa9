"""Per-scenario overhead of the testee protocol: scenarios per second over the corpus.

    python benchmarks/bench_protocol.py [--rounds N] [--repeat N] [--spawn-rounds N]
                                        [--testee CMD] [-k PATTERN]

Runs the corpus ``--rounds`` times, each scenario judged against its golden as
``python -m harness run`` does, in four ways (keeping the fastest of ``--repeat`` tries of
each) and prints a markdown table:

- in process: :class:`harness.adapters.inprocess.InProcessReference`;
- persistent subprocess: one :class:`SubprocessTestee` serving every scenario, timed with
  its start-up, and in steady state (started and warmed before the clock starts);
- process per scenario: a fresh testee started (and closed) for every scenario.

The overhead is the difference in mean time per scenario to the in-process run. The
numbers in docs/protocol.md come from this script.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harness import protocol
from harness.adapters.base import Implementation
from harness.adapters.inprocess import InProcessReference
from harness.adapters.subprocess_testee import SubprocessTestee
from harness.cli import select
from harness.runner import judge
from harness.scenario import Scenario, load_all


def timed(
    scenarios: Sequence[Scenario],
    rounds: int,
    make: Callable[[], Implementation],
    per_scenario: bool = False,
    warm: bool = False,
) -> tuple[float, int]:
    """Seconds for ``rounds`` passes over ``scenarios``, and how many failed. ``warm``
    starts the implementation and runs one scenario before the clock starts."""
    work = Path(tempfile.mkdtemp(prefix="bench-protocol-"))
    failed = 0
    try:
        impl = None if per_scenario else make()
        if impl is not None and warm:
            judge(scenarios[0], impl, work / "warm" / scenarios[0].id)
        start = time.perf_counter()
        for r in range(rounds):
            for s in scenarios:
                one = make() if per_scenario else impl
                assert one is not None
                failed += not judge(s, one, work / str(r) / s.id).ok
                if per_scenario:
                    one.close()
        seconds = time.perf_counter() - start
        if impl is not None:
            impl.close()
        return seconds, failed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def round_trip(argv: list[str], n: int = 2000) -> float:
    """Microseconds per request/reply of the bare transport (no scenario in progress)."""
    testee = SubprocessTestee(argv)
    try:
        testee.capabilities()
        run = testee._run  # the transport itself, below the Implementation interface
        assert run is not None
        start = time.perf_counter()
        for _ in range(n):
            testee._exchange(protocol.teardown(run.process.seq), testee.timeout)
        return (time.perf_counter() - start) / n * 1e6
    finally:
        testee.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--rounds", type=int, default=3, help="passes over the corpus (default 3)")
    p.add_argument(
        "--testee",
        default=shlex.join([sys.executable, "-m", "reference.testee"]),
        help="testee command line (default: the reference testee)",
    )
    p.add_argument("--repeat", type=int, default=3, help="keep the fastest of N (default 3)")
    p.add_argument(
        "--spawn-rounds",
        type=int,
        default=1,
        help="passes (tried once) for the slow process-per-scenario mode (default 1; 0: skip)",
    )
    p.add_argument("-k", action="append", help="only scenarios matching (glob or substring)")
    args = p.parse_args(argv)
    scenarios = select(load_all(), args.k)
    testee = shlex.split(args.testee)

    def sub() -> SubprocessTestee:
        return SubprocessTestee(testee)

    modes: list[tuple[str, Callable[[], Implementation], bool, bool]] = [
        ("in process", InProcessReference, False, True),
        ("persistent subprocess, start-up included", sub, False, False),
        ("persistent subprocess, steady state", sub, False, True),
        ("process per scenario", sub, True, False),
    ]
    rows = []
    base = None
    timed(scenarios[:1], 1, sub)  # warm the OS caches for the testee's imports
    for label, make, per_scenario, warm in modes:
        rounds, repeat = (args.spawn_rounds, 1) if per_scenario else (args.rounds, args.repeat)
        if rounds <= 0:
            continue
        n = len(scenarios) * rounds
        runs = [timed(scenarios, rounds, make, per_scenario, warm) for _ in range(repeat)]
        seconds, failed = min(runs)
        per = seconds / n
        base = per if base is None else base
        rows.append((label, n, n / seconds, per * 1e3, (per - base) * 1e3, failed))
    print(
        f"{len(scenarios)} scenarios; fastest of {args.repeat} tries (process per scenario: "
        f"one try); Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}"
    )
    print()
    print("| mode | runs | scenarios/s | ms per scenario | overhead vs in process (ms) | failed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, n, rate, ms, over, failed in rows:
        print(f"| {label} | {n} | {rate:.1f} | {ms:.2f} | {over:+.2f} | {failed} |")
    print()
    print(f"request round trip (an empty teardown, persistent testee): {round_trip(testee):.0f} us")
    return 0 if all(r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
