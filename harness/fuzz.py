"""Differential fuzzing: generated scenarios, the reference against any testee, a divergence
shrunk to a minimal scenario file (``python -m harness fuzz``, docs/fuzzing.md).

Each example is a scenario drawn from :mod:`harness.strategies` (the families asked for
that the testee serves). It runs on the ``--against`` implementation (the in-process
reference by default) and on the testee, each into its own output directory, and the two
are compared with :func:`harness.compare.compare_output`, the reference's output standing
in for the golden. A divergence (a differing artifact, or the testee failing where the
reference did not) fails the example; hypothesis then shrinks it to a minimal scenario,
which is printed with the explanation and, with ``--save DIR``, written as
``DIR/fixtures/<family>/<name>.json`` plus its reference output as
``DIR/golden/<family>/<name>/`` (``files/``, ``listing.txt``, ``trace.jsonl``, and a
``MANIFEST.json``): ``python -m harness --fixtures DIR/fixtures --golden DIR/golden run
--impl CMD`` judges it like the corpus.

Determinism: ``--seed`` fixes the generation; examples found before replay first, from a
hypothesis example database in ``<work>/examples/<families>/``. Budget: ``--seconds`` of
searching (shrinking not counted), or ``--examples`` examples, whichever ends first (then
it reports nothing found). Shrinking a divergence gets ``--shrink-seconds`` (default the
larger of SHRINK_SECONDS and ``--seconds``). ``--examples`` without ``--seconds`` sets no
time budget for either, so the run is the same on any machine (hypothesis's own limits on
shrinking still apply). Exit
status as ``run``: 0 no divergence, 1 a divergence, 2 a usage or setup error (hypothesis
missing, the testee does not start, a bad deviations file, or no generated scenario could
be compared at all).

Hypothesis is imported only when fuzzing starts, so the rest of the CLI works without it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safe_text
from harness.adapters import confine
from harness.adapters.base import Implementation, ImplementationFailure
from harness.compare import Difference, compare_output
from harness.deviations import load_deviations
from harness.driver import run_scenario
from harness.golden import build_manifest, render_manifest
from harness.protocol import seconds_argument
from harness.scenario import Scenario, load_all, parse
from harness.workdir import WorkDir

FAMILIES = ("slot_count", "controller", "feature_dump", "barrier", "hook_utils")
DEFAULT_WORK = ".parity-fuzz"
# Shrinking a divergence may take this long (or --seconds, if longer) before the smallest
# divergence seen so far is reported instead.
SHRINK_SECONDS = 60.0
# The search budget when neither --seconds nor --examples is given.
DEFAULT_SECONDS = 60.0
PROGRESS_EVERY = 5.0
# Hypothesis needs a finite example count; the time budget is what ends a search.
MAX_EXAMPLES = 10_000_000
STDERR_SHOWN = 4000

EXIT_OK, EXIT_DIVERGED, EXIT_SETUP = 0, 1, 2


class FuzzSetupError(RuntimeError):
    """Fuzzing cannot start (or cannot go on): exit status 2."""


class _OutOfTime(BaseException):
    """Ends a hypothesis run when the budget is spent. A BaseException, so hypothesis
    lets it through instead of treating it as a failing example to shrink."""


@dataclass
class Finding:
    """One divergence: the scenario (a scenario file's JSON) and how the testee differed."""

    scenario: dict[str, Any]
    differences: list[Difference]
    failure: str | None
    stderr: str = ""
    shrunk: bool = True  # False when shrinking stopped at its time limit
    saved: Path | None = None

    @property
    def family(self) -> str:
        return str(self.scenario["family"])

    @property
    def name(self) -> str:
        body = json.dumps(essential(self.scenario), sort_keys=True)
        return "fuzz-" + hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]

    @property
    def size(self) -> tuple[int, int]:
        return (len(self.scenario["steps"]), len(json.dumps(self.scenario)))

    def signature(self) -> frozenset[tuple[str, ...]]:
        return fingerprint(self.family, self.differences, self.failure)

    def explanation(self) -> str:
        parts = [f"implementation failure: {self.failure}"] if self.failure else []
        parts += [str(d) for d in self.differences]
        if self.stderr:
            parts.append("testee stderr:\n" + self.stderr[-STDERR_SHOWN:])
        return "\n".join(parts)


