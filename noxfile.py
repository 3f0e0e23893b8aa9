"""Nox sessions, on the interpreter that runs nox (any Python >= 3.11). ``nox`` runs lint,
protos, tests, fast, parity, tf, original (skipped, saying so, without a Monolith
checkout), cluster (the hooks in a real multi-process TF cluster; its original half
skipped without a checkout) and rust (skipped without cargo).
``nox -s mutants`` (mutation testing: docs/mutation.md says how long it took) runs only
when asked.

``nox -s parity`` is the main job: the scenario corpus against the reference (or, with
``-- --impl "CMD"``, against any testee), printing the parity report. Only ``tf``
installs TensorFlow; ``rust`` needs ``cargo`` on PATH (it skips, saying so, without).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = [
    "lint",
    "protos",
    "tests",
    "fast",
    "parity",
    "tf",
    "original",
    "cluster",
    "rust",
]

# Every session runs on the interpreter that runs nox (``python3 -m nox``: any Python
# >= 3.11), so no interpreter can be missing and a session never skips for want of one;
# ``nox --force-python 3.13`` picks another, and one that is not there is an error.
PYTHON: str | None = None
nox.options.error_on_missing_interpreters = True
if sys.version_info < (3, 11):  # noqa: UP036 (nox itself may run on an older one)
    raise SystemExit(
        f"monolith-hook-parity needs Python >= 3.11; nox runs on {sys.version.split()[0]} "
        "(run it with a newer python3: python3.11 -m nox)"
    )
RUFF = "ruff==0.17.6"
GRPCIO_TOOLS = "grpcio-tools==1.85.1"
MUTMUT = "mutmut==3.8.1"
LINT_PATHS = (
    "reference",
    "harness",
    "testee_protocol",
    "tests",
    "tools",
    "benchmarks",
    "noxfile.py",
    "setup.py",
)
# Makes tests/test_protos.py fail instead of skip when grpcio-tools is missing or mispinned.
REQUIRE_PROTOC = {"MONOLITH_PARITY_REQUIRE_PROTOC": "1"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and parity tests that need no TensorFlow."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not tf", *session.posargs)


@nox.session(python=PYTHON)
def fast(session: nox.Session) -> None:
    """The fast-path tests and the parity corpus with the optional ``fast`` extra (numba)
    installed: the compiled loops (slot counting, the table's one-pass merge) give the same
    results as the numpy fallback that ``tests`` covers, and the corpus's million-fid table
    is counted by them."""
    session.install("-e", ".[test,fast]")
    session.run(
        "pytest",
        "tests/test_fast_paths.py",
        "tests/test_table_paths.py",
        "tests/test_parity.py",
        *session.posargs,
    )


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
def fuzz(session: nox.Session) -> None:
    """Differential fuzzing against a testee (not in the default run):
    ``nox -s fuzz -- --impl CMD --seconds 60 [--save out/fuzz]`` (docs/fuzzing.md)."""
    if not any(a == "--impl" or a.startswith("--impl=") for a in session.posargs):
        session.error('name the testee: nox -s fuzz -- --impl "CMD" [--seconds N]')
    session.install("-e", ".[test,fuzz]")
    session.run("python", "-m", "harness", "fuzz", *session.posargs)


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


RUST_TESTEE = Path("examples/rust-testee")
# The Rust example builds offline from Debian 12's crate sources: its .cargo/config.toml
# replaces crates.io with the directory registry these packages fill, and prost-build
# needs protoc.
RUST_APT_PACKAGES = (
    "librust-prost-dev",
    "librust-prost-build-dev",
    "librust-serde-json-dev",
    "librust-tokio-dev",
    "protobuf-compiler",
)
DEBIAN_CARGO_REGISTRY = Path("/usr/share/cargo/registry")
RUST_CRATES = ("prost-0.11", "prost-build-0.11", "serde-1.", "serde_json-1.", "tokio-1.")


def _rust_missing() -> list[str]:
    """What the offline build of the Rust example lacks (crate sources, protoc)."""
    registry = DEBIAN_CARGO_REGISTRY
    have = [p.name for p in registry.iterdir()] if registry.is_dir() else []
    missing = [c.rstrip(".-") for c in RUST_CRATES if not any(n.startswith(c) for n in have)]
    if shutil.which("protoc") is None:
        missing.append("protoc")
    return missing


def _rust_prerequisites(session: nox.Session) -> None:
    """Installs the Debian packages the offline build needs (as root with apt-get), or
    stops saying exactly what to install."""
    missing = _rust_missing()
    if not missing:
        return
    install = " ".join(RUST_APT_PACKAGES)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        session.log(f"missing {', '.join(missing)}: installing {install}")
        session.run("apt-get", "update", "-q", external=True)
        session.run("apt-get", "install", "-y", "-q", *RUST_APT_PACKAGES, external=True)
        missing = _rust_missing()
    if missing:
        session.error(
            f"the Rust example builds offline from Debian's crate sources and needs protoc; "
            f"missing {', '.join(missing)}. Install them with: sudo apt-get install -y {install}"
        )


@nox.session(python=PYTHON)
def rust(session: nox.Session) -> None:
    """The Rust example testee (examples/rust-testee/, the template of a Rust port on
    prost, serde_json and tokio): its Debian crate sources installed if missing (as root),
    built offline with warnings as errors, its unit tests, then the corpus against it with
    every scenario served (--min-served 100%: a not-applicable scenario fails the session;
    out/parity-rust.html, out/parity-rust-junit.xml), then the example CI workflow
    (examples/ci/parity.yml) run against it. ``-- -k PATTERN`` narrows the corpus.
    Skipped without cargo."""
    if shutil.which("cargo") is None:
        session.skip("cargo not found: the Rust example testee is not built")
    _rust_prerequisites(session)
    session.install("-e", ".[test]")
    root = Path.cwd()
    # Cargo reads the example's .cargo/config.toml (the offline registry) from its working
    # directory. One RUSTFLAGS for both commands, so they share the build cache.
    cargo_env = {"RUSTFLAGS": "-D warnings"}
    session.chdir(RUST_TESTEE)
    try:
        session.run("cargo", "build", "--release", "--offline", external=True, env=cargo_env)
        session.run("cargo", "test", "--offline", external=True, env=cargo_env)
    finally:
        session.chdir(root)
    binary = (RUST_TESTEE / "target" / "release" / "monolith-testee").resolve()
    session.run(
        "python",
        "-m",
        "harness",
        "run",
        "--impl",
        str(binary),
        "--deviations",
        str(RUST_TESTEE / "deviations.json"),
        "--min-served",
        "100%",
        "--html",
        "out/parity-rust.html",
        "--junit",
        "out/parity-rust-junit.xml",
        *session.posargs,
    )
    # The port's CI workflow (examples/ci/parity.yml), run step by step against it.
    session.run("pytest", "tests/test_ci_workflow.py", env={"MONOLITH_PARITY_CI_WORKFLOW": "1"})


def _monolith_args(posargs: list[str]) -> tuple[list[str], list[str]]:
    """(--monolith / --monolith-commit options, the rest) from the session's posargs,
    falling back to $MONOLITH_CHECKOUT / $MONOLITH_COMMIT."""
    mine, rest, args = [], [], list(posargs)
    while args:
        arg = args.pop(0)
        if arg in ("--monolith", "--monolith-commit") and args:
            mine += [arg, args.pop(0)]
        elif arg.startswith(("--monolith=", "--monolith-commit=")):
            mine.append(arg)
        else:
            rest.append(arg)
    named = any(a.startswith("--monolith") and "commit" not in a for a in mine)
    if not named and os.environ.get("MONOLITH_CHECKOUT"):
        mine += ["--monolith", os.environ["MONOLITH_CHECKOUT"]]
        if os.environ.get("MONOLITH_COMMIT"):
            mine += ["--monolith-commit", os.environ["MONOLITH_COMMIT"]]
    return mine, rest


@nox.session(python=PYTHON)
def original(session: nox.Session) -> None:
    """The corpus on the ORIGINAL Monolith hooks (``-- --monolith DIR [--monolith-commit
    C]``, or $MONOLITH_CHECKOUT), then the reference-and-original matrix. Skipped, before
    installing anything, when no checkout is named (CI has none)."""
    monolith, rest = _monolith_args(session.posargs)
    if not monolith:
        session.skip("no Monolith checkout: pass -- --monolith DIR (or set $MONOLITH_CHECKOUT)")
    session.install("-e", ".[test,tf]")
    session.run(
        "pytest",
        "tests/test_parity.py",
        "--impl=original",
        *monolith,
        "--parity-html=out/parity-original.html",
        "--parity-junit=out/parity-original-junit.xml",
        *rest,
    )
    session.run("python", "-m", "harness", *monolith, "verify")


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """The hooks in a real multi-process TensorFlow cluster on loopback (docs/cluster.md):
    every task of each scenario in fixtures/cluster/ its own process. Its process-hygiene
    tests, then the scenarios on the TF tier, and on the ORIGINAL hooks too with ``--
    --monolith DIR [--monolith-commit C]`` (or $MONOLITH_CHECKOUT; without one that half
    is skipped, saying so). Other arguments go to ``python -m harness.cluster`` (``-k``)."""
    monolith, rest = _monolith_args(session.posargs)
    session.install("-e", ".[test,tf]")
    session.run("pytest", "-m", "tf", "tests/cluster", env={**QUIET_TF, **CLUSTER_TESTS})
    session.run("python", "-m", "harness.cluster", *monolith, *rest, env=QUIET_TF)


# TensorFlow's C++ logging (one line per session it creates) drowns a fuzz run's output.
QUIET_TF = {"TF_CPP_MIN_LOG_LEVEL": "2"}
# Lets tests/cluster's real-cluster tests run (the tf session skips them: they are here).
CLUSTER_TESTS = {"MONOLITH_PARITY_CLUSTER": "1"}


@nox.session(python=PYTHON)
def fuzz_original(session: nox.Session) -> None:
    """Differential fuzzing of the reference against the ORIGINAL Monolith hooks (not in
    the default run): ``-- --monolith DIR [--monolith-commit C] [--seconds N] [--seed S]
    [fuzz options]``. Generated scenarios of every family run on the original tier (the
    judge) and on the reference; a divergence is shrunk and saved, with the original's
    outputs as its golden, under ``out/fuzz-original/`` (docs/fuzzing.md). Skipped, before
    installing anything, without a checkout."""
    monolith, rest = _monolith_args(session.posargs)
    if not monolith:
        session.skip("no Monolith checkout: pass -- --monolith DIR (or set $MONOLITH_CHECKOUT)")
    session.install("-e", ".[test,tf,fuzz]")
    defaults = {
        "--seconds": "600",
        "--save": "out/fuzz-original",
        "--work": ".parity-fuzz-original",
    }
    extra = [x for k, v in defaults.items() if not _given(rest, k) for x in (k, v)]
    session.run(
        "python",
        "-m",
        "harness",
        *monolith,
        "fuzz",
        "--impl",
        "reference",
        "--against",
        "original",
        "--keep-going",
        *extra,
        *rest,
        env=QUIET_TF,
    )


def _given(args: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in args)


@nox.session(python=PYTHON)
def certify(session: nox.Session) -> None:
    """Run the corpus on the original hooks and rewrite golden/CERTIFICATE.json
    (``-- --monolith DIR [--monolith-commit C] [--repeat N]``)."""
    monolith, rest = _monolith_args(session.posargs)
    if not monolith:
        session.error("no Monolith checkout: pass -- --monolith DIR (or set $MONOLITH_CHECKOUT)")
    session.install("-e", ".[test,tf]")
    session.run("python", "-m", "harness", *monolith, "certify", *rest)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (not in the default run), with the ``fast`` extra (numba) installed so the
    compiled paths are measured next to the numpy ones. ``-- --tf`` also installs the
    TensorFlow tier to measure TF's methods side by side; ``-- --quick`` for a smoke run;
    ``-- --write-docs docs/performance.md`` refreshes the docs' tables from the run."""
    args = session.posargs
    with_tf, quick = "--tf" in args, "--quick" in args
    session.install("-e", ".[test,fast,tf]" if with_tf else ".[test,fast]")
    session.run("python", "benchmarks/bench_hooks.py", *args)
    # The harness's table is refreshed with the main run's (a --tf run writes only its block).
    docs = args[args.index("--write-docs") :][:2] if "--write-docs" in args else []
    session.run("python", "benchmarks/bench_protocol.py", *(["--rounds", "1"] if quick else []))
    session.run(
        "python",
        "benchmarks/bench_harness.py",
        *(["--quick"] if quick else []),
        *([] if with_tf else docs),
    )


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


@nox.session(python=PYTHON)
def mutants(session: nox.Session) -> None:
    """Mutation testing of the hook modules with the parity corpus as the killing test
    (docs/mutation.md, which says how long it takes; not in the default run).
    Prints the score and every surviving mutant with its classification; fails on an
    unclassified one.
    ``-- NAME...`` runs only those mutants (mutmut's names, or globs)."""
    session.install("-e", ".[test]", MUTMUT)
    # A fresh run each time: mutmut's cached test mapping would not know new scenarios.
    shutil.rmtree("mutants", ignore_errors=True)
    session.run("mutmut", "run", *session.posargs)
    session.run("python", "tools/mutation_report.py")
