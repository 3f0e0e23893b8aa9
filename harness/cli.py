"""Command line: ``monolith-parity`` (or ``python -m harness``) with the commands ``run``,
``regen``, ``verify``, ``certify``, ``list``, ``dump``, ``diff`` and ``fuzz``.

The parser (help texts, the exit-status table in :data:`EXIT_CODES`, the corpus options
accepted before or after the command) and :func:`main`, which maps errors to exit
statuses, live here; each ``cmd_*`` function does one command.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fnmatch
import os
import select as io_select
import signal
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness import certificate, checklist, fuzz, paths, report
from harness.adapters import confine
from harness.adapters.base import ImplementationFailure as CheckoutFailure
from harness.adapters.confine import Confinement, ConfinementError
from harness.artifacts import ARTIFACT_KINDS, ArtifactKind, kind_for, kind_of
from harness.compare import compare_output
from harness.deviations import DeviationError, load_deviations
from harness.golden import GoldenError, check_corpus, regenerate, stale_dirs, verify_manifest
from harness.implementations import BUILT_IN, check_spec, make_implementation
from harness.paths import CORPUS_ROOT
from harness.protocol import seconds_argument
from harness.runner import (
    Interrupted,
    RunInterrupted,
    ScenarioResult,
    all_passed,
    coverage_problems,
    judge_every_outcome,
    parse_demand,
    run_matrix,
    signal_of,
)
from harness.safe_fs import MAX_READ_BYTES, open_regular, remove_tree
from harness.safe_text import shown, shown_name
from harness.scenario import Scenario, ScenarioError, load_all, load_overlay
from harness.version import version
from harness.workdir import WorkDir


def select(scenarios: Sequence[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    if not patterns:
        return list(scenarios)
    return [s for s in scenarios if any(fnmatch.fnmatch(s.id, p) or p in s.id for p in patterns)]


def keep_outputs(
    work: WorkDir, temporary: bool, results: Sequence[ScenarioResult], dirs: Mapping[str, Path]
) -> None:
    """Say on stderr where the outputs are. A directory the user named keeps everything;
    a temporary one keeps only the failing scenarios' outputs, and goes if none failed.
    Removals go through ``work`` (:class:`~harness.workdir.WorkDir`): a link an
    implementation planted is unlinked, never followed."""
    if not temporary:
        print(f"outputs in {shown_name(work.path)}", file=sys.stderr)
        return
    work.unlock()  # nobody else knows the directory
    failing = [r for r in results if r.counted and not r.ok]
    if not failing:
        remove_work_dir(work)
        return
    for r in results:
        if (r.counted and not r.ok) or r.implementation not in dirs:
            continue
        rel = (dirs[r.implementation] / r.scenario).relative_to(work.path).as_posix()
        with contextlib.suppress(OSError, ValueError):
            work.remove(rel)
            work.prune(rel)  # drop the directories it leaves empty (slot_count/, ...)
    print(
        f"outputs of the {len(failing)} failing scenario(s) kept in {shown_name(work.path)}",
        file=sys.stderr,
    )


def remove_work_dir(work: WorkDir) -> None:
    """Remove a temporary work directory and everything in it, through fds (a link in it
    is unlinked, not followed)."""
    parent = os.open(work.path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):
            remove_tree(parent, work.path.name)
    finally:
        os.close(parent)


def _progress(verbose: bool) -> Callable[[ScenarioResult], None]:
    if not verbose:
        return lambda _: None
    return lambda r: print(
        f"{report.status_label(r):<18} {shown(r.implementation, multiline=False)}: "
        f"{shown(r.scenario, multiline=False)}",
        flush=True,
    )


def cmd_run(args: argparse.Namespace) -> int:
    all_scenarios = load_all(args.fixtures)  # loaded and validated once
    all_scenarios += _overlay(args, all_scenarios)
    scenarios = select(all_scenarios, args.k)
    if not scenarios:
        print("no scenario selected", file=sys.stderr)
        return 2
    for spec in args.impl or ():
        check_spec(spec)  # a program that is not there is a usage error, not a run
    deviations = load_deviations(args.deviations, all_scenarios)
    check_corpus(Path(args.golden))  # a corrupted golden is reported as such, before judging
    if args.overlay:
        check_corpus(Path(args.overlay) / paths.GOLDEN)
    demands = [parse_demand(d) for d in args.min_served or ()]
    confinement: str | Confinement = args.sandbox
    if any(spec not in BUILT_IN for spec in args.impl or ()):
        confinement = confine.resolve(args.sandbox)  # probed once, for every testee
        if confinement.note:
            print(f"sandbox: none ({confinement.note})", file=sys.stderr)
    temporary = not args.work
    work = WorkDir(tempfile.mkdtemp(prefix="parity-") if temporary else args.work)
    interrupted: RunInterrupted | None = None
    try:
        work.lock()
        try:
            results, columns = run_matrix(
                args.impl or ["reference"],
                lambda spec: make_implementation(spec, args.timeout, confinement),
                scenarios,
                work,
                Path(args.golden),
                deviations,
                progress=_progress(args.verbose),
            )
        except RunInterrupted as e:
            interrupted, results, columns = e, e.results, e.columns
        with _signals_ignored():  # the verdict and the reports are not to be lost now
            problems = deviations.unmatched(
                [c.label for c in columns], [s.id for s in scenarios]
            ) + coverage_problems(results, demands)
            # The verdict first: a report that cannot be written loses nothing else.
            print(report.terminal(results, problems=problems), flush=True)
            errors = _write_reports(args, results, columns, all_scenarios)
            for line in errors:
                print(line, file=sys.stderr)
            keep_outputs(work, temporary, results, {c.label: c.out_dir for c in columns})
    finally:
        work.close()
    if interrupted is not None:
        return 128 + interrupted.signum
    if not all_passed(results, demands):  # (an unmatched deviation is only a note)
        return 1
    return 2 if errors else 0


def _write_reports(
    args: argparse.Namespace,
    results: list[ScenarioResult],
    columns: Sequence[Any],
    all_scenarios: Sequence[Scenario],
) -> list[str]:
    """The optional reports (JUnit, HTML, checklist), each written atomically; returns
    one line per report that could not be written."""
    checklists = [
        (
            c.label,
            checklist.evaluate(
                [r for r in results if r.implementation == c.label],
                all_scenarios,
                Path(args.golden),
            ),
        )
        for c in columns
    ]
    errors = report.write_reports(
        results,
        Path(args.junit) if args.junit else None,
        Path(args.html) if args.html else None,
        extra_html="".join(checklist.render_html(c, name) for name, c in checklists),
        descriptions={s.id: s.description for s in all_scenarios},
        details=report.run_details(
            args.impl or ["reference"], len({r.scenario for r in results}), Path(args.golden)
        ),
    )
    if args.checklist:
        text = "\n".join(checklist.render_markdown(c, name) for name, c in checklists)
        try:
            report.write_atomically(Path(args.checklist), text.encode("utf-8"))
        except OSError as e:
            why = f"[Errno {e.errno}] {e.strerror}" if e.strerror else str(e)
            errors.append(f"cannot write --checklist {shown_name(args.checklist)}: {why}")
    return errors


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore SIGINT, SIGTERM and SIGHUP for the block (the end of a run: its summary and
    reports), then restore what was there."""
    saved = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            saved[sig] = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _overlay(args: argparse.Namespace, shipped: Sequence[Scenario]) -> list[Scenario]:
    """The port's own scenarios of ``--overlay`` (none without it)."""
    return load_overlay(args.overlay, shipped) if args.overlay else []


