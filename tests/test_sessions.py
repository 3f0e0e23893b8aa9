"""The nox sessions run on any Python >= 3.11 and tox.ini mirrors the ones it names.

noxfile.py is read with :mod:`ast` (the test environment has no nox) and tox.ini with
:mod:`configparser`, so a session pinned to one interpreter again, or a tox env that
drifts from its nox session (other paths, other pins, other options), fails here.
"""

from __future__ import annotations

import ast
import configparser
import shlex

from harness import paths

ROOT = paths.CHECKOUT_ROOT
NOXFILE = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
TOX = configparser.ConfigParser(interpolation=None)
TOX.read(ROOT / "tox.ini", encoding="utf-8")
MIRRORED = ("tests", "parity", "lint", "protos")


def _constant(name: str) -> object:
    for node in NOXFILE.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == name and node.value is not None:
            return ast.literal_eval(node.value)
    raise AssertionError(f"noxfile.py defines no {name}")


def _sessions() -> dict[str, ast.FunctionDef]:
    return {
        node.name: node
        for node in NOXFILE.body
        if isinstance(node, ast.FunctionDef)
        and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def _runs(session: ast.FunctionDef) -> list[list[str]]:
    """The literal arguments of each ``session.run(...)`` (names kept as their names)."""
    calls = []
    for node in ast.walk(session):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "session.run":
            args = []
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    args.append("*" + ast.unparse(arg.value))
                else:
                    args.append(arg.value if isinstance(arg, ast.Constant) else ast.unparse(arg))
            calls.append(args)
    return calls


def _tox_commands(env: str) -> list[list[str]]:
    text = TOX[f"testenv:{env}"]["commands"]
    return [
        shlex.split(line.replace("{posargs}", "*session.posargs"))
        for line in text.strip().splitlines()
    ]


def test_every_session_runs_on_the_interpreter_running_nox() -> None:
    assert _constant("PYTHON") is None
    for name, session in _sessions().items():
        (decorator,) = session.decorator_list
        assert ast.unparse(decorator) == "nox.session(python=PYTHON)", name
    source = ast.unparse(NOXFILE)
    assert "nox.options.error_on_missing_interpreters = True" in source


def test_tox_pins_no_interpreter_and_never_skips_a_missing_one() -> None:
    assert TOX["tox"]["skip_missing_interpreters"] == "false"
    for section in TOX.sections():
        assert "basepython" not in TOX[section], section
    assert TOX["tox"]["envlist"].replace(" ", "").split(",") == list(MIRRORED)
    assert set(MIRRORED) <= set(_sessions())


def test_tox_runs_what_each_nox_session_runs() -> None:
    sessions = _sessions()
    lint_paths = list(_constant("LINT_PATHS"))  # type: ignore[arg-type]
    assert _tox_commands("lint") == [
        ["ruff", "check", *lint_paths],
        ["ruff", "format", "--check", *lint_paths],
    ]
    assert (_runs(sessions["lint"])) == [
        ["ruff", "check", "*LINT_PATHS"],
        ["ruff", "format", "--check", "*LINT_PATHS"],
    ]
    assert TOX["testenv:lint"]["deps"] == _constant("RUFF")
    assert TOX["testenv:protos"]["deps"] == _constant("GRPCIO_TOOLS")
    assert TOX["testenv:protos"]["setenv"].split() == ["MONOLITH_PARITY_REQUIRE_PROTOC", "=", "1"]
    for env in ("tests", "parity", "protos"):
        assert _tox_commands(env) == [
            [a for a in run if not a.startswith("env=")] for run in _runs(sessions[env])
        ], env
