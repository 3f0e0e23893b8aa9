"""The package installs from its sdist/wheel and the installed CLI finds its own corpus.

Builds the sdist and, from it, the wheel (``python -m build``, as a release would), from a
copy of the checkout so the checkout gets no ``build/`` litter; checks both carry every
file of ``fixtures/`` and ``golden/``; installs the wheel into a fresh venv; and runs
``monolith-parity`` from an unrelated directory, with no checkout on any path. Needs the
package index (for the build backend and the dependencies), like every nox session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from harness import paths
from harness.scenario import NOT_CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = paths.CHECKOUT_ROOT
# What the copy leaves out at the top: tool state and earlier build output, dot entries
# among them (none of it is released). Only at the top: golden/ holds dirs named out/.
TOP_LEVEL_LITTER = frozenset({"build", "dist", "out", "venv", "env"})


def ignore(directory: str, names: list[str]) -> set[str]:
    if Path(directory) == ROOT:
        return {
            n
            for n in names
            if n in TOP_LEVEL_LITTER or n.startswith(".") or n.endswith(".egg-info")
        }
    return {n for n in names if n == "__pycache__"}


def corpus_files() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix()
        for name in (paths.FIXTURES, paths.GOLDEN)
        for p in (ROOT / name).rglob("*")
        if p.is_file()
    )


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """``(bin dir of the fresh venv, an unrelated cwd, the environment)``."""
    base = tmp_path_factory.mktemp("install")
    source, dist = base / "source", base / "dist"
    shutil.copytree(ROOT, source, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", paths.ENV_VAR)}
    built = run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], base, env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")

    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        in_sdist = sorted(
            m.name.removeprefix(top + "/")
            for m in tar.getmembers()
            if m.isfile() and m.name.startswith((f"{top}/fixtures/", f"{top}/golden/"))
        )
    assert in_sdist == corpus_files()
    with zipfile.ZipFile(wheel) as whl:
        in_wheel = sorted(
            n.removeprefix("harness/corpus/")
            for n in whl.namelist()
            if n.startswith("harness/corpus/") and not n.endswith("/")
        )
    assert in_wheel == corpus_files()

    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    pip = run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], base, env)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return bin_dir, elsewhere, env


def test_installed_package_uses_its_own_corpus(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_dir, cwd, env = installed
    probe = "import harness.paths as p; print(p.CORPUS_ROOT)"
    proc = run([str(bin_dir / "python"), "-c", probe], cwd, env)
    assert proc.returncode == 0, proc.stderr
    corpus = Path(proc.stdout.strip())
    assert corpus.name == "corpus" and corpus.parent.name == "harness"
    assert bin_dir.parent in corpus.parents  # inside the fresh venv, not the checkout


def test_installed_command_lists_the_corpus_from_anywhere(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_dir, cwd, env = installed
    proc = run([str(bin_dir / "monolith-parity"), "list"], cwd, env)
    assert proc.returncode == 0, proc.stderr
    ids = [line.split(":")[0].split(" [")[0] for line in proc.stdout.splitlines()]
    fixtures = ROOT / paths.FIXTURES
    expected = sorted(
        p.relative_to(fixtures).with_suffix("").as_posix()
        for p in fixtures.glob("*/*.json")
        if p.parent.name not in NOT_CORPUS  # the cluster tier's scenarios are not the corpus
    )
    assert sorted(ids) == expected


def test_installed_command_runs_a_scenario_from_anywhere(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_dir, cwd, env = installed
    proc = run([str(bin_dir / "monolith-parity"), "run", "-k", "slot_count/basic"], cwd, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stdout
    assert proc.stderr == ""  # it passed, so no outputs are kept
    assert list(cwd.iterdir()) == []


def test_installed_command_validates_deviations_with_its_own_schema(
    installed: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """The deviations schema is package data: an installed harness finds it."""
    bin_dir, cwd, env = installed
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"deviations": [{"relax": "protobuf-error-wording", "reason": "r"}]}')
    bad.write_text('{"deviations": [{"relax": "protobuf-error-wording"}]}')
    command = [str(bin_dir / "monolith-parity"), "run", "-k", "slot_count/basic", "--deviations"]
    proc = run([*command, str(good)], cwd, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stdout
    proc = run([*command, str(bad)], cwd, env)
    assert (proc.returncode, proc.stderr) == (
        2,
        f"error: {bad}: deviations[0]: needs a 'reason' string\n",
    )


def test_installed_command_does_not_regenerate_its_own_goldens(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    bin_dir, cwd, env = installed
    proc = run([str(bin_dir / "monolith-parity"), "regen"], cwd, env)
    assert proc.returncode == 2
    assert "is the installed package's copy of the goldens" in proc.stderr
    verify = run([str(bin_dir / "monolith-parity"), "verify"], cwd, env)
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.endswith(" 0 uncertified\ngolden corpus consistent\n"), verify.stdout
