"""Message encoding and checking (harness/protocol.py), and docs/protocol.md's example."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import protocol
from harness.adapters import sandbox
from harness.driver import harness_step
from harness.polling import WaitTimeout, wait_until
from harness.scenario import HARNESS_OPS, parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
DOC_FILES_DIR = "/tmp/parity/controller/query_trigger_save/files"


def test_encode_is_one_strict_utf8_line() -> None:
    line = protocol.encode({"type": "step", "seq": 1, "step": {"op": "run", "text": "é\n"}})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "é".encode() in line
    with pytest.raises(ValueError):
        protocol.encode({"x": float("nan")})


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b'{"type":"done"}', "not terminated by a newline"),
        (b"\xff\n", "not UTF-8"),
        (b"hello\n", "not JSON"),
        (b'{"type":"done","x":NaN}\n', "not JSON"),
        (b"[1]\n", "not an object"),
        (b'{"seq":1}\n', "no string 'type'"),
        (b"\xef\xbb\xbf{}\n", "byte order mark"),
        (b"[" + b"0," * 100_001 + b"0]\n", "100001 ',' bytes, more than the 100000"),
        (b" " * (protocol.MAX_LINE_BYTES + 1) + b"\n", "longer than 67108864 bytes"),
        (b" " * (protocol.MAX_LINE_BYTES + 1), "longer than 67108864 bytes"),
    ],
)
def test_decode_rejects(line: bytes, words: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=re.escape(words)):
        protocol.decode(line)


def test_check_reply() -> None:
    req = protocol.step(4, 2, {"op": "run"})
    ok = {"type": "done", "seq": 4, "events": [{"event": "run"}]}
    assert protocol.check_reply(ok, req) == ok
    with pytest.raises(protocol.ProtocolError, match="out of order"):
        protocol.check_reply({**ok, "seq": 3}, req)
    with pytest.raises(protocol.ProtocolError, match="has no 'seq'"):
        protocol.check_reply({"type": "done", "events": []}, req)
    with pytest.raises(protocol.ProtocolError, match="wrong reply type 'hello'"):
        protocol.check_reply({"type": "hello", "seq": 4}, req)
    with pytest.raises(protocol.ProtocolError, match=r"events\[0\]: needs 'event'"):
        protocol.check_reply({"type": "done", "seq": 4, "events": [{"run": 1}]}, req)
    error = {"type": "error", "seq": 4, "message": "boom"}
    assert protocol.check_reply(error, req) == error, "an error is a reply, not an exception"
    with pytest.raises(protocol.ProtocolError, match="wrong reply type 'not_applicable'"):
        protocol.check_reply({"type": "not_applicable", "seq": 4, "reason": "x"}, req)


def test_check_hello() -> None:
    good = {
        "type": "hello",
        "seq": 0,
        "protocol": 1,
        "implementation": "x",
        "capabilities": {"families": ["controller"], "virtual_clock": False},
    }
    assert protocol.check_hello(good)["virtual_clock"] is False
    for bad, words in [
        ({**good, "protocol": 2}, "speaks 2"),
        ({**good, "implementation": ""}, "hello.implementation: must be a non-empty string"),
        (
            {**good, "capabilities": {"families": "all", "virtual_clock": True}},
            "hello.capabilities.families: must be a list",
        ),
        (
            {**good, "capabilities": {"families": [], "virtual_clock": 1}},
            "hello.capabilities.virtual_clock: must be true or false, got 1",
        ),
    ]:
        with pytest.raises(protocol.ProtocolError, match=words):
            protocol.check_hello(bad)


def test_reply_timeout_gives_real_time_testees_the_advance() -> None:
    advance = {"op": "advance", "seconds": 60, "count": 2}
    assert protocol.reply_timeout(advance, 5.0, virtual_clock=True) == 5.0
    assert protocol.reply_timeout(advance, 5.0, virtual_clock=False) == 5.0 + 180.0
    assert protocol.reply_timeout({"op": "run"}, 5.0, virtual_clock=False) == 5.0
    assert protocol.reply_timeout(None, 5.0, virtual_clock=False) == 5.0


def test_wait_until_is_bounded() -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    def clock() -> float:
        return now[0]

    assert wait_until(lambda: now[0] >= 0.5, 1.0, interval=0.1, clock=clock, sleep=sleep)
    now[0] = 0.0
    with pytest.raises(WaitTimeout, match=r"gave up after 1\.0s"):
        wait_until(lambda: False, 1.0, interval=0.3, max_interval=0.3, clock=clock, sleep=sleep)
    assert now[0] == pytest.approx(1.0)


def test_escape_rule(tmp_path: Path) -> None:
    """The watch: the scenario's directory besides files/, one level of each directory up
    to the root (created, removed, a file changed), nothing inside files/."""
    root = tmp_path / "work"
    files = root / "impl" / "family" / "s" / "files"
    files.mkdir(parents=True)
    (root / "notes.txt").write_text("the user's")
    (root / "impl" / "family" / "earlier").mkdir()
    watch = sandbox.EscapeWatch(files, root)
    box = sandbox.Sandbox(None, {})
    try:
        (files / "fine.txt").write_text("inside")
        assert watch.found(box) == []
        (files.parent / "sub").mkdir()
        (files.parent / "sub" / "x").write_text("outside")
        (root / "impl" / "stray").write_text("two levels up")
        (root / "notes.txt").write_text("changed by the testee")
        (root / "impl" / "family" / "earlier").rmdir()
        assert watch.found(box) == [
            f"{files.parent}/sub (created)",
            f"{files.parent}/sub/x (created)",
            f"{root}/impl/family/earlier (removed)",
            f"{root}/impl/stray (created)",
            f"{root}/notes.txt (modified)",
        ]
    finally:
        box.remove()


def doc_exchange() -> list[tuple[str, str]]:
    """The example exchange of docs/protocol.md as (direction, text) pairs."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## Example exchange", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    return [(line[0], line[2:]) for line in block.splitlines() if line[:1] in "<>#"]