def cmd_regen(args: argparse.Namespace) -> int:
    scenarios = load_all(args.fixtures)
    golden = Path(args.golden)
    if args.overlay:  # only the port's own goldens: the shipped ones are the original's
        scenarios, golden = _overlay(args, scenarios), Path(args.overlay) / paths.GOLDEN
    impl = make_implementation("reference")
    changes = regenerate(
        scenarios,
        impl,
        golden,
        progress=lambda line: print(line) if " " in line else None,  # clean-ups, not ids
        force=args.force,
    )
    for line in changes.lines():
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    scenarios = load_all(args.fixtures)
    problems = verify_manifest(Path(args.golden))
    stale = stale_dirs(scenarios, Path(args.golden))
    problems += [f"{d}: golden output with no scenario" for d in stale]
    try:
        certified = certificate.check(scenarios, Path(args.golden))
    except certificate.CertificateMissing as e:  # uncertified; an unreadable one exits 2
        problems.append(str(e))
    else:
        problems += certified.lines()
        print(f"certificate: {certified.summary()}")
    local = _overlay(args, scenarios)
    if local:  # a port's own scenarios: their goldens are the reference's, never certified
        overlay_golden = Path(args.overlay) / paths.GOLDEN
        problems += [f"{args.overlay}: {p}" for p in verify_manifest(overlay_golden)]
        problems += [
            f"{args.overlay}: {d}: golden output with no scenario"
            for d in stale_dirs(local, overlay_golden)
        ]
        print(f"local: {len(local)} scenario(s) of --overlay {args.overlay}, uncertified")
        if args.require_certified:
            problems += [f"{s.id}: local, uncertified (--require-certified)" for s in local]
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
    try:
        impl = OriginalTier()
    except ImportError as e:
        print(
            "error: certify runs the original Monolith hooks on TensorFlow, which cannot be "
            f"imported here ({e}): install the tf extra (python3 -m pip install "
            "'monolith-hook-parity[tf]'), or run python3 -m nox -s certify -- --monolith DIR",
            file=sys.stderr,
        )
        return 2
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="certify-") as tmp, WorkDir(tmp) as work:
            for k in range(args.repeat):
                out = work.path / f"run{k}"
                # every legal outcome of a scenario that leaves an order open, each forced
                runs.append(
                    [judge_every_outcome(s, impl, out / s.id, golden, work) for s in scenarios]
                )
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
    for line in check.unpinned:  # certified against another upstream than the pinned one
        print(line)
    print(f"wrote {path}: {check.summary()}")
    return 0 if check.ok else 1


