"""pytest plugin: every scenario is one parametrized test with a readable id.

Load it with ``-p harness.pytest_plugin`` (tests/conftest.py does). A test asks for the
``parity_scenario`` fixture and gets one :class:`~harness.scenario.Scenario` per
parameter; ``parity_impl`` is the implementation under test (one per process, so one
per xdist worker); ``parity_judge`` runs a scenario on it and records the result. At the
end the plugin prints one summary line per implementation (:func:`harness.report.
summary_line`) and, with ``--parity-html`` / ``--parity-junit``, writes the reports.

Run-wide state lives in ``config.stash``, never in module globals. Under pytest-xdist each
worker records its results on its test reports (the ``parity_result`` attribute, plain
data that xdist carries to the controller like any report field); the controller (or the
single process of a serial run) collects them from ``pytest_runtest_logreport`` -- the
way pytest's own ``junitxml.py`` merges workers -- and only it prints and writes reports,
sorted, so ``-n 2`` writes the same reports as a serial run.

Every parity test gets a ``pytest.mark.timeout`` (when pytest-timeout is installed) above
the harness's own bound for that scenario (:func:`harness.protocol.scenario_bound`), so the
protocol's deadlines govern, not pytest's fixed default.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness import checklist, protocol, report
from harness.adapters import confine
from harness.deviations import Deviations, load_deviations
from harness.golden import GOLDEN_DIR, check_corpus
from harness.protocol import seconds_argument
from harness.runner import Demand, ScenarioResult, coverage_problems, judge, parse_demand
from harness.scenario import FIXTURES_DIR, Scenario, load_all, load_overlay
from harness.workdir import WorkDir

RESULTS = pytest.StashKey[list[ScenarioResult]]()
PROBLEMS = pytest.StashKey[list[str]]()
SCENARIOS = pytest.StashKey[list[Scenario]]()
ITEM_RESULT = pytest.StashKey[ScenarioResult]()
REPORT_FIELD = "parity_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "Monolith hook parity")
    group.addoption(
        "--impl",
        default="reference",
        help="'reference', 'tf', 'original' (needs --monolith) or a testee command",
    )
    group.addoption(
        "--monolith",
        default=None,
        help="Monolith checkout for --impl original (work tree, or git dir + --monolith-commit)",
    )
    group.addoption("--monolith-commit", default=None, help="commit to read from a git dir")
    group.addoption("--deviations", default=None, help="declared deviations (JSON)")
    group.addoption("--parity-fixtures", default=str(FIXTURES_DIR), help="scenario directory")
    group.addoption("--parity-golden", default=str(GOLDEN_DIR), help="golden directory")
    group.addoption(
        "--parity-overlay",
        default=None,
        help="a port's own scenarios: DIR/fixtures/<family>/*.json with goldens in DIR/golden/",
    )
    group.addoption(
        "--parity-timeout",
        type=seconds_argument,
        default=30.0,
        help="seconds a testee has for each reply (finite, above 0)",
    )
    group.addoption(
        "--parity-sandbox",
        choices=confine.MODES,
        default="auto",
        help="where a testee runs: bwrap, none, or auto (bwrap when it works here)",
    )
    group.addoption(
        "--parity-min-served",
        action="append",
        type=_demand,
        default=[],
        metavar="N|P%|FAMILY=N|FAMILY=P%",
        help="fail unless the implementation served at least this many scenarios "
        "(repeatable); without it, serving none fails the session",
    )
    group.addoption("--parity-html", default=None, help="write the HTML parity page here")
    group.addoption("--parity-junit", default=None, help="write the parity JUnit XML here")


def _demand(text: str) -> Demand:
    try:
        return parse_demand(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def xdist_worker(config: pytest.Config | None = None) -> str:
    """This process's pytest-xdist worker id (``gw0``, ``gw1``, ...) or ``main``."""
    if config is not None and is_xdist_worker(config):
        return str(config.workerinput["workerid"])  # type: ignore[attr-defined]
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_testee(
    argv: Sequence[str], base_dir: str | os.PathLike[str], **kwargs: Any
) -> tuple[Any, Path]:
    """A :class:`~harness.adapters.subprocess_testee.SubprocessTestee` and a fresh output
    directory ``<base_dir>/<worker>/`` for this xdist worker, which the testee watches for
    escapes. Each worker drives its own testee and writes under its own directory, so
    workers share nothing. The caller closes the testee."""
    from harness.adapters.subprocess_testee import SubprocessTestee

    work = Path(base_dir) / xdist_worker()
    work.mkdir(parents=True, exist_ok=True)
    testee = SubprocessTestee(argv, **kwargs)
    testee.watch(work)
    return testee, work


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = []
    # The original tier reads its checkout from the environment (as the CLI sets it).
    for option, env in (
        ("--monolith", "MONOLITH_CHECKOUT"),
        ("--monolith-commit", "MONOLITH_COMMIT"),
    ):
        value = config.getoption(option, default=None)
        if value:
            os.environ[env] = value


def _scenarios(config: pytest.Config) -> list[Scenario]:
    if SCENARIOS not in config.stash:
        shipped = load_all(config.getoption("--parity-fixtures"))
        overlay = config.getoption("--parity-overlay")
        config.stash[SCENARIOS] = shipped + (load_overlay(overlay, shipped) if overlay else [])
    return config.stash[SCENARIOS]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parity_scenario" not in metafunc.fixturenames:
        return
    config = metafunc.config
    timed = config.pluginmanager.hasplugin("timeout")
    per_reply = config.getoption("--parity-timeout")
    params = [
        pytest.param(
            s,
            id=s.id,
            marks=[pytest.mark.timeout(protocol.scenario_bound(s.steps, per_reply))]
            if timed
            else [],
        )
        for s in _scenarios(config)
    ]
    metafunc.parametrize("parity_scenario", params)


