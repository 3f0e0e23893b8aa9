"""Where the corpus is: the scenario directory (``fixtures/``) and the goldens (``golden/``).

A *corpus directory* holds ``fixtures/`` and ``golden/`` side by side. The one in use is,
in this order:

1. the directory named by the environment variable ``MONOLITH_PARITY_CORPUS`` (the CLI's
   ``--corpus DIR`` does the same for one command);
2. the copy shipped inside the installed package (``harness/corpus/``, put there by the
   wheel build in ``setup.py``), so ``monolith-parity`` works from any directory after
   ``pip install``;
3. the source checkout this module sits in (``harness/..``), which is what an editable
   install and a plain ``python -m harness`` from the repository root use.

The choice is made once, at import; every module that needs a default corpus path takes
it from here so they all agree. The scenario schema is the exception: it belongs to the
harness, so it is always the package's own (2 or 3), whatever corpus is in use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "MONOLITH_PARITY_CORPUS"
FIXTURES = "fixtures"
GOLDEN = "golden"

PACKAGE_DIR = Path(__file__).resolve().parent
# Where the wheel build copies the corpus (setup.py's build_py); absent in a checkout.
PACKAGED_CORPUS = PACKAGE_DIR / "corpus"
CHECKOUT_ROOT = PACKAGE_DIR.parent


def is_corpus(path: Path) -> bool:
    """Whether ``path`` holds both a ``fixtures/`` and a ``golden/`` directory."""
    return (path / FIXTURES).is_dir() and (path / GOLDEN).is_dir()


def corpus_root(environ: Mapping[str, str] = os.environ) -> Path:
    """The corpus directory in use (see the module docstring for the order). An
    environment override is returned as given, even if it is not a corpus, so that the
    error names the directory the user asked for instead of silently using another."""
    override = environ.get(ENV_VAR)
    if override:
        return Path(override)
    if is_corpus(PACKAGED_CORPUS):
        return PACKAGED_CORPUS
    return CHECKOUT_ROOT


CORPUS_ROOT = corpus_root()
FIXTURES_DIR = CORPUS_ROOT / FIXTURES
GOLDEN_DIR = CORPUS_ROOT / GOLDEN
# The scenario format belongs to this version of the harness, not to a corpus: it is
# always read from the package's own copy, whichever corpus is in use.
SCHEMA_PATH = corpus_root({}) / FIXTURES / "scenario.schema.json"
