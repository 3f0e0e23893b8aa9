"""Run the parity suite in a child pytest, as a user runs it, to check what the plugin prints.

Import as ``from parity_subprocess import run_parity_suite`` (``tests/`` is on ``sys.path``
through ``tests/conftest.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_parity_suite(
    select: str, basetemp: Path, *extra: str, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    """``python -m pytest tests/test_parity.py -k SELECT -q`` from the checkout's root, without
    the cache plugin, with its own ``--basetemp`` and the ``extra`` options; output captured,
    killed after ``timeout`` seconds."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_parity.py",
            "-k",
            select,
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={basetemp}",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
