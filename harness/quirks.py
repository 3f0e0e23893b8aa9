"""The quirk registry: behaviours of the original we believe are bugs or accidents, kept anyway.

``fixtures/quirks.json`` is a list of entries::

    {"id": "stop-flag-never-cleared",
     "summary": "One sentence, in our own words.",
     "original": "monolith/native_training/hooks/controller_hooks.py",
     "behaviour": "controller_hooks"}

``behaviour`` names the section of ``docs/original.md`` (one per original module) that
states the behaviour. Scenarios list the
quirks they pin in ``"pins"``; every quirk must be pinned by at least one scenario and every
pin must name a registered quirk. ``docs/quirks.md`` is generated from the registry and the
scenarios::

    python -m harness.quirks            # print docs/quirks.md as it should be
    python -m harness.quirks --write    # rewrite docs/quirks.md
    python -m harness.quirks --check    # exit 1 if docs/quirks.md is stale or a pin is wrong
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.paths import CHECKOUT_ROOT
from harness.scenario import FIXTURES_DIR, Scenario, ScenarioError, load_all

REGISTRY_PATH = FIXTURES_DIR / "quirks.json"
DOC_PATH = CHECKOUT_ROOT / "docs" / "quirks.md"

FIELDS = ("id", "summary", "original", "behaviour")
# The sections of docs/original.md, one per original module.
SECTIONS = (
    "ckpt_info",
    "controller_hooks",
    "feature_engineering_hooks",
    "hook_utils",
    "barrier_ops",
)
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# A path inside the Monolith repository, e.g. monolith/native_training/barrier_ops.py.
ORIGINAL_PATTERN = re.compile(r"^(monolith|idl)/[A-Za-z0-9_./-]+\.(py|proto|h|cc)$")


class QuirkError(ValueError):
    """The registry (or a scenario's pins) is not valid; the message says where and why."""


@dataclass(frozen=True)
class Quirk:
    id: str
    summary: str
    original: str
    behaviour: str


def parse_registry(data: Any, where: str = str(REGISTRY_PATH)) -> list[Quirk]:
    """Validate decoded registry JSON; every error names ``where`` and the entry."""
    if not isinstance(data, list):
        raise QuirkError(f"{where}: expected a list of quirk objects, got {type(data).__name__}")
    quirks: list[Quirk] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data):
        at = f"{where}: [{i}]"
        if not isinstance(entry, dict):
            raise QuirkError(f"{at}: expected an object, got {type(entry).__name__}")
        if isinstance(entry.get("id"), str):
            at = f"{where}: [{i}] ({entry['id']})"
        missing = [f for f in FIELDS if f not in entry]
        if missing:
            raise QuirkError(f"{at}: missing field(s) {', '.join(missing)}")
        extra = sorted(set(entry) - set(FIELDS))
        if extra:
            raise QuirkError(
                f"{at}: unknown field(s) {', '.join(extra)}; expected {', '.join(FIELDS)}"
            )
        for f in FIELDS:
            value = entry[f]
            if not isinstance(value, str) or not value.strip():
                raise QuirkError(f"{at}.{f}: must be a non-empty string, got {value!r}")
            if value != value.strip() or "\n" in value:
                raise QuirkError(f"{at}.{f}: no leading/trailing blanks or line breaks")
        quirk = Quirk(**{f: entry[f] for f in FIELDS})
        if not ID_PATTERN.match(quirk.id):
            raise QuirkError(f"{at}.id: {quirk.id!r} is not kebab-case (e.g. 'stop-flag-set')")
        if quirk.id in seen:
            raise QuirkError(f"{at}.id: {quirk.id!r} is already used by entry [{seen[quirk.id]}]")
        seen[quirk.id] = i
        if not quirk.summary.endswith("."):
            raise QuirkError(f"{at}.summary: must be one sentence ending with '.'")
        if not ORIGINAL_PATTERN.match(quirk.original):
            raise QuirkError(
                f"{at}.original: {quirk.original!r} is not a file path in the Monolith "
                "repository (e.g. monolith/native_training/barrier_ops.py)"
            )
        if quirk.behaviour not in SECTIONS:
            raise QuirkError(
                f"{at}.behaviour: {quirk.behaviour!r} is not a section of docs/original.md "
                f"(one of {', '.join(SECTIONS)})"
            )
        quirks.append(quirk)
    return quirks


