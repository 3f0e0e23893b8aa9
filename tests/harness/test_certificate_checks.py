"""The certificate: digests, statuses, and what verify makes of them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness import certificate
from harness.golden import GOLDEN_DIR, build_manifest
from harness.runner import FAILED, NOT_APPLICABLE, PASSED, ScenarioResult
from harness.scenario import FIXTURES_DIR, load_all

IDS = ["hook_utils/lifecycle", "slot_count/basic", "feature_dump/zero_rows"]


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[list, Path]:
    """Three scenarios and a copy of their goldens."""
    scenarios = [s for s in load_all(FIXTURES_DIR) if s.id in IDS]
    golden = tmp_path / "golden"
    for s in scenarios:
        shutil.copytree(GOLDEN_DIR / s.id, golden / s.id)
    return sorted(scenarios, key=lambda s: IDS.index(s.id)), golden


def _result(sid: str, status: str, reason: str | None = None) -> ScenarioResult:
    return ScenarioResult(scenario=sid, implementation="original", status=status, reason=reason)


def _runs(*statuses: str) -> list[ScenarioResult]:
    reasons = {NOT_APPLICABLE: "a tf.data dataset's elements all have the same keys"}
    return [_result(sid, st, reasons.get(st)) for sid, st in zip(IDS, statuses, strict=True)]


def test_agreed_and_not_applicable_certify_and_verify(corpus: tuple[list, Path]) -> None:
    scenarios, golden = corpus
    upstream = certificate.PINNED_UPSTREAM
    built = certificate.build(scenarios, [_runs(PASSED, PASSED, NOT_APPLICABLE)], golden, upstream)
    assert built["summary"] == {"agreed": 2, "not_applicable": 1}
    assert built["scenarios"]["feature_dump/zero_rows"]["reason"].startswith("a tf.data")
    certificate.write(built, golden)
    written = json.loads((golden / "CERTIFICATE.json").read_text())["upstream"]
    assert written == certificate.PINNED_UPSTREAM
    check = certificate.check(scenarios, golden)
    assert check.ok and check.summary() == "2 certified, 1 not applicable, 0 uncertified"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"commit": "c" * 40},
            f"certificate: upstream commit is {'c' * 40!r}; the goldens certify "
            f"{certificate.PINNED_UPSTREAM['commit']!r} (harness.certificate.PINNED_UPSTREAM)",
        ),
        (
            {"modules": {}},
            "certificate: upstream module monolith/native_training/barrier_ops.py: sha256 "
            f"None, pinned "
            f"{certificate.PINNED_UPSTREAM['modules']['monolith/native_training/barrier_ops.py']!r}",
        ),
        (
            {"repository": "someone/monolith"},
            "certificate: upstream repository is 'someone/monolith'; the goldens certify "
            "'bytedance/monolith' (harness.certificate.PINNED_UPSTREAM)",
        ),
    ],
    ids=["another-commit", "no-module-hashes", "another-repository"],
)
def test_a_certificate_of_another_upstream_certifies_nothing(
    corpus: tuple[list, Path], change: dict, problem: str
) -> None:
    """Before: a certificate claiming another commit, or no module hashes, still passed."""
    scenarios, golden = corpus
    upstream = {**certificate.PINNED_UPSTREAM, **change}
    runs = [_runs(PASSED, PASSED, NOT_APPLICABLE)]
    certificate.write(certificate.build(scenarios, runs, golden, upstream), golden)
    check = certificate.check(scenarios, golden)
    assert not check.ok
    assert check.lines()[0] == problem


def test_a_golden_changed_after_certifying_is_uncertified(corpus: tuple[list, Path]) -> None:
    scenarios, golden = corpus
    certificate.write(
        certificate.build(
            scenarios, [_runs(PASSED, PASSED, PASSED)], golden, certificate.PINNED_UPSTREAM
        ),
        golden,
    )
    (golden / "slot_count/basic/listing.txt").write_bytes(b"model/\n")
    check = certificate.check(scenarios, golden)
    assert check.uncertified == [
        ("slot_count/basic", "the scenario or its golden changed since it was certified")
    ]
    assert check.summary() == "2 certified, 0 not applicable, 1 uncertified"


def test_a_disagreement_or_an_unstable_outcome_is_uncertified(corpus: tuple[list, Path]) -> None:
    scenarios, golden = corpus
    first, second = _runs(PASSED, PASSED, PASSED), _runs(PASSED, FAILED, PASSED)
    built = certificate.build(scenarios, [first, second], golden, {})
    assert built["scenarios"]["slot_count/basic"]["status"] == "disagreed"
    assert built["scenarios"]["slot_count/basic"]["runs"] == 2
    certificate.write(built, golden)
    assert [sid for sid, _ in certificate.check(scenarios, golden).uncertified] == [
        "slot_count/basic"
    ]


def test_a_missing_scenario_and_a_missing_certificate(corpus: tuple[list, Path]) -> None:
    scenarios, golden = corpus
    with pytest.raises(certificate.CertificateError, match=r"CERTIFICATE\.json: missing"):
        certificate.check(scenarios, golden)
    certificate.write(
        certificate.build(scenarios[:2], [_runs(PASSED, PASSED, PASSED)[:2]], golden, {}), golden
    )
    assert certificate.check(scenarios, golden).uncertified == [
        ("feature_dump/zero_rows", "not in the certificate")
    ]


def test_the_certificate_is_not_a_golden_file(corpus: tuple[list, Path]) -> None:
    scenarios, golden = corpus
    before = build_manifest(golden)
    certificate.write(
        certificate.build(
            scenarios, [_runs(PASSED, PASSED, PASSED)], golden, certificate.PINNED_UPSTREAM
        ),
        golden,
    )
    assert build_manifest(golden) == before
