"""The reference testee's protocol loop (``docs/protocol.md``, version 1).

Reads one request per line, checks it against the protocol's one definition
(:mod:`testee_protocol.codec`), calls :class:`reference.testee.executor.Executor`, and
writes one reply per line (strict JSON, flushed). Like a protobuf conformance testee it
judges nothing: the harness checks every reply. Only :func:`Server.handle` knows the
message types, so a wrapper (see ``tests/protocol/testees/``) can alter requests or
replies around it. "Cannot express this scenario" is the executor's
:class:`~reference.testee.world.NotApplicable`, answered as the ``not_applicable`` reply.
"""

from __future__ import annotations

import sys
import traceback
from typing import IO, Any

from reference.testee.executor import Executor
from reference.testee.world import NotApplicable
from testee_protocol import codec

IMPLEMENTATION = "reference"


class Server:
    """One executor; :meth:`handle` answers one request (``None`` for ``bye``).

    ``executor`` makes the executor from an ``emit`` callback (default: the reference's;
    ``reference.tf.executor.Executor`` serves the TensorFlow tier the same way).
    """

    def __init__(self, executor: Any = Executor, implementation: str = IMPLEMENTATION) -> None:
        self.events: list[dict[str, Any]] = []
        self.executor = executor(self.events.append)
        self.implementation = implementation
        self.set_up = False

    def handle(self, request: dict[str, Any]) -> dict[str, Any] | None:
        seq = request.get("seq")
        try:
            codec.check_request(request)
        except codec.ProtocolError as e:
            return codec.error(seq if isinstance(seq, int) else None, f"bad request: {e}")
        kind = request["type"]
        if kind == codec.BYE:
            return None
        if kind == codec.HELLO:
            caps = self.executor.capabilities
            return codec.hello_reply(
                seq, self.implementation, list(caps["families"]), caps["virtual_clock"]
            )
        self.events.clear()
        try:
            if kind == codec.SETUP:
                self.set_up = True
                self.executor.setup(request["scenario"], request["files_dir"])
            elif kind == codec.STEP:
                self.executor.step(request["step"])
            else:
                self.set_up = False
                self.executor.teardown()
        except Exception as e:
            if not isinstance(e, NotApplicable):
                traceback.print_exc(file=sys.stderr)
            if kind == codec.SETUP:  # leave no half-built world behind
                self.set_up = False
                try:
                    self.executor.teardown()
                except Exception:
                    traceback.print_exc(file=sys.stderr)
                if isinstance(e, NotApplicable):
                    return codec.not_applicable(seq, str(e))
            return codec.error(seq, f"{kind}: {type(e).__name__}: {e}")
        return codec.done(seq, self.events)


def write(out: IO[str], message: dict[str, Any]) -> None:
    """One reply as one strict-JSON line, flushed. An event carrying a non-finite number
    (strict JSON has none) is answered as an ``error`` reply instead."""
    try:
        line = codec.encode(message)
    except ValueError as e:
        line = codec.encode(codec.error(message.get("seq"), f"reply is not strict JSON: {e}"))
    out.write(line.decode("utf-8"))
    out.flush()


def serve(inp: IO[str], out: IO[str], server: Server | None = None) -> int:
    """Answer requests from ``inp`` until ``bye`` or end of input; returns the exit status."""
    server = server or Server()
    for line in inp:
        try:
            request = codec.decode(line.encode("utf-8"))
        except codec.ProtocolError as e:
            write(out, codec.error(None, f"request is not a protocol message: {e}"))
            continue
        reply = server.handle(request)
        if reply is None:
            break
        write(out, reply)
    if server.set_up:  # input ended mid-scenario: stop the simulated threads
        server.executor.teardown()
    return 0
