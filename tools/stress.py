#!/usr/bin/env python3
"""Run a pytest selection many times in a row under CPU load; stop at the first failure.

    python tools/stress.py --runs 200 -- tests/harness/test_polling.py tests/unit/...

Each run is ``python -m pytest -p no:randomly -x -q <selection>`` in a fresh process, with
a per-run bound (``--run-timeout``) so a hang cannot stall the stress job. Meanwhile
``--burners`` CPU-burning subprocesses (default: one per core but one) keep the other
cores busy; they stop when the stress run ends, and on their own if this process dies or
their time bound (``--burn-limit``) passes. Reports the pass count and the slowest run;
the exit status is 0 when every run passed, 1 at the first failure (its output is shown),
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

# The burner: spins until its parent is gone or its deadline passes (so it never outlives
# the stress run, even when that is killed with SIGKILL).
BURN = """
import os, sys, time
parent, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
x = 0
while time.monotonic() < deadline and os.getppid() == parent:
    for i in range(200000):
        x = (x * 31 + i) % 1000003
"""


def default_burners() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 2
    return max(1, cores - 1)


def start_burners(count: int, limit: float) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-c", BURN, str(os.getpid()), str(limit)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop_burners(burners: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in burners:
        if proc.poll() is None:
            proc.terminate()
    for proc in burners:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run_once(selection: Sequence[str], timeout: float) -> tuple[bool, float, str]:
    """One pytest run: (passed, seconds, output)."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-x", "-q", *selection]
    start = time.monotonic()
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
        return False, time.monotonic() - start, f"{out}\nrun killed after {timeout:g} s"
    return done.returncode == 0, time.monotonic() - start, done.stdout + done.stderr


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=200, help="how many runs (default 200)")
    p.add_argument(
        "--burners",
        type=int,
        default=default_burners(),
        help="CPU-burning subprocesses (default: cores - 1, at least 1)",
    )
    p.add_argument("--run-timeout", type=float, default=300.0, help="real seconds one run may take")
    p.add_argument(
        "--burn-limit",
        type=float,
        default=6 * 3600.0,
        help="burners stop by themselves after this many seconds",
    )
    p.add_argument("selection", nargs="+", help="pytest arguments (after --)")
    args = p.parse_args(argv)
    if args.runs < 1 or args.burners < 0 or args.run_timeout <= 0:
        p.error("--runs must be >= 1, --burners >= 0, --run-timeout > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    burners = start_burners(args.burners, args.burn_limit)
    times: list[float] = []
    try:
        print(
            f"stress: {args.runs} runs of pytest {' '.join(args.selection)} "
            f"with {len(burners)} CPU burner(s)",
            flush=True,
        )
        for n in range(1, args.runs + 1):
            passed, seconds, output = run_once(args.selection, args.run_timeout)
            times.append(seconds)
            if not passed:
                print(output, flush=True)
                print(f"stress: run {n} FAILED after {seconds:.2f}s ({n - 1} passed before it)")
                return 1
            if n % 10 == 0 or n == args.runs:
                print(f"stress: {n}/{args.runs} passed", flush=True)
    finally:
        stop_burners(burners)
    slowest = max(range(len(times)), key=times.__getitem__)
    print(
        f"stress: {len(times)}/{args.runs} passed; slowest run #{slowest + 1}: "
        f"{times[slowest]:.2f}s; median {statistics.median(times):.2f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