_SKIP = object()  # an example that could not be compared


class _Divergence(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.explanation())
        self.finding = finding


def fingerprint(
    family: str, differences: Sequence[Difference], failure: str | None
) -> frozenset[tuple[str, ...]]:
    """What a divergence looks like, independent of the scenario's names and numbers:
    (family, artifact kind, file name with digits as ``#``) for each differing artifact,
    and (family, ``failure``) when the testee failed."""
    marks = {(family, d.kind, re.sub(r"\d+", "#", d.path.rsplit("/", 1)[-1])) for d in differences}
    if failure is not None:
        marks.add((family, "failure"))
    return frozenset(marks)


@dataclass
class DeclaredDeviations:
    """The divergences a deviations file declares, as :func:`fingerprint` marks: each
    declared corpus scenario is run on the testee and judged against its golden once, at
    start. A generated divergence all of whose marks are among them counts as declared."""

    marks: frozenset[tuple[str, ...]] = frozenset()

    def covers(self, finding: Finding) -> bool:
        return bool(self.marks) and finding.signature() <= self.marks


def declared_deviations(
    path: str | None,
    fixtures: Path,
    golden: Path,
    testee: Implementation,
    work: WorkDir,
) -> DeclaredDeviations:
    if path is None:
        return DeclaredDeviations()
    corpus = load_all(fixtures)
    deviations = load_deviations(path, corpus)
    marks: set[tuple[str, ...]] = set()
    for scenario in corpus:
        if deviations.expected_to_fail(scenario.id) is None:
            continue
        out = work.path / "out" / "declared" / scenario.id
        output = run_scenario(scenario, testee, out, work)
        marks |= fingerprint(
            scenario.family, _differences(golden / scenario.id, work, out), output.failure
        )
    return DeclaredDeviations(frozenset(marks))


@dataclass
class Counts:
    """What the search has done so far."""

    compared: Counter[str] = field(default_factory=Counter)  # examples compared, by family
    skipped: int = 0  # the reference failed, or the testee answered not applicable
    declared: int = 0  # divergences covered by the deviations file
    known: int = 0  # divergences like one already reported (--keep-going)
    cached: int = 0  # scenarios generated again (their earlier outcome is reused)
    # sha256 over every scenario compared, in order: equal for two runs that generated
    # the same examples (what --seed promises).
    examples_digest: Any = field(default_factory=hashlib.sha256)

    def line(self, elapsed: float) -> str:
        by_family = ", ".join(f"{f} {n}" for f, n in sorted(self.compared.items()))
        extra = [f"{self.skipped} skipped"] if self.skipped else []
        extra += [f"{self.declared} declared"] if self.declared else []
        extra += [f"{self.known} already reported"] if self.known else []
        extra += [f"{self.cached} repeated"] if self.cached else []
        tail = f"; {', '.join(extra)}" if extra else ""
        return (
            f"fuzz: {elapsed:.0f}s, {sum(self.compared.values())} examples"
            f" ({by_family or 'none yet'}){tail}"
        )


@dataclass
class FuzzOptions:
    impl: str
    against: str = "reference"
    families: Sequence[str] = FAMILIES
    seconds: float = DEFAULT_SECONDS  # math.inf: none (then ``examples`` ends the run)
    examples: int | None = None  # stop after this many examples, whatever the time
    shrink_seconds: float | None = None  # default: max(SHRINK_SECONDS, seconds)
    seed: int | None = None
    deviations: str | None = None
    save: Path | None = None
    work: Path = Path(DEFAULT_WORK)
    keep_going: bool = False
    timeout: float = 30.0
    fixtures: Path | None = None
    golden: Path | None = None
    sandbox: str = "auto"


