"""pytest plugin: every scenario is one parametrized test with a readable id.

Load it with ``-p harness.pytest_plugin`` (tests/conftest.py does). A test asks for the
``parity_scenario`` fixture and gets one :class:`~harness.scenario.Scenario` per
parameter; ``parity_impl`` is the implementation under test (one per process, so one
per xdist worker). At the end the plugin prints the parity breakdown and, with
``--parity-html`` / ``--parity-junit``, writes the reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import checklist, report
from harness.deviations import Deviations, load_deviations
from harness.golden import GOLDEN_DIR, check_corpus
from harness.runner import ScenarioResult, judge
from harness.scenario import FIXTURES_DIR, Scenario, load_all

_RESULTS: list[ScenarioResult] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "Monolith hook parity")
    group.addoption("--impl", default="reference", help="'reference', 'tf' or a testee command")
    group.addoption("--deviations", default=None, help="declared deviations (JSON)")
    group.addoption("--parity-fixtures", default=str(FIXTURES_DIR), help="scenario directory")
    group.addoption("--parity-golden", default=str(GOLDEN_DIR), help="golden directory")
    group.addoption(
        "--parity-timeout", type=float, default=30.0, help="seconds a testee has for each reply"
    )
    group.addoption("--parity-html", default=None, help="write the HTML parity page here")
    group.addoption("--parity-junit", default=None, help="write the parity JUnit XML here")


def _scenarios(config: pytest.Config) -> list[Scenario]:
    cached = getattr(config, "_parity_scenarios", None)
    if cached is None:
        cached = load_all(config.getoption("--parity-fixtures"))
        config._parity_scenarios = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parity_scenario" in metafunc.fixturenames:
        scenarios = _scenarios(metafunc.config)
        metafunc.parametrize("parity_scenario", scenarios, ids=[s.id for s in scenarios])


@pytest.fixture(scope="session")
def parity_impl(request: pytest.FixtureRequest) -> Any:
    from harness.cli import make_implementation

    impl = make_implementation(
        request.config.getoption("--impl"), request.config.getoption("--parity-timeout")
    )
    yield impl
    impl.close()


@pytest.fixture(scope="session")
def parity_deviations(request: pytest.FixtureRequest) -> Deviations:
    return load_deviations(request.config.getoption("--deviations"), _scenarios(request.config))


@pytest.fixture(scope="session")
def parity_golden(request: pytest.FixtureRequest) -> Path:
    """The golden directory, checked against its manifest once per session (a corrupted
    golden errors every parity test with the corruption, instead of failing it)."""
    root = Path(request.config.getoption("--parity-golden"))
    check_corpus(root)
    return root


@pytest.fixture
def parity_judge(
    parity_impl: Any,
    parity_deviations: Deviations,
    parity_golden: Path,
    tmp_path: Path,
) -> Any:
    """Call with a scenario: runs it, records the result, returns it."""

    def run(scenario: Scenario) -> ScenarioResult:
        result = judge(scenario, parity_impl, tmp_path / "out", parity_golden, parity_deviations)
        _RESULTS.append(result)
        return result

    return run


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not _RESULTS:
        return
    terminalreporter.section("parity")
    for line in report.terminal(_RESULTS).splitlines():
        terminalreporter.write_line(line)
    html_path, junit = config.getoption("--parity-html"), config.getoption("--parity-junit")
    extra = ""
    if html_path:
        states = checklist.evaluate(
            _RESULTS, _scenarios(config), Path(config.getoption("--parity-golden"))
        )
        extra = checklist.render_html(states, _RESULTS[0].implementation)
    report.write_reports(
        _RESULTS,
        Path(junit) if junit else None,
        Path(html_path) if html_path else None,
        extra_html=extra,
    )
    for path in (html_path, junit):
        if path:
            terminalreporter.write_line(f"wrote {path}")
