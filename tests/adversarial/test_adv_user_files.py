"""Files users hand in are untrusted input: one strict JSON reader for all four kinds.

Scenario files, a deviations file, the golden manifest and the certificate are all read by
``harness.json_input.read_json``. Each probe (an integer of 100 000 digits, nesting
100 000 deep, a key given twice, a byte order mark, a file over its size bound, a fifo, a
link to a valid file, a lone surrogate escape) is planted in a small corpus in a temporary
directory and must give

* from the loader, its module's own error class with the exact one-line message, naming
  the file and, where there is one, the line and column or the JSON path;
* from the command line (``list``, ``run --deviations FILE``, ``verify``), exit status 2
  and that line on stderr (``error: ...``), nothing on stdout, no traceback.

Then ``read_json`` itself, case by case. No test here depends on the clock: a fifo is
refused by opening it non-blocking, and an oversized file is a sparse one, refused by its
size before any of it is read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import certificate
from harness.cli import main
from harness.deviations import DeviationError, load_deviations
from harness.golden import (
    MANIFEST,
    GoldenError,
    build_manifest,
    read_manifest,
    render_manifest,
)
from harness.json_input import JsonInputError, read_json
from harness.runner import PASSED, ScenarioResult
from harness.scenario import ScenarioError, load, load_all

pytestmark = pytest.mark.timeout(60)

SCENARIO = {
    "format": 1,
    "family": "hook_utils",
    "description": "d",
    "config": {"listeners": ["before"]},
    "steps": [{"op": "begin"}],
}
DIGEST = "0" * 64


@dataclass(frozen=True)
class Kind:
    """One kind of file a user hands in: where it sits in the corpus, how it is loaded,
    and the command line that reads it."""

    name: str
    max_bytes: int  # its size bound
    oversize: str  # the message for a file one byte over it
    error: type[Exception]
    nested_duplicate: tuple[bytes, str, str]  # (content, JSON path, the repeated key)

    def target(self, corpus: Path) -> Path:
        return {
            "scenario": corpus / "fixtures" / "hook_utils" / "bad.json",
            "deviations": corpus / "dev.json",
            "manifest": corpus / "golden" / MANIFEST,
            "certificate": corpus / "golden" / certificate.CERTIFICATE,
        }[self.name]

    def valid(self, corpus: Path) -> bytes:
        """A valid file of this kind."""
        if self.name == "scenario":
            return json.dumps(SCENARIO).encode()
        if self.name == "deviations":
            return b'{"deviations": []}'
        return self.target(corpus).read_bytes()  # the corpus's own manifest / certificate

    def load(self, corpus: Path) -> Any:
        fixtures, golden = corpus / "fixtures", corpus / "golden"
        loaders: dict[str, Callable[[], Any]] = {
            "scenario": lambda: load(self.target(corpus), fixtures),
            "deviations": lambda: load_deviations(self.target(corpus), load_all(fixtures)),
            "manifest": lambda: read_manifest(golden),
            "certificate": lambda: certificate.read(golden),
        }
        return loaders[self.name]()

    def argv(self, corpus: Path) -> list[str]:
        where = ["--fixtures", str(corpus / "fixtures"), "--golden", str(corpus / "golden")]
        if self.name == "scenario":
            return [*where, "list"]
        if self.name == "deviations":
            work = str(corpus / "work")
            return [*where, "run", "--deviations", str(self.target(corpus)), "--work", work]
        return [*where, "verify"]


KINDS = [
    Kind(
        "scenario",
        64 << 20,
        "67108865 bytes, more than the 67108864 allowed for a scenario file",
        ScenarioError,
        (
            b'{"format": 1, "family": "hook_utils", "description": "d", '
            b'"steps": [{"op": "begin"}, {"op": "end", "global_step": 1, "op": "end"}]}',
            "$.steps[1].op",
            "op",
        ),
    ),
    Kind(
        "deviations",
        1 << 20,
        "1048577 bytes, more than the 1048576 allowed for a deviations file",
        DeviationError,
        (
            b'{"deviations": [{"scenario": "hook_utils/one", "reason": "a", "reason": "b"}]}',
            "$.deviations[0].reason",
            "reason",
        ),
    ),
    Kind(
        "manifest",
        16 << 20,
        "16777217 bytes, more than the 16777216 allowed for the golden manifest",
        GoldenError,
        (
            b'{"format": 1, "files": {"hook_utils/one/listing.txt": "%s", '
            b'"hook_utils/one/listing.txt": "%s"}}' % (DIGEST.encode(), DIGEST.encode()),
            "$.files['hook_utils/one/listing.txt']",
            "hook_utils/one/listing.txt",
        ),
    ),
    Kind(
        "certificate",
        16 << 20,
        "16777217 bytes, more than the 16777216 allowed for the certificate",
        certificate.CertificateError,
        (
            b'{"format": 1, "scenarios": {"hook_utils/one": '
            b'{"status": "agreed", "digest": "x", "status": "agreed"}}}',
            "$.scenarios['hook_utils/one'].status",
            "status",
        ),
    ),
]
BIG_INTEGER = b'{\n  "format": 1,\n  "big": ' + b"7" * 100_000 + b"\n}"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus directory: one scenario, its golden output, manifest and certificate."""
    fixtures, golden = tmp_path / "fixtures", tmp_path / "golden"
    (fixtures / "hook_utils").mkdir(parents=True)
    (fixtures / "hook_utils" / "one.json").write_text(json.dumps(SCENARIO))
    scenario_dir = golden / "hook_utils" / "one"
    (scenario_dir / "files").mkdir(parents=True)
    (scenario_dir / "trace.jsonl").write_bytes(b'{"event": "setup"}\n')
    (scenario_dir / "listing.txt").write_bytes(b"")
    (golden / MANIFEST).write_bytes(render_manifest(build_manifest(golden)))
    agreed = [ScenarioResult(scenario="hook_utils/one", implementation="original", status=PASSED)]
    certificate.write(
        certificate.build(load_all(fixtures), [agreed], golden, certificate.PINNED_UPSTREAM), golden
    )
    return tmp_path


