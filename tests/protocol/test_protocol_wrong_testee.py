"""A wrong testee (feature files without record framing) fails exactly the scenarios that
write a feature file; declared deviations turn those into expected deviations."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from harness.adapters.subprocess_testee import SubprocessTestee
from harness.deviations import load_deviations
from harness.golden import GOLDEN_DIR
from harness.runner import EXPECTED_DEVIATION, FAILED, PASSED, UNEXPECTED_PASS, run_corpus
from harness.scenario import Scenario


def writes_feature_file(scenario: Scenario) -> bool:
    listing = (GOLDEN_DIR / scenario.id / "listing.txt").read_text(encoding="utf-8")
    return any(
        line.endswith(".pb") and "features/" in line and not line.endswith("/")
        for line in listing.splitlines()
    )


@pytest.fixture(scope="module")
def unframed(
    corpus: list[Scenario],
    script_argv: Callable[..., list[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., list]:
    """Runs the corpus on the no-framing testee, with an optional deviations file."""
    work = tmp_path_factory.mktemp("unframed")

    def run(deviations: dict | None = None) -> list:
        path = None
        if deviations is not None:
            path = work / f"deviations-{len(list(work.iterdir()))}.json"
            path.write_text(json.dumps(deviations), encoding="utf-8")
        testee = SubprocessTestee(script_argv("no_framing.py"), name="no-framing")
        try:
            return run_corpus(
                corpus, testee, work / "out", deviations=load_deviations(path, corpus)
            )
        finally:
            testee.close()

    return run


def test_fails_exactly_the_feature_file_scenarios(
    corpus: list[Scenario], unframed: Callable[..., list]
) -> None:
    expected_failures = {
        s.id for s in corpus if s.family == "feature_dump" and writes_feature_file(s)
    }
    assert expected_failures, "the corpus has no feature_dump scenario writing a feature file"
    results = unframed()
    assert {r.scenario for r in results if r.status == FAILED} == expected_failures
    assert all(r.status == PASSED for r in results if r.scenario not in expected_failures)
    for r in results:
        if r.scenario in expected_failures:
            assert r.failure is None, "a wrong output is a mismatch, not a testee failure"
            text = r.explanation()
            feature_diffs = [d for d in r.differences if d.kind == "example_batch_stream"]
            assert feature_diffs, text
            for d in feature_diffs:
                assert "record" in d.explanation, text
                if d.explanation.startswith("actual stream is malformed"):
                    assert "offset" in d.explanation, text


def test_declared_deviations(corpus: list[Scenario], unframed: Callable[..., list]) -> None:
    wrong = sorted(s.id for s in corpus if s.family == "feature_dump" and writes_feature_file(s))
    passing = next(s.id for s in corpus if s.family != "feature_dump")
    declared = {
        "implementation": "no-framing",
        "deviations": [
            *({"scenario": sid, "reason": "feature records are not framed"} for sid in wrong),
            {"scenario": passing, "reason": "declared but not actually different"},
        ],
    }
    results = {r.scenario: r for r in unframed(declared)}
    for sid in wrong:
        assert results[sid].status == EXPECTED_DEVIATION
        assert results[sid].ok
    assert results[passing].status == UNEXPECTED_PASS
    assert not results[passing].ok
    assert "declared as a deviation" in results[passing].explanation()
    others = set(results) - {*wrong, passing}
    assert all(results[sid].status == PASSED for sid in others)
