"""The verification checklist is checked off only from passing scenarios."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import checklist
from harness.adapters.inprocess import InProcessReference
from harness.runner import EXPECTED_DEVIATION, FAILED, ScenarioResult, run_corpus
from harness.scenario import Scenario

SEED_FILES = {
    "monolith/native_training/hooks/ckpt_info_test.py",
    "monolith/native_training/hooks/controller_hooks.py",
    "monolith/native_training/hooks/controller_hooks_test.py",
    "monolith/native_training/hooks/feature_engineering_hooks.py",
    "monolith/native_training/hooks/hook_utils.py",
}


@pytest.fixture(scope="module")
def results(corpus: list[Scenario], tmp_path_factory: pytest.TempPathFactory) -> list:
    return run_corpus(corpus, InProcessReference(), tmp_path_factory.mktemp("checklist"))


def by_path(cls: list[checklist.FileChecklist]) -> dict[str, checklist.FileChecklist]:
    return {c.path: c for c in cls}


def test_every_seed_file_has_the_ten_items(results: list, corpus: list[Scenario]) -> None:
    cls = checklist.evaluate(results, corpus)
    assert {c.path for c in cls if c.in_plan} == SEED_FILES
    for c in cls:
        assert [i.item for i in c.items] == list(checklist.ITEMS)
        manual = [i for i in c.items if i.item in checklist.MANUAL]
        assert manual and not any(i.checked for i in manual)


def test_checked_only_when_every_backing_scenario_passed(
    results: list[ScenarioResult], corpus: list[Scenario]
) -> None:
    passing = by_path(checklist.evaluate(results, corpus))
    checked = [(p, i) for p, c in passing.items() for i in c.items if i.checked]
    assert checked, "the reference passes everything: something must be checked"
    for _, item in checked:
        assert item.scenarios and "passed" in item.why

    victim = checked[0][1].scenarios[0]
    for status in (FAILED, EXPECTED_DEVIATION):
        changed = [
            dataclasses.replace(r, status=status) if r.scenario == victim else r for r in results
        ]
        after = by_path(checklist.evaluate(changed, corpus))
        for path, item in checked:
            now = next(i for i in after[path].items if i.item == item.item)
            if victim in item.scenarios:
                assert not now.checked and victim in now.why and status in now.why
            else:
                assert now.checked

    missing = [r for r in results if r.scenario != victim]
    after = by_path(checklist.evaluate(missing, corpus))
    for path, item in checked:
        now = next(i for i in after[path].items if i.item == item.item)
        assert now.checked == (victim not in item.scenarios)
        if victim in item.scenarios:
            assert "not run" in now.why


def test_no_scenario_no_check(results: list, corpus: list[Scenario], tmp_path: Path) -> None:
    cls = checklist.evaluate([], [])
    assert not any(i.checked for c in cls for i in c.items)
    assert all(
        "no scenario backs it yet" in i.why or "manual" in i.why for c in cls for i in c.items
    )


def test_renderings(results: list, corpus: list[Scenario]) -> None:
    cls = checklist.evaluate(results, corpus)
    md = checklist.render_markdown(cls, "reference")
    assert md.startswith("## Verification checklist: reference")
    assert "- [x] Cross-language parity test completed" in md
    assert "- [ ] Performance risks documented" in md
    # a run cannot show that every public name has a counterpart: the port ticks it
    assert "- [ ] All public functions/classes mapped in the port — manual: no run can show" in md
    assert "mapped to" not in md
    fragment = checklist.render_html(cls, "<ref>")
    assert fragment.startswith('<section class="checklist">') and "&lt;ref&gt;" in fragment
    assert "<html" not in fragment and "disabled checked" in fragment
    assert checklist.markdown(results, corpus) == md


def test_every_reproduced_original_test_exists(corpus: list[Scenario]) -> None:
    """A renamed scenario must not silently un-back an original test method."""
    facts = [checklist.facts(s) for s in corpus]
    for spec in checklist.FILES:
        for method, select in spec.test_methods.items():
            assert any(select(f) for f in facts), f"{spec.path}: {method} has no scenario"