def cmd_list(args: argparse.Namespace) -> int:
    shipped = load_all(args.fixtures)
    for s in shipped + _overlay(args, shipped):
        pins = f" [{', '.join(s.pins)}]" if s.pins else ""
        pins += " [local]" if s.local else ""
        print(shown(f"{s.id}{pins}: {s.description}", multiline=False))
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
    f, size = open_regular(path)  # regular files only: a fifo or /dev/zero is refused
    with f:  # type: ignore[attr-defined]
        kind = kind_for(args.kind_path, path.as_posix())
        if kind is None:
            print(
                f"error: {shown_name(path)}: cannot tell what kind of artifact it is from its "
                f"name; say which with --as KIND ({', '.join(ARTIFACT_KINDS)})",
                file=sys.stderr,
            )
            return 2
        if size > MAX_READ_BYTES and type(kind).render_stream is ArtifactKind.render_stream:
            print(
                f"{shown_name(path)}: {size} bytes, more than {MAX_READ_BYTES} to show",
                file=sys.stderr,
            )
            return 1
        try:
            for piece in kind.render_stream(f, size):  # streamed, record by record
                sys.stdout.write(shown(piece) + "\n")  # the file's text may hold controls
        except (ValueError, UnicodeDecodeError) as e:
            sys.stdout.flush()
            why = shown(str(e))
            print(f"{shown_name(path)}: cannot read as {kind.name}: {why}", file=sys.stderr)
            return 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    a, b = Path(args.a), Path(args.b)
    if a.is_dir() and b.is_dir():
        differences = compare_output(a, b)
        for d in differences:
            print(shown(str(d)))
        return 1 if differences else 0
    if args.kind_path:
        kind = kind_for(args.kind_path, b.as_posix())
    elif kind_of(a.as_posix()) is kind_of(b.as_posix()):
        kind = kind_of(a.as_posix())
    else:
        print(
            f"{shown_name(a)} is {kind_of(a.as_posix()).name}, {shown_name(b)} is "
            f"{kind_of(b.as_posix()).name}: say which with --as",
            file=sys.stderr,
        )
        return 2
    kind = kind or kind_of(b.as_posix())  # a path --as that names no kind: as bytes
    rel = args.kind_path if args.kind_path and args.kind_path not in ARTIFACT_KINDS else ""
    rel = rel or b.as_posix()
    try:
        expected, actual = _read_artifact(a), _read_artifact(b)
    except ValueError as e:
        print(f"error: {shown(str(e))}", file=sys.stderr)
        return 2
    if expected == actual:
        return 0
    explained = kind.explain(rel, expected, actual, (str(a), str(b)))
    print(shown(f"{shown_name(a)} -> {shown_name(b)} [{kind.name}]: {explained}"))
    return 1


