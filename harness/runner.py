"""Runs scenarios against implementations and judges each against its golden output.

:func:`judge` runs one scenario, :func:`run_corpus` a list of them on one implementation,
and :func:`run_matrix` a list on several implementations given as specs: an
implementation that cannot be loaded, or whose testee cannot start, gets every scenario
reported as *not run* with one reason, and the others still run. Each implementation's
outputs go to ``<work>/<dir_name(column)>/``: the name a testee reports is hostile input,
so it is made safe for a path, and two implementations reporting the same name get
distinct columns. Everything beneath ``<work>`` is reached through a
:class:`~harness.workdir.WorkDir`, never through a link an implementation planted.

An interrupt (``KeyboardInterrupt``, or :class:`Interrupted` for ``SIGTERM``/``SIGHUP``)
ends the implementation at once and raises :class:`RunInterrupted` carrying every
result so far, the rest *not run* with the reason ``interrupted``.

A run succeeds (:func:`all_passed`) when every counted scenario passed, none was not run,
and each implementation was judged on at least one scenario (and on as many as
:func:`coverage_problems` is asked to demand): a testee that answers *not applicable* to
everything proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.adapters.base import Implementation
from harness.compare import Comparison, Difference, compare
from harness.deviations import Deviations
from harness.driver import run_scenario
from harness.golden import GOLDEN_DIR, golden_dirs
from harness.safe_text import shown
from harness.scenario import Scenario
from harness.workdir import WorkDir

PASSED = "passed"
FAILED = "failed"
EXPECTED_DEVIATION = "expected deviation"
UNEXPECTED_PASS = "unexpected pass"
NOT_APPLICABLE = "not applicable"
NOT_RUN = "not run"  # the implementation could not be loaded or started
INTERRUPTED = "interrupted"  # the reason of the scenarios an interrupt left not run
IN_PROCESS = "in process"  # the sandbox of an implementation that is not a process


class Interrupted(KeyboardInterrupt):
    """A signal (``SIGTERM``, ``SIGHUP``) asked the run to stop, as Ctrl-C does."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signum)
        self.signum = signum


