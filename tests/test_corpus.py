"""The scenario corpus as a whole: it loads, it covers what it must, its goldens are
consistent, the reference reproduces them, and regenerating them is deterministic.

The quirk registry (``fixtures/quirks.json``) and its generated page (``docs/quirks.md``)
are checked here too, as is :mod:`harness.quirks`' validation of a bad registry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import quirks
from harness.adapters.inprocess import InProcessReference
from harness.compare import files_under
from harness.golden import CERTIFICATE, GOLDEN_DIR, regenerate, stale_dirs, verify_manifest
from harness.runner import run_corpus
from harness.scenario import FIXTURES_DIR, SCHEMA_PATH, Scenario, discover, load, load_all

MIN_SCENARIOS = 70
# The big-input scenarios (a million-fid table, a 1024 x 50 feature batch) must stay cheap.
LARGE_SCENARIOS = ("slot_count/large_million_fids", "feature_dump/large_1024x50")
LARGE_SECONDS = 10.0
# A golden file bigger than this makes the repository heavy for little gain.
MAX_GOLDEN_FILE_BYTES = 3 * 1024 * 1024


def _families() -> list[str]:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return list(schema["properties"]["family"]["enum"])


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return load_all()


@pytest.fixture(scope="module")
def registry() -> list[quirks.Quirk]:
    return quirks.load()


# -- the corpus itself --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", list(discover()), ids=lambda p: p.relative_to(FIXTURES_DIR).as_posix()
)
def test_scenario_loads(path: Path) -> None:
    scenario = load(path)
    assert scenario.description.strip(), f"{scenario.id}: empty description"


def test_corpus_size_and_families(scenarios: list[Scenario]) -> None:
    assert len(scenarios) >= MIN_SCENARIOS, f"only {len(scenarios)} scenarios"
    present = {s.family for s in scenarios}
    missing = sorted(set(_families()) - present)
    assert not missing, f"no scenario for famil(ies) {missing}"


def test_descriptions_unique(scenarios: list[Scenario]) -> None:
    seen: dict[str, str] = {}
    for s in scenarios:
        assert s.description not in seen, (
            f"{s.id} repeats the description of {seen.get(s.description)}"
        )
        seen[s.description] = s.id


def test_large_inputs_present(scenarios: list[Scenario]) -> None:
    ids = {s.id for s in scenarios}
    assert set(LARGE_SCENARIOS) <= ids


def test_multi_worker_barrier_schedules(scenarios: list[Scenario]) -> None:
    """Controller scenarios with workers behind a barrier of capacity 3-4 and StopHelpers."""
    schedules = [
        s
        for s in scenarios
        if s.family == "controller"
        and s.config.get("workers")
        and s.config.get("stop_helper")
        and 3 <= s.config.get("barrier", {}).get("capacity", 0) <= 4
    ]
    assert len(schedules) >= 2, [s.id for s in schedules]
    ops = {step["op"] for s in scenarios if s.family == "barrier" for step in s.steps}
    assert {"start_workers", "wait", "query"} <= ops


# -- quirks -------------------------------------------------------------------------------


def test_every_quirk_pinned_and_every_pin_registered(
    registry: list[quirks.Quirk], scenarios: list[Scenario]
) -> None:
    assert quirks.pin_problems(registry, scenarios) == []


def test_quirks_doc_is_fresh(registry: list[quirks.Quirk], scenarios: list[Scenario]) -> None:
    expected = quirks.render_markdown(registry, scenarios)
    actual = quirks.DOC_PATH.read_text(encoding="utf-8")
    assert actual == expected, "docs/quirks.md is stale: run python -m harness.quirks --write"


def test_quirks_check_command() -> None:
    assert quirks.main(["--check"]) == 0


def test_render_markdown_lists_pinning_scenarios() -> None:
    registry = [
        quirks.Quirk("a-b", "Pipes | escaped.", "monolith/x.py", "x"),
        quirks.Quirk("c", "C.", "idl/y.proto", "y"),
    ]
    fake = [
        Scenario(id="fam/two", family="fam", description="d", config={}, steps=[], pins=["a-b"]),
        Scenario(id="fam/one", family="fam", description="d", config={}, steps=[], pins=["a-b"]),
    ]
    text = quirks.render_markdown(registry, fake)
    row = "| `a-b` | Pipes \\| escaped. | `monolith/x.py` | [x](original.md#x) | "
    pins = "[`fam/one`](../fixtures/fam/one.json), [`fam/two`](../fixtures/fam/two.json)"
    assert row + pins + " |" in text
    assert "| `c` | C. | `idl/y.proto` | [y](original.md#y) | (none) |" in text


GOOD = {
    "id": "some-quirk",
    "summary": "A sentence.",
    "original": "monolith/a.py",
    "behaviour": "barrier_ops",
}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "x"}, "expected a list"),
        (["x"], "[0]: expected an object"),
        ([{**GOOD, "id": "Not_Kebab"}], "is not kebab-case"),
        ([GOOD, GOOD], "already used by entry [0]"),
        ([{k: v for k, v in GOOD.items() if k != "behaviour"}], "missing field(s) behaviour"),
        ([{**GOOD, "behaviour": "FACTS.md"}], "is not a section of docs/original.md"),
        ([{**GOOD, "extra": 1}], "unknown field(s) extra"),
        ([{**GOOD, "summary": ""}], ".summary: must be a non-empty string"),
        ([{**GOOD, "summary": "No full stop"}], "must be one sentence"),
        ([{**GOOD, "original": "/abs/path.py"}], "is not a file path in the Monolith"),
    ],
)
def test_registry_validation_errors(data: object, message: str) -> None:
    with pytest.raises(quirks.QuirkError) as info:
        quirks.parse_registry(data, "quirks.json")
    assert message in str(info.value)
    assert str(info.value).startswith("quirks.json: ")


def test_unknown_pin_and_unpinned_quirk_reported() -> None:
    registry = [
        quirks.Quirk("known", "K.", "monolith/a.py", "s"),
        quirks.Quirk("lonely", "L.", "monolith/a.py", "s"),
    ]
    scenario = Scenario(
        id="f/n",
        family="f",
        description="d",
        config={},
        steps=[],
        pins=["known", "typo"],
        path="f/n.json",
    )
    problems = quirks.pin_problems(registry, [scenario])
    assert problems == [
        "f/n.json: pins: 'typo' is not in the quirk registry",
        "quirk 'lonely' is pinned by no scenario",
    ]


# -- goldens ------------------------------------------------------------------------------


def test_golden_manifest_consistent(scenarios: list[Scenario]) -> None:
    assert verify_manifest(GOLDEN_DIR) == []
    assert stale_dirs(scenarios, GOLDEN_DIR) == []


def test_golden_files_small() -> None:
    big = {
        rel: p.stat().st_size
        for rel, p in files_under(GOLDEN_DIR).items()
        if p.stat().st_size > MAX_GOLDEN_FILE_BYTES
    }
    assert not big, f"golden files over {MAX_GOLDEN_FILE_BYTES} bytes: {big}"


def test_reference_reproduces_every_golden(scenarios: list[Scenario], tmp_path: Path) -> None:
    """The main parity test: the in-process reference against the whole golden corpus."""
    impl = InProcessReference()
    try:
        results = run_corpus(scenarios, impl, tmp_path)
    finally:
        impl.close()
    failed = [f"{r.scenario}: {r.status}\n{r.explanation()}" for r in results if not r.ok]
    assert not failed, "\n\n".join(failed)
    assert len(results) == len(scenarios)
    large = sum(r.seconds for r in results if r.scenario in LARGE_SCENARIOS)
    assert large < LARGE_SECONDS, f"the large scenarios took {large:.1f} s together"


def test_regeneration_is_deterministic(scenarios: list[Scenario], tmp_path: Path) -> None:
    """Two regenerations into fresh roots give identical trees, equal to the committed one."""
    trees = []
    for name in ("first", "second"):
        root = tmp_path / name
        regenerate(scenarios, InProcessReference(), root)
        trees.append({rel: p.read_bytes() for rel, p in files_under(root).items()})
    first, second = trees
    assert sorted(first) == sorted(second)
    differing = [rel for rel in first if first[rel] != second[rel]]
    assert not differing, f"regeneration is not deterministic: {differing[:10]}"
    committed = {
        rel: p.read_bytes() for rel, p in files_under(GOLDEN_DIR).items() if rel != CERTIFICATE
    }
    assert sorted(first) == sorted(committed), "golden/ is not what regeneration writes"
    stale = [rel for rel in first if first[rel] != committed[rel]]
    assert not stale, f"golden/ differs from a fresh regeneration: {stale[:10]}"
