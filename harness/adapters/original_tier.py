"""The original Monolith modules (:mod:`reference.original`), in process.

Needs the ``tf`` extra and a Monolith checkout: a work tree, or a git directory plus a
commit. The checkout comes from the arguments, else from the environment variables
``MONOLITH_CHECKOUT`` and ``MONOLITH_COMMIT`` (which ``--monolith`` / ``--monolith-commit``
of the CLI and of the pytest plugin set), so every entry point names it the same way.
"""

from __future__ import annotations

import os

from harness.adapters.base import ImplementationFailure
from harness.adapters.inprocess import InProcess

CHECKOUT_ENV = "MONOLITH_CHECKOUT"
COMMIT_ENV = "MONOLITH_COMMIT"


class NoCheckout(ImplementationFailure):
    """The original tier was asked for but no Monolith checkout was named."""


def checkout_from_env() -> tuple[str | None, str | None]:
    return os.environ.get(CHECKOUT_ENV) or None, os.environ.get(COMMIT_ENV) or None


class OriginalTier(InProcess):
    """Runs scenarios through the original hooks in real ``tf.compat.v1`` sessions."""

    def __init__(self, source: str | None = None, commit: str | None = None) -> None:
        if source is None:
            source, commit = checkout_from_env()
        if source is None:
            raise NoCheckout(
                "the original tier needs a Monolith checkout: --monolith DIR (a work tree, "
                f"or a git dir with --monolith-commit C), or ${CHECKOUT_ENV}"
            )
        from reference.original.executor import from_source

        executor = from_source(source, commit)
        self.checkout = executor.checkout
        super().__init__("original", executor)
