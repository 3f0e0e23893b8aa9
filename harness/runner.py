"""Runs scenarios against an implementation and judges each against its golden output."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters.base import Implementation
from harness.compare import Difference, compare_output
from harness.deviations import Deviations
from harness.driver import run_scenario
from harness.golden import GOLDEN_DIR
from harness.scenario import Scenario

PASSED = "passed"
FAILED = "failed"
EXPECTED_DEVIATION = "expected deviation"
UNEXPECTED_PASS = "unexpected pass"
NOT_APPLICABLE = "not applicable"


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

    @property
    def ok(self) -> bool:
        return self.status in (PASSED, EXPECTED_DEVIATION)

    @property
    def counted(self) -> bool:
        """Whether it counts as passed or failed (a not-applicable scenario is skipped)."""
        return self.status != NOT_APPLICABLE

    def explanation(self) -> str:
        parts = []
        if self.failure:
            parts.append(f"implementation failure: {self.failure}")
        parts += [str(d) for d in self.differences]
        if self.status == UNEXPECTED_PASS:
            parts.append(f"declared as a deviation ({self.reason}) but it matched the golden")
        if self.log:
            parts.append("testee stderr:\n" + self.log)
        return "\n".join(parts)


def judge(
    scenario: Scenario,
    impl: Implementation,
    out_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
) -> ScenarioResult:
    start = time.perf_counter()
    output = run_scenario(scenario, impl, out_dir)
    if output.not_applicable is not None:
        return ScenarioResult(
            scenario=scenario.id,
            implementation=impl.name,
            status=NOT_APPLICABLE,
            reason=output.not_applicable,
            seconds=time.perf_counter() - start,
            pins=list(scenario.pins),
        )
    differences = compare_output(golden_root / scenario.id, out_dir)
    matched = output.failure is None and not differences
    reason = (deviations or Deviations()).expected_to_fail(scenario.id)
    if reason is None:
        status = PASSED if matched else FAILED
    else:
        status = UNEXPECTED_PASS if matched else EXPECTED_DEVIATION
    stderr = getattr(impl, "scenario_stderr", None)
    return ScenarioResult(
        scenario=scenario.id,
        implementation=impl.name,
        status=status,
        differences=differences,
        failure=output.failure,
        reason=reason,
        seconds=time.perf_counter() - start,
        pins=list(scenario.pins),
        log=stderr() if stderr is not None and status != PASSED else "",
    )


def run_corpus(
    scenarios: Sequence[Scenario],
    impl: Implementation,
    work_dir: Path,
    golden_root: Path = GOLDEN_DIR,
    deviations: Deviations | None = None,
    progress: Callable[[ScenarioResult], None] = lambda _: None,
) -> list[ScenarioResult]:
    results = []
    for scenario in scenarios:
        result = judge(scenario, impl, work_dir / scenario.id, golden_root, deviations)
        progress(result)
        results.append(result)
    return results