def test_doc_example_messages_are_valid() -> None:
    request = None
    for direction, text in doc_exchange():
        if direction == ">":
            request = json.loads(text)
            protocol.check_request(request)
            assert protocol.encode(request) == text.encode() + b"\n", "written compactly"
        elif direction == "<":
            assert request is not None
            reply = json.loads(text)
            if request["type"] == "hello":
                protocol.check_hello(reply)
            protocol.check_reply(reply, request)


def test_doc_example_replays_against_the_reference(
    reference_argv: list[str], tmp_path: Path
) -> None:
    """Send the doc's requests to a real reference testee (doing the harness-side steps in
    between) and get exactly the doc's replies."""
    files_dir = tmp_path / "files"
    files_dir.mkdir()
    exchange = [
        (d, t.replace(DOC_FILES_DIR, str(files_dir))) for d, t in doc_exchange() if d != "#"
    ]
    setup = next(json.loads(t) for d, t in exchange if d == ">" and '"setup"' in t)
    scenario = parse({"format": 1, "description": "doc", **setup["scenario"]}, setup["id"], "doc")
    proc = subprocess.Popen(
        reference_argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(DOC.parents[1])},
    )
    assert proc.stdin is not None and proc.stdout is not None
    done_harness_steps = set()
    try:
        for direction, text in exchange:
            if direction == ">":
                request = json.loads(text)
                if request["type"] == "step":  # first the harness's own steps before it
                    for i, st in enumerate(scenario.steps[: request["index"]]):
                        if st["op"] in HARNESS_OPS and i not in done_harness_steps:
                            harness_step(scenario, st, files_dir)
                            done_harness_steps.add(i)
                proc.stdin.write(text.encode() + b"\n")
                proc.stdin.flush()
            else:
                assert proc.stdout.readline().decode().rstrip("\n") == text
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert proc.stdout.read() == b"", "nothing after bye"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (files_dir / "monolith_action_response").read_bytes() == b"OK"
