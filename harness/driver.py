"""Runs one scenario against one implementation and writes its output directory.

scenario -> driver -> output directory (``files/``, ``listing.txt``, ``trace.jsonl``).
Harness-side steps (writing or removing files) are done here; every other step is sent
to the implementation, whose reported events go into the trace after a ``step`` marker.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.adapters.base import Implementation, ImplementationFailure, NotApplicable
from harness.scenario import HARNESS_OPS, Scenario
from harness.trace import Trace

ACTION_FILE = "monolith_action"
OUTPUT_FILES = "files"
LISTING = "listing.txt"
TRACE = "trace.jsonl"


@dataclass
class RunOutput:
    """Where a run's outputs are, and why it could not finish (if it could not)."""

    out_dir: Path
    failure: str | None = None
    not_applicable: str | None = None


def listing(files_dir: Path) -> bytes:
    """Every path under ``files_dir``, sorted, directories with a trailing ``/``."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(files_dir):
        rel = Path(dirpath).relative_to(files_dir)
        entries += [(rel / d).as_posix() + "/" for d in dirnames]
        entries += [(rel / f).as_posix() for f in filenames]
    return "".join(e + "\n" for e in sorted(entries)).encode("utf-8")


def _model_dir(scenario: Scenario, files_dir: Path) -> Path:
    return files_dir / scenario.config.get("model_dir", ".")


def harness_step(scenario: Scenario, step: dict, files_dir: Path) -> None:
    """A step the harness performs itself, on the implementation's directory."""
    if step["op"] == "write_action":
        data = (
            base64.b64decode(step["base64"]) if "base64" in step else step["text"].encode("utf-8")
        )
        model_dir = _model_dir(scenario, files_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        tmp = model_dir / f".{ACTION_FILE}.harness-tmp"
        tmp.write_bytes(data)
        os.replace(tmp, model_dir / ACTION_FILE)
    elif step["op"] == "remove_file":
        target = files_dir / step["path"]
        # Never act outside files/, whatever links the implementation left there.
        if not target.parent.resolve().is_relative_to(files_dir.resolve()):
            raise ValueError(f"remove_file {step['path']!r} leads outside files/")
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
    else:  # pragma: no cover - HARNESS_OPS and this function change together
        raise AssertionError(step["op"])


def run_scenario(scenario: Scenario, impl: Implementation, out_dir: str | Path) -> RunOutput:
    """Run ``scenario`` on ``impl``; always leaves a complete output directory."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    files_dir = out / OUTPUT_FILES
    files_dir.mkdir(parents=True)
    trace = Trace(str(files_dir.resolve()))
    result = RunOutput(out)
    set_up = False
    try:
        trace.add({"event": "setup"})
        trace.extend(impl.setup(scenario, str(files_dir.resolve())))
        set_up = True
        for index, step in enumerate(scenario.steps):
            trace.add({"event": "step", "index": index, "op": step["op"]})
            if step["op"] in HARNESS_OPS:
                for _ in range(int(step.get("count", 1))):
                    harness_step(scenario, step, files_dir)
            else:
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
    (out / LISTING).write_bytes(listing(files_dir))
    (out / TRACE).write_bytes(trace.render())
    return result