def _plant(kind: Kind, corpus: Path, probe: str) -> str:
    """Damage ``kind``'s file in ``corpus`` with ``probe``; the message after the path."""
    target = kind.target(corpus)
    valid = kind.valid(corpus)
    if target.exists():
        target.unlink()
    if probe == "big_integer":
        target.write_bytes(BIG_INTEGER)
        return "line 3 column 10: an integer of 100000 digits (at most 40)"
    if probe == "deep":
        target.write_bytes(b"[" * 100_000)
        return "nested more than 64 levels deep"
    if probe == "duplicate_top":
        target.write_bytes(b'{"format": 1, "format": 1}')
        return "$.format: duplicate key 'format'"
    if probe == "duplicate_nested":
        content, where, key = kind.nested_duplicate
        target.write_bytes(content)
        return f"{where}: duplicate key {key!r}"
    if probe == "bom":
        target.write_bytes(b"\xef\xbb\xbf" + valid)
        return "starts with a byte order mark; save it as UTF-8 without one"
    if probe == "oversize":
        with open(target, "wb") as f:
            f.truncate(kind.max_bytes + 1)  # sparse: costs no disk
        return kind.oversize
    if probe == "fifo":
        os.mkfifo(target)
        return "cannot read: a fifo, not a regular file"
    if probe == "symlink":
        elsewhere = corpus / "elsewhere.json"
        elsewhere.write_bytes(valid)
        os.symlink(elsewhere, target)
        return "cannot read: a symbolic link; it is not followed"
    assert probe == "surrogate"
    target.write_bytes(b'{"format": 1, "notes": ["fine", "x\\ud800y"]}')
    return (
        "$.notes[1]: the string holds a lone surrogate \\ud800 (character 1), "
        "which cannot be encoded as UTF-8"
    )


PROBES = [
    "big_integer",
    "deep",
    "duplicate_top",
    "duplicate_nested",
    "bom",
    "oversize",
    "fifo",
    "symlink",
    "surrogate",
]


