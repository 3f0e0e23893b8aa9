"""``python -m harness.cluster``: the cluster scenarios on the TF tier (and the originals).

One line per scenario and tier (``PASS``/``FAIL``, the outcome that occurred when the
scenario accepts several, the seconds it took), the problems under a failure, and a
closing ``cluster: N passed, N failed`` line. Exit status: 0 every run passed, 1 one
failed, 2 bad usage (an invalid scenario, a checkout that is not one, nothing selected),
130 / 143 / 129 interrupted by SIGINT / SIGTERM / SIGHUP (every task process is ended
first). Without a Monolith checkout the original tier is skipped, saying so.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from harness.cluster import runner
from harness.cluster.judge import Verdict, judge
from harness.cluster.processes import Interrupted, signals_held, signals_interrupt
from harness.cluster.runner import Observation, PortsExhausted, TierSpec, run_scenario
from harness.cluster.scenario import ClusterScenario, ClusterScenarioError, load_all
from harness.safe_text import shown
from reference.original.checkout import MODULES, Checkout, CheckoutError, open_checkout

CHECKOUT_ENV = "MONOLITH_CHECKOUT"
COMMIT_ENV = "MONOLITH_COMMIT"
TIERS = ("tf", "original")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.cluster",
        description="Run the cluster scenarios (fixtures/cluster/): every task a process of "
        "a real TensorFlow cluster on loopback. See docs/cluster.md.",
    )
    p.add_argument(
        "--monolith",
        default=os.environ.get(CHECKOUT_ENV) or None,
        help=f"a Monolith checkout (work tree, or git dir with --monolith-commit); also runs "
        f"the ORIGINAL hooks (default ${CHECKOUT_ENV})",
    )
    p.add_argument(
        "--monolith-commit",
        default=os.environ.get(COMMIT_ENV) or None,
        help=f"the commit to read from a git dir (default ${COMMIT_ENV})",
    )
    p.add_argument(
        "-k",
        dest="patterns",
        action="append",
        metavar="PATTERN",
        help="only scenarios whose id matches (glob or substring); repeatable",
    )
    p.add_argument(
        "--tier",
        action="append",
        choices=TIERS,
        help="only this tier (repeatable; default: tf, and original with a checkout)",
    )
    p.add_argument(
        "--work",
        type=Path,
        help="keep every run's control and model directories here (default: a temporary "
        "directory, kept only when a run failed)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="what every task observed")
    p.add_argument("--token", default=None, help=argparse.SUPPRESS)
    return p


def select(scenarios: Sequence[ClusterScenario], patterns: Sequence[str] | None) -> list:
    if not patterns:
        return list(scenarios)
    return [s for s in scenarios if any(fnmatch.fnmatch(s.id, p) or p in s.id for p in patterns)]


def tiers(args: argparse.Namespace, out: TextIO, opened: list[Checkout]) -> list[TierSpec]:
    """The tiers to run; the original one only with a checkout. The checkout is opened
    here, once (a git directory is read into a temporary work tree, which the caller
    removes, closing what ``opened`` holds), and every task imports the originals from
    that work tree."""
    wanted = args.tier or list(TIERS)
    chosen = []
    if "tf" in wanted:
        chosen.append(TierSpec("tf"))
    if "original" in wanted:
        if args.monolith is None:
            print(
                "original tier: skipped (no Monolith checkout: pass --monolith DIR "
                f"[--monolith-commit C], or set ${CHECKOUT_ENV})",
                file=out,
            )
        else:
            checkout = open_checkout(args.monolith, args.monolith_commit)  # CheckoutError
            opened.append(checkout)
            print(f"original tier: {checkout.describe()}", file=out, flush=True)
            chosen.append(TierSpec("original", str(work_tree(checkout))))
    return chosen


def work_tree(checkout: Checkout) -> Path:
    """The directory holding the checkout's module files at their Monolith paths."""
    name, path = next(iter(checkout.files.items()))
    return Path(str(path)[: -len(MODULES[name])])


def describe_tasks(observation: Observation) -> list[str]:
    lines = []
    for name, r in observation.tasks.items():
        error = f" error={r.get('error')}" if r.get("error") else ""
        lines.append(
            shown(
                f"      {name}: exit={r.get('exit')} session={r.get('session')} "
                f"should_stop={r.get('should_stop')} callbacks={r.get('callbacks')} "
                f"runs={r.get('runs')} longest_run={r.get('longest_run')}s{error}",
                multiline=False,
                limit=2000,
            )
        )
    return lines