class Unloadable:
    """Stands in for an implementation that could not be made (``--impl tf`` without
    TensorFlow): every scenario is judged *not run* with the one reason."""

    def __init__(self, spec: str, error: Exception) -> None:
        self.name = spec
        self.cannot_start = f"cannot load {spec!r}: {type(error).__name__}: {error}"

    def close(self) -> None:
        pass


@pytest.fixture(scope="session")
def parity_work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkDir]:
    """The session's work directory (one per xdist worker): every scenario's outputs go
    to ``<work>/<scenario id>/``; a confined testee may write nowhere else."""
    work = WorkDir(tmp_path_factory.mktemp("parity-work"))
    work.lock()
    yield work
    work.close()


@pytest.fixture(scope="session")
def parity_impl(request: pytest.FixtureRequest, parity_work: WorkDir) -> Iterator[Any]:
    from harness.implementations import make_implementation

    spec = request.config.getoption("--impl")
    try:
        impl = make_implementation(
            spec,
            request.config.getoption("--parity-timeout"),
            request.config.getoption("--parity-sandbox"),
        )
        watch = getattr(impl, "watch", None)
        if watch is not None:  # before anything starts it: where it may write
            watch(parity_work.path)
    except Exception as e:  # reported once per scenario as 'not run', with this reason
        impl = Unloadable(spec, e)
    yield impl
    impl.close()


@pytest.fixture(scope="session")
def parity_deviations(request: pytest.FixtureRequest, parity_impl: Any) -> Deviations:
    """The declared deviations, if they are declared for this implementation."""
    devs = load_deviations(request.config.getoption("--deviations"), _scenarios(request.config))
    return devs if devs.applies_to(parity_impl.name) else Deviations()


@pytest.fixture(scope="session")
def parity_golden(request: pytest.FixtureRequest) -> Path:
    """The golden directory, checked against its manifest once per session (a corrupted
    golden errors every parity test with the corruption, instead of failing it)."""
    root = Path(request.config.getoption("--parity-golden"))
    check_corpus(root)
    overlay = request.config.getoption("--parity-overlay")
    if overlay:  # a port's own goldens, beside its scenarios
        check_corpus(Path(overlay) / "golden")
    return root


@pytest.fixture
def parity_judge(
    request: pytest.FixtureRequest,
    parity_impl: Any,
    parity_deviations: Deviations,
    parity_golden: Path,
    parity_work: WorkDir,
) -> Any:
    """Call with a scenario: runs it (outputs in ``<session work>/<scenario id>/``),
    records the result, returns it."""

    def run(scenario: Scenario) -> ScenarioResult:
        result = judge(
            scenario,
            parity_impl,
            parity_work.path / scenario.id,
            parity_golden,
            parity_deviations,
            root=parity_work,
        )
        request.node.stash[ITEM_RESULT] = result
        return result

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if rep.when == "call" and ITEM_RESULT in item.stash:
        setattr(rep, REPORT_FIELD, item.stash[ITEM_RESULT].to_json())
    return rep


class _Collector:
    """Collects the results carried by test reports (in the controller, or serially)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = getattr(report, REPORT_FIELD, None)
        if data is not None and not is_xdist_worker(self.config):
            self.config.stash[RESULTS].append(ScenarioResult.from_json(data))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.pluginmanager.register(_Collector(session.config), "parity-collector")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A session whose implementation served no scenario (or fewer than
    ``--parity-min-served`` asks) fails, whatever its tests did: skipped tests alone are
    no proof of parity."""
    config = session.config
    if is_xdist_worker(config):
        return
    results = config.stash.get(RESULTS, [])
    problems = coverage_problems(results, config.getoption("--parity-min-served") or ())
    config.stash[PROBLEMS] = problems
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = report.sort_results(config.stash.get(RESULTS, []))
    if not results or is_xdist_worker(config):
        return
    terminalreporter.section("parity")
    problems = config.stash.get(PROBLEMS, [])
    try:
        devs = load_deviations(config.getoption("--deviations"), _scenarios(config))
    except Exception:  # reported where the fixture loads it
        devs = Deviations()
    notes = devs.unmatched(list(report.by_implementation(results)), [r.scenario for r in results])
    for line in notes:
        terminalreporter.write_line(line, yellow=True)
    for line in report.terminal(results, problems=problems).splitlines():
        terminalreporter.write_line(line, red=line in problems)
    html_path, junit = config.getoption("--parity-html"), config.getoption("--parity-junit")
    extra = ""
    if html_path:
        for impl, rows in report.by_implementation(results).items():
            states = checklist.evaluate(
                rows, _scenarios(config), Path(config.getoption("--parity-golden"))
            )
            extra += checklist.render_html(states, impl)
    errors = report.write_reports(
        results,
        Path(junit) if junit else None,
        Path(html_path) if html_path else None,
        extra_html=extra,
        junit_option="--parity-junit",
        html_option="--parity-html",
        descriptions={s.id: s.description for s in _scenarios(config)},
        details=report.run_details(
            [config.getoption("--impl")],
            len({r.scenario for r in results}),
            Path(config.getoption("--parity-golden")),
        ),
    )
    for line in errors:
        terminalreporter.write_line(line, red=True)
    for option, path in (("--parity-html", html_path), ("--parity-junit", junit)):
        if path and not any(e.startswith(f"cannot write {option} ") for e in errors):
            terminalreporter.write_line(f"wrote {path}")
