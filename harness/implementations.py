"""What ``--impl`` names: a built-in implementation, or a testee command line.

:func:`make_implementation` builds one; :func:`check_spec` says, before a run starts, why a
testee command cannot be started at all (no such program, not executable), with a hint
when the name looks like a built-in one (``Reference`` -> ``reference``), so a typo is a
usage error (exit status 2), not a column of scenarios *not run*. Both the CLI and the
fuzzer (and the pytest plugin) use this module; it imports neither.
"""

from __future__ import annotations

import difflib
import shlex
from typing import TYPE_CHECKING

from harness.adapters.subprocess_testee import missing_program

if TYPE_CHECKING:
    from harness.adapters.base import Implementation
    from harness.adapters.confine import Confinement

BUILT_IN = ("reference", "tf", "original")  # implementations that run in this process


class ImplementationSpecError(ValueError):
    """``--impl`` names nothing that can run (the message says why, with a hint)."""


def make_implementation(
    spec: str, timeout: float = 30.0, sandbox: str | Confinement = "auto"
) -> Implementation:
    """``reference`` (in process), ``tf`` (the TensorFlow tier), ``original`` (the original
    Monolith modules of the checkout ``--monolith`` names), or a testee command line
    (``timeout``: seconds the testee has for each reply; ``sandbox``: where it runs,
    :mod:`harness.adapters.confine`)."""
    if spec == "reference":
        from harness.adapters.inprocess import InProcessReference

        return InProcessReference()
    if spec == "tf":
        from harness.adapters.tf_tier import TensorFlowTier

        return TensorFlowTier()
    if spec == "original":
        from harness.adapters.original_tier import OriginalTier

        return OriginalTier()
    from harness.adapters.subprocess_testee import SubprocessTestee

    return SubprocessTestee(shlex.split(spec), timeout=timeout, sandbox=sandbox)


def check_spec(spec: str) -> None:
    """Raise :class:`ImplementationSpecError` when ``spec`` is a command whose program
    cannot be run (a built-in name, or a command whose program exists, passes)."""
    if spec in BUILT_IN:
        return
    try:
        argv = shlex.split(spec)
    except ValueError as e:
        raise ImplementationSpecError(f"--impl {spec!r}: not a command line ({e})") from None
    if not argv:
        raise ImplementationSpecError("--impl '': names no program")
    why = missing_program(argv, None)
    if why is None:
        return
    hint = ""
    close = difflib.get_close_matches(argv[0].lower(), BUILT_IN, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean the built-in implementation {close[0]!r}?)"
    elif "/" not in argv[0]:
        hint = " (a testee is a command: a path to a program, or a name on PATH)"
    raise ImplementationSpecError(f"--impl {spec!r}: cannot run {argv[0]!r}: {why}{hint}")