def report_line(observation: Observation, verdict: Verdict) -> str:
    status = "PASS" if verdict.passed else "FAIL"
    outcome = f"  outcome: {verdict.outcome}" if verdict.outcome else ""
    retried = f"  ({observation.attempts} attempts)" if observation.attempts > 1 else ""
    return (
        f"{status}  {observation.scenario.id} [{observation.tier}]{outcome}  "
        f"{observation.seconds:.1f} s{retried}"
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    scenarios = select(load_all(), args.patterns)
    if args.list:
        for s in scenarios:
            print(f"{s.id}: {s.description}", file=out)
        return 0
    if not scenarios:
        print(f"error: no cluster scenario matches {args.patterns}", file=sys.stderr)
        return 2
    missing = runner.missing_requirement()
    if missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    checkouts: list[Checkout] = []
    work: WorkDir | None = None
    try:
        chosen = tiers(args, out, checkouts)
        if not chosen:
            print("error: no tier to run", file=sys.stderr)
            return 2
        work = WorkDir(args.work)
        return run_all(scenarios, chosen, work, args, out)
    finally:
        # Stop signals wait: an interruption must not leave a directory half removed.
        with signals_held():
            if work is not None:
                work.tidy()
            for checkout in checkouts:
                checkout.close()


class WorkDir:
    """Where the runs' directories go: ``--work DIR`` (everything kept), or a temporary
    directory that keeps only the runs of failed scenarios, each named in the report, and
    is removed when none failed (also after an interruption)."""

    def __init__(self, given: Path | None) -> None:
        self.keep_all = given is not None
        if given is None:
            self.path = Path(tempfile.mkdtemp(prefix="monolith-cluster-"))
        else:
            self.path = given
            given.mkdir(parents=True, exist_ok=True)
        self.kept: set[Path] = set()

    def tidy(self) -> None:
        if self.keep_all:
            return
        for child in list(self.path.iterdir()):
            if child not in self.kept:
                shutil.rmtree(child, ignore_errors=True)
        if not self.kept:
            shutil.rmtree(self.path, ignore_errors=True)


def run_all(
    scenarios: Sequence[ClusterScenario],
    chosen: Sequence[TierSpec],
    work: WorkDir,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    """Every scenario on every tier, a line each; the closing summary line, also when
    interrupted."""
    token = args.token or f"monolith-cluster-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    passed = failed = 0
    try:
        for tier in chosen:
            for scenario in scenarios:
                if run_one(scenario, tier, work, token, args.verbose, out):
                    passed += 1
                else:
                    failed += 1
    finally:
        names = "+".join(t.name for t in chosen)
        elapsed = time.monotonic() - started
        print(
            f"cluster: {passed} passed, {failed} failed ({names}) in {elapsed:.1f} s",
            file=out,
            flush=True,
        )
    return 0 if failed == 0 else 1


def run_one(
    scenario: ClusterScenario,
    tier: TierSpec,
    work: WorkDir,
    token: str,
    verbose: bool,
    out: TextIO,
) -> bool:
    """Run, judge and report one scenario on one tier; whether it passed."""
    try:
        observation = run_scenario(scenario, tier, work.path, token)
    except PortsExhausted as e:
        work.kept.update(e.run_dirs)
        print(f"FAIL  {scenario.id} [{tier.name}]", file=out)
        print(f"      {e}", file=out)
        print(f"      logs: {e.run_dirs[-1]}", file=out, flush=True)
        return False
    verdict = judge(observation)
    print(report_line(observation, verdict), file=out, flush=True)
    if verbose or not verdict.passed:
        print("\n".join(describe_tasks(observation)), file=out)
    if verdict.passed:
        return True
    work.kept.add(observation.run_dir)
    if verdict.closest:
        print(f"      closest legal outcome: {verdict.closest}", file=out)
    for problem in verdict.problems:
        print(f"      {shown(problem, multiline=False, limit=2000)}", file=out)
    print(f"      logs and files: {observation.run_dir}", file=out, flush=True)
    return False


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parser().parse_args(argv)
    try:
        with signals_interrupt():
            return run(args, out)
    except (ClusterScenarioError, CheckoutError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        print(
            f"interrupted ({signal.Signals(signum).name}); every task process ended",
            file=sys.stderr,
        )
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
