"""``harness fuzz`` finds deliberately wrong testees and shrinks each divergence to a small
scenario that then fails against that testee and passes against the reference.

The wrong testees (``testees/wrong.py``) are the reference with one output altered in one
rare situation. Every search is seeded and bounded by an example count or a time budget;
nothing here asserts on timing (the budget only has to be enough: a seeded search finds
its divergence after a fixed number of examples).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.fuzz import FuzzOptions, FuzzResult, fuzz
from harness.golden import verify_manifest
from harness.scenario import load_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TESTEES = Path(__file__).resolve().parent / "testees"
PROJECT = Path(__file__).resolve().parents[2]
REFERENCE = f"{sys.executable} -m reference.testee"


def wrong(name: str) -> str:
    return f"{sys.executable} {TESTEES / 'wrong.py'} {name}"


def run_fuzz(tmp: Path, impl: str, family: str, seed: int, **kw: Any) -> FuzzResult:
    lines: list[str] = []
    options = FuzzOptions(
        impl=impl,
        families=[family],
        seconds=kw.pop("seconds", 60.0),
        # Shrinking to the end (bounded by hypothesis), however loaded the machine.
        shrink_seconds=kw.pop("shrink_seconds", 400.0),
        seed=seed,
        work=kw.pop("work", tmp / "work"),
        **kw,
    )
    result = fuzz(options, say=lines.append)
    result.lines = lines  # type: ignore[attr-defined]
    return result


def fid_count(values: list[Any]) -> int:
    """Literal fids plus generated ones in a value list."""
    return sum(int(v["count"]) if isinstance(v, dict) else 1 for v in values)


# wrong testee, family, seed, the artifact kind that differs, and what "small" means.
CASES = {
    "ckpt_slots": ("slot_count", 1, "ckpt_info"),
    "short_last_feature": ("feature_dump", 1, "example_batch_stream"),
    "second_action": ("controller", 2, "action_file"),
}


def small(family: str, scenario: dict[str, Any]) -> list[str]:
    """Why ``scenario`` is not small (empty when it is)."""
    problems = []
    steps, config = scenario["steps"], scenario["config"]
    if len(steps) > 5:
        problems.append(f"{len(steps)} steps")
    if family == "slot_count":
        fids = sum(fid_count(t["fids"]) for t in config["tables"])
        fids += sum(fid_count(s["fids"]) for s in steps if s["op"] == "assign")
        if fids > 8:  # four slots are needed: a few fids
            problems.append(f"{fids} fids")
    if family == "feature_dump":
        if len(config["batches"]) > 3:
            problems.append(f"{len(config['batches'])} batches")
        if sum(len(b) for b in config["batches"]) > 5:
            problems.append("more than 5 features")
    return problems


@pytest.mark.parametrize("name", sorted(CASES))
def test_finds_the_wrong_testee_and_saves_a_minimal_failing_scenario(
    name: str, tmp_path: Path
) -> None:
    family, seed, kind = CASES[name]
    save = tmp_path / "save"
    result = run_fuzz(tmp_path, wrong(name), family, seed, save=save)
    report = "\n".join(result.lines)  # type: ignore[attr-defined]
    assert result.exit_code == 1, report
    assert len(result.findings) == 1, report
    finding = result.findings[0]
    assert finding.shrunk, report
    assert finding.failure is None, report
    assert {d.kind for d in finding.differences} == {kind}, report
    assert "DIVERGENCE in " + family in report and finding.name in report
    assert small(family, finding.scenario) == [], report

    # The saved scenario is a scenario file; its golden is the reference's output.
    assert finding.saved == save / "fixtures" / family / f"{finding.name}.json"
    saved = json.loads(finding.saved.read_text(encoding="utf-8"))
    assert (saved["config"], saved["steps"]) == (
        finding.scenario["config"],
        finding.scenario["steps"],
    )
    [scenario] = load_all(save / "fixtures")
    assert scenario.id == f"{family}/{finding.name}"
    golden = save / "golden" / scenario.id
    assert sorted(p.name for p in golden.iterdir()) == ["files", "listing.txt", "trace.jsonl"]
    assert verify_manifest(save / "golden") == []

    # Judged like the corpus: it fails against the wrong testee, passes on the reference.
    def judge(impl: str, work: str) -> int:
        return cli.main(
            [
                "--fixtures",
                str(save / "fixtures"),
                "--golden",
                str(save / "golden"),
                "run",
                "--impl",
                impl,
                "--work",
                str(tmp_path / work),
            ]
        )

    assert judge(wrong(name), "judge-wrong") == 1
    assert judge("reference", "judge-reference") == 0
    assert judge(REFERENCE, "judge-reference-testee") == 0


def test_the_seed_fixes_the_examples(tmp_path: Path) -> None:
    def digest(seed: int, work: str) -> str:
        result = run_fuzz(
            tmp_path, REFERENCE, "controller", seed, examples=20, seconds=600, work=tmp_path / work
        )
        assert result.exit_code == 0
        return result.counts.examples_digest.hexdigest()

    first = digest(3, "a")
    assert digest(3, "b") == first
    assert digest(4, "c") != first


def test_the_database_replays_a_found_divergence_first(tmp_path: Path) -> None:
    family, seed, _ = CASES["ckpt_slots"]
    first = run_fuzz(tmp_path, wrong("ckpt_slots"), family, seed)
    assert first.exit_code == 1
    assert first.found_after[0] > 1
    assert any((tmp_path / "work" / "examples" / family).iterdir())
    # Another seed, but the same database: the case found is the first example run.
    again = run_fuzz(tmp_path, wrong("ckpt_slots"), family, seed + 100)
    assert again.exit_code == 1
    assert again.found_after == [1]
    assert again.findings[0].size <= first.findings[0].size  # shrinking can only go on


def test_a_correct_testee_has_no_divergence(tmp_path: Path) -> None:
    for family in ("slot_count", "controller", "feature_dump", "barrier", "hook_utils"):
        result = run_fuzz(tmp_path, REFERENCE, family, 7, examples=15, seconds=600)
        report = "\n".join(result.lines)  # type: ignore[attr-defined]
        assert result.exit_code == 0, report
        assert result.findings == []
        assert result.counts.compared[family] + result.counts.skipped == 15, report
        assert "fuzz: no divergence found" in report


def test_a_declared_deviation_is_not_reported(tmp_path: Path) -> None:
    """The ckpt_slots testee fails a corpus scenario whose ckpt.info has four slots;
    declaring that scenario covers the same divergence in generated scenarios."""
    family, seed, _ = CASES["ckpt_slots"]
    found = run_fuzz(tmp_path, wrong("ckpt_slots"), family, seed, work=tmp_path / "w1")
    [examples] = found.found_after
    deviations = tmp_path / "deviations.json"
    deviations.write_text(
        json.dumps(
            {
                "implementation": "ckpt-slots",
                "deviations": [
                    {"scenario": "slot_count/assign_between_saves", "reason": "drops a slot"}
                ],
            }
        ),
        encoding="utf-8",
    )
    result = run_fuzz(
        tmp_path,
        wrong("ckpt_slots"),
        family,
        seed,
        work=tmp_path / "w2",
        deviations=str(deviations),
        examples=examples + 5,
        seconds=600,
    )
    assert result.exit_code == 0, "\n".join(result.lines)  # type: ignore[attr-defined]
    assert result.counts.declared >= 1


def test_usage_and_setup_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    work = str(tmp_path / "w")
    assert cli.main(["fuzz", "--impl", str(tmp_path / "no-such-testee"), "--work", work]) == 2
    assert "the testee does not start" in capsys.readouterr().err
    assert cli.main(["fuzz", "--impl", REFERENCE, "--seconds", "0", "--work", work]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"deviations": [{"scenario": "nope/none", "reason": "x"}]}')
    code = cli.main(["fuzz", "--impl", REFERENCE, "--deviations", str(bad), "--work", work])
    assert code == 2
    assert "no scenario 'nope/none'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["fuzz", "--impl", REFERENCE, "--family", "nope"])
    assert e.value.code == 2


def test_the_cli_works_without_hypothesis_and_fuzz_says_what_is_missing() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from harness.cli import main\n"
        "assert main(['list']) == 0\n"
        "sys.exit(main(['fuzz', '--impl', 'reference']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "fuzz needs hypothesis: pip install 'monolith-hook-parity[fuzz]'" in done.stderr
    assert "slot_count/basic" in done.stdout