def load(path: str | Path = REGISTRY_PATH) -> list[Quirk]:
    """Load and validate the registry file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise QuirkError(f"{path}: cannot read: {e.strerror}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise QuirkError(f"{path}: line {e.lineno} column {e.colno}: {e.msg}") from e
    return parse_registry(data, str(path))


def pinned_by(quirks: Sequence[Quirk], scenarios: Sequence[Scenario]) -> dict[str, list[str]]:
    """Quirk id -> ids of the scenarios pinning it (sorted), for every registered quirk."""
    table: dict[str, list[str]] = {q.id: [] for q in quirks}
    for scenario in scenarios:
        for pin in scenario.pins:
            if pin in table:
                table[pin].append(scenario.id)
    return {k: sorted(v) for k, v in table.items()}


def pin_problems(quirks: Sequence[Quirk], scenarios: Sequence[Scenario]) -> list[str]:
    """Pins naming no registered quirk, and registered quirks no scenario pins."""
    known = {q.id for q in quirks}
    problems = [
        f"{s.path or s.id}: pins: {pin!r} is not in the quirk registry"
        for s in scenarios
        for pin in s.pins
        if pin not in known
    ]
    problems += [
        f"quirk {qid!r} is pinned by no scenario"
        for qid, ids in pinned_by(quirks, scenarios).items()
        if not ids
    ]
    return problems


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def render_markdown(quirks: Sequence[Quirk], scenarios: Sequence[Scenario]) -> str:
    """The content of docs/quirks.md: one table row per quirk, in registry order."""
    by_quirk = pinned_by(quirks, scenarios)
    lines = [
        "# Quirks",
        "",
        "<!-- Generated by `python -m harness.quirks --write` from fixtures/quirks.json and the",
        "     scenarios' `pins`; do not edit by hand. -->",
        "",
        "Behaviours of the original Monolith hooks that we believe are bugs or accidents, but",
        "that the reference reproduces and the golden corpus pins. Each is pinned by the",
        "scenarios listed (`fixtures/<scenario>.json`); the section of",
        "[`docs/original.md`](original.md) named in the table states the behaviour.",
        "",
        "| quirk | summary | original | behaviour | pinned by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for q in quirks:
        pins = ", ".join(f"[`{sid}`](../fixtures/{sid}.json)" for sid in by_quirk[q.id]) or "(none)"
        behaviour = f"[{q.behaviour}](original.md#{q.behaviour})"
        lines.append(f"| `{q.id}` | {_cell(q.summary)} | `{q.original}` | {behaviour} | {pins} |")
    lines += ["", f"{len(quirks)} quirks.", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.quirks", description=__doc__.split("\n")[0])
    p.add_argument("--registry", default=str(REGISTRY_PATH), help="the quirk registry (JSON)")
    p.add_argument("--fixtures", default=str(FIXTURES_DIR), help="scenario directory")
    p.add_argument("--doc", default=str(DOC_PATH), help="the generated markdown file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail if the doc is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the doc")
    args = p.parse_args(argv)
    try:
        quirks = load(args.registry)
        scenarios = load_all(args.fixtures)
    except (QuirkError, ScenarioError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = render_markdown(quirks, scenarios)
    doc = Path(args.doc)
    if args.write:
        doc.write_text(text, encoding="utf-8")
        print(f"wrote {doc}")
        return 0
    if not args.check:
        sys.stdout.write(text)
        return 0
    problems = pin_problems(quirks, scenarios)
    try:
        current = doc.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:
        problems.append(f"{doc}: stale; regenerate it with python -m harness.quirks --write")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{doc}: up to date ({len(quirks)} quirks)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