class RunInterrupted(Exception):
    """The run was interrupted: ``results`` holds everything judged, the rest *not run*
    (:data:`INTERRUPTED`), and ``columns`` the implementations; ``signum`` the signal."""

    def __init__(self, results: list[ScenarioResult], columns: list[Column], signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.results = results
        self.columns = columns
        self.signum = signum


def signal_of(interrupt: BaseException) -> int:
    return getattr(interrupt, "signum", signal.SIGINT)


@dataclass
class ScenarioResult:
    scenario: str
    implementation: str
    status: str
    differences: list[Difference] = field(default_factory=list)
    failure: str | None = None
    reason: str | None = None  # the declared deviation's reason
    seconds: float = 0.0
    log: str = ""  # what the testee wrote to stderr during a scenario that did not pass
    pins: list[str] = field(default_factory=list)
    # What a declared relaxation accepted (docs/deviations.md): a scenario that passed
    # with any is a *relaxed* pass, counted apart in every report.
    relaxed: list[str] = field(default_factory=list)
    family: str = ""
    # Whether a not-applicable answer came in a family the implementation says it serves.
    served_family: bool = False
    sandbox: str = ""  # where the implementation ran (harness.adapters.confine)
    # Which legal outcome it matched, for a scenario that leaves an order open ("" else).
    alternative: str = ""

    def __post_init__(self) -> None:
        """Every text is made safe to show and to carry (pytest-xdist serialises results):
        what a testee sent cannot hold a lone surrogate or a control character here."""
        for name in ("scenario", "implementation", "status", "sandbox", "family", "alternative"):
            setattr(self, name, shown(getattr(self, name), multiline=False))
        for name in ("failure", "reason"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, shown(value))
        self.log = shown(self.log)
        self.pins = [shown(p, multiline=False) for p in self.pins]
        self.relaxed = [shown(r) for r in self.relaxed]
        self.differences = [
            Difference(
                shown(d.path, multiline=False), shown(d.kind, multiline=False), shown(d.explanation)
            )
            for d in self.differences
        ]

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, EXPECTED_DEVIATION)

    def to_json(self) -> dict[str, Any]:
        """Plain data (for pytest-xdist to carry from a worker to the controller)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioResult:
        fields = dict(data)
        fields["differences"] = [Difference(**d) for d in data.get("differences", [])]
        return cls(**fields)

    @property
    def relaxed_pass(self) -> bool:
        """Whether it passed only thanks to a declared relaxation."""
        return self.status == PASSED and bool(self.relaxed)

    @property
    def counted(self) -> bool:
        """Whether it counts as passed or failed (a not-applicable scenario is skipped; a
        scenario not run is neither, and fails the run: see :func:`all_passed`)."""
        return self.status not in (NOT_APPLICABLE, NOT_RUN)

    def headline(self, limit: int = 200) -> str:
        """The explanation's first line, at most ``limit`` characters: what a CI dashboard
        shows of a failure (JUnit's ``message``)."""
        first = next(iter(self.explanation().splitlines()), self.status)
        return first if len(first) <= limit else first[: limit - 3] + "..."

    def explanation(self) -> str:
        parts = []
        if self.failure:
            parts.append(f"implementation failure: {self.failure}")
        parts += [str(d) for d in self.differences]
        parts += [f"relaxed: {note}" for note in self.relaxed]
        if self.status == NOT_RUN:
            parts.append(f"not run: {self.reason}")
        if self.status == UNEXPECTED_PASS:
            parts.append(f"declared as a deviation ({self.reason}) but it matched the golden")
        if self.log:
            parts.append("testee stderr:\n" + self.log)
        return "\n".join(parts)


def all_passed(results: Iterable[ScenarioResult], min_served: Sequence[str] = ()) -> bool:
    """Whether a run succeeds: every counted scenario is ok, none was not run, and no
    coverage problem (:func:`coverage_problems`: each implementation judged on at least
    one scenario, and on what ``min_served`` demands)."""
    results = list(results)
    return (
        all(r.ok or not r.counted for r in results)
        and not any(r.status == NOT_RUN for r in results)
        and not coverage_problems(results, min_served)
    )


@dataclass(frozen=True)
class Demand:
    """One ``--min-served`` demand: at least ``count`` scenarios, or ``percent`` of them,
    served (judged, not *not applicable*), in ``family`` or in all."""

    text: str
    family: str | None = None
    count: int | None = None
    percent: float | None = None

    def unmet(self, served: int, selected: int) -> bool:
        if self.count is not None:
            return served < self.count
        assert self.percent is not None
        return served * 100 < self.percent * selected


def parse_demand(text: str) -> Demand:
    """``N``, ``P%``, ``FAMILY=N`` or ``FAMILY=P%``; ``ValueError`` naming what is wrong."""
    family, _, amount = text.rpartition("=")
    amount = amount.strip()
    try:
        if amount.endswith("%"):
            percent = float(amount[:-1])
            if not 0 <= percent <= 100:
                raise ValueError
            return Demand(text, family or None, percent=percent)
        count = int(amount)
        if count < 0:
            raise ValueError
        return Demand(text, family or None, count=count)
    except ValueError:
        raise ValueError(
            f"--min-served {text!r}: expected N, P% (0-100), FAMILY=N or FAMILY=P%"
        ) from None


def coverage_problems(
    results: Sequence[ScenarioResult], min_served: Sequence[str | Demand] = ()
) -> list[str]:
    """One line per implementation that was judged on no scenario at all (a run that
    checked nothing is no success), and per ``--min-served`` demand it does not meet."""
    demands = [d if isinstance(d, Demand) else parse_demand(d) for d in min_served]
    groups: dict[str, list[ScenarioResult]] = {}
    for r in results:
        groups.setdefault(r.implementation, []).append(r)
    problems = []
    for impl, rows in groups.items():
        if any(r.status == NOT_RUN for r in rows):
            continue  # reported as not run already
        served = [r for r in rows if r.counted]
        if not served:
            problems.append(
                f"{impl}: served 0 of {len(rows)} scenarios: nothing was checked "
                "(every scenario was not applicable)"
            )
            continue
        for demand in demands:
            pool = [r for r in rows if demand.family in (None, r.family)]
            done = sum(r.counted for r in pool)
            if demand.unmet(done, len(pool)):
                where = f" of family {demand.family}" if demand.family else ""
                problems.append(
                    f"{impl}: served {done} of {len(pool)} scenarios{where}, fewer than "
                    f"--min-served {demand.text} asks"
                )
    return problems


def not_run(
    scenarios: Iterable[Scenario], implementation: str, reason: str
) -> list[ScenarioResult]:
    """Every scenario of an implementation that could not be loaded or started."""
    return [
        ScenarioResult(
            scenario=s.id,
            implementation=implementation,
            status=NOT_RUN,
            reason=reason,
            pins=list(s.pins),
            family=s.family,
        )
        for s in scenarios
    ]


def _sandbox(impl: Implementation) -> str:
    return str(getattr(impl, "sandbox", IN_PROCESS))


def _serves(impl: Implementation, family: str) -> bool:
    """Whether ``impl`` says it serves ``family`` (false when it cannot say)."""
    try:
        return family in impl.capabilities().get("families", ())
    except Exception:
        return False


def judge(
    scenario: Scenario,
    impl: Implementation,
    out_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    label: str | None = None,
    root: WorkDir | Path | None = None,
    alternative: str | None = None,
) -> ScenarioResult:
    """Run ``scenario`` on ``impl`` and judge it; ``label`` names the implementation in the
    result (default ``impl.name``); ``root`` is the work directory ``out_dir`` lies in
    (default: its parent): nothing below it is followed through a link.

    A scenario that leaves an order open has several legal outcomes
    (:meth:`Scenario.alternatives`): the implementation passes with any one of them, and
    ``result.alternative`` says which. With ``alternative`` (a name of one), that order is
    forced in the scenario sent and the output is judged against that outcome alone (what
    certification does)."""
    name = label if label is not None else impl.name
    goldens = golden_dirs(scenario, golden_root)
    if alternative is not None:
        scenario = dict(scenario.alternatives())[alternative]
        goldens = [(n, d) for n, d in goldens if n == alternative]
    cannot_start = getattr(impl, "cannot_start", None)
    if cannot_start is not None:  # tried once already; not tried again
        return not_run([scenario], name, cannot_start)[0]
    start = time.perf_counter()
    work = root if isinstance(root, WorkDir) else WorkDir(root or Path(out_dir).parent)
    try:
        output = run_scenario(scenario, impl, out_dir, work)
        cannot_start = getattr(impl, "cannot_start", None)
        if cannot_start is not None:
            return not_run([scenario], name, cannot_start)[0]
        common = {
            "scenario": scenario.id,
            "implementation": name,
            "pins": list(scenario.pins),
            "family": scenario.family,
            "sandbox": _sandbox(impl),
        }
        if output.not_applicable is not None:
            return ScenarioResult(
                status=NOT_APPLICABLE,
                reason=output.not_applicable,
                seconds=time.perf_counter() - start,
                served_family=_serves(impl, scenario.family),
                **common,
            )
        deviations = deviations or Deviations()
        chosen, comparison = _closest(goldens, work, output.out_dir, deviations)
    finally:
        if work is not root:
            work.close()
    differences = comparison.differences
    if differences and len(goldens) > 1:
        differences = [
            Difference(
                ".",
                "outcome",
                f"matches none of the {len(goldens)} legal outcomes (the order is left "
                f"open); the differences below are from the closest, {chosen}",
            ),
            *differences,
        ]
    matched = output.failure is None and not differences
    reason = deviations.expected_to_fail(scenario.id)
    if reason is None:
        status = PASSED if matched else FAILED
    else:
        status = UNEXPECTED_PASS if matched else EXPECTED_DEVIATION
    stderr = getattr(impl, "scenario_stderr", None)
    return ScenarioResult(
        status=status,
        differences=differences,
        failure=output.failure,
        reason=reason,
        seconds=time.perf_counter() - start,
        log=stderr() if stderr is not None and status != PASSED else "",
        relaxed=[str(d) for d in comparison.relaxed],
        alternative=chosen if matched else "",
        **common,
    )


def _closest(
    goldens: Sequence[tuple[str, Path]], work: WorkDir, out: Path, deviations: Deviations
) -> tuple[str, Comparison]:
    """The legal outcome the output matches (its name and comparison), or else the one
    it differs from least."""
    found = [(name, _compare(golden, work, out, deviations)) for name, golden in goldens]
    for name, comparison in found:
        if not comparison.differences:
            return name, comparison
    return min(found, key=lambda pair: len(pair[1].differences))


def _compare(golden: Path, work: WorkDir, out: Path, deviations: Deviations) -> Comparison:
    """The output directory compared with its golden, read through a fd opened from the
    work directory (a link planted on its way is a difference, not followed)."""
    rel = out.relative_to(work.path).as_posix()
    try:
        fd = work.open_dir(rel)
    except (OSError, ValueError) as e:
        return Comparison([Difference(rel, "output", f"cannot be read safely: {e}")])
    try:
        return compare(golden, fd, deviations.relaxations)
    finally:
        os.close(fd)


def run_corpus(
    scenarios: Sequence[Scenario],
    impl: Implementation,
    work_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
    label: str | None = None,
    watch_root: Path | WorkDir | None = None,
) -> list[ScenarioResult]:
    """Every scenario on ``impl``, outputs under ``work_dir/<scenario id>/``. A testee
    watches all of ``watch_root`` (default ``work_dir``) for writes outside the scenario's
    ``files/``, and, confined, may write nowhere else. An interrupt raises
    :class:`RunInterrupted` with the results so far (the rest not run)."""
    root = watch_root if watch_root is not None else work_dir
    work = root if isinstance(root, WorkDir) else WorkDir(root)
    watch = getattr(impl, "watch", None)
    if watch is not None:
        watch(work.path)
    name = label
    results: list[ScenarioResult] = []
    try:
        for scenario in scenarios:
            result = judge(
                scenario, impl, work_dir / scenario.id, golden_root, deviations, label, work
            )
            name = result.implementation
            progress(result)
            results.append(result)
    except KeyboardInterrupt as e:
        _abort(impl)
        rest = scenarios[len(results) :]
        if name is None:
            name = results[0].implementation if results else str(impl.name)
        results += not_run(rest, name, INTERRUPTED)
        raise RunInterrupted(results, [], signal_of(e)) from None
    finally:
        if work is not root:
            work.close()
    return results


def judge_every_outcome(
    scenario: Scenario,
    impl: Implementation,
    out_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    root: WorkDir | Path | None = None,
) -> ScenarioResult:
    """Judge each legal outcome of ``scenario`` with its order forced (one judgement when
    it has one outcome): it passes only if every outcome matches its own golden, which
    certification asks of the original (``alternative`` lists them all)."""
    alternatives = scenario.alternatives()
    if not alternatives:
        return judge(scenario, impl, out_dir, golden_root, root=root)
    results = [
        judge(scenario, impl, out_dir / name, golden_root, root=root, alternative=name)
        for name, _ in alternatives
    ]
    bad = next((r for r in results if r.status != PASSED), None)
    if bad is not None:
        return bad
    result = results[0]
    result.alternative = ", ".join(name for name, _ in alternatives)
    result.seconds = sum(r.seconds for r in results)
    return result


def _abort(impl: Implementation) -> None:
    """End an implementation at once (an interrupted run): no goodbye."""
    with contextlib.suppress(Exception):
        getattr(impl, "abort", impl.close)()


# -- several implementations ----------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def dir_name(name: str) -> str:
    """``name`` as one safe path component: no separator, no ``..``, no leading dot, at
    most 64 characters (``../../etc`` -> ``etc``, ``/abs/x`` -> ``abs_x``)."""
    safe = _UNSAFE.sub("_", name).strip("._") or "implementation"
    return safe[:64]


@dataclass
class Column:
    """One implementation of a matrix run: its label in reports, its output directory,
    and why it did not run (if it did not)."""

    label: str
    out_dir: Path
    not_run: str | None = None


def run_matrix(
    specs: Sequence[str],
    make: Callable[[str], Implementation],
    scenarios: Sequence[Scenario],
    work: Path | WorkDir,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
) -> tuple[list[ScenarioResult], list[Column]]:
    """Every scenario on every implementation ``make(spec)`` builds, one after another.

    An implementation that cannot be made (``make`` raises, e.g. TensorFlow is not
    installed) or whose testee cannot start is one column of *not run* results with the
    reason; the others still run. Columns are labelled with the implementation's name,
    made distinct (``name``, ``name #2``, ...); ``deviations`` apply only to the
    implementation they name (:meth:`Deviations.applies_to`). An interrupt raises
    :class:`RunInterrupted` with every column's results (the rest *not run*).
    """
    results: list[ScenarioResult] = []
    columns: list[Column] = []
    labels: set[str] = set()
    dirs: set[str] = set()
    root = work if isinstance(work, WorkDir) else WorkDir(work)

    def column(name: str) -> Column:
        label, n = name, 1
        while label in labels or dir_name(label) in dirs:
            n += 1
            label = f"{name} #{n}"
        labels.add(label)
        dirs.add(dir_name(label))
        col = Column(label, root.path / dir_name(label))
        columns.append(col)
        return col

    try:
        for index, spec in enumerate(specs):
            try:
                results += _one_column(
                    spec, make, scenarios, root, golden_root, deviations, progress, column
                )
            except RunInterrupted as e:
                results += e.results
                for later in specs[index + 1 :]:
                    results += not_run(scenarios, column(later).label, INTERRUPTED)
                raise RunInterrupted(results, columns, e.signum) from None
    finally:
        if root is not work:
            root.close()
    return results, columns


def _one_column(
    spec: str,
    make: Callable[[str], Implementation],
    scenarios: Sequence[Scenario],
    root: WorkDir,
    golden_root: Path,
    deviations: Deviations | None,
    progress: Callable[[ScenarioResult], None],
    column: Callable[[str], Column],
) -> list[ScenarioResult]:
    try:
        impl = make(spec)
    except KeyboardInterrupt as e:
        raise RunInterrupted(
            not_run(scenarios, column(spec).label, INTERRUPTED), [], signal_of(e)
        ) from None
    except Exception as e:  # any reason it cannot load is reported, not raised
        col = column(spec)
        col.not_run = f"cannot load {spec!r}: {type(e).__name__}: {e}"
        return not_run(scenarios, col.label, col.not_run)
    try:
        watch = getattr(impl, "watch", None)
        if watch is not None:  # before its name starts it: a confined testee writes there
            watch(root.path)
        try:
            name = impl.name
        except KeyboardInterrupt as e:
            _abort(impl)
            raise RunInterrupted(
                not_run(scenarios, column(spec).label, INTERRUPTED), [], signal_of(e)
            ) from None
        col = column(name)
        mine = deviations if deviations is not None and deviations.applies_to(name) else None
        rows = run_corpus(
            scenarios,
            impl,
            col.out_dir,
            golden_root,
            mine,
            progress,
            label=col.label,
            watch_root=root,
        )
        col.not_run = getattr(impl, "cannot_start", None)
        return rows
    finally:
        impl.close()