DESCRIPTION = """\
Run Monolith hook scenarios against an implementation and compare its outputs
byte for byte with the goldens.

The corpus (fixtures/ and golden/) is the one installed with this package, or
the source checkout's. --corpus DIR, or the environment variable
MONOLITH_PARITY_CORPUS=DIR, uses another directory holding fixtures/ and
golden/. Corpus options may come before or after the command.
'monolith-parity COMMAND --help' shows a command's options.
"""

EXIT_CODES = """\
exit status:
  0    success: every counted scenario passed (run), the goldens are
       consistent (verify), the two sides are identical (diff), the file
       was shown (dump), the goldens were rewritten (regen)
  1    a difference: a scenario failed or passed unexpectedly, or an
       implementation was judged on no scenario (all not applicable) or on
       fewer than --min-served asks (run), a golden problem or an
       uncertified scenario (verify), the original disagreed (certify), the
       sides differ (diff), the file does not parse as its kind (dump)
  2    bad usage or bad input: an unknown option, an invalid scenario,
       deviations, manifest or certificate file, a file that cannot be
       read, no scenario selected, --sandbox bwrap where bubblewrap does
       not work; (run) every scenario passed but a report could not be
       written
  130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM, 129 by SIGHUP: the
       partial summary is printed and the reports written for what ran
  141  standard output was closed early (e.g. piped into head)
"""
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a program killed by it


def _global_options(defaults: bool) -> argparse.ArgumentParser:
    """The corpus options, accepted before and after the command. Only the top-level
    copy has real defaults; the command's copy leaves a value given earlier alone."""
    g = argparse.ArgumentParser(add_help=False)
    opts = g.add_argument_group("corpus options (before or after the command)")

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    opts.add_argument(
        "--corpus",
        metavar="DIR",
        default=default(None),
        help=f"a directory holding fixtures/ and golden/ (default: {CORPUS_ROOT})",
    )
    opts.add_argument(
        "--fixtures",
        metavar="DIR",
        default=default(None),
        help="the scenario directory (default: CORPUS/fixtures)",
    )
    opts.add_argument(
        "--golden",
        metavar="DIR",
        default=default(None),
        help="the golden directory (default: CORPUS/golden)",
    )
    opts.add_argument(
        "--monolith",
        metavar="DIR",
        default=default(None),
        help="a Monolith checkout for the original tier (--impl original, certify): a work "
        "tree, or a git dir with --monolith-commit; sets $MONOLITH_CHECKOUT",
    )
    opts.add_argument(
        "--monolith-commit",
        metavar="COMMIT",
        default=default(None),
        help="the commit to read from a git dir --monolith (sets $MONOLITH_COMMIT)",
    )
    opts.add_argument(
        "--overlay",
        metavar="DIR",
        default=default(None),
        help="a port's own scenarios beside the shipped corpus: DIR/fixtures/<family>/*.json, "
        "goldens in DIR/golden/ (made by the reference: --overlay DIR regen); local, so never "
        "certified",
    )
    return g