@dataclass
class FuzzResult:
    findings: list[Finding]
    counts: Counts
    seed: int
    found_after: list[int] = field(default_factory=list)  # examples compared, per finding

    @property
    def exit_code(self) -> int:
        return EXIT_DIVERGED if self.findings else EXIT_OK


def as_scenario(data: dict[str, Any]) -> Scenario:
    return parse(data, f"{data['family']}/fuzz", "generated scenario")


def _differences(expected: Path, work: WorkDir, out: Path) -> list[Difference]:
    """How ``out`` (in ``work``) differs from ``expected``, read through a fd opened from
    the work directory (a link the testee planted on the way is not followed)."""
    rel = out.relative_to(work.path).as_posix()
    try:
        fd = work.open_dir(rel)
    except (OSError, ValueError) as e:
        return [Difference(rel, "output", f"cannot be read safely: {e}")]
    try:
        return compare_output(expected, fd)
    finally:
        os.close(fd)


class _Session:
    """One fuzzing session: the two implementations, the counts and the clock."""

    def __init__(
        self,
        options: FuzzOptions,
        against: Implementation,
        testee: Implementation,
        declared: DeclaredDeviations,
        say: Callable[[str], None],
        work: WorkDir,
    ) -> None:
        self.options = options
        self.against = against
        self.testee = testee
        self.declared = declared
        self.say = say
        self.counts = Counts()
        self.start = time.monotonic()
        self.deadline = self.start + options.seconds
        self.last_progress = self.start
        self.reported: set[frozenset[tuple[str, ...]]] = set()
        self.cache: dict[str, Finding | object | None] = {}
        self.found_after: list[int] = []  # examples compared when each search round hit
        self.searched = 0  # examples the search ran, over every round (what --examples bounds)
        self.round_failures: list[Finding] = []
        self.shrink_deadline: float | None = None
        self.shrink_started: float | None = None
        self.workdir = work
        self.work = work.path / "out"

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def _progress(self) -> None:
        now = time.monotonic()
        if now - self.last_progress >= PROGRESS_EVERY:
            self.last_progress = now
            self.say(self.counts.line(now - self.start))

    def check(self, data: dict[str, Any]) -> None:
        """One example: hypothesis's test function."""
        from hypothesis import reject

        now = time.monotonic()
        if self.shrink_deadline is None and now >= self.deadline:
            raise _OutOfTime
        if self.shrink_deadline is not None and now >= self.shrink_deadline:
            raise _OutOfTime
        self._progress()
        # Shrinking tries many choice sequences that build the same scenario: run each
        # scenario once (both implementations are taken to be deterministic).
        key = json.dumps(data, sort_keys=True)
        if key in self.cache:
            self.counts.cached += 1
            outcome = self.cache[key]
        else:
            outcome = self.cache[key] = self._compare(data)
        if outcome is _SKIP:
            reject()
        if self.shrink_deadline is None:  # shrinking does not use up --examples
            self.searched += 1
        if not isinstance(outcome, Finding):
            return
        if outcome.signature() in self.reported:  # --keep-going: one of a kind reported
            self.counts.known += 1
            return
        if self.shrink_deadline is None:
            shrink = self.options.shrink_seconds or max(SHRINK_SECONDS, self.options.seconds)
            self.shrink_started = time.monotonic()
            self.shrink_deadline = self.shrink_started + shrink
            self.found_after.append(sum(self.counts.compared.values()))
            self.say(
                f"fuzz: divergence found after {self.elapsed():.1f}s "
                f"({self.found_after[-1]} examples); shrinking it"
            )
        self.round_failures.append(outcome)
        raise _Divergence(outcome)

    def _compare(self, data: dict[str, Any]) -> Finding | object | None:
        """Run ``data`` on both: None (same outputs, or a declared deviation), _SKIP (the
        reference failed, or the testee answered not applicable), or the divergence."""
        scenario = as_scenario(data)
        ref_dir, testee_dir = self.work / "against", self.work / "testee"
        ref = run_scenario(scenario, self.against, ref_dir, self.workdir)
        if ref.failure is not None or ref.not_applicable is not None:
            self.counts.skipped += 1
            return _SKIP
        out = run_scenario(scenario, self.testee, testee_dir, self.workdir)
        if out.not_applicable is not None:
            self.counts.skipped += 1
            return _SKIP
        self.counts.compared[scenario.family] += 1
        self.counts.examples_digest.update(json.dumps(data, sort_keys=True).encode("utf-8"))
        differences = _differences(ref_dir, self.workdir, testee_dir)
        if not differences and out.failure is None:
            return None
        stderr = getattr(self.testee, "scenario_stderr", None)
        finding = Finding(data, differences, out.failure, stderr() if stderr else "")
        if self.declared.covers(finding):
            self.counts.declared += 1
            return None
        return finding

    def run_round(self, seed: int, reuse: bool) -> Finding | None:
        """One hypothesis run: until the budget is spent (None) or a divergence is shrunk."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis.database import DirectoryBasedExampleDatabase

        from harness.strategies import scenarios

        families = list(self.options.families)
        database = DirectoryBasedExampleDatabase(
            str(self.workdir.path / "examples" / "-".join(sorted(families)))
        )
        phases = [Phase.explicit, Phase.generate, Phase.shrink]
        if reuse:
            phases.insert(1, Phase.reuse)

        def differential(data: dict[str, Any]) -> None:
            self.check(data)

        # What hypothesis's @seed sets, without the database=None that @seed adds: the
        # seed fixes the generation and found examples are still stored and replayed.
        differential._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
        test = settings(
            max_examples=(
                MAX_EXAMPLES
                if self.options.examples is None
                else max(1, self.options.examples - self.searched)
            ),
            deadline=None,
            database=database,
            phases=phases,
            derandomize=False,
            report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            print_blob=False,
        )(given(scenarios(families))(differential))

        self.round_failures = []
        self.shrink_deadline = self.shrink_started = None
        try:
            return self._run(test)
        finally:
            if self.shrink_started is not None:  # shrinking does not use up the search budget
                self.deadline += time.monotonic() - self.shrink_started

    def _run(self, test: Callable[[], None]) -> Finding | None:
        from hypothesis.errors import Flaky, Unsatisfiable

        try:
            test()
        except _Divergence as e:
            return e.finding
        except _OutOfTime:
            if not self.round_failures:
                return None
            best = min(self.round_failures, key=lambda f: f.size)
            best.shrunk = False
            self.say("fuzz: shrinking stopped at its time limit; the smallest divergence so far:")
            return best
        except (Flaky, Unsatisfiable) as e:
            if not self.round_failures:
                if isinstance(e, Unsatisfiable):
                    raise FuzzSetupError(
                        "no generated scenario could be compared: the reference failed or "
                        "the testee answered not applicable on every one"
                    ) from e
                raise
            best = min(self.round_failures, key=lambda f: f.size)
            best.shrunk = False
            self.say(
                f"fuzz: the divergence did not replay ({type(e).__name__}); the testee may "
                "not be deterministic. The smallest divergence seen:"
            )
            return best
        return None


# What makes a scenario what it is (its description and id do not change its outputs).
ESSENTIAL = ("family", "config", "before_setup", "steps")


def essential(scenario: dict[str, Any]) -> dict[str, Any]:
    """The parts of a generated scenario that decide its outputs, in file order."""
    return {k: scenario[k] for k in ESSENTIAL if k in scenario}


def save_finding(finding: Finding, against: Implementation, save: Path, seed: int) -> Path:
    """Write the scenario file and its reference output (a golden directory) under ``save``."""
    name = finding.name
    data = {
        "format": 1,
        "family": finding.family,
        "description": (
            f"Found by harness fuzz (seed {seed}): "
            + (
                "the testee fails where the reference does not."
                if finding.failure is not None
                else f"{finding.differences[0].path} differs from the reference."
            )
        ),
        **essential(finding.scenario),
    }
    fixtures = save / "fixtures" / finding.family
    fixtures.mkdir(parents=True, exist_ok=True)
    path = fixtures / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    golden = save / "golden"
    scenario = parse(data, f"{finding.family}/{name}", str(path))
    out = golden / finding.family / name
    if out.exists():
        shutil.rmtree(out)
    output = run_scenario(scenario, against, out)
    if output.failure is not None:  # pragma: no cover - the search skips these
        raise FuzzSetupError(f"{path}: the reference cannot run it: {output.failure}")
    (golden / "MANIFEST.json").write_bytes(render_manifest(build_manifest(golden)))
    return path


def fuzz(options: FuzzOptions, say: Callable[[str], None] | None = None) -> FuzzResult:
    """Search for divergences; see the module docstring. Raises :class:`FuzzSetupError`
    (exit 2) when it cannot start. Everything it writes -- outputs, the example database,
    hypothesis's own caches -- stays in ``options.work``, which it locks; a testee (run in
    ``options.sandbox``) that writes outside its ``files/`` there diverges."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        import hypothesis  # noqa: F401
    except ImportError as e:
        raise FuzzSetupError(
            "fuzz needs hypothesis: pip install 'monolith-hook-parity[fuzz]'"
        ) from e
    unknown = sorted(set(options.families) - set(FAMILIES))
    if unknown:
        raise FuzzSetupError(f"--family: no family {', '.join(unknown)} ({', '.join(FAMILIES)})")
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1 << 32)
    try:
        work = WorkDir(options.work)
        work.lock()
    except OSError as e:
        raise FuzzSetupError(f"--work {options.work}: {e}") from e
    # Hypothesis keeps caches in a home directory (./.hypothesis by default): here, it
    # is the fuzz work directory's, like the example database.
    from hypothesis import configuration

    home = configuration.storage_directory()
    configuration.set_hypothesis_home_dir(str(work.path / "hypothesis"))
    try:
        return _fuzz(options, seed, work, say)
    finally:
        configuration.set_hypothesis_home_dir(str(home))
        work.close()


