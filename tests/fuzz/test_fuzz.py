"""``harness fuzz`` finds deliberately wrong testees and shrinks each divergence to a small
scenario that then fails against that testee and passes against the reference.

The wrong testees (``testees/wrong.py``) are the reference with one output altered in one
rare situation. ``fuzz`` runs as its command line does, in a fresh process (see MAIN).

No search here depends on how fast the machine is: every one has a fixed seed and ends by
its example count (``--examples``, which without ``--seconds`` sets no time budget for the
search or its shrinking), with hypothesis's own five-minute limit on shrinking lifted, so a
seed gives the same findings, shrunk as far as they go, on an idle or a loaded machine;
the assertions are exact for their seeds. The tests of the time budgets themselves run
``fuzz`` on a virtual clock.
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
# Examples a search for one wrong testee may take (each is found in well under 100).
EXAMPLES = 500

# ``python -m harness`` (what harness/__main__.py runs) with two changes to hypothesis, so
# that a seed gives the same search on any machine and whatever the project's source:
# - its own limit on shrinking time (MAX_SHRINKING_SECONDS: five minutes of real time,
#   monkeypatchable by design) is lifted: shrinking ends only by its step limits;
# - it draws no literal constants from the project's modules (recent hypothesis mixes
#   the literals of every loaded local module into what it generates, so an edit to any
#   string in harness/ or reference/ would change what a seed finds and how far it
#   shrinks). Without the function (older hypothesis) there is nothing to turn off.
# With ``virtual_clock``, the fuzz module's clock reads one second later at each
# reading, so its time budgets end a search after a fixed amount of work.
MAIN = """\
import sys
from hypothesis.internal.conjecture import engine, providers
engine.MAX_SHRINKING_SECONDS = 10**9
if hasattr(providers, "_get_local_constants"):
    no_constants = providers.Constants()
    providers._get_local_constants = lambda: no_constants
if {virtual_clock}:
    import itertools, types
    import harness.fuzz
    readings = itertools.count()
    harness.fuzz.time = types.SimpleNamespace(monotonic=lambda: float(next(readings)))
