"""``harness fuzz`` finds deliberately wrong testees and shrinks each divergence to a small
scenario that then fails against that testee and passes against the reference.

The wrong testees (``testees/wrong.py``) are the reference with one output altered in one
rare situation. ``fuzz`` runs as its command line does, in a fresh process: hypothesis
mixes literal constants of the modules loaded in the process into what it generates, so
a seed fixes the search of ``python -m harness fuzz``, not of a fuzz called from inside
a test run that has loaded other modules. Every search is seeded and bounded by a time
budget or an example count; nothing here asserts on timing (a seeded search finds its
divergence after a fixed number of examples; the budget only has to be enough).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.golden import verify_manifest
from harness.scenario import load_all

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TESTEES = Path(__file__).resolve().parent / "testees"
PROJECT = Path(__file__).resolve().parents[2]
REFERENCE = f"{sys.executable} -m reference.testee"


def wrong(name: str) -> str:
    return f"{sys.executable} {TESTEES / 'wrong.py'} {name}"


@dataclass
class Fuzzed:
    code: int
    text: str  # what it printed (the report goes to stderr)

    @property
    def found_after(self) -> list[int]:
        return [
            int(n) for n in re.findall(r"divergence found after .*?\((\d+) examples\)", self.text)
        ]

    @property
    def saved(self) -> list[Path]:
        return [Path(p) for p in re.findall(r"^saved as (.+)$", self.text, re.M)]

    @property
    def digest(self) -> str:
        [digest] = re.findall(r"^fuzz: examples digest ([0-9a-f]+)$", self.text, re.M)
        return digest


def fuzz(tmp: Path, impl: str, *args: str, work: str = "work") -> Fuzzed:
    """``python -m harness fuzz --impl IMPL ARGS`` in a fresh process (shrinking to the end,
    whatever the load)."""
    argv = [sys.executable, "-m", "harness", "fuzz", "--impl", impl, "--work", str(tmp / work)]
    argv += ["--shrink-seconds", "600", *args]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp, timeout=840, check=False
    )
    return Fuzzed(done.returncode, done.stdout + done.stderr)


def fid_count(values: list[Any]) -> int:
    """Literal fids plus generated ones in a value list."""
    return sum(int(v["count"]) if isinstance(v, dict) else 1 for v in values)


# wrong testee: family, seed, the artifact kind that differs.
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
    run = fuzz(
        tmp_path, wrong(name), "--family", family, "--seed", str(seed), "--seconds", "60",
        "--save", str(save),
    )  # fmt: skip
    assert run.code == 1, run.text
    assert len(run.found_after) == 1, run.text
    assert f"DIVERGENCE in {family} (shrunk;" in run.text
    assert f"[{kind}]" in run.text and "implementation failure" not in run.text
    [saved] = run.saved
    assert saved.parent == save / "fixtures" / family and saved.name.startswith("fuzz-")
    scenario_json = json.loads(saved.read_text(encoding="utf-8"))
    assert small(family, scenario_json) == [], run.text

    # The saved scenario is a scenario file; its golden is the reference's output.
    [scenario] = load_all(save / "fixtures")
    assert scenario.id == f"{family}/{saved.stem}"
    golden = save / "golden" / scenario.id
    assert sorted(p.name for p in golden.iterdir()) == ["files", "listing.txt", "trace.jsonl"]
    assert verify_manifest(save / "golden") == []

    # Judged like the corpus: it fails against the wrong testee, passes on the reference.
    def judge(impl: str, work: str) -> int:
        return cli.main(
            ["--fixtures", str(save / "fixtures"), "--golden", str(save / "golden"),
             "run", "--impl", impl, "--work", str(tmp_path / work)]
        )  # fmt: skip

    assert judge(wrong(name), "judge-wrong") == 1
    assert judge("reference", "judge-reference") == 0
    assert judge(REFERENCE, "judge-reference-testee") == 0


def test_the_seed_fixes_the_examples(tmp_path: Path) -> None:
    def digest(seed: int, work: str) -> str:
        run = fuzz(
            tmp_path, REFERENCE, "--family", "controller", "--examples", "20",
            "--seconds", "600", "--seed", str(seed), work=work,
        )  # fmt: skip
        assert run.code == 0, run.text
        return run.digest

    first = digest(3, "a")
    assert digest(3, "b") == first
    assert digest(4, "c") != first


def test_the_database_replays_a_found_divergence_first(tmp_path: Path) -> None:
    family, seed, _ = CASES["second_action"]
    args = ("--family", family, "--seconds", "60")
    first = fuzz(tmp_path, wrong("second_action"), *args, "--seed", str(seed))
    assert first.code == 1, first.text
    assert first.found_after[0] > 1, first.text
    assert any((tmp_path / "work" / "examples" / family).iterdir())
    # Another seed, but the same database: the case found is the first example run.
    again = fuzz(tmp_path, wrong("second_action"), *args, "--seed", str(seed + 100))
    assert again.code == 1, again.text
    assert again.found_after == [1], again.text


def test_keep_going_reports_each_kind_of_divergence_once(tmp_path: Path) -> None:
    both = wrong("ckpt_slots") + " second_action"
    run = fuzz(
        tmp_path, both, "--family", "slot_count", "--family", "controller", "--seed", "3",
        "--seconds", "90", "--keep-going", "--save", str(tmp_path / "save"),
    )  # fmt: skip
    assert run.code == 1, run.text
    assert {p.parent.name for p in run.saved} == {"controller", "slot_count"}, run.text
    found = len(run.saved)
    assert run.text.count("DIVERGENCE in ") == len(run.found_after) == found
    assert f"fuzz: {found} divergence(s)" in run.text
    # Each report is another kind: never the same family and set of differing artifacts.
    kinds = [
        (chunk.split()[0], frozenset(re.findall(r"^\S+ \[(\w+)\]: ", chunk, re.M)))
        for chunk in run.text.split("DIVERGENCE in ")[1:]
    ]
    assert len(set(kinds)) == found, run.text


def test_a_correct_testee_has_no_divergence(tmp_path: Path) -> None:
    run = fuzz(tmp_path, REFERENCE, "--examples", "60", "--seconds", "600", "--seed", "7")
    assert run.code == 0, run.text
    assert "DIVERGENCE" not in run.text
    assert "fuzz: no divergence found" in run.text
    for family in ("slot_count", "controller", "feature_dump", "barrier", "hook_utils"):
        assert re.search(rf"\b{family} [1-9]", run.text), run.text  # each one compared


def test_a_declared_deviation_is_not_reported(tmp_path: Path) -> None:
    """The ckpt_slots testee fails a corpus scenario whose ckpt.info has four slots;
    declaring that scenario covers the same divergence in generated scenarios."""
    family, seed, _ = CASES["ckpt_slots"]
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
    run = fuzz(
        tmp_path, wrong("ckpt_slots"), "--family", family, "--seed", str(seed),
        "--deviations", str(deviations), "--examples", "150", "--seconds", "600",
    )  # fmt: skip
    assert run.code == 0, run.text
    assert re.search(r"; [1-9]\d* declared", run.text), run.text
    assert "DIVERGENCE" not in run.text


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
