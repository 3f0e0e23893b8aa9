"""Find processes by a token on their command line (from outside any PID namespace).

A testee confined by bubblewrap runs in a PID namespace of its own, so a pid it reports
means nothing outside; a token it puts on a child's command line is seen everywhere.
"""

from __future__ import annotations

import os


def running_with(token: str, *, whole: bool = False) -> list[int]:
    """The pids of live processes (zombies excluded) whose command line holds ``token``
    (with ``whole``: as one whole argument)."""
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        args = cmdline.split(b"\0")
        held = token.encode() in args if whole else token.encode() in cmdline
        if held and state != b"Z":
            found.append(int(name))
    return found