def _fuzz(options: FuzzOptions, seed: int, work: WorkDir, say: Callable[[str], None]) -> FuzzResult:
    from harness.golden import GOLDEN_DIR
    from harness.implementations import check_spec, make_implementation
    from harness.scenario import FIXTURES_DIR

    try:
        for spec in (options.against, options.impl):
            check_spec(spec)
        against = make_implementation(options.against, options.timeout, options.sandbox)
        testee = make_implementation(options.impl, options.timeout, options.sandbox)
    except ValueError as e:
        raise FuzzSetupError(str(e)) from e
    for impl in (against, testee):
        watch = getattr(impl, "watch", None)
        if watch is not None:  # the whole fuzz work directory: escapes are divergences
            watch(work.path)
    try:
        try:
            served = set(testee.capabilities().get("families", FAMILIES))
            served &= set(against.capabilities().get("families", FAMILIES))
        except ImplementationFailure as e:
            raise FuzzSetupError(f"the testee does not start: {e}") from e
        families = [f for f in options.families if f in served]
        if not families:
            raise FuzzSetupError(
                f"the testee serves none of the families asked for ({', '.join(options.families)})"
            )
        options.families = families
        declared = declared_deviations(
            options.deviations,
            options.fixtures or FIXTURES_DIR,
            options.golden or GOLDEN_DIR,
            testee,
            work,
        )
        say(
            f"fuzz: {options.impl} against {options.against}, families {', '.join(families)}, "
            f"seed {seed}, "
            + (f"{options.seconds:g}s" if math.isfinite(options.seconds) else "no time budget")
        )
        session = _Session(options, against, testee, declared, say, work)
        findings: list[Finding] = []
        round_seed = seed
        while True:
            finding = session.run_round(round_seed, reuse=not findings)
            if finding is None:
                break
            if options.save is not None:
                finding.saved = save_finding(finding, against, options.save, seed)
            findings.append(finding)
            say(report_finding(finding))
            session.reported.add(finding.signature())
            if not options.keep_going or time.monotonic() >= session.deadline:
                break  # the search budget, shrinking not counted
            if options.examples is not None and session.searched >= options.examples:
                break  # --examples in all, over every round
            round_seed = (round_seed * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        say(session.counts.line(session.elapsed()))
        say(f"fuzz: examples digest {session.counts.examples_digest.hexdigest()[:16]}")
        say(f"fuzz: {len(findings)} divergence(s)" if findings else "fuzz: no divergence found")
        return FuzzResult(findings, session.counts, seed, session.found_after)
    finally:
        testee.close()
        against.close()


def report_finding(finding: Finding) -> str:
    shown = essential(finding.scenario)
    lines = [
        f"DIVERGENCE in {finding.family} "
        f"({'shrunk' if finding.shrunk else 'not fully shrunk'}; "
        f"{len(finding.scenario['steps'])} step(s)):",
        json.dumps(shown, indent=1, ensure_ascii=False),
        finding.explanation(),
    ]
    if finding.saved is not None:
        lines.append(f"saved as {finding.saved}")
    return safe_text.shown("\n".join(lines))  # the testee's words, escaped


# ------------------------------------------------------------------------------ CLI


def register(sub: Any) -> None:
    """Add the ``fuzz`` subcommand to the CLI's subparsers."""
    p = sub.add_parser(
        "fuzz",
        help="differential fuzzing: generated scenarios, the reference against a testee",
        description="Generated scenarios run on the reference and on a testee; a divergence "
        "is shrunk to a minimal scenario (docs/fuzzing.md).",
    )
    p.add_argument("--impl", required=True, help="the testee command (or tf, original)")
    p.add_argument(
        "--against", default="reference", help="what the testee is compared with (reference)"
    )
    p.add_argument(
        "--family",
        action="append",
        choices=FAMILIES,
        help="only this family (repeatable; default: every family the testee serves)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        help=f"search budget (default {DEFAULT_SECONDS:g}; none when --examples is given)",
    )
    p.add_argument("--examples", type=int, help="stop after this many examples (reproducible)")
    p.add_argument(
        "--shrink-seconds",
        type=float,
        help=f"shrinking budget (default: the larger of {SHRINK_SECONDS:g} and --seconds)",
    )
    p.add_argument("--seed", type=int, help="fix the generation (printed when not given)")
    p.add_argument("--deviations", help="the testee's declared deviations (JSON)")
    p.add_argument("--save", help="write each divergence's scenario and golden under DIR")
    p.add_argument(
        "--work",
        default=DEFAULT_WORK,
        help=f"outputs and the example database (default ./{DEFAULT_WORK})",
    )
    p.add_argument(
        "--keep-going", action="store_true", help="after a divergence, look for other kinds"
    )
    p.add_argument(
        "--timeout",
        type=seconds_argument,
        default=30.0,
        help="seconds a testee has for each reply (finite, above 0)",
    )
    p.add_argument(
        "--sandbox",
        choices=confine.MODES,
        default="auto",
        help="where the testee runs (as for run: bwrap, none, auto)",
    )
    p.set_defaults(fn=cmd_fuzz)


def cmd_fuzz(args: argparse.Namespace) -> int:
    if (args.seconds is not None and args.seconds <= 0) or (
        args.examples is not None and args.examples <= 0
    ):
        print("error: --seconds and --examples must be positive", file=sys.stderr)
        return EXIT_SETUP
    if args.seconds is None:  # an example count alone ends the run, however slow the machine
        args.seconds = math.inf if args.examples is not None else DEFAULT_SECONDS
    options = FuzzOptions(
        impl=args.impl,
        against=args.against,
        families=args.family or FAMILIES,
        seconds=args.seconds,
        examples=args.examples,
        shrink_seconds=args.shrink_seconds,
        seed=args.seed,
        deviations=args.deviations,
        save=Path(args.save) if args.save else None,
        work=Path(args.work),
        keep_going=args.keep_going,
        timeout=args.timeout,
        fixtures=Path(args.fixtures),
        golden=Path(args.golden),
        sandbox=args.sandbox,
    )
    try:
        result = fuzz(options)
    except (FuzzSetupError, confine.ConfinementError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_SETUP
    return result.exit_code
