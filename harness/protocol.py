"""The harness's side of the testee protocol: the messages, and how long a reply may take.

The messages are defined once, in ``testee_protocol/messages.schema.json``, and encoded
and checked by :mod:`testee_protocol.codec` (re-exported here for convenience); the
reference testee uses the same codec. What only the harness decides lives here: the
deadline for each reply (``docs/protocol.md``, "Time: virtual_clock").
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from typing import Any

from harness.scenario import HARNESS_OPS
from testee_protocol.codec import (
    BYE,
    DONE,
    ERROR,
    HELLO,
    MAX_LINE_BYTES,
    MAX_REPLY_COMMAS,
    NOT_APPLICABLE,
    PROTOCOL_VERSION,
    REPLY_TYPES,
    REQUEST_TYPES,
    SETUP,
    STEP,
    TEARDOWN,
    ProtocolError,
    bye,
    check_hello,
    check_reply,
    check_request,
    decode,
    encode,
    hello,
    setup,
    step,
    teardown,
)

__all__ = [
    "BYE",
    "DONE",
    "ERROR",
    "EXIT_GRACE",
    "HELLO",
    "MAX_LINE_BYTES",
    "MAX_REPLY_COMMAS",
    "MIN_START_TIMEOUT",
    "NOT_APPLICABLE",
    "PROTOCOL_VERSION",
    "REAL_TIME_TOLERANCE",
    "REPLY_TYPES",
    "REQUEST_TYPES",
    "SETUP",
    "STEP",
    "TEARDOWN",
    "ProtocolError",
    "advance_seconds",
    "bye",
    "check_hello",
    "check_reply",
    "check_request",
    "check_seconds",
    "decode",
    "encode",
    "hello",
    "reply_timeout",
    "scenario_bound",
    "seconds_argument",
    "setup",
    "step",
    "teardown",
]

# Start-up (interpreter, imports) is not a hang: the hello gets at least this long.
MIN_START_TIMEOUT = 10.0
# How long a testee has to exit after ``bye`` before it is killed, and to be reaped after
# a kill (bounded; a process that survives SIGKILL that long is reported, not waited for).
EXIT_GRACE = 5.0

# A testee without a virtual clock gets this much extra time per second of ``advance``
# on top of the per-call timeout (its sleep overshoots; its threads need to settle).
REAL_TIME_TOLERANCE = 0.5


def advance_seconds(step_: Mapping[str, Any]) -> float:
    """Seconds an ``advance`` step covers (``seconds`` x ``count``); 0 for other steps."""
    if step_.get("op") != "advance":
        return 0.0
    try:
        seconds = float(step_.get("seconds", 0)) * int(step_.get("count", 1))
    except (TypeError, ValueError):
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def reply_timeout(step_: Mapping[str, Any] | None, timeout: float, virtual_clock: bool) -> float:
    """How long the harness waits for the reply to a request.

    ``timeout`` for every request, except that a testee without a virtual clock must let
    an ``advance``'s time really pass before it answers: it gets that time on top, plus
    :data:`REAL_TIME_TOLERANCE` of it.
    """
    if step_ is None or virtual_clock:
        return timeout
    return timeout + advance_seconds(step_) * (1.0 + REAL_TIME_TOLERANCE)


def scenario_bound(steps: Sequence[Mapping[str, Any]], timeout: float) -> float:
    """The longest the harness can spend on one scenario with per-reply ``timeout``, for
    the slowest testee the protocol allows (one without a virtual clock, started afresh):
    a start-up ``hello``, ``setup``, each implementation step's :func:`reply_timeout`,
    ``teardown``, and the grace periods of stopping a testee and reaping one. A runner
    that wraps the harness (pytest's timeout) must allow at least this much.
    """
    replies = [reply_timeout(s, timeout, False) for s in steps if s.get("op") not in HARNESS_OPS]
    for s in steps:  # advance_until is sent as advances of step_seconds
        if s.get("op") == "advance_until":
            advance = {"op": "advance", "seconds": s["step_seconds"]}
            n = math.ceil(float(s["max_seconds"]) / float(s["step_seconds"]))
            replies += [reply_timeout(advance, timeout, False)] * (n * int(s.get("count", 1)))
    start = max(timeout, MIN_START_TIMEOUT)
    return start + 2 * timeout + sum(replies) + 3 * EXIT_GRACE + 30.0


def check_seconds(value: Any, what: str) -> float:
    """``value`` as seconds to wait: a finite positive number (``nan``, ``inf``, zero and
    negative numbers would wait for ever or not at all)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a finite number of seconds above 0, got {value!r}")
    return seconds


def seconds_argument(text: str) -> float:
    """An argparse ``type`` for a timeout option: :func:`check_seconds`, worded for the
    command line (``'nan' is not a finite number of seconds above 0``)."""
    try:
        return check_seconds(text, "seconds")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a finite number of seconds above 0"
        ) from None
