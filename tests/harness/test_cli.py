"""The command line's surface: help texts, exit statuses, corpus options in either place,
a closed stdout, and what a run leaves on disk.

Runs use a two-scenario corpus copied to a temporary directory (never ``golden/``
itself); a failure is made by editing the copy's golden listing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness import cli, paths
from harness.cli import main, parser
from harness.golden import MANIFEST, build_manifest, render_manifest

pytestmark = pytest.mark.timeout(60)

SCENARIOS = ("slot_count/basic", "slot_count/wrap_after")
COMMANDS = ("run", "regen", "verify", "list", "dump", "diff")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus directory holding two scenarios and their goldens."""
    root = tmp_path / "corpus"
    for sid in SCENARIOS:
        fixture = root / "fixtures" / f"{sid}.json"
        fixture.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths.FIXTURES_DIR / f"{sid}.json", fixture)
        shutil.copytree(paths.GOLDEN_DIR / sid, root / "golden" / sid)
    golden = root / "golden"
    (golden / MANIFEST).write_bytes(render_manifest(build_manifest(golden)))
    return root


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``tempfile`` makes the run's default output directory."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def help_of(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


# --- help ---------------------------------------------------------------------------------


def test_top_level_help_is_plain_text_with_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys=capsys)
    assert "``" not in text and ":func:" not in text  # no reST markup
    assert text.count("exit status:") == 1
    for code in ("0", "1", "2", "141"):
        assert f"\n  {code} " in text
    for command in COMMANDS:
        assert f"\n    {command} " in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_description_and_the_exit_statuses(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(command, capsys=capsys)
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: monolith-parity {command} ")
    assert not description.startswith(("positional", "options")), description
    assert len(description) > 60
    assert "exit status:" in text
    assert "--corpus DIR" in text  # the corpus options are offered after the command too


def test_diff_says_which_side_is_expected(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of("diff", capsys=capsys)
    assert "EXPECTED ACTUAL" in text
    assert re.search(r"\n  EXPECTED +the expected side: a golden file or golden directory\n", text)
    flat = " ".join(text.split())
    assert "ACTUAL the actual side: the implementation's file or directory" in flat


def test_dump_explains_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of("dump", capsys=capsys)
    assert re.search(r"\n  FILE +the artifact to show\n", text)
    assert "--as KIND|PATH" in text


def test_help_lines_fit_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for argv in [(), *((c,) for c in COMMANDS)]:
        text = help_of(*argv, capsys=capsys)
        assert max(len(line) for line in text.splitlines()) <= 80, argv


# --- corpus options -----------------------------------------------------------------------


def listed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    "argv",
    [
        ["--corpus", "{c}", "list"],
        ["list", "--corpus", "{c}"],
        ["--fixtures", "{c}/fixtures", "list"],
        ["list", "--fixtures", "{c}/fixtures"],
    ],
    ids=["corpus-before", "corpus-after", "fixtures-before", "fixtures-after"],
)
def test_corpus_options_work_before_and_after_the_command(
    argv: list[str], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([a.format(c=corpus) for a in argv]) == 0
    assert listed(capsys) == list(SCENARIOS)


def test_an_option_after_the_command_wins_over_one_before(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--fixtures", str(empty), "list", "--fixtures", str(corpus / "fixtures")]) == 0
    assert listed(capsys) == list(SCENARIOS)


def test_default_corpus_options_are_the_corpus_in_use() -> None:
    args = parser().parse_args(["list"])
    cli._resolve_corpus(args)
    assert (args.fixtures, args.golden) == (str(paths.FIXTURES_DIR), str(paths.GOLDEN_DIR))


def test_a_corpus_without_fixtures_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--corpus", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: --corpus {tmp_path}: no fixtures/ directory in it\n"


def test_the_environment_variable_names_the_corpus(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, paths.ENV_VAR: str(corpus)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "list"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(paths.CHECKOUT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == list(SCENARIOS)


def test_corpus_root_order(tmp_path: Path) -> None:
    assert paths.corpus_root({paths.ENV_VAR: str(tmp_path)}) == tmp_path
    expected = (
        paths.PACKAGED_CORPUS if paths.is_corpus(paths.PACKAGED_CORPUS) else (paths.CHECKOUT_ROOT)
    )
    assert paths.corpus_root({}) == expected
    assert paths.corpus_root({paths.ENV_VAR: ""}) == expected


# --- a closed stdout ----------------------------------------------------------------------


def test_a_reader_that_goes_away_ends_the_listing_quietly_with_141(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "harness", "list"],
            cwd=paths.CHECKOUT_ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == b""  # no traceback, no "Exception ignored"
    assert proc.returncode == cli.BROKEN_PIPE == 141


# --- what a run leaves on disk ------------------------------------------------------------


def test_a_passing_run_leaves_no_directory(
    corpus: Path, temp_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--corpus", str(corpus)]) == 0
    assert list(temp_root.iterdir()) == []
    assert capsys.readouterr().err == ""


def test_a_failing_run_keeps_only_the_failing_outputs_and_says_where(
    corpus: Path, temp_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = corpus / "golden" / "slot_count" / "basic" / "listing.txt"
    listing.write_text(listing.read_text() + "x\n")
    golden = corpus / "golden"  # a consistent golden the reference does not match
    (golden / MANIFEST).write_bytes(render_manifest(build_manifest(golden)))
    assert main(["run", "--corpus", str(corpus)]) == 1
    (work,) = temp_root.iterdir()
    assert work.name.startswith("parity-")
    kept = sorted(p.relative_to(work).as_posix() for p in work.rglob("*"))
    assert kept == [
        "reference",
        "reference/slot_count",
        "reference/slot_count/basic",
        "reference/slot_count/basic/files",
        "reference/slot_count/basic/files/model",
        "reference/slot_count/basic/files/model/ckpt.info-0",
        "reference/slot_count/basic/listing.txt",
        "reference/slot_count/basic/trace.jsonl",
    ]
    assert capsys.readouterr().err == f"outputs of the 1 failing scenario(s) kept in {work}\n"


def test_a_named_work_directory_keeps_everything(
    corpus: Path, tmp_path: Path, temp_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    assert main(["run", "--corpus", str(corpus), "--work", str(work)]) == 0
    assert sorted(p.name for p in (work / "reference" / "slot_count").iterdir()) == [
        "basic",
        "wrap_after",
    ]
    assert list(temp_root.iterdir()) == []
    assert capsys.readouterr().err == f"outputs in {work}\n"


def test_regen_refuses_the_installed_packages_goldens(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted((p.relative_to(corpus), p.read_bytes()) for p in corpus.rglob("*.*"))
    monkeypatch.setattr(paths, "PACKAGED_CORPUS", corpus)
    assert main(["regen", "--corpus", str(corpus)]) == 2
    assert capsys.readouterr().err == (
        f"error: regen: {corpus / 'golden'} is the installed package's copy of the goldens; "
        "regenerate in a checkout (an editable install, or --corpus DIR)\n"
    )
    assert sorted((p.relative_to(corpus), p.read_bytes()) for p in corpus.rglob("*.*")) == before


def test_a_broken_pipe_that_is_not_stdout_is_an_ordinary_error() -> None:
    script = (
        "import sys\n"
        "from harness import cli\n"
        "def broken(args):\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "cli.cmd_list = broken\n"
        "sys.exit(cli.main(['list']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=paths.CHECKOUT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "error: [Errno 32] Broken pipe\n")


def test_the_checkout_options_name_the_checkout_for_the_command_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--monolith and --monolith-commit reach the command (and its children) through the
    environment, and a caller of main() in process gets its own environment back."""
    monkeypatch.delenv("MONOLITH_CHECKOUT", raising=False)
    monkeypatch.setenv("MONOLITH_COMMIT", "before")
    seen: dict[str, str | None] = {}

    def record(_args: object) -> int:
        seen.update({n: os.environ.get(n) for n in ("MONOLITH_CHECKOUT", "MONOLITH_COMMIT")})
        return 0

    monkeypatch.setattr(cli, "cmd_list", record)
    assert main(["--monolith", str(tmp_path), "--monolith-commit", "c0ffee", "list"]) == 0
    assert seen == {"MONOLITH_CHECKOUT": str(tmp_path), "MONOLITH_COMMIT": "c0ffee"}
    assert "MONOLITH_CHECKOUT" not in os.environ
    assert os.environ["MONOLITH_COMMIT"] == "before"
