"""Nox sessions (Python 3.11). ``nox`` runs them all: lint, protos, tests, fast, parity, tf.

``nox -s parity`` is the main job: the scenario corpus against the reference (or, with
``-- --impl "CMD"``, against any testee), printing the parity report. Only ``tf``
installs TensorFlow.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "protos", "tests", "fast", "parity", "tf"]

PYTHON = "3.11"
RUFF = "ruff==0.17.6"
GRPCIO_TOOLS = "grpcio-tools==1.85.1"
LINT_PATHS = ("reference", "harness", "tests", "tools", "benchmarks", "noxfile.py")
# Makes tests/test_protos.py fail instead of skip when grpcio-tools is missing or mispinned.
REQUIRE_PROTOC = {"MONOLITH_PARITY_REQUIRE_PROTOC": "1"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and parity tests that need no TensorFlow."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not tf", *session.posargs)


@nox.session(python=PYTHON)
def fast(session: nox.Session) -> None:
    """The fast-path tests with the optional ``fast`` extra (numba) installed: the compiled
    loops give the same results as the numpy fallback that ``tests`` covers."""
    session.install("-e", ".[test,fast]")
    session.run("pytest", "tests/test_fast_paths.py", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check (generated *_pb2 files are excluded in pyproject.toml)."""
    session.install(RUFF)
    session.run("ruff", "check", *LINT_PATHS)
    session.run("ruff", "format", "--check", *LINT_PATHS)


@nox.session(python=PYTHON)
def protos(session: nox.Session) -> None:
    """Committed *_pb2.py/.pyi match a fresh grpcio-tools generation; wire tests pass."""
    session.install("-e", ".[test]", GRPCIO_TOOLS)
    session.run("python", "tools/gen_protos.py", "--check")
    session.run("pytest", "tests/test_protos.py", *session.posargs, env=REQUIRE_PROTOC)


@nox.session(python=PYTHON)
def parity(session: nox.Session) -> None:
    """The scenario corpus against an implementation (default: the in-process reference)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "tests/test_parity.py",
        "--parity-html=out/parity.html",
        "--parity-junit=out/parity-junit.xml",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def regen(session: nox.Session) -> None:
    """Rewrite golden/ from the reference (atomically), then verify the manifest."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "harness", "regen")
    session.run("python", "-m", "harness", "verify")


@nox.session(python=PYTHON)
def tf(session: nox.Session) -> None:
    """The TensorFlow tier: ported original tests, then the corpus under real TF sessions,
    then the reference-and-TF parity matrix (out/parity-matrix.html)."""
    session.install("-e", ".[test,tf]")
    session.run("pytest", "-m", "tf", "tests", *session.posargs)
    session.run(
        "pytest",
        "tests/test_parity.py",
        "--impl=tf",
        "--parity-html=out/parity-tf.html",
        "--parity-junit=out/parity-tf-junit.xml",
    )
    session.run(
        "python",
        "-m",
        "harness",
        "run",
        "--impl=reference",
        "--impl=tf",
        "--html=out/parity-matrix.html",
        "--junit=out/parity-matrix-junit.xml",
    )


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (not in the default run), with the ``fast`` extra (numba) installed so the
    compiled paths are measured next to the numpy ones. ``-- --tf`` also installs the
    TensorFlow tier to measure TF's methods side by side; ``-- --quick`` for a smoke run;
    ``-- --write-docs docs/performance.md`` refreshes the docs' tables from the run."""
    with_tf = "--tf" in session.posargs
    session.install("-e", ".[test,fast,tf]" if with_tf else ".[test,fast]")
    session.run("python", "benchmarks/bench_hooks.py", *session.posargs)
    quick = "--quick" in session.posargs
    session.run("python", "benchmarks/bench_protocol.py", *(["--rounds", "1"] if quick else []))


# The tests that depend on real time (docs/testing.md, "Timing tests").
STRESS_SELECTION = (
    "tests/harness/test_polling.py",
    "tests/unit/test_virtual_clock.py::test_sleeping_costs_no_real_time",
    "tests/unit/test_virtual_clock.py::"
    "test_a_thread_holding_its_turn_past_real_timeout_raises_hang_in_the_driver",
    "tests/unit/test_virtual_clock.py::"
    "test_shutdown_unwinds_threads_waiting_on_sleep_lock_event_and_join",
    "tests/adversarial/test_adv_realtime_action.py",
    "tests/protocol/test_protocol_faults.py",
)


@nox.session(python=PYTHON)
def stress(session: nox.Session) -> None:
    """The real-time tests 200 times in a row with the other core kept busy
    (``-- --runs N`` to change the count)."""
    session.install("-e", ".[test]")
    session.run("python", "tools/stress.py", *session.posargs, "--", *STRESS_SELECTION)
