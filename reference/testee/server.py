"""The reference testee's protocol loop (``docs/protocol.md``, version 1).

Reads one JSON request per line, calls :class:`reference.testee.executor.Executor`, writes
one JSON reply per line and flushes it. Like a protobuf conformance testee it judges
nothing: the harness checks every reply. Only :func:`handle` knows the message types, so
a wrapper (see ``tests/protocol/testees/``) can alter requests or replies around it.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import IO, Any

from reference.testee.executor import Executor
from reference.testee.world import NotApplicable

PROTOCOL_VERSION = 1
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
        kind, seq = request.get("type"), request.get("seq")
        if kind == "bye":
            return None
        if kind == "hello":
            caps = self.executor.capabilities
            return {
                "type": "hello",
                "seq": seq,
                "protocol": PROTOCOL_VERSION,
                "implementation": self.implementation,
                "capabilities": {
                    "families": list(caps["families"]),
                    "virtual_clock": caps["virtual_clock"],
                },
            }
        self.events.clear()
        try:
            if kind == "setup":
                self.set_up = True
                self.executor.setup(request["scenario"], request["files_dir"])
            elif kind == "step":
                self.executor.step(request["step"])
            elif kind == "teardown":
                self.set_up = False
                self.executor.teardown()
            else:
                return {"type": "error", "seq": seq, "message": f"unknown request {kind!r}"}
        except Exception as e:
            if not isinstance(e, NotApplicable):
                traceback.print_exc(file=sys.stderr)
            if kind == "setup":  # leave no half-built world behind
                self.set_up = False
                try:
                    self.executor.teardown()
                except Exception:
                    traceback.print_exc(file=sys.stderr)
                if isinstance(e, NotApplicable):
                    return {"type": "not_applicable", "seq": seq, "reason": str(e)}
            return {"type": "error", "seq": seq, "message": f"{kind}: {type(e).__name__}: {e}"}
        return {"type": "done", "seq": seq, "events": list(self.events)}


def write(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()


def serve(inp: IO[str], out: IO[str], server: Server | None = None) -> int:
    """Answer requests from ``inp`` until ``bye`` or end of input; returns the exit status."""
    server = server or Server()
    for line in inp:
        try:
            request = json.loads(line)
        except ValueError as e:
            write(out, {"type": "error", "seq": None, "message": f"request is not JSON: {e}"})
            continue
        if not isinstance(request, dict):
            write(out, {"type": "error", "seq": None, "message": "request is not an object"})
            continue
        reply = server.handle(request)
        if reply is None:
            break
        write(out, reply)
    if server.set_up:  # input ended mid-scenario: stop the simulated threads
        server.executor.teardown()
    return 0
