"""``harness dump`` and ``harness diff`` on files that are not plain artifacts.

Regular files only (a fifo would hang a reader, ``/dev/zero`` never ends, a link may
point anywhere): each is refused with exit 2 naming what it is. A response file is shown
as a response, never parsed as an action. ``diff A B`` labels each side by its own path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.timeout(60)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dump_of_a_device_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", "/dev/zero"]) == 2
    assert capsys.readouterr().err == "error: /dev/zero is a device, not a regular file\n"


def test_dump_of_a_fifo_is_refused_without_blocking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "trace.jsonl"
    os.mkfifo(fifo)
    assert main(["dump", str(fifo)]) == 2
    assert capsys.readouterr().err == f"error: {fifo} is a fifo, not a regular file\n"


def test_dump_of_a_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret"
    secret.write_text("SECRET")
    link = tmp_path / "ckpt.info-1"
    os.symlink(secret, link)
    assert main(["dump", str(link)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {link} is a symbolic link; it is not followed\n"
    assert "SECRET" not in captured.out


def test_dump_of_a_response_is_not_parsed_as_an_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = tmp_path / "monolith_action_response"
    response.write_text("OK")
    assert main(["dump", str(response)]) == 0
    assert capsys.readouterr().out == 'response: "OK"\n'
    action = tmp_path / "monolith_action"
    action.write_text("action: STOP")
    assert main(["dump", str(action)]) == 0
    assert capsys.readouterr().out == (
        "text: \"action: STOP\"\nparses as ControllerHooksProto: 'action: STOP\\n'\n"
    )


def test_diff_labels_each_side_by_its_own_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "old" / "ckpt.info-1", tmp_path / "new" / "ckpt.info-1"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_text("slot_counts {\n  key: 1\n  value: 2\n}\n")
    b.write_text("slot_counts {\n  key: 1\n  value: 3\n}\n")
    assert main(["diff", str(a), str(b)]) == 1
    assert capsys.readouterr().out == (
        f"{a} -> {b} [ckpt_info]: slot_counts[1]: expected 2, got 3\n"
        f"--- {a}\n+++ {b}\n@@ -1,4 +1,4 @@\n slot_counts {{\n   key: 1\n"
        "-  value: 2\n+  value: 3\n }\n"
    )


def test_diff_of_two_kinds_asks_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "ckpt.info-1", tmp_path / "trace.jsonl"
    a.write_text("x")
    b.write_text("y")
    assert main(["diff", str(a), str(b)]) == 2
    assert capsys.readouterr().err == f"{a} is ckpt_info, {b} is trace: say which with --as\n"
    assert main(["diff", str(a), str(b), "--as", "x.bin"]) == 1
