"""The reference testee, resolving every order a scenario leaves open its own way.

``python ordering.py MODE`` answers as the reference does, except for a step's ``order``:
``assign_first`` / ``read_first`` run an ``open`` order that way; ``ignore_order`` runs
every order, forced ones too, as ``assign_first`` (a port that never implemented the
other); ``neither`` drops an ``open`` step's assign altogether (an outcome no order gives).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from reference.testee.server import Server


def resolve(step: dict[str, Any], mode: str) -> None:
    if "order" not in step:
        return
    if mode == "ignore_order":
        step["order"] = "assign_first"
    elif step["order"] == "open":
        if mode == "neither":
            del step["order"]
            step["fetch"] = "dummy"
        else:
            step["order"] = mode


def main() -> int:
    mode = sys.argv[1]
    server = Server(implementation=f"ordering-{mode}")
    for line in sys.stdin:
        request = json.loads(line)
        if request["type"] == "setup":
            for step in request["scenario"]["steps"]:
                resolve(step, mode)
        if request["type"] == "step":
            resolve(request["step"], mode)
        reply = server.handle(request)
        if reply is None:
            return 0
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
