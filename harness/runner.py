"""Runs scenarios against implementations and judges each against its golden output.

:func:`judge` runs one scenario, :func:`run_corpus` a list of them on one implementation,
and :func:`run_matrix` a list on several implementations given as specs: an
implementation that cannot be loaded, or whose testee cannot start, gets every scenario
reported as *not run* with one reason, and the others still run. Each implementation's
outputs go to ``<work>/<dir_name(column)>/``: the name a testee reports is hostile input,
so it is made safe for a path, and two implementations reporting the same name get
distinct columns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.adapters.base import Implementation
from harness.compare import Difference, compare
from harness.deviations import Deviations
from harness.driver import run_scenario
from harness.golden import GOLDEN_DIR
from harness.scenario import Scenario

PASSED = "passed"
FAILED = "failed"
EXPECTED_DEVIATION = "expected deviation"
UNEXPECTED_PASS = "unexpected pass"
NOT_APPLICABLE = "not applicable"
NOT_RUN = "not run"  # the implementation could not be loaded or started


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


def all_passed(results: Iterable[ScenarioResult]) -> bool:
    """Whether a run succeeds: every counted scenario is ok and none was not run."""
    results = list(results)
    return all(r.ok or not r.counted for r in results) and not any(
        r.status == NOT_RUN for r in results
    )


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
        )
        for s in scenarios
    ]


def judge(
    scenario: Scenario,
    impl: Implementation,
    out_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    label: str | None = None,
) -> ScenarioResult:
    """Run ``scenario`` on ``impl`` and judge it; ``label`` names the implementation in the
    result (default ``impl.name``)."""
    name = label if label is not None else impl.name
    cannot_start = getattr(impl, "cannot_start", None)
    if cannot_start is not None:  # tried once already; not tried again
        return not_run([scenario], name, cannot_start)[0]
    start = time.perf_counter()
    output = run_scenario(scenario, impl, out_dir)
    cannot_start = getattr(impl, "cannot_start", None)
    if cannot_start is not None:
        return not_run([scenario], name, cannot_start)[0]
    if output.not_applicable is not None:
        return ScenarioResult(
            scenario=scenario.id,
            implementation=name,
            status=NOT_APPLICABLE,
            reason=output.not_applicable,
            seconds=time.perf_counter() - start,
            pins=list(scenario.pins),
        )
    deviations = deviations or Deviations()
    comparison = compare(golden_root / scenario.id, out_dir, deviations.relaxations)
    differences = comparison.differences
    matched = output.failure is None and not differences
    reason = deviations.expected_to_fail(scenario.id)
    if reason is None:
        status = PASSED if matched else FAILED
    else:
        status = UNEXPECTED_PASS if matched else EXPECTED_DEVIATION
    stderr = getattr(impl, "scenario_stderr", None)
    return ScenarioResult(
        scenario=scenario.id,
        implementation=name,
        status=status,
        differences=differences,
        failure=output.failure,
        reason=reason,
        seconds=time.perf_counter() - start,
        pins=list(scenario.pins),
        log=stderr() if stderr is not None and status != PASSED else "",
        relaxed=[str(d) for d in comparison.relaxed],
    )


def run_corpus(
    scenarios: Sequence[Scenario],
    impl: Implementation,
    work_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
    label: str | None = None,
    watch_root: Path | None = None,
) -> list[ScenarioResult]:
    """Every scenario on ``impl``, outputs under ``work_dir/<scenario id>/``. A testee
    watches all of ``watch_root`` (default ``work_dir``) for writes outside the scenario's
    ``files/``."""
    watch = getattr(impl, "watch", None)
    if watch is not None:
        watch(watch_root if watch_root is not None else work_dir)
    results = []
    for scenario in scenarios:
        result = judge(scenario, impl, work_dir / scenario.id, golden_root, deviations, label)
        progress(result)
        results.append(result)
    return results


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
    work: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
) -> tuple[list[ScenarioResult], list[Column]]:
    """Every scenario on every implementation ``make(spec)`` builds, one after another.

    An implementation that cannot be made (``make`` raises, e.g. TensorFlow is not
    installed) or whose testee cannot start is one column of *not run* results with the
    reason; the others still run. Columns are labelled with the implementation's name,
    made distinct (``name``, ``name #2``, ...); ``deviations`` apply only to the
    implementation they name (:meth:`Deviations.applies_to`).
    """
    results: list[ScenarioResult] = []
    columns: list[Column] = []
    labels: set[str] = set()
    dirs: set[str] = set()

    def column(name: str) -> Column:
        label, n = name, 1
        while label in labels or dir_name(label) in dirs:
            n += 1
            label = f"{name} #{n}"
        labels.add(label)
        dirs.add(dir_name(label))
        col = Column(label, work / dir_name(label))
        columns.append(col)
        return col

    for spec in specs:
        try:
            impl = make(spec)
        except Exception as e:  # any reason it cannot load is reported, not raised
            col = column(spec)
            col.not_run = f"cannot load {spec!r}: {type(e).__name__}: {e}"
            results += not_run(scenarios, col.label, col.not_run)
            continue
        try:
            name = impl.name
            col = column(name)
            mine = deviations if deviations is not None and deviations.applies_to(name) else None
            results += run_corpus(
                scenarios,
                impl,
                col.out_dir,
                golden_root,
                mine,
                progress,
                label=col.label,
                watch_root=work,
            )
            col.not_run = getattr(impl, "cannot_start", None)
        finally:
            impl.close()
    return results, columns