@pytest.mark.parametrize("probe", PROBES)
@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_a_hostile_file_is_one_line_and_exit_status_2(
    corpus: Path, capsys: pytest.CaptureFixture[str], kind: Kind, probe: str
) -> None:
    message = f"{kind.target(corpus)}: {_plant(kind, corpus, probe)}"
    with pytest.raises(kind.error) as info:
        kind.load(corpus)
    assert str(info.value) == message
    capsys.readouterr()
    assert main(kind.argv(corpus)) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {message}\n")
    assert not (corpus / "work").exists()  # run stopped before running anything


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_deviations_from_dev_zero_are_refused_at_once(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--fixtures", str(corpus / "fixtures"), "run", "--deviations", "/dev/zero"]
    assert main(argv) == 2
    assert capsys.readouterr() == (
        "",
        "error: /dev/zero: cannot read: a device, not a regular file\n",
    )


def test_a_missing_certificate_is_still_a_verify_problem(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Missing is *uncertified* (exit 1, listed with the other problems); unreadable is bad
    input (exit 2, above)."""
    path = corpus / "golden" / certificate.CERTIFICATE
    path.unlink()
    argv = ["--fixtures", str(corpus / "fixtures"), "--golden", str(corpus / "golden"), "verify"]
    assert main(argv) == 1
    assert capsys.readouterr() == (
        f"{path}: missing; run python -m harness certify --monolith DIR\n1 problem(s)\n",
        "",
    )


def test_a_fifo_among_the_fixtures_is_refused_not_skipped(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = corpus / "fixtures" / "hook_utils" / "zz.json"
    os.mkfifo(fifo)
    assert main(["--fixtures", str(corpus / "fixtures"), "list"]) == 2
    assert capsys.readouterr().err == f"error: {fifo}: cannot read: a fifo, not a regular file\n"


# -- read_json itself ----------------------------------------------------------------------


@pytest.fixture
def write(tmp_path: Path) -> Callable[[bytes], Path]:
    def go(content: bytes, name: str = "f.json") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return go


def _refusal(path: Path, max_bytes: int = 1 << 20, **kw: Any) -> str:
    with pytest.raises(JsonInputError) as info:
        read_json(path, "a test file", max_bytes, **kw)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and len(text.splitlines()) == 1
    assert text == f"{info.value.path}: {info.value.detail}"
    return text.removeprefix(f"{path}: ")


def test_a_valid_file_is_read(write: Callable[..., Path]) -> None:
    path = write(b'{"a": [1, -2, 3.5, "\\ud83d\\ude00", null, true], "b": {"c": {}}}')
    value = read_json(path, "a test file", 1 << 20)
    assert value == {"a": [1, -2, 3.5, "\U0001f600", None, True], "b": {"c": {}}}
    assert type(value) is dict and type(value["b"]) is dict


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"a":\n  }', "line 2 column 3: Expecting value"),
        (b'{"a": 1} x', "line 1 column 10: Extra data"),
        (b'{"a": "\xff"}', "not UTF-8 at byte offset 7"),
        (b"\xef\xbb\xbf[]", "starts with a byte order mark; save it as UTF-8 without one"),
        (b'{"a": NaN}', 'NaN is not valid JSON (use the strings "nan"/"inf" for floats)'),
        (b"[-Infinity]", '-Infinity is not valid JSON (use the strings "nan"/"inf" for floats)'),
        (b"[" + b"9" * 41 + b"]", "line 1 column 2: an integer of 41 digits (at most 40)"),
        (b"[-" + b"9" * 41 + b"]", "line 1 column 2: an integer of 41 digits (at most 40)"),
        (
            # digits in a string, a float's fraction and an exponent are not integers
            b'["' + b"1" * 50 + b'", 0.' + b"2" * 50 + b", 1e" + b"3" * 50 + b",\n "
            b"-" + b"4" * 5000 + b"]",
            "line 2 column 2: an integer of 5000 digits (at most 40)",
        ),
        (b"[" * 100_000, "nested more than 64 levels deep"),
        (b"[" * 66 + b"]" * 66, "$" + "[0]" * 65 + ": nested more than 64 levels deep"),
        (b'{"a": {"b": 1, "c": 2, "b": 3}}', "$.a.b: duplicate key 'b'"),
        (b'[{"x y": 1, "x y": 1}]', "$[0]['x y']: duplicate key 'x y'"),
        (b'{"a\\nb": 1, "a\\nb": 2}', "$['a\\nb']: duplicate key 'a\\nb'"),
        (
            b'{"ok": "\\ud83d\\ude00", "k": {"\\udc00": 1}}',
            "$.k['\\udc00']: the key holds a lone surrogate \\udc00 (character 0), "
            "which cannot be encoded as UTF-8",
        ),
        (
            b'"\\ud800"',
            "$: the string holds a lone surrogate \\ud800 (character 0), "
            "which cannot be encoded as UTF-8",
        ),
    ],
    ids=[
        "syntax",
        "extra",
        "utf8",
        "bom",
        "nan",
        "minus_infinity",
        "41_digits",
        "minus_41_digits",
        "digits_elsewhere",
        "recursion",
        "walk_depth",
        "duplicate",
        "duplicate_odd_key",
        "duplicate_newline_key",
        "surrogate_key",
        "surrogate_top",
    ],
)
def test_refusals(write: Callable[..., Path], content: bytes, detail: str) -> None:
    assert _refusal(write(content)) == detail


def test_the_bounds_are_inclusive(write: Callable[..., Path]) -> None:
    assert read_json(write(b"[" + b"9" * 40 + b"]"), "a test file", 100) == [int("9" * 40)]
    # The top-level value is at depth 0: 64 levels of arrays hold a value at depth 64.
    assert read_json(write(b"[" * 64 + b"1" + b"]" * 64), "a test file", 1000) is not None
    assert read_json(write(b"[" * 65 + b"]" * 65), "a test file", 1000) is not None
    assert _refusal(write(b"[" * 65 + b"1" + b"]" * 65), 1000) == (
        "$" + "[0]" * 65 + ": nested more than 64 levels deep"
    )
    assert read_json(write(b"[[[]]]"), "a test file", 6, max_depth=2) == [[[]]]
    assert _refusal(write(b"[[[1]]]"), max_depth=2) == (
        "$[0][0][0]: nested more than 2 levels deep"
    )
    assert read_json(write(b"[1]  "), "a test file", 5) == [1]
    assert _refusal(write(b"[1]   "), 5) == "6 bytes, more than the 5 allowed for a test file"


def test_the_first_problem_in_document_order_is_named(write: Callable[..., Path]) -> None:
    path = write(b'[[1, {"x": "\\ud800"}], {"k": 1, "k": 2}]')
    assert _refusal(path).startswith("$[0][1].x: the string holds a lone surrogate")
    path = write(b'[{"k": 1, "k": 2}, [1, {"x": "\\ud800"}]]')
    assert _refusal(path) == "$[0].k: duplicate key 'k'"


def test_what_is_not_a_regular_file_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    assert _refusal(tmp_path / "dir.json") == "cannot read: Is a directory"
    assert _refusal(tmp_path / "missing.json") == "cannot read: No such file or directory"
    os.mkfifo(tmp_path / "fifo.json")
    assert _refusal(tmp_path / "fifo.json") == "cannot read: a fifo, not a regular file"
    (tmp_path / "valid.json").write_bytes(b"[]")
    os.symlink(tmp_path / "valid.json", tmp_path / "link.json")
    assert _refusal(tmp_path / "link.json") == "cannot read: a symbolic link; it is not followed"
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling.json")
    assert _refusal(tmp_path / "dangling.json") == (
        "cannot read: a symbolic link; it is not followed"
    )
    if Path("/dev/zero").exists():
        assert _refusal(Path("/dev/zero")) == "cannot read: a device, not a regular file"


def test_a_huge_file_is_refused_by_its_size(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(400 << 20)  # sparse
    assert _refusal(path) == "419430400 bytes, more than the 1048576 allowed for a test file"


def test_a_long_key_is_shown_cut(write: Callable[..., Path]) -> None:
    key = "k" * 100 + " "
    detail = _refusal(write(json.dumps({key: 1}).encode()[:-1] + f', "{key}": 2}}'.encode()))
    shown = f"{key[:60]!r}..."
    assert detail == f"$[{shown}]: duplicate key {shown}"


def test_a_path_that_is_not_printable_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.json"
    path.write_bytes(b"[")
    with pytest.raises(JsonInputError) as info:
        read_json(path, "a test file", 100)
    assert str(info.value) == f"{str(path)!r}: line 1 column 2: Expecting value"
