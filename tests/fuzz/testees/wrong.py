"""A deliberately wrong testee: the reference, with one output altered in one rare
situation only, for ``harness fuzz`` to find (``python wrong.py WRONG [WRONG...]``).

Wrongs:

* ``ckpt_slots``: a ``ckpt.info`` listing more than three slots loses its last slot.
* ``short_last_feature``: a dataset element whose last feature has fewer rows than its
  first loses that last feature (so the dumped batch lacks it).
* ``second_action``: an action file written over one the hook has not read yet (a second
  action within one poll interval) is put back to the first one.

The wrapper alters requests and the files in ``files/`` around
:meth:`reference.testee.server.Server.handle`; everything else is the reference's.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

from reference.testee.server import Server

WRONGS = ("ckpt_slots", "short_last_feature", "second_action")
ACTION_FILE = "monolith_action"


def rows(feature: dict[str, Any]) -> int:
    if "ragged" in feature:
        return len(feature["ragged"])
    dense = feature.get("dense", [])
    return int(dense["shape"][0]) if isinstance(dense, dict) else len(dense)


def drop_short_last_features(scenario: dict[str, Any]) -> dict[str, Any]:
    scenario = copy.deepcopy(scenario)
    batches = scenario.get("config", {}).get("batches", [])
    for i, element in enumerate(batches):
        if len(element) >= 2 and rows(element[-1]) < rows(element[0]):
            batches[i] = element[:-1]
    return scenario


class CkptSlots:
    """Drops the last ``slot_counts`` entry of any ckpt.info with more than three."""

    def __init__(self) -> None:
        self.written: dict[Path, bytes] = {}

    def after(self, files_dir: Path) -> None:
        for path in sorted(files_dir.rglob("ckpt.info*")):
            data = path.read_bytes()
            if self.written.get(path) == data:
                continue
            entries = data.split(b"slot_counts {")
            if len(entries) - 1 > 3:
                data = b"slot_counts {".join(entries[:-1])
                path.write_bytes(data)
            self.written[path] = data


class SecondAction:
    """Remembers an action file the hook left unread; a different one written over it
    before the hook reads it is replaced by the remembered one."""

    def __init__(self) -> None:
        self.pending: bytes | None = None

    def before(self, action: Path) -> None:
        if self.pending is not None and action.is_file() and action.read_bytes() != self.pending:
            tmp = action.with_name(".wrong-testee-tmp")
            tmp.write_bytes(self.pending)
            os.replace(tmp, action)

    def after(self, action: Path) -> None:
        self.pending = action.read_bytes() if action.is_file() else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("wrong", choices=WRONGS, nargs="+")
    args = parser.parse_args()
    server = Server()
    files_dir: Path | None = None
    action: Path | None = None
    ckpt, second = CkptSlots(), SecondAction()
    for line in sys.stdin:
        request = json.loads(line)
        kind = request["type"]
        if kind == "setup":
            files_dir = Path(request["files_dir"])
            model_dir = request["scenario"].get("config", {}).get("model_dir", ".")
            action = files_dir / model_dir / ACTION_FILE
            ckpt, second = CkptSlots(), SecondAction()
            if "short_last_feature" in args.wrong:
                request["scenario"] = drop_short_last_features(request["scenario"])
        if "second_action" in args.wrong and action is not None and kind in ("step", "teardown"):
            second.before(action)
        reply = server.handle(request)
        if reply is None:
            return 0
        if "ckpt_slots" in args.wrong and files_dir is not None and kind != "hello":
            ckpt.after(files_dir)
        if "second_action" in args.wrong and action is not None and kind != "hello":
            second.after(action)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
