"""``python -m reference.testee [--tier tf|original]``: the reference (or the TensorFlow
tier, or the original Monolith hooks of ``--monolith DIR [--monolith-commit C]``) served
over the harness protocol.

The protocol owns stdout, so anything else that would print there (a stray ``print``, a
library writing to file descriptor 1) is sent to stderr, which the harness captures.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys

from reference.testee.server import Server, serve


def main(server: Server | None = None, argv: list[str] | None = None) -> int:
    """Serve ``server`` (default: from the command line) on this process's stdin/stdout."""
    if server is None:
        parser = argparse.ArgumentParser(prog="python -m reference.testee")
        parser.add_argument("--tier", choices=("reference", "tf", "original"), default="reference")
        parser.add_argument("--monolith", help="Monolith checkout (for --tier original)")
        parser.add_argument("--monolith-commit", help="commit to read from a git dir --monolith")
        args = parser.parse_args(argv)
        if args.tier == "tf":
            from reference.tf.executor import Executor as TensorFlowExecutor

            server = Server(TensorFlowExecutor, "tf")
        elif args.tier == "original":
            if not args.monolith:
                parser.error("--tier original needs --monolith DIR")
            from reference.original.executor import from_source

            server = Server(from_source(args.monolith, args.monolith_commit), "original")
        else:
            server = Server()
    protocol_out = io.TextIOWrapper(
        os.fdopen(os.dup(sys.stdout.fileno()), "wb"), encoding="utf-8", newline="\n"
    )
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    protocol_in = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")
    # Warnings and worse go to stderr; the hooks' INFO lines reach the harness as events.
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("testee %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return serve(protocol_in, protocol_out, server)


if __name__ == "__main__":
    sys.exit(main())
