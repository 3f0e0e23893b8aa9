"""docs/conventions.md, the simulation's normative conventions, against the corpus: every
scenario it names as a pin exists, every convention its intro lists has its section (and
the link to it works), every section says what pins it, and every ``convention_*``
scenario is named there, so no pinning scenario is orphaned."""

from __future__ import annotations

import re

import pytest

from harness.paths import CHECKOUT_ROOT
from harness.scenario import FIXTURES_DIR, load_all

PAGE = CHECKOUT_ROOT / "docs" / "conventions.md"
SCENARIO_ID = re.compile(r"`((?:barrier|controller|feature_dump|hook_utils|slot_count)/\w+)`")
LISTED = re.compile(r"^(\d+)\. \[(.+)\]\(#([^)]+)\)$", re.M)
SECTION = re.compile(r"^## (\d+)\. (.+)$", re.M)


@pytest.fixture(scope="module")
def text() -> str:
    return PAGE.read_text(encoding="utf-8")


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` dropped,
    spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def sections(text: str) -> dict[int, tuple[str, str]]:
    """Number -> (title, body) of every ``## N. Title`` section."""
    found = list(SECTION.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {
        int(m.group(1)): (m.group(2), text[m.end() : end])
        for m, end in zip(found, ends, strict=True)
    }


def test_every_named_scenario_exists(text: str) -> None:
    named = set(SCENARIO_ID.findall(text))
    ids = {s.id for s in load_all(FIXTURES_DIR)}
    assert named, "the page names no scenario"
    assert named <= ids, sorted(named - ids)


def test_every_listed_convention_has_its_section(text: str) -> None:
    listed = [(int(n), title, link) for n, title, link in LISTED.findall(text)]
    assert [n for n, _, _ in listed] == list(range(1, len(listed) + 1)), "numbered 1, 2, ..."
    found = sections(text)
    assert sorted(found) == [n for n, _, _ in listed], "one section per listed convention"
    for n, title, link in listed:
        assert found[n][0] == title, f"section {n} is titled {found[n][0]!r}, listed {title!r}"
        assert link == f"{n}-{anchor(title)}" == anchor(f"{n}. {title}"), (n, link)


def test_every_section_says_what_pins_it(text: str) -> None:
    for n, (title, body) in sections(text).items():
        pinned = re.search(r"^Pinned by: (.+?)(?:\n\n|\Z)", body, re.M | re.S)
        # The defaults (a table with a "pinned by" column) and the rules stated elsewhere
        # (a list of pointers) name their pins inline.
        assert pinned or "pinned by" in body.lower(), f"{n}. {title}: no 'Pinned by'"
        assert SCENARIO_ID.search(body) or "no scenario" in body, f"{n}. {title}: pins nothing"


def test_every_convention_scenario_is_named(text: str) -> None:
    named = set(SCENARIO_ID.findall(text))
    own = {s.id for s in load_all(FIXTURES_DIR) if s.id.split("/")[1].startswith("convention_")}
    assert own <= named, sorted(own - named)