def _wrap(text: str, width: int = 78) -> str:
    """Paragraphs filled to ``width``; a paragraph indented by two spaces (an example
    command) is kept as written."""
    return "\n\n".join(
        p if p.startswith("  ") else textwrap.fill(p, width) for p in text.split("\n\n")
    )


def _command(sub: Any, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=_wrap(description),
        parents=[_global_options(defaults=False)],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES,
    )


class _Parser(argparse.ArgumentParser):
    """argparse, suggesting the closest option for a mistyped one."""

    def error(self, message: str) -> NoReturn:
        wrong = message.removeprefix("unrecognized arguments: ")
        if wrong != message:
            known = _option_strings(self)
            hints = []
            for word in wrong.split():
                option = word.split("=", 1)[0]
                close = difflib.get_close_matches(option, known, n=1, cutoff=0.6)
                if option.startswith("-") and close:
                    hints.append(f"{option}: did you mean {close[0]}?")
            if hints:
                message += " (" + "; ".join(hints) + ")"
        super().error(message)


def _option_strings(p: argparse.ArgumentParser) -> list[str]:
    """Every option string of ``p`` and of its subcommands."""
    found = []
    for action in p._actions:
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="monolith-parity",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(defaults=True)],
    )
    p.add_argument("--version", action="version", version=f"monolith-parity {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for add in (_add_run, _add_regen, _add_verify, _add_certify, _add_list, _add_dump, _add_diff):
        add(sub)
    fuzz.register(sub)  # its body is harness/fuzz.py
    return p


def _add_run(sub: Any) -> None:
    run = _command(
        sub,
        "run",
        "run scenarios against an implementation and print the report",
        "Run the selected scenarios (all by default) against each --impl and compare every "
        "output with its golden. Prints one block per failing scenario, then the summary. "
        "Outputs go to a temporary directory that is removed when everything passed; when "
        "something failed, the failing scenarios' outputs are kept and the directory is "
        "named on stderr. With --work DIR all outputs are kept in DIR.",
    )
    run.add_argument(
        "--impl",
        action="append",
        metavar="IMPL",
        help="'reference' (default: the in-process reference), 'tf' (the TensorFlow tier), "
        "'original' (the original Monolith hooks of --monolith DIR), "
        'or a testee command line, e.g. "./my-testee --flag"; repeat for a matrix',
    )
    run.add_argument(
        "-k",
        action="append",
        metavar="PATTERN",
        help="only scenarios whose id matches PATTERN (a glob, or a substring such as "
        "'slot_count/'); repeatable",
    )
    run.add_argument(
        "--deviations", metavar="FILE", help="the implementation's declared deviations (JSON)"
    )
    _add_testee_options(run)
    run.add_argument(
        "--min-served",
        action="append",
        metavar="N|P%|FAMILY=N|FAMILY=P%",
        help="fail unless each implementation was judged on (served) at least N scenarios, "
        "or P%% of those selected, in all or in FAMILY; repeatable. Without it a run still "
        "fails when an implementation served none",
    )
    run.add_argument(
        "--checklist", metavar="FILE", help="write the verification checklists here (markdown)"
    )
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    run.add_argument("--html", metavar="FILE", help="write the HTML parity page here")
    run.add_argument(
        "--work",
        metavar="DIR",
        help="keep every scenario's outputs in DIR/<implementation>/<scenario id>/ "
        "(default: a temporary directory, kept only for failing scenarios)",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="print each scenario's status as it ends"
    )
    run.set_defaults(fn=cmd_run)


def _add_testee_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--timeout",
        type=seconds_argument,
        default=30.0,
        metavar="SECONDS",
        help="seconds a testee has for each reply, finite and above 0 (default: 30)",
    )
    run.add_argument(
        "--sandbox",
        choices=confine.MODES,
        default="auto",
        help="where a testee runs: 'bwrap' (bubblewrap: read-only file system but the work "
        "directory, no network, own PID namespace), 'none' (unconfined, watched), 'auto' "
        "(bwrap when it works here, else none, saying why; the default)",
    )


