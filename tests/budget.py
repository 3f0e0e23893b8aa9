"""Example budgets for the property tests (the strategies themselves are in
:mod:`harness.strategies`).

Import as ``from budget import examples`` (``tests/`` is on ``sys.path`` through
``tests/conftest.py``).
"""

from __future__ import annotations

import os

from hypothesis import settings

#: Multiplies every test's example budget (``PROPERTY_SCALE=20`` for a deep run).
SCALE = float(os.environ.get("PROPERTY_SCALE", "1"))


def examples(n: int) -> settings:
    """``settings(max_examples=n)`` scaled by ``PROPERTY_SCALE``, with no deadline (these
    tests start threads and write files: a loaded machine must not fail them), on top of
    the loaded profile (so ``ci`` stays derandomized)."""
    return settings(max_examples=max(1, round(n * SCALE)), deadline=None)