from harness.cli import main
sys.exit(main())
"""


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


def fuzz(
    tmp: Path,
    impl: str,
    *args: str,
    seed: int,
    examples: int | None,
    seconds: float | None = None,
    shrink_seconds: float | None = None,
    virtual_clock: bool = False,
    work: str = "work",
) -> Fuzzed:
    """``python -m harness fuzz --impl IMPL ARGS`` in a fresh process (see MAIN), seeded and
    ending by ``examples`` (with ``--keep-going``: each round's); time budgets
    (``seconds``, ``shrink_seconds``) are given only on the virtual clock. ``--timeout``
    (seconds for one testee reply) only guards against a hang: no reply here takes a
    second."""
    assert examples is not None or virtual_clock, "on the real clock, end by an example count"
    code = MAIN.format(virtual_clock=virtual_clock)
    argv = [sys.executable, "-c", code, "fuzz", "--impl", impl, "--work", str(tmp / work)]
    assert virtual_clock or seconds is shrink_seconds is None, "no wall-clock budgets"
    argv += ["--seed", str(seed), "--timeout", "300"]
    for flag, budget in (("--seconds", seconds), ("--shrink-seconds", shrink_seconds)):
        if budget is not None:  # virtual seconds: one passes per clock reading
            argv += [flag, str(budget)]
    if examples is not None:
        argv += ["--examples", str(examples)]
    argv += args
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=tmp, timeout=840, check=False
    )  # the timeout only ends a hung run: these take seconds to a few minutes under load
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


def judge(save: Path, impl: str, work: Path) -> int:
    """``run`` of the scenarios saved under ``save`` against their goldens."""
    return cli.main(
        ["--fixtures", str(save / "fixtures"), "--golden", str(save / "golden"),
         "run", "--impl", impl, "--work", str(work)]
    )  # fmt: skip


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
        tmp_path, wrong(name), "--family", family, "--save", str(save),
        seed=seed, examples=EXAMPLES,
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
    assert judge(save, wrong(name), tmp_path / "judge-wrong") == 1
    assert judge(save, "reference", tmp_path / "judge-reference") == 0
    assert judge(save, REFERENCE, tmp_path / "judge-reference-testee") == 0


def test_the_seed_fixes_the_examples(tmp_path: Path) -> None:
    def digest(seed: int, work: str) -> str:
        run = fuzz(tmp_path, REFERENCE, "--family", "controller", seed=seed, examples=20, work=work)
        assert run.code == 0, run.text
        return run.digest

    first = digest(3, "a")
    assert digest(3, "b") == first
    assert digest(4, "c") != first


def test_the_database_replays_a_found_divergence_first(tmp_path: Path) -> None:
    family, seed, _ = CASES["second_action"]
    first = fuzz(tmp_path, wrong("second_action"), "--family", family, seed=seed, examples=EXAMPLES)
    assert first.code == 1, first.text
    assert first.found_after[0] > 1, first.text
    assert any((tmp_path / "work" / "examples" / family).iterdir())
    # Another seed, but the same database: the case found is the first example run.
    again = fuzz(
        tmp_path, wrong("second_action"), "--family", family, seed=seed + 100, examples=EXAMPLES
    )
    assert again.code == 1, again.text
    assert again.found_after == [1], again.text


def test_keep_going_reports_each_kind_of_divergence_once(tmp_path: Path) -> None:
    """With --keep-going every round of the search takes up to --examples examples, and the
    search ends with a round that finds no new kind. Seed 1, 300 examples a round: the
    action-file wrong, then the ckpt.info wrong, then a round meeting only those two."""
    both = wrong("ckpt_slots") + " second_action"
    run = fuzz(
        tmp_path, both, "--family", "slot_count", "--family", "controller", "--keep-going",
        "--save", str(tmp_path / "save"), seed=1, examples=300,
    )  # fmt: skip
    assert run.code == 1, run.text
    # Each report is another kind: never the same family and set of differing artifacts.
    kinds = [
        (chunk.split()[0], frozenset(re.findall(r"^\S+ \[(\w+)\]: ", chunk, re.M)))
        for chunk in run.text.split("DIVERGENCE in ")[1:]
    ]
    assert kinds == [
        ("controller", frozenset({"action_file"})),
        ("slot_count", frozenset({"ckpt_info"})),
    ], run.text
    assert len(run.found_after) == 2 and "fuzz: 2 divergence(s)" in run.text, run.text
    assert [p.parent.name for p in run.saved] == ["controller", "slot_count"], run.text
    assert re.search(r"; [1-9]\d* already reported", run.text), run.text  # met again, not reported


def last_counts(text: str) -> tuple[int, int]:
    """(seconds, examples) of the last ``fuzz: Ns, M examples`` line."""
    found = re.findall(r"^fuzz: (\d+)s, (\d+) examples", text, re.M)
    assert found, text
    return int(found[-1][0]), int(found[-1][1])


def test_seconds_end_a_search_that_has_no_example_limit(tmp_path: Path) -> None:
    """On the virtual clock (one second a reading; each example reads it at least once),
    a 40 s search with no --examples stops at its budget: at most 40 examples."""
    run = fuzz(tmp_path, "reference", seed=7, examples=None, seconds=40, virtual_clock=True)
    assert run.code == 0, run.text
    assert "fuzz: no divergence found" in run.text
    seconds, examples = last_counts(run.text)
    assert seconds >= 40 and 0 < examples <= 40, run.text


def test_shrink_seconds_end_shrinking_with_the_smallest_divergence_so_far(tmp_path: Path) -> None:
    """On the virtual clock, 20 s of shrinking stop it early: the divergence is reported and
    saved not fully shrunk, and still fails against the wrong testee."""
    family, seed, kind = CASES["ckpt_slots"]
    save = tmp_path / "save"
    run = fuzz(
        tmp_path, wrong("ckpt_slots"), "--family", family, "--save", str(save),
        seed=seed, examples=EXAMPLES, shrink_seconds=20, virtual_clock=True,
    )  # fmt: skip
    assert run.code == 1, run.text
    assert "fuzz: shrinking stopped at its time limit; the smallest divergence so far:" in run.text
    assert f"DIVERGENCE in {family} (not fully shrunk;" in run.text, run.text
    assert f"[{kind}]" in run.text
    assert len(run.saved) == 1, run.text
    assert judge(save, wrong("ckpt_slots"), tmp_path / "judge-wrong") == 1
    assert judge(save, "reference", tmp_path / "judge-reference") == 0


def test_shrinking_does_not_use_up_a_keep_going_search_budget(tmp_path: Path) -> None:
    """The keep-going search above on the virtual clock with 125 s of search: its first
    divergence is found at 26 s and shrunk by about 140 s, the second found about 110 s
    into the search (shrinking not counted, docs/fuzzing.md), so both are reported. A
    search that counted shrinking would stop after the first."""
    both = wrong("ckpt_slots") + " second_action"
    run = fuzz(
        tmp_path, both, "--family", "slot_count", "--family", "controller", "--keep-going",
        seed=1, examples=300, seconds=125, virtual_clock=True,
    )  # fmt: skip
    assert run.code == 1, run.text
    assert len(run.found_after) == 2 and "fuzz: 2 divergence(s)" in run.text, run.text


def test_a_correct_testee_has_no_divergence(tmp_path: Path) -> None:
    run = fuzz(tmp_path, REFERENCE, seed=7, examples=60)
    assert run.code == 0, run.text
    assert "DIVERGENCE" not in run.text
    assert "fuzz: no divergence found" in run.text
    assert "no time budget" in run.text  # --examples alone: the count ends the run
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
        tmp_path, wrong("ckpt_slots"), "--family", family, "--deviations", str(deviations),
        seed=seed, examples=150,
    )  # fmt: skip
    assert run.code == 0, run.text
    assert re.search(r"; [1-9]\d* declared", run.text), run.text
    assert "DIVERGENCE" not in run.text


def test_usage_and_setup_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    work = str(tmp_path / "w")
    assert cli.main(["fuzz", "--impl", str(tmp_path / "no-such-testee"), "--work", work]) == 2
    assert "no-such-testee': No such file or directory" in capsys.readouterr().err
    # A zero budget is a usage error, refused before anything runs.
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
