"""Build hook: ships the corpus (``fixtures/`` and ``golden/``) inside the wheel.

The corpus stays at the top of the repository; the wheel build copies it into the
``harness/corpus/`` package directory, where :mod:`harness.paths` finds it after
``pip install``. Editable installs get no copy: they use the checkout's corpus directly.
Everything else about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
CORPUS = ("fixtures", "golden")


class BuildPyWithCorpus(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "harness" / "corpus"
        for name in CORPUS:
            dest = target / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / name, dest)


setup(cmdclass={"build_py": BuildPyWithCorpus})
