"""A testee that misbehaves the way a buggy port does: the reference, plus one act.

``python hostile.py ACT [--on SCENARIO_ID] [--arg VALUE] [--name NAME]``

The act strikes in the scenario ``--on`` (every scenario without it), at its teardown
unless said otherwise; otherwise the testee answers as the reference does. Acts:

- ``link LEVEL:TARGET``: move ``files_dir`` + ``/..`` x LEVEL aside (renamed with a
  ``.moved`` suffix, so it stays in the work directory) and put a symbolic link to TARGET
  in its place (LEVEL 0 is ``files/``, 1 the scenario's directory, 2 its family's, 3 the
  implementation's);
- ``many_files N``: N empty files in ``files_dir``;
- ``deep_tree N``: a chain of N nested directories in ``files_dir``;
- ``bad_name``: a file whose name is not UTF-8 (``bad\\xff\\xfe``) in ``files_dir``;
- ``controls``: ESC and OSC sequences on stderr, then an ``error`` reply holding them;
- ``daemon TOKEN``: at setup, a grandchild in a new session that sleeps with
  ``TOKEN:daemon`` as an argument (the testee's first process keeps serving);
- ``hang_daemon TOKEN``: as ``daemon``, then never answers that setup;
- ``not_applicable``: answers every ``setup`` with ``not_applicable``;
- ``write_abs PATH``: writes PATH (an absolute path, outside the work directory);
- ``escape REL``: writes ``files_dir/REL`` (``../../x``: outside ``files/``);
- ``touch_cwd NAME`` / ``remove_cwd NAME``: rewrites / removes NAME in its working
  directory;
- ``connect PORT``: at setup, tries to connect to 127.0.0.1:PORT and says on stderr
  whether it could.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from reference.testee.server import Server

ACTS = (
    "link",
    "many_files",
    "deep_tree",
    "bad_name",
    "controls",
    "daemon",
    "hang_daemon",
    "not_applicable",
    "write_abs",
    "escape",
    "touch_cwd",
    "remove_cwd",
    "connect",
    "none",
)


def send(message: Any) -> None:
    text = message if isinstance(message, str) else json.dumps(message)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def daemon(token: str) -> None:
    """A grandchild in a session of its own, its parent gone: init (or a subreaper)
    adopts it."""
    code = "import time, sys; time.sleep(600)"  # allow-sleep: a process left behind
    subprocess.Popen(
        [sys.executable, "-c", code, f"{token}:daemon"],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def act_on_files(act: str, arg: str, files_dir: Path) -> None:
    if act == "link":
        level, target = arg.split(":", 1)
        place = files_dir
        for _ in range(int(level)):
            place = place.parent
        place.rename(place.with_name(place.name + ".moved"))
        os.symlink(target, place)
    elif act == "many_files":
        for i in range(int(arg)):
            (files_dir / f"f{i:07d}").touch()
    elif act == "deep_tree":
        fd = os.open(files_dir, os.O_RDONLY)
        for _ in range(int(arg)):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(fd)
    elif act == "bad_name":
        with open(os.path.join(os.fsencode(files_dir), b"bad\xff\xfe"), "w") as f:
            f.write("x")
    elif act == "write_abs":
        Path(arg).write_text("written by the testee\n")
    elif act == "escape":
        (files_dir / arg).write_text("outside files/\n")
    elif act == "touch_cwd":
        Path(arg).write_text("rewritten by the testee\n")
    elif act == "remove_cwd":
        Path(arg).unlink()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("act", choices=ACTS)
    parser.add_argument("--on", help="the scenario the act strikes in (default: every one)")
    parser.add_argument("--arg", default="", help="the act's argument")
    parser.add_argument("--name", default="hostile", help="the implementation it reports")
    args = parser.parse_args()
    server = Server(implementation=args.name)
    scenario: str | None = None
    files_dir: Path | None = None
    for line in sys.stdin:
        request = json.loads(line)
        kind, seq = request["type"], request["seq"]
        if kind == "setup":
            scenario, files_dir = request["id"], Path(request["files_dir"])
        strike = scenario is not None and args.on in (None, scenario)
        if kind == "setup" and args.act == "not_applicable":
            send({"type": "not_applicable", "seq": seq, "reason": "nothing implemented yet"})
            scenario = None
            continue
        if kind == "setup" and strike and args.act in ("daemon", "hang_daemon"):
            daemon(args.arg)
            if args.act == "hang_daemon":
                threading.Event().wait()
        if kind == "setup" and strike and args.act == "connect":
            try:
                socket.create_connection(("127.0.0.1", int(args.arg)), timeout=5).close()
                print("hostile testee: connected", file=sys.stderr, flush=True)
            except OSError as e:
                print(f"hostile testee: cannot connect: {e}", file=sys.stderr, flush=True)
        if kind == "teardown" and strike and args.act == "controls":
            sys.stderr.write("\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b1m\n")
            sys.stderr.flush()
            send({"type": "error", "seq": seq, "message": "bad \x1b]0;title\x07 \x1b[5m"})
            scenario = None
            continue
        if kind == "teardown" and strike and files_dir is not None:
            try:
                act_on_files(args.act, args.arg, files_dir)
            except OSError as e:  # confined: the act may be refused; say so and go on
                print(f"hostile testee: {args.act} failed: {e}", file=sys.stderr, flush=True)
        reply = server.handle(request)
        if reply is None:
            return 0
        if kind == "teardown":
            scenario = None
        send(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
