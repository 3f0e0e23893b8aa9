"""Runs one scenario against one implementation and writes its output directory.

scenario -> driver -> output directory (``files/``, ``listing.txt``, ``trace.jsonl``).
Harness-side steps (writing or removing files, snapshots of ``files/``) are done here, and
a scenario's ``before_setup`` steps before the set-up request; every other step is sent
to the implementation, whose reported events go into the trace after a ``step`` marker.
An ``advance_until`` step is both: the harness sends ``advance`` steps of its
``step_seconds`` and checks its condition on ``files/`` before each (docs/scenarios.md).
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safe_fs
from harness.adapters.base import Implementation, ImplementationFailure, NotApplicable
from harness.scenario import HARNESS_OPS, Scenario
from harness.trace import Trace
from harness.workdir import WorkDir, same_entry

ACTION_FILE = "monolith_action"
RESPONSE_FILE = "monolith_action_response"
# A snapshot reads each named file up to this many bytes, and lists this many entries.
SNAPSHOT_READ_BYTES = 1 << 20
SNAPSHOT_MAX_ENTRIES = 10_000
OUTPUT_FILES = "files"
LISTING = "listing.txt"
TRACE = "trace.jsonl"
TMP_ACTION_FILE = f".{ACTION_FILE}.harness-tmp"


@dataclass
class RunOutput:
    """Where a run's outputs are, and why it could not finish (if it could not)."""

    out_dir: Path
    failure: str | None = None
    not_applicable: str | None = None
    trace: Trace | None = field(default=None, repr=False)


def _show(name: str) -> str:
    """A listed name on one line: control characters (a newline in a name could forge
    entries) are escaped; plain names, the only kind the reference writes, are unchanged."""
    if name.isprintable() and "\\" not in name:
        return name
    return (
        name.encode("utf-8", "surrogateescape")
        .decode("utf-8", "backslashreplace")
        .encode("unicode_escape")
        .decode("ascii")
    )


def listing(files_dir: Path | int) -> bytes:
    """Every path under ``files_dir``, sorted, directories with a trailing ``/`` and
    symbolic links as ``name -> target`` (never followed); past the walk's bounds (see
    :func:`listing_lines`), a last line says what was left out."""
    lines, problems = listing_lines(files_dir)
    if problems:
        lines.append("... " + "; ".join(problems))
    return "".join(e + "\n" for e in lines).encode("utf-8", "surrogateescape")


def _line(entry: safe_fs.Entry) -> str:
    shown = _show(entry.rel)
    if entry.target is not None:
        return f"{shown} -> {_show(entry.target)}"
    return shown + ("/" if entry.kind == "directory" else "")


def listing_lines(
    files_dir: Path | int, limit: int = safe_fs.MAX_ENTRIES
) -> tuple[list[str], list[str]]:
    """The sorted lines of :func:`listing` for at most ``limit`` entries, and one line per
    bound the tree broke (more entries, deeper directories than a walk describes)."""
    tree = safe_fs.walk(files_dir, max_entries=limit)
    return sorted(_line(e) for e in tree.entries.values()), tree.problems(OUTPUT_FILES)


def listing_entries(files_dir: Path | int, limit: int | None = None) -> list[str]:
    """The lines of :func:`listing`, without their newlines; ``ValueError`` past
    ``limit`` entries (or past the walk's bounds)."""
    lines, problems = listing_lines(files_dir, safe_fs.MAX_ENTRIES if limit is None else limit)
    if problems:
        raise ValueError("; ".join(problems))
    return lines


class HarnessStepError(ValueError):
    """A harness-side step could not be done safely (a link on its way, say)."""


def _model_dir(scenario: Scenario) -> str:
    return str(scenario.config.get("model_dir", "."))


