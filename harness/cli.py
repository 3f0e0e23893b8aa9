"""Command line: ``python -m harness SUBCOMMAND`` (``monolith-parity``).

Subcommands: run, regen, verify, certify, list, dump, diff, fuzz.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness import certificate, checklist, fuzz, report
from harness.adapters.base import Implementation
from harness.adapters.base import ImplementationFailure as CheckoutFailure
from harness.artifacts import kind_of
from harness.compare import compare_output
from harness.deviations import DeviationError, load_deviations
from harness.golden import GOLDEN_DIR, GoldenError, regenerate, stale_dirs, verify_manifest
from harness.runner import run_corpus
from harness.scenario import FIXTURES_DIR, Scenario, ScenarioError, load_all


def make_implementation(spec: str, timeout: float = 30.0) -> Implementation:
    """``reference`` (in process), ``tf`` (the TensorFlow tier), ``original`` (the original
    Monolith modules of the checkout ``--monolith`` names), or a testee command line
    (``timeout``: seconds the testee has for each reply)."""
    if spec == "reference":
        from harness.adapters.inprocess import InProcessReference

        return InProcessReference()
    if spec == "tf":
        from harness.adapters.tf_tier import TensorFlowTier

        return TensorFlowTier()
    if spec == "original":
        from harness.adapters.original_tier import OriginalTier

        return OriginalTier()
    from harness.adapters.subprocess_testee import SubprocessTestee

    return SubprocessTestee(shlex.split(spec), timeout=timeout)


def select(scenarios: Sequence[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    if not patterns:
        return list(scenarios)
    return [s for s in scenarios if any(fnmatch.fnmatch(s.id, p) or p in s.id for p in patterns)]


def cmd_run(args: argparse.Namespace) -> int:
    scenarios = select(load_all(args.fixtures), args.k)
    if not scenarios:
        print("no scenario selected", file=sys.stderr)
        return 2
    deviations = load_deviations(args.deviations, load_all(args.fixtures))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="parity-"))
    results = []
    all_scenarios = load_all(args.fixtures)
    checklists = []
    for spec in args.impl or ["reference"]:
        impl = make_implementation(spec, args.timeout)
        try:
            results += run_corpus(
                scenarios,
                impl,
                work / impl.name,
                Path(args.golden),
                deviations,
                progress=(lambda r: print(f"{r.status:<18} {r.implementation}: {r.scenario}"))
                if args.verbose
                else (lambda r: None),
            )
        finally:
            impl.close()
        mine = [r for r in results if r.implementation == impl.name]
        checklists.append((impl.name, checklist.evaluate(mine, all_scenarios, Path(args.golden))))
    report.write_reports(
        results,
        Path(args.junit) if args.junit else None,
        Path(args.html) if args.html else None,
        extra_html="".join(checklist.render_html(c, name) for name, c in checklists),
    )
    if args.checklist:
        Path(args.checklist).write_text(
            "\n".join(checklist.render_markdown(c, name) for name, c in checklists),
            encoding="utf-8",
        )
    print(report.terminal(results))
    print(f"outputs in {work}", file=sys.stderr)
    return 0 if all(r.ok for r in results if r.counted) else 1


def cmd_regen(args: argparse.Namespace) -> int:
    scenarios = load_all(args.fixtures)
    impl = make_implementation("reference")
    changes = regenerate(scenarios, impl, Path(args.golden), progress=lambda s: None)
    for line in changes.lines():
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    scenarios = load_all(args.fixtures)
    problems = verify_manifest(Path(args.golden))
    problems += [
        f"{d}: golden output with no scenario" for d in stale_dirs(scenarios, Path(args.golden))
    ]
    try:
        certified = certificate.check(scenarios, Path(args.golden))
    except certificate.CertificateError as e:
        problems.append(str(e))
    else:
        problems += certified.lines()
        print(f"certificate: {certified.summary()}")
    for p in problems:
        print(p)
    print("golden corpus consistent" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_certify(args: argparse.Namespace) -> int:
    """Run the corpus on the original tier and write golden/CERTIFICATE.json."""
    from harness.adapters.original_tier import OriginalTier

    scenarios = load_all(args.fixtures)
    golden = Path(args.golden)
    problems = verify_manifest(golden)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print("error: golden/ does not match its manifest; not certifying it", file=sys.stderr)
        return 2
    impl = OriginalTier()
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="certify-") as work:
            for k in range(args.repeat):
                runs.append(run_corpus(scenarios, impl, Path(work) / f"run{k}", golden))
    finally:
        impl.close()
    upstream = {
        "repository": "bytedance/monolith",
        "commit": impl.checkout.commit,
        "modules": impl.checkout.sha256,
    }
    built = certificate.build(scenarios, runs, golden, upstream)
    path = certificate.write(built, golden)
    for sid, entry in built["scenarios"].items():
        if entry["status"] == certificate.DISAGREED:
            print(f"{sid}: the original disagrees:\n{entry['explanation']}")
    check = certificate.check(scenarios, golden)
    print(f"wrote {path}: {check.summary()}")
    return 0 if check.ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    for s in load_all(args.fixtures):
        pins = f" [{', '.join(s.pins)}]" if s.pins else ""
        print(f"{s.id}{pins}: {s.description}")
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    path = Path(args.file)
    data = path.read_bytes()
    kind = kind_of(args.kind_path or path.as_posix())
    try:
        print(kind.render(data))
    except (ValueError, UnicodeDecodeError) as e:
        print(f"{path}: cannot read as {kind.name}: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    a, b = Path(args.a), Path(args.b)
    if a.is_dir() and b.is_dir():
        differences = compare_output(a, b)
        for d in differences:
            print(d)
        return 1 if differences else 0
    expected, actual = a.read_bytes(), b.read_bytes()
    if expected == actual:
        return 0
    rel = args.kind_path or b.as_posix()
    kind = kind_of(rel)
    print(f"{b} [{kind.name}]: {kind.explain(rel, expected, actual)}")
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monolith-parity", description=__doc__)
    p.add_argument("--fixtures", default=str(FIXTURES_DIR), help="scenario directory")
    p.add_argument("--golden", default=str(GOLDEN_DIR), help="golden directory")
    p.add_argument(
        "--monolith",
        help="a Monolith checkout for the original tier: a work tree, or a git dir "
        "(with --monolith-commit); sets $MONOLITH_CHECKOUT",
    )
    p.add_argument("--monolith-commit", help="the commit to read from a git dir --monolith")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run scenarios against an implementation")
    run.add_argument(
        "--impl",
        action="append",
        help="'reference' (default), 'tf', 'original' (needs --monolith), or a testee "
        "command; repeat for a matrix",
    )
    run.add_argument("-k", action="append", help="only scenarios matching (glob or substring)")
    run.add_argument("--deviations", help="the implementation's declared deviations (JSON)")
    run.add_argument(
        "--timeout", type=float, default=30.0, help="seconds a testee has for each reply"
    )
    run.add_argument("--checklist", help="write the seed's verification checklists here (md)")
    run.add_argument("--junit", help="write JUnit XML here")
    run.add_argument("--html", help="write the HTML parity page here")
    run.add_argument("--work", help="where outputs go (default: a new temp dir)")
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(fn=cmd_run)

    sub.add_parser("regen", help="rewrite golden/ from the reference").set_defaults(fn=cmd_regen)
    sub.add_parser(
        "verify", help="check golden/ against its manifest and its certificate"
    ).set_defaults(fn=cmd_verify)
    certify = sub.add_parser(
        "certify",
        help="run the corpus on the original Monolith hooks (--monolith DIR) and write "
        "golden/CERTIFICATE.json",
    )
    certify.add_argument(
        "--repeat", type=int, default=1, help="run the corpus this many times (races show)"
    )
    certify.set_defaults(fn=cmd_certify)
    sub.add_parser("list", help="list scenarios").set_defaults(fn=cmd_list)

    dump = sub.add_parser("dump", help="show an artifact in readable form")
    dump.add_argument("file")
    dump.add_argument("--as", dest="kind_path", help="treat it as this path (e.g. features/x.pb)")
    dump.set_defaults(fn=cmd_dump)

    diff = sub.add_parser("diff", help="explain how two artifacts or output dirs differ")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--as", dest="kind_path", help="treat both as this path")
    diff.set_defaults(fn=cmd_diff)
    fuzz.register(sub)  # its body is harness/fuzz.py
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.monolith:
        os.environ["MONOLITH_CHECKOUT"] = args.monolith
    if args.monolith_commit:
        os.environ["MONOLITH_COMMIT"] = args.monolith_commit
    try:
        return args.fn(args)
    except (ScenarioError, GoldenError, DeviationError, OSError, CheckoutFailure) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
