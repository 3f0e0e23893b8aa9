"""Nox sessions: ``nox`` runs lint, protos and tests (Python 3.11)."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "protos", "tests"]

PYTHON = "3.11"
RUFF = "ruff==0.17.6"
GRPCIO_TOOLS = "grpcio-tools==1.85.1"
LINT_PATHS = ("reference", "harness", "tests", "tools", "noxfile.py")
# Makes tests/test_protos.py fail instead of skip when grpcio-tools is missing or mispinned.
REQUIRE_PROTOC = {"MONOLITH_PARITY_REQUIRE_PROTOC": "1"}


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and parity tests that need no TensorFlow."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "not tf", *session.posargs)


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