def _add_regen(sub: Any) -> None:
    regen = _command(
        sub,
        "regen",
        "rewrite the goldens from the reference",
        "Run every scenario against the in-process reference and rewrite the golden "
        "directory from the results, atomically (a failed regeneration changes nothing), "
        "then print what was added, changed and removed. Only for changes of the reference "
        "or the corpus: a port is checked against the goldens, never regenerates them. "
        "Refuses while golden/ has uncommitted, untracked or hand-edited files (it names "
        "them), unless --force.",
    )
    regen.add_argument(
        "--force", action="store_true", help="discard uncommitted or untracked changes in golden/"
    )
    regen.set_defaults(fn=cmd_regen)


def _add_verify(sub: Any) -> None:
    verify = _command(
        sub,
        "verify",
        "check the goldens against their manifest and their certificate",
        "Check every golden file against the sha256 in golden/MANIFEST.json (a hand edit, "
        "a missing or an extra file is a problem), that every golden directory belongs "
        "to a scenario, and that every scenario is certified by golden/CERTIFICATE.json "
        "(agreed with the original Monolith hooks, or not applicable to them with a "
        "reason) since it or its golden last changed. Prints 'N certified, N not "
        "applicable, N uncertified' and one line per problem. A port's own scenarios "
        "(--overlay) are checked against their manifest and reported as local and "
        "uncertified, which fails only with --require-certified.",
    )
    verify.add_argument(
        "--require-certified",
        action="store_true",
        help="fail on the --overlay's scenarios too (they are never certified)",
    )
    verify.set_defaults(fn=cmd_verify)


def _add_certify(sub: Any) -> None:
    certify = _command(
        sub,
        "certify",
        "run the original Monolith hooks on every scenario and write the certificate",
        "Run the corpus on the original tier (the original Monolith modules of the "
        "checkout --monolith names, on TensorFlow: needs the tf extra) and write "
        "golden/CERTIFICATE.json: the upstream commit, the sha256 of each original module, "
        "the versions, and per scenario agreed, not applicable (with the reason) or "
        "disagreed, keyed to a digest of the scenario and its goldens. See docs/original.md.",
    )
    certify.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the corpus N times; a scenario whose outcome varies is not agreed",
    )
    certify.set_defaults(fn=cmd_certify)


def _add_list(sub: Any) -> None:
    _command(
        sub,
        "list",
        "list the scenarios and the quirks they pin",
        "Print one line per scenario: its id, the quirks it pins in [brackets], and its "
        "description.",
    ).set_defaults(fn=cmd_list)


KIND_HELP = (
    "an artifact kind (" + ", ".join(sorted(ARTIFACT_KINDS)) + "), or a PATH in an "
    "output directory the file would be at (e.g. features/x.pb)"
)


def _add_dump(sub: Any) -> None:
    dump = _command(
        sub,
        "dump",
        "show an artifact in readable form",
        "Print a ckpt.info file, an ExampleBatch stream, an action file or a trace.jsonl "
        "readably. The kind is chosen from the file's path as in an output directory "
        "(e.g. files/model/ckpt.info-10, trace.jsonl); --as names it for a file elsewhere. "
        "A file whose kind cannot be told is refused (exit 2), unless --as names one "
        "(--as bytes shows any file as bytes).",
    )
    dump.add_argument("file", metavar="FILE", help="the artifact to show")
    dump.add_argument("--as", dest="kind_path", metavar="KIND|PATH", help=KIND_HELP)
    dump.set_defaults(fn=cmd_dump)


