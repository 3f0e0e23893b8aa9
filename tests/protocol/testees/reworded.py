"""A testee that words protobuf's parse errors its own way: the reference, with every
parse-error response it writes rewritten, as a port with its own text-format parser does.

``python reworded.py MODE [--name NAME]``

After each request, every ``monolith_action_response`` under the scenario's ``files_dir``
that the request (re)wrote with a parse error's text (anything but ``OK``) is rewritten:

* ``reword``: ``rust text-format: cannot parse the action (LINE:COLUMN)``, the position
  taken from protobuf's own text: a different but honest error text;
* ``ok``: ``OK`` (claims success for an action it could not parse);
* ``empty``: nothing (an empty file);
* ``keep_action``: reworded, and the action file the request consumed is put back;
* ``late``: reworded, but held back until the scenario is over, and then dropped (a write
  after teardown would land in a directory already judged): the outputs lack it. A write
  one step late but before the end leaves the same outputs, so it cannot be told apart
  by any comparison, strict or relaxed (docs/deviations.md, "What the outputs show");
* ``none``: nothing is rewritten (the reference, under another name).

``--name`` is the implementation name its hello reports (default ``reworded``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reference.testee.server import Server

MODES = ("reword", "ok", "empty", "keep_action", "late", "none")
RESPONSE = "monolith_action_response"
ACTION = "monolith_action"


def reworded(text: str) -> str:
    position = text.split(" : ", 1)[0] if " : " in text else "?"
    return f"rust text-format: cannot parse the action ({position})"


def snapshot(files_dir: Path | None) -> dict[Path, bytes]:
    """Every response and action file under ``files_dir`` (the reference writes no links)."""
    if files_dir is None or not files_dir.is_dir():
        return {}
    return {p: p.read_bytes() for name in (RESPONSE, ACTION) for p in files_dir.rglob(name)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--name", default="reworded")
    args = parser.parse_args()
    server = Server(implementation=args.name)
    files_dir: Path | None = None
    held: dict[Path, str] = {}  # mode late: responses to write after teardown
    for line in sys.stdin:
        request = json.loads(line)
        if request["type"] == "setup":
            files_dir = Path(request["files_dir"])
        before = snapshot(files_dir)
        reply = server.handle(request)
        if reply is None:
            return 0
        after = snapshot(files_dir)
        for path, data in after.items():
            if path.name != RESPONSE or before.get(path) == data or data == b"OK":
                continue
            text = reworded(data.decode("utf-8"))
            if args.mode in ("reword", "keep_action"):
                path.write_text(text, encoding="utf-8")
            elif args.mode == "ok":
                path.write_text("OK", encoding="utf-8")
            elif args.mode == "empty":
                path.write_text("", encoding="utf-8")
            elif args.mode == "late":
                if path in before:
                    path.write_bytes(before[path])
                else:
                    path.unlink()
                held[path] = text
            if args.mode == "keep_action":
                action = path.with_name(ACTION)
                if action in before and action not in after:
                    action.write_bytes(before[action])
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
        if request["type"] == "teardown":
            # The scenario is over and its outputs are being judged: too late.
            held.clear()
    return 0


if __name__ == "__main__":
    sys.exit(main())
