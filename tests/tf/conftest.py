"""Fixtures for the TensorFlow-tier tests.

Nothing here imports TensorFlow at module level, so collecting this directory without
TensorFlow installed only skips the test modules (each starts with
``pytest.importorskip("tensorflow")``). Plain helpers live in ``tf_helpers.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from tf_helpers import LogCapture

# Quieter TensorFlow start-up; must be set before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Captures the ``reference`` loggers (pure-Python and TF tier) at INFO and above."""
    handler = LogCapture()
    logger = logging.getLogger("reference")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture
def graph() -> Iterator[Any]:
    """A fresh default graph (graph mode, whatever the eager setting)."""
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        yield g
