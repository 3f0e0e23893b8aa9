#!/usr/bin/env python3
"""Print the mutation score of the last ``mutmut run`` and check every survivor is classified.

    python tools/mutation_report.py [--results FILE] [--doc docs/mutation.md]

Reads mutmut's verdicts (``mutmut results --all true``, run here unless ``--results`` names
a file holding its output) and the table under ``## Survivors`` in ``docs/mutation.md``:
every row whose first cell is a backquoted mutant name classifies that mutant. A name may
end in ``__mutmut_{3,7,12-15}`` (those numbers; ``a-b`` is a range) or ``__mutmut_*``
(every mutant of the function).

Prints the counts per verdict, the score (killed, timed out or crashed out of the mutants
the corpus reaches, and out of all), then every survivor with its documented reason. The
exit status is 0 when every surviving or unreached mutant is classified, 1 when one is not
(listed as UNCLASSIFIED), 2 on bad input. Documented names that no longer survive are
listed as stale (they do not fail the run: a killed mutant is good news).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Verdicts that count as killed: the corpus noticed the mutant (a hang is noticed too).
KILLED = {"killed", "timeout", "segfault", "suspicious"}
# Verdicts that need a line in the survivor table.
UNKILLED = {"survived", "no tests"}
NOT_CHECKED = "not checked"

SECTION = "## Survivors"
_RESULT = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+?)\s*$")
_ROW = re.compile(
    r"^\|\s*`(?P<name>[^`]+)`\s*\|\s*(?P<kind>[^|]+?)\s*\|\s*(?P<reason>.+?)\s*\|\s*$"
)
_SET = re.compile(r"^(?P<base>.+__mutmut_)\{(?P<numbers>[\d, -]+)\}$")


def parse_results(text: str) -> dict[str, str]:
    """``mutant name -> verdict`` from the output of ``mutmut results --all true``."""
    verdicts = {}
    for line in text.splitlines():
        match = _RESULT.match(line)
        if match and "__mutmut_" in match["name"]:
            verdicts[match["name"]] = match["status"]
    return verdicts


def parse_table(text: str) -> list[tuple[str, str, str]]:
    """``(name pattern, kind, reason)`` rows of the table under the ``## Survivors`` heading
    of ``docs/mutation.md`` (up to the next heading)."""
    lines = text.splitlines()
    if SECTION not in lines:
        return []
    section = lines[lines.index(SECTION) + 1 :]
    end = next((i for i, line in enumerate(section) if line.startswith("#")), len(section))
    return [(m["name"], m["kind"], m["reason"]) for m in map(_ROW.match, section[:end]) if m]


def _numbers(spec: str) -> set[int]:
    """``"3, 7, 12-15"`` as ``{3, 7, 12, 13, 14, 15}``."""
    out: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def classify(name: str, rows: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    """The ``(kind, reason)`` of the first row that names ``name``."""
    for pattern, kind, reason in rows:
        if pattern.endswith("__mutmut_*"):
            if name.startswith(pattern[:-1]):
                return kind, reason
            continue
        match = _SET.match(pattern)
        if match:
            base, number = name.rpartition("__mutmut_")[0] + "__mutmut_", name.rpartition("_")[2]
            if base == match["base"] and int(number) in _numbers(match["numbers"]):
                return kind, reason
        elif pattern == name:
            return kind, reason
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="saved output of 'mutmut results --all true'")
    parser.add_argument("--doc", type=Path, default=Path("docs/mutation.md"))
    args = parser.parse_args(argv)
    if args.results is not None:
        text = args.results.read_text(encoding="utf-8")
    else:
        done = subprocess.run(
            [sys.executable, "-m", "mutmut", "results", "--all", "true"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 2
        text = done.stdout
    verdicts = parse_results(text)
    if not verdicts or all(status == NOT_CHECKED for status in verdicts.values()):
        print("no mutmut results: run 'mutmut run' first", file=sys.stderr)
        return 2
    rows = parse_table(args.doc.read_text(encoding="utf-8"))
    # A run of chosen mutants leaves the others unchecked: they count for nothing.
    unchecked = sum(1 for status in verdicts.values() if status == NOT_CHECKED)
    verdicts = {n: s for n, s in verdicts.items() if s != NOT_CHECKED}
    if unchecked:
        print(f"{unchecked} mutants not checked in this run (left out below)")

    counts = Counter(verdicts.values())
    killed = sum(n for status, n in counts.items() if status in KILLED)
    reached = len(verdicts) - counts["no tests"]
    print("mutants: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    print(
        f"score: {killed}/{reached} ({killed / max(reached, 1):.1%}) of the mutants the corpus"
        f" reaches are killed; {killed}/{len(verdicts)} ({killed / len(verdicts):.1%}) of all"
    )

    unclassified = []
    for name, status in sorted(verdicts.items()):
        if status not in UNKILLED:
            continue
        found = classify(name, rows)
        if found is None:
            unclassified.append(name)
            print(f"UNCLASSIFIED {status:8} {name}")
        else:
            print(f"{status:8} {name}: {found[0]}: {found[1]}")
    unkilled = {n for n, s in verdicts.items() if s in UNKILLED}
    # Staleness is only known after a full run.
    for pattern, _, _ in [] if unchecked else rows:
        if not any(classify(n, [(pattern, "", "")]) for n in unkilled):
            print(f"stale table row (nothing it names survives): {pattern}")
    if unclassified:
        print(f"{len(unclassified)} survivors are not classified in {args.doc}")
        return 1
    print(f"every survivor is classified in {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
