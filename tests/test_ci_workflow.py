"""The port's CI workflow, ``examples/ci/parity.yml``, works: read as a GitHub Actions
workflow, and RUN, step by step, on this machine against the Rust example.

The ``run:`` steps are executed in order with bash (``-e -o pipefail``, as Actions runs
them) from a scratch directory standing in for the port's checkout, with the workflow's
placeholders replaced: ``PARITY_HARNESS`` by a copy of this checkout (so the install step
does a real ``pip install <path>`` into a fresh virtualenv), ``TESTEE_DIR``, ``TESTEE_BIN``
and ``DEVIATIONS`` by the Rust example's paths. Then the reports must be there and the run
must have passed with every scenario served. ``uses:`` steps (checkout, setup-python,
upload-artifact) are GitHub's and only checked for shape.

Running it builds the Rust example and installs the harness into a fresh virtualenv, so
it runs in ``nox -s rust`` (which sets ``MONOLITH_PARITY_CI_WORKFLOW=1`` after installing
what the build needs; there a missing prerequisite fails it) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
import venv
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import paths

ROOT = paths.CHECKOUT_ROOT
WORKFLOW = ROOT / "examples" / "ci" / "parity.yml"
RUST = ROOT / "examples" / "rust-testee"
DEBIAN_REGISTRY = Path("/usr/share/cargo/registry")
PLACEHOLDERS = ("PARITY_HARNESS", "TESTEE_DIR", "TESTEE_BIN", "DEVIATIONS")


def load_workflow() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as true
    return workflow


# -- the workflow's shape ----------------------------------------------------------------


def steps() -> list[dict[str, Any]]:
    (job,) = load_workflow()["jobs"].values()
    return list(job["steps"])


def test_the_placeholders_are_the_only_things_to_edit() -> None:
    workflow = load_workflow()
    assert tuple(workflow["env"]) == PLACEHOLDERS
    assert re.fullmatch(
        r"git\+https://github\.com/<org>/monolith-hook-parity@<tag>",
        workflow["env"]["PARITY_HARNESS"],
    )
    text = WORKFLOW.read_text(encoding="utf-8")
    marked = [line for line in text.splitlines() if "EDIT:" in line]
    assert len(marked) == len(PLACEHOLDERS)
    # Every run step reads the placeholders from the environment, never a literal path.
    for step in steps():
        if "run" in step:
            assert "${{" not in step["run"], step
            assert "testee/" not in step["run"], step


def test_the_run_writes_both_reports_demands_every_scenario_and_keeps_them() -> None:
    runs = [s["run"] for s in steps() if "run" in s]
    install = [r for r in runs if "pip install" in r]
    assert install == ['python3 -m pip install "$PARITY_HARNESS"']
    (corpus,) = [r for r in runs if r.startswith("monolith-parity run")]
    for option in (
        '--impl "$TESTEE_BIN"',
        '--deviations "$DEVIATIONS"',
        "--junit out/parity-junit.xml",
        "--html out/parity.html",
        "--min-served 100%",
    ):
        assert option in corpus
    (upload,) = [s for s in steps() if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"].rstrip("/") == "out"


# -- running it --------------------------------------------------------------------------


RUN_IT = "MONOLITH_PARITY_CI_WORKFLOW"


def _why_not_runnable() -> str | None:
    if shutil.which("cargo") is None:
        return "cargo not found: the Rust example cannot be built"
    if shutil.which("protoc") is None or not any(DEBIAN_REGISTRY.glob("prost-0.11*")):
        return (
            "protoc or Debian's crate sources missing (the Rust example builds offline from "
            "them): python3 -m nox -s rust installs them, or apt-get install -y "
            "librust-prost-dev librust-prost-build-dev librust-serde-json-dev "
            "librust-tokio-dev protobuf-compiler"
        )
    return None


def _copy_checkout(dest: Path) -> Path:
    """This checkout without tool state and build output (pip builds in the tree it is
    given: the copy keeps build/ and *.egg-info out of the checkout)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) == ROOT:  # only at the top: golden/ holds dirs named out/
            return {
                n
                for n in names
                if n.startswith(".")
                or n in ("build", "dist", "out", "venv", "env")
                or n.endswith(".egg-info")
            }
        if Path(directory) == RUST:
            return {"target"}
        return {n for n in names if n == "__pycache__"}

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _fresh_venv(where: Path) -> Path:
    """A virtualenv that also sees this interpreter's packages (so pip finds the
    harness's dependencies installed and downloads none of them); its bin dir."""
    venv.create(where, with_pip=True)
    bin_dir = where / "bin"
    purelib = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_path("purelib")
    Path(purelib, "_parent_env.pth").write_text(ours + "\n", encoding="utf-8")
    return bin_dir


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_workflow_runs_against_the_rust_example(tmp_path: Path) -> None:
    if os.environ.get(RUN_IT) != "1":
        pytest.skip(f"runs in nox -s rust (set {RUN_IT}=1 to run it here)")
    reason = _why_not_runnable()
    if reason:
        pytest.fail(reason)
    bin_dir = _fresh_venv(tmp_path / "venv")
    checkout = tmp_path / "port"  # the port's checkout: out/ lands here
    checkout.mkdir()
    shims = tmp_path / "shims"
    shims.mkdir()
    if shutil.which("sudo") is None and os.geteuid() == 0:
        (shims / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
        (shims / "sudo").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", paths.ENV_VAR)}
    env.update(
        PATH=os.pathsep.join([str(bin_dir), str(shims), env.get("PATH", "")]),
        VIRTUAL_ENV=str(bin_dir.parent),
        PARITY_HARNESS=str(_copy_checkout(tmp_path / "monolith-hook-parity")),
        TESTEE_DIR=str(RUST),
        TESTEE_BIN=str(RUST / "target" / "release" / "monolith-testee"),
        DEVIATIONS=str(RUST / "deviations.json"),
        # As nox -s rust builds it, so both share one build cache (no second build).
        RUSTFLAGS="-D warnings",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    outputs = []
    for step in steps():
        if "run" not in step:
            continue
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
        outputs.append(proc.stdout)
        assert proc.returncode == 0, (
            f"step {step.get('name')!r} exited {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    # The harness came from the fresh virtualenv, not from this interpreter's.
    assert (bin_dir / "monolith-parity").is_file()
    junit, html = checkout / "out" / "parity-junit.xml", checkout / "out" / "parity.html"
    assert junit.is_file() and html.is_file()
    summary = outputs[-1].strip().splitlines()[-1]
    # No "N not applicable" (--min-served 100% would have failed the step anyway).
    passed = re.fullmatch(r"rust-example: (\d+) passed, 0 failed", summary)
    assert passed, summary
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert suite.get("skipped") in ("0", None), "a scenario was not served"
    assert int(suite.get("tests", "0")) == int(passed.group(1)) > 100
    assert "rust-example" in html.read_text(encoding="utf-8")
