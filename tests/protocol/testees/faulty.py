"""A deliberately broken testee: the reference, with one fault injected on purpose.

``python faulty.py FAULT [--on SCENARIO_ID] [--once STATE_FILE] [--name NAME]
[--escape-to RELATIVE_PATH] [--na SCENARIO_ID]``

The fault strikes in the scenario ``--on`` (at its first step, or at its teardown for
``escape``); ``bad_hello`` and ``refuse_hello`` strike at the hello instead. With
``--once``, only the first process to create ``STATE_FILE`` misbehaves, so the fresh
process the harness starts afterwards is healthy.

Faults: ``crash`` (exits with status 3), ``hang`` (never answers), ``garbage`` (answers a
line that is not JSON), ``out_of_order`` (answers with the wrong seq), ``escape`` (writes
next to ``files/`` and into its working directory), ``error`` (answers ``error``),
``bad_events`` (an event without ``event``), ``bad_hello`` (claims protocol 2),
``refuse_hello`` (answers hello with ``error``), ``hang_hello`` (never answers hello),
``flood_events`` (answers with 110 000 tiny events), ``surrogate_error`` (answers
``error`` whose message is the JSON escape ``\\ud800``: valid JSON, but a lone surrogate),
``deep_reply`` (answers a ``done`` whose events nest 200 000 deep), ``stdout_noise`` (prints
a stray line before its reply), ``exit_silently`` (exits with status 0 without answering);
``ignore_bye`` (stays alive after ``bye`` and end of input), ``orphan`` (starts a child
process that holds stdout open, then exits with status 4); ``not_applicable`` is no fault:
it answers the scenario's ``setup`` with ``not_applicable``, and ``none`` injects nothing.

``--name`` is the implementation name its hello reports; ``--escape-to`` is where the
``escape`` fault writes, relative to ``files_dir`` (default ``../escaped.txt``); ``--na``
answers that scenario's ``setup`` with ``not_applicable`` (besides the fault).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

from reference.testee.server import Server

FAULTS = (
    "crash",
    "hang",
    "garbage",
    "out_of_order",
    "escape",
    "error",
    "bad_events",
    "bad_hello",
    "refuse_hello",
    "stdout_noise",
    "exit_silently",
    "not_applicable",
    "ignore_bye",
    "orphan",
    "hang_hello",
    "flood_events",
    "surrogate_error",
    "deep_reply",
    "none",
)


def claim(state_file: str | None) -> bool:
    """True for the first process that creates ``state_file`` (always true without one)."""
    if state_file is None:
        return True
    try:
        os.close(os.open(state_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def send(message: Any) -> None:
    text = message if isinstance(message, str) else json.dumps(message)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fault", choices=FAULTS)
    parser.add_argument("--on", help="the scenario id the fault strikes in")
    parser.add_argument("--once", help="only the first process creating this file misbehaves")
    parser.add_argument("--name", default="reference", help="the implementation it reports")
    parser.add_argument("--escape-to", default="../escaped.txt", help="relative to files_dir")
    parser.add_argument("--na", help="answer this scenario's setup with not_applicable")
    args = parser.parse_args()
    armed = claim(args.once)
    server = Server(implementation=args.name)
    scenario = None
    files_dir = None
    for line in sys.stdin:
        request = json.loads(line)
        kind, seq = request["type"], request["seq"]
        if kind == "setup":
            scenario, files_dir = request["id"], request["files_dir"]
        strike = armed and scenario is not None and scenario == args.on
        if kind == "hello" and armed and args.fault == "hang_hello":
            threading.Event().wait()
        if kind == "setup" and request["id"] == args.na:
            send({"type": "not_applicable", "seq": seq, "reason": "declared not applicable"})
            scenario = None
            continue
        if kind == "hello" and armed and args.fault in ("bad_hello", "refuse_hello"):
            if args.fault == "refuse_hello":
                send({"type": "error", "seq": seq, "message": "I only speak protocol 2"})
            else:
                reply = server.handle(request)
                assert reply is not None
                send({**reply, "protocol": 2})
            continue
        if kind == "setup" and strike and args.fault == "not_applicable":
            send({"type": "not_applicable", "seq": seq, "reason": "cannot express this here"})
            scenario = None
            continue
        if kind == "step" and strike:
            print(f"faulty testee: injecting {args.fault} in {scenario}", file=sys.stderr)
            sys.stderr.flush()
            if args.fault == "crash":
                os._exit(3)
            if args.fault == "exit_silently":
                os._exit(0)
            if args.fault == "orphan":
                # A token on its command line finds it from outside a PID namespace too.
                token = f"orphan-{uuid.uuid4().hex}"
                subprocess.Popen(
                    [sys.executable, "-c", "import time; time.sleep(600)", token],  # allow-sleep
                    start_new_session=True,  # out of the testee's process group, too
                )
                print(f"faulty testee: orphan token {token}", file=sys.stderr, flush=True)
                os._exit(4)
            if args.fault == "hang":
                threading.Event().wait()
            if args.fault == "garbage":
                send("this is not json")
                continue
            if args.fault == "error":
                send({"type": "error", "seq": seq, "message": "injected internal error"})
                continue
            if args.fault == "stdout_noise":
                send("progress: 50%")
            if args.fault == "flood_events":
                sys.stdout.write(
                    f'{{"type":"done","seq":{seq},"events":['
                    + ",".join(['{"event":"x"}'] * 110_000)
                    + "]}\n"
                )
                sys.stdout.flush()
                continue
            if args.fault == "surrogate_error":  # raw text: the escape, not a character
                send(f'{{"type":"error","seq":{seq},"message":"\\ud800"}}')
                continue
            if args.fault == "deep_reply":
                depth = 200_000
                send(f'{{"type":"done","seq":{seq},"events":' + "[" * depth + "]" * depth + "}")
                continue
        reply = server.handle(request)
        if reply is None:
            if armed and args.fault == "ignore_bye":
                threading.Event().wait()
            return 0
        if kind == "step" and strike and args.fault == "out_of_order":
            reply["seq"] = seq + 1
        if kind == "step" and strike and args.fault == "bad_events":
            reply["events"] = [*reply["events"], {"what": "no event key"}]
        if kind == "teardown" and strike and args.fault == "escape":
            assert files_dir is not None
            target = Path(files_dir, args.escape_to)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("outside files/\n")
            Path("stray.log").write_text("written in the working directory\n")
        if kind == "teardown":
            scenario = None
        send(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
