"""Runs scenario steps against the original Monolith hooks, through the TF tier's worlds.

:func:`executor` binds a loaded checkout to an executor class with the interface of
:class:`reference.testee.executor.Executor` (``Executor(emit)``, ``setup``, ``step``,
``teardown``), so the harness drives the originals in process (``--impl original``) or
through the protocol (``python -m reference.testee --tier original --monolith DIR``)
exactly as it drives the other tiers. The originals log through absl, so absl's logger
is a log source besides the project's own.
"""

from __future__ import annotations

from typing import ClassVar

from reference.original import hookset, loader
from reference.original.checkout import Checkout, open_checkout
from reference.testee.hookset import HookSet
from reference.tf.executor import Executor as TFExecutor


class OriginalExecutor(TFExecutor):
    """The TF tier's worlds over an :class:`~reference.original.hookset.OriginalHookSet`."""

    log_sources: ClassVar[tuple[str, ...]] = ("reference", "absl")
    hookset: ClassVar[type[HookSet]]
    checkout: ClassVar[Checkout]


def executor(checkout: Checkout) -> type[OriginalExecutor]:
    """An executor class running the originals of ``checkout`` (imported now, once)."""
    modules = loader.load(checkout)
    return type(
        "BoundOriginalExecutor",
        (OriginalExecutor,),
        {"hookset": hookset.bind(modules), "checkout": checkout},
    )


def from_source(source: str, commit: str | None = None) -> type[OriginalExecutor]:
    """:func:`executor` of the checkout at ``source`` (a work tree, or a git dir + commit)."""
    return executor(open_checkout(source, commit))


__all__ = ["OriginalExecutor", "executor", "from_source"]
