"""Command line: ``python -m harness run|regen|verify|list|dump|diff`` (``monolith-parity``)."""

from __future__ import annotations

import argparse
import fnmatch
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness import checklist, report
from harness.adapters.base import Implementation
from harness.artifacts import ArtifactKind, kind_of
from harness.compare import compare_output
from harness.deviations import DeviationError, load_deviations
from harness.golden import (
    GOLDEN_DIR,
    GoldenError,
    check_corpus,
    regenerate,
    stale_dirs,
    verify_manifest,
)
from harness.runner import run_corpus
from harness.safe_fs import MAX_READ_BYTES, open_regular
from harness.scenario import FIXTURES_DIR, Scenario, ScenarioError, load_all


def make_implementation(spec: str, timeout: float = 30.0) -> Implementation:
    """``reference`` (in process), ``tf`` (the TensorFlow tier), or a testee command line
    (``timeout``: seconds the testee has for each reply)."""
    if spec == "reference":
        from harness.adapters.inprocess import InProcessReference

        return InProcessReference()
    if spec == "tf":
        from harness.adapters.tf_tier import TensorFlowTier

        return TensorFlowTier()
    from harness.adapters.subprocess_testee import SubprocessTestee

    return SubprocessTestee(shlex.split(spec), timeout=timeout)


def select(scenarios: Sequence[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    if not patterns:
        return list(scenarios)
    return [s for s in scenarios if any(fnmatch.fnmatch(s.id, p) or p in s.id for p in patterns)]


def cmd_run(args: argparse.Namespace) -> int:
    all_scenarios = load_all(args.fixtures)  # loaded and validated once
    scenarios = select(all_scenarios, args.k)
    if not scenarios:
        print("no scenario selected", file=sys.stderr)
        return 2
    deviations = load_deviations(args.deviations, all_scenarios)
    check_corpus(Path(args.golden))  # a corrupted golden is reported as such, before judging
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="parity-"))
    results = []
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
    changes = regenerate(
        scenarios,
        impl,
        Path(args.golden),
        progress=lambda line: print(line) if " " in line else None,  # clean-ups, not ids
        force=args.force,
    )
    for line in changes.lines():
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    problems = verify_manifest(Path(args.golden))
    problems += [
        f"{d}: golden output with no scenario"
        for d in stale_dirs(load_all(args.fixtures), Path(args.golden))
    ]
    for p in problems:
        print(p)
    print("golden corpus consistent" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def cmd_list(args: argparse.Namespace) -> int:
    for s in load_all(args.fixtures):
        pins = f" [{', '.join(s.pins)}]" if s.pins else ""
        print(f"{s.id}{pins}: {s.description}")
    return 0


def _read_artifact(path: Path) -> bytes:
    """A regular file's bytes (never a link, fifo or device), at most MAX_READ_BYTES."""
    f, size = open_regular(path)
    with f:  # type: ignore[attr-defined]
        if size > MAX_READ_BYTES:
            raise ValueError(f"{path}: {size} bytes, more than the {MAX_READ_BYTES} read at most")
        return f.read(MAX_READ_BYTES)  # type: ignore[attr-defined]


def cmd_dump(args: argparse.Namespace) -> int:
    path = Path(args.file)
    kind = kind_of(args.kind_path or path.as_posix())
    f, size = open_regular(path)  # regular files only: a fifo or /dev/zero is refused
    with f:  # type: ignore[attr-defined]
        if size > MAX_READ_BYTES and type(kind).render_stream is ArtifactKind.render_stream:
            print(f"{path}: {size} bytes, more than {MAX_READ_BYTES} to show", file=sys.stderr)
            return 1
        try:
            for piece in kind.render_stream(f, size):  # streamed, record by record
                sys.stdout.write(piece + "\n")
        except (ValueError, UnicodeDecodeError) as e:
            sys.stdout.flush()
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
    if args.kind_path:
        rel = args.kind_path
    elif kind_of(a.as_posix()) is kind_of(b.as_posix()):
        rel = a.as_posix()
    else:
        print(
            f"{a} is {kind_of(a.as_posix()).name}, {b} is {kind_of(b.as_posix()).name}: "
            "say which with --as",
            file=sys.stderr,
        )
        return 2
    try:
        expected, actual = _read_artifact(a), _read_artifact(b)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if expected == actual:
        return 0
    kind = kind_of(rel)
    print(f"{a} -> {b} [{kind.name}]: {kind.explain(rel, expected, actual, (str(a), str(b)))}")
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monolith-parity", description=__doc__)
    p.add_argument("--fixtures", default=str(FIXTURES_DIR), help="scenario directory")
    p.add_argument("--golden", default=str(GOLDEN_DIR), help="golden directory")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run scenarios against an implementation")
    run.add_argument(
        "--impl",
        action="append",
        help="'reference' (default), 'tf', or a testee command; repeat for a matrix",
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

    regen = sub.add_parser("regen", help="rewrite golden/ from the reference")
    regen.add_argument(
        "--force", action="store_true", help="discard uncommitted or untracked changes in golden/"
    )
    regen.set_defaults(fn=cmd_regen)
    sub.add_parser("verify", help="check golden/ against its manifest").set_defaults(fn=cmd_verify)
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ScenarioError, GoldenError, DeviationError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
