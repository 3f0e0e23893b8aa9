"""``harness.safe_fs.read_regular``: what a testee's output file can be, and what is read.

A directory, a fifo or a link where a file should be is refused by name, without leaking
the descriptor it was opened with; a file is read to its end or to the limit, whatever its
size was when it was opened.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness import safe_fs
from harness.safe_fs import LinkRefused, read_regular


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_non_file_is_refused_by_name_and_leaks_no_descriptor(tmp_path: Path, kind: str) -> None:
    where = tmp_path / "out" / "ckpt.info-1"
    where.parent.mkdir()
    where.mkdir() if kind == "directory" else os.mkfifo(where)
    before = open_fds()
    for _ in range(20):
        with pytest.raises(LinkRefused, match=rf"^out/ckpt\.info-1 is a {kind}, not a regular"):
            read_regular(tmp_path, "out/ckpt.info-1")
    assert open_fds() == before


def test_a_link_at_any_depth_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_bytes(b"x")
    (tmp_path / "via").symlink_to("real")
    (tmp_path / "real" / "g").symlink_to("f")
    with pytest.raises(LinkRefused, match="via is a symbolic link"):
        read_regular(tmp_path, "via/f")
    with pytest.raises(LinkRefused, match="real/g is a symbolic link"):
        read_regular(tmp_path, "real/g")


@pytest.mark.parametrize("size", [0, 1, 7, 8])
def test_a_file_is_read_whole_up_to_the_limit(tmp_path: Path, size: int) -> None:
    (tmp_path / "f").write_bytes(bytes(range(size)))
    assert read_regular(tmp_path, "f", limit=8) == bytes(range(size))


def test_a_file_over_the_limit_is_refused_with_its_size(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"123456789")
    with pytest.raises(ValueError, match=r"^f: 9 bytes, more than the 8 read at most$"):
        read_regular(tmp_path, "f", limit=8)


def test_a_file_that_grows_after_it_is_measured_is_read_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The size fstat gave is only where reading starts: bytes written since are read on,
    # up to the limit (what read(limit + 1)[:limit] gives), never past it.
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    real_fstat = os.fstat

    def fstat_then_grow(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        with path.open("ab") as f:
            f.write(b"defghijkl")
        return st

    monkeypatch.setattr(safe_fs.os, "fstat", fstat_then_grow)
    assert read_regular(tmp_path, "f", limit=8) == b"abcdefgh"
    path.write_bytes(b"abc")
    assert read_regular(tmp_path, "f", limit=100) == b"abcdefghijkl"