def _add_diff(sub: Any) -> None:
    diff = _command(
        sub,
        "diff",
        "explain how two artifacts or output directories differ",
        "Compare EXPECTED with ACTUAL and explain each difference, in the artifact's own "
        "terms (field, record, event). Both are files, or both are output directories "
        "(files/, listing.txt, trace.jsonl), e.g. a golden directory and a kept output:\n\n"
        "  monolith-parity diff golden/slot_count/basic OUT/reference/slot_count/basic",
    )
    diff.add_argument(
        "a", metavar="EXPECTED", help="the expected side: a golden file or golden directory"
    )
    diff.add_argument(
        "b", metavar="ACTUAL", help="the actual side: the implementation's file or directory"
    )
    diff.add_argument(
        "--as",
        dest="kind_path",
        metavar="KIND|PATH",
        help=KIND_HELP + " (default: ACTUAL's path)",
    )
    diff.set_defaults(fn=cmd_diff)


def _resolve_corpus(args: argparse.Namespace) -> None:
    """Fill in --fixtures and --golden from --corpus (or the default corpus)."""
    root = Path(args.corpus) if args.corpus else CORPUS_ROOT
    if args.corpus and not (root / paths.FIXTURES).is_dir():
        raise ScenarioError(f"--corpus {root}: no fixtures/ directory in it")
    args.fixtures = args.fixtures or str(root / paths.FIXTURES)
    args.golden = args.golden or str(root / paths.GOLDEN)
    installed = paths.PACKAGED_CORPUS.resolve()
    golden = Path(args.golden).resolve()
    if args.command == "regen" and (golden == installed or installed in golden.parents):
        # The installed copy is the package's own; rewriting it would make the install
        # disagree with its RECORD and vanish on the next upgrade.
        raise GoldenError(
            f"regen: {args.golden} is the installed package's copy of the goldens; "
            "regenerate in a checkout (an editable install, or --corpus DIR)"
        )


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on it).
    Where poll is not available, a broken pipe is taken to be stdout's."""
    try:
        poller = io_select.poll()
        poller.register(sys.stdout.fileno(), io_select.POLLOUT)
        return any(ev & (io_select.POLLERR | io_select.POLLHUP) for _, ev in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP interrupt the command as Ctrl-C does (:class:`Interrupted`),
    so a run ends its testees and prints its partial summary. SIGINT too where it was
    inherited ignored (a job a shell script started in the background, as CI runners do):
    the harness owns testee processes, so every stop signal must reach it."""
    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            saved[sig] = signal.signal(sig, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        with contextlib.suppress(ValueError, OSError):
            saved[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    with _signals_interrupt():
        try:
            return _main(argv)
        except KeyboardInterrupt as e:  # outside a run: nothing to summarise
            signum = signal_of(e)
            print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr)
            return 128 + signum


@contextlib.contextmanager
def _checkout_environment(args: argparse.Namespace) -> Iterator[None]:
    """$MONOLITH_CHECKOUT and $MONOLITH_COMMIT from --monolith and --monolith-commit for
    the command (the original tier and the processes it starts read them), put back as
    they were when it ends: a caller of :func:`main` in process keeps its environment."""
    names = {"MONOLITH_CHECKOUT": args.monolith, "MONOLITH_COMMIT": args.monolith_commit}
    saved = {name: os.environ.get(name) for name in names}
    for name, value in names.items():
        if value:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        _resolve_corpus(args)
        with _checkout_environment(args):
            status = args.fn(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the try, not at exit
        return status
    except BrokenPipeError as e:
        if not _stdout_closed():  # some other pipe (a testee's): an ordinary error
            print(f"error: {e}", file=sys.stderr)
            return 2
        # The reader (e.g. `| head`) went away: stop quietly. Point stdout at devnull so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return BROKEN_PIPE
    except (
        ScenarioError,
        GoldenError,
        DeviationError,
        certificate.CertificateError,
        OSError,
        CheckoutFailure,
        ConfinementError,
    ) as e:
        print(f"error: {shown(str(e))}", file=sys.stderr)
        return 2
    except ValueError as e:  # a bad option value found after parsing (--min-served)
        print(f"error: {shown(str(e))}", file=sys.stderr)
        return 2