def _exists(files_dir: Path | int, rel: str) -> bool:
    """Whether ``files/<rel>`` is an entry of any kind (a link is one, never followed)."""
    parts = Path(rel).parts
    try:
        dir_fd = safe_fs.open_dir_beneath(files_dir, "/".join(parts[:-1]) or ".")
    except (FileNotFoundError, NotADirectoryError):
        return False
    try:
        os.stat(parts[-1], dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    finally:
        os.close(dir_fd)
    return True


def _read_for_snapshot(files_dir: Path | int, rel: str) -> Any:
    """A file's bytes as a snapshot shows them: its text if it is UTF-8, else
    ``{"base64": ...}``; ``None`` if there is no such entry."""
    if not _exists(files_dir, rel):
        return None
    data = safe_fs.read_regular(files_dir, rel, limit=SNAPSHOT_READ_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}


def snapshot_event(scenario: Scenario, step: dict, files_dir: Path | int) -> dict[str, Any]:
    """The ``snapshot`` event of a snapshot step: the listing of ``files/`` and, for each
    path of ``read`` (relative to ``files/``), that file's contents."""
    try:
        event: dict[str, Any] = {
            "event": "snapshot",
            "listing": listing_entries(files_dir, limit=SNAPSHOT_MAX_ENTRIES),
        }
        if "read" in step:
            event["files"] = {rel: _read_for_snapshot(files_dir, rel) for rel in step["read"]}
    except safe_fs.LinkRefused as e:
        raise HarnessStepError(f"snapshot: {e}") from e
    except (OSError, ValueError) as e:
        raise HarnessStepError(f"snapshot: {e}") from e
    return event


def until_holds(scenario: Scenario, until: str, files_dir: Path | int) -> bool:
    """Whether an ``advance_until`` condition holds on ``files/`` now."""
    model = Path(_model_dir(scenario))
    try:
        if until == "action_removed":
            return not _exists(files_dir, (model / ACTION_FILE).as_posix())
        if until == "response_written":
            return _exists(files_dir, (model / RESPONSE_FILE).as_posix())
    except OSError as e:
        raise HarnessStepError(f"advance_until {until}: {e}") from e
    raise AssertionError(until)  # pragma: no cover - the loader checks the names


def advance_until(
    scenario: Scenario, index: int, step: dict, impl: Implementation, files_fd: int, trace: Trace
) -> None:
    """Advance in steps of ``step_seconds`` until the condition holds (checked before each
    advance, so at most ``ceil(max_seconds / step_seconds)`` advances), then record an
    ``until`` event: whether it held and after how many advances."""
    seconds = float(step["step_seconds"])
    most = math.ceil(float(step["max_seconds"]) / seconds)
    advances = 0
    while True:
        held = until_holds(scenario, step["until"], files_fd)
        if held or advances >= most:
            break
        trace.extend(impl.step(index, {"op": "advance", "seconds": step["step_seconds"]}))
        advances += 1
    trace.add({"event": "until", "until": step["until"], "held": held, "advances": advances})


def harness_step(scenario: Scenario, step: dict, files_dir: Path | int) -> None:
    """A step the harness performs itself, on the implementation's directory.

    Nothing is written or removed through a link the implementation left: every path
    component is opened with ``O_NOFOLLOW`` beneath ``files_dir`` (a path or a directory
    fd), the temporary action file is created with ``O_EXCL``, and a link on the way fails
    the scenario (:class:`HarnessStepError`) naming it."""
    op = step["op"]
    try:
        if op == "write_action":
            data = (
                base64.b64decode(step["base64"])
                if "base64" in step
                else step["text"].encode("utf-8")
            )
            model = _model_dir(scenario)
            dir_fd = safe_fs.open_dir_beneath(files_dir, model, create=True, label=OUTPUT_FILES)
            try:
                shown = (Path(OUTPUT_FILES) / model / TMP_ACTION_FILE).as_posix()
                safe_fs.write_new(dir_fd, TMP_ACTION_FILE, data, shown)
                # rename replaces whatever is at the name (a link included), never its target
                os.replace(TMP_ACTION_FILE, ACTION_FILE, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        elif op == "remove_file":
            safe_fs.remove_beneath(files_dir, step["path"], label=OUTPUT_FILES)
        else:  # pragma: no cover - HARNESS_OPS and this function change together
            raise AssertionError(op)
    except safe_fs.LinkRefused as e:
        raise HarnessStepError(f"{op} {step.get('path', _model_dir(scenario))!r}: {e}") from e
    except OSError as e:
        raise HarnessStepError(f"{op}: {e}") from e


def _write_output(out_fd: int, name: str, data: bytes) -> str | None:
    """Write one harness output file into the output dir; whatever the implementation
    planted at that name (outside files/) is removed first, not written through."""
    planted = None
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(name, dir_fd=out_fd, follow_symlinks=False)
        planted = f"the implementation left a {safe_fs.describe_mode(st.st_mode)} at {name}"
        safe_fs.remove_entry(out_fd, name)
    safe_fs.write_new(out_fd, name, data, name)
    return planted


def _place(out: Path, root: WorkDir | str | os.PathLike[str] | None) -> tuple[WorkDir, str, bool]:
    """The work directory the output directory ``out`` lies in, ``out`` relative to it,
    and whether the work directory was opened here (and is closed here)."""
    if isinstance(root, WorkDir):
        base, owned = root, False
    else:
        base, owned = WorkDir(Path(root) if root is not None else out.parent), True
    try:
        rel = (out if out.is_absolute() else Path.cwd() / out).relative_to(base.path)
    except ValueError:
        try:
            rel = out.resolve().relative_to(base.path)  # the caller's own links, trusted
        except ValueError:
            if owned:
                base.close()
            raise ValueError(f"{out} is not inside the work directory {base.path}") from None
    return base, rel.as_posix(), owned


def run_scenario(
    scenario: Scenario,
    impl: Implementation,
    out_dir: str | Path,
    root: WorkDir | str | os.PathLike[str] | None = None,
) -> RunOutput:
    """Run ``scenario`` on ``impl``; always leaves a complete output directory, unless
    the implementation moved or replaced it (then the failure says so and nothing more is
    written).

    ``root`` is the work directory ``out_dir`` lies in (default: ``out_dir``'s parent):
    every component below it is the implementation's to tamper with, so each is opened
    without following links (:class:`~harness.workdir.WorkDir`); a link on the way is this
    scenario's failure and nothing outside ``root`` is touched."""
    out = Path(out_dir)
    work, rel, owned = _place(out, root)
    try:
        return _run_in(scenario, impl, work, rel)
    finally:
        if owned:
            work.close()


def _run_in(scenario: Scenario, impl: Implementation, work: WorkDir, rel: str) -> RunOutput:
    result = RunOutput(work.path / rel)
    try:
        out_fd = work.fresh_dir(rel)
    except (OSError, ValueError) as e:
        result.failure = f"cannot prepare the output directory {rel}: {e}"
        return result
    try:
        os.mkdir(OUTPUT_FILES, 0o755, dir_fd=out_fd)
        files_fd = safe_fs.open_dir_beneath(out_fd, OUTPUT_FILES)
    except BaseException:
        os.close(out_fd)
        raise
    files_dir = work.path / rel / OUTPUT_FILES
    try:
        _drive(
            scenario,
            impl,
            str(files_dir),
            files_fd,
            lambda: _in_place(work, rel, out_fd, files_fd),
            result,
        )
        _finish(work, rel, out_fd, files_fd, result)
    finally:
        os.close(files_fd)
        os.close(out_fd)
    return result


class _Moved(HarnessStepError):
    """The output directory, or its files/, is no longer where the harness made it."""


def _in_place(work: WorkDir, rel: str, out_fd: int, files_fd: int) -> None:
    if not work.holds(rel, out_fd):
        raise _Moved(
            f"the output directory {rel} was moved or replaced during the run (by the "
            "implementation?); nothing more is written there"
        )
    if not same_entry(out_fd, OUTPUT_FILES, files_fd):
        raise _Moved(
            f"{OUTPUT_FILES}/ was moved or replaced during the run (by the implementation?)"
        )


def _drive(
    scenario: Scenario,
    impl: Implementation,
    files_dir: str,
    files_fd: int,
    check: Callable[[], None],
    result: RunOutput,
) -> None:
    """The scenario's steps; a fault is recorded on ``result``."""
    trace = Trace(files_dir)
    result.trace = trace
    set_up = False
    try:
        for step in scenario.before_setup:  # files already waiting when the session starts
            for _ in range(int(step.get("count", 1))):
                check()
                harness_step(scenario, step, files_fd)
        trace.add({"event": "setup"})
        trace.extend(impl.setup(scenario, files_dir))
        set_up = True
        for index, step in enumerate(scenario.steps):
            trace.add({"event": "step", "index": index, "op": step["op"]})
            for _ in range(int(step.get("count", 1)) if step["op"] in HARNESS_OPS else 0):
                check()
                if step["op"] == "snapshot":
                    trace.add(snapshot_event(scenario, step, files_fd))
                elif step["op"] == "advance_until":
                    advance_until(scenario, index, step, impl, files_fd, trace)
                else:
                    harness_step(scenario, step, files_fd)
            if step["op"] not in HARNESS_OPS:
                trace.extend(impl.step(index, step))
        trace.add({"event": "teardown"})
        set_up = False
        trace.extend(impl.teardown())
    except NotApplicable as e:
        result.not_applicable = str(e) or "not applicable"
    except (ImplementationFailure, ValueError) as e:
        result.failure = str(e)
        if set_up:
            with contextlib.suppress(ImplementationFailure):
                impl.teardown()


def _finish(work: WorkDir, rel: str, out_fd: int, files_fd: int, result: RunOutput) -> None:
    """Write ``listing.txt`` and ``trace.jsonl`` (only into the directory the harness made,
    still in place), and add what the implementation left wrong to the failure."""
    notes = []
    try:
        _in_place(work, rel, out_fd, files_fd)
    except _Moved as e:
        result.failure = "; ".join(([result.failure] if result.failure else []) + [str(e)])
        return
    lines, problems = listing_lines(files_fd)
    if problems:
        lines.append("... " + "; ".join(problems))
        notes += problems
    data = "".join(e + "\n" for e in lines).encode("utf-8", "surrogateescape")
    trace = result.trace.render() if result.trace is not None else b""
    notes += [_write_output(out_fd, LISTING, data), _write_output(out_fd, TRACE, trace)]
    notes = [n for n in notes if n]
    if notes and result.not_applicable is None:
        result.failure = "; ".join(([result.failure] if result.failure else []) + notes)
