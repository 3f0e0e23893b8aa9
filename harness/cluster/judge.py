"""What a cluster run observed, against what its scenario expects (pure: no processes).

A scenario declares one expectation (``expect``) or several legal outcomes
(``outcomes``, by name). :func:`judge` checks the observation against each and passes on
the first that holds, naming it; otherwise it reports the problems of the outcome that
came closest. A failed step (a wait that ran out) is always a problem.

What an expectation can say, judged only on what real time allows (orders and counts,
never exact times):

* ``tasks.<name>``: its exit status, whether it created a session, ``should_stop`` at the
  end of its loop, its barrier callbacks in order (``place:Stop``: it placed the barrier
  with action ``Stop``; ``wait:`` it blocked at it and read the action ``""``), its error,
  why its loop ended, how many trigger-saves and runs, how many runs it made after its
  last barrier wait, a range for its longest run (seconds), and, for a session that
  never came, the global variables it still saw uninitialised;
* ``files``: the exact content of files under the model dir, or ``null``: absent;
* ``features``: per dumping task, the record count of each of its dump files (sorted).
  The files must be named ``chief_<uuid1>.pb`` (the chief) or ``worker<i>_<uuid1>.pb``,
  no other file may be in ``features/``, and a task's records, in the time order of their
  uuid1s, must be its dataset's elements from the second on (the first run only
  initialises the iterator);
* ``ckpt_info``: ``ckpt.info-<step>`` files exist exactly for the steps the ``writer``
  saved at (no other task saved), each with ``content`` (the lowest step's with
  ``first``, when given: the save at session creation comes before any run filled the
  table); with ``last_step_is_all_runs``, the last step is the sum of every task's runs
  (the global step lives on the ps, shared).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.cluster.runner import Observation
from harness.cluster.scenario import EXPECTED
from harness.formats.example_stream import StreamError, read_records

FEATURE_FILE = re.compile(
    r"^(chief|worker([1-9][0-9]*))_"
    r"([0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12})\.pb$"
)
CKPT_INFO = re.compile(r"^ckpt\.info-(-?[0-9]+)$")
COUNT_FIELDS = ("trigger_saves", "runs", "runs_after_wait", "longest_run")


@dataclass
class Verdict:
    passed: bool
    outcome: str | None  # which legal outcome matched (None for a single expectation)
    problems: list[str] = field(default_factory=list)
    closest: str | None = None  # on a failure with several outcomes: the one nearest


def judge(observation: Observation) -> Verdict:
    outcomes = observation.scenario.outcomes
    found: list[tuple[str, list[str]]] = []
    for name, expectation in outcomes.items():
        problems = check(expectation, observation)
        if not problems:
            return Verdict(True, None if name == EXPECTED else name)
        found.append((name, problems))
    name, problems = min(found, key=lambda item: len(item[1]))
    closest = None if name == EXPECTED else name
    return Verdict(False, None, problems, closest)


def check(expectation: dict[str, Any], observation: Observation) -> list[str]:
    """Every way ``observation`` differs from ``expectation`` (empty: it holds)."""
    problems = []
    if observation.step_failure:
        problems.append(observation.step_failure)
    for name, expected in expectation.get("tasks", {}).items():
        problems += _task(name, expected, observation.tasks[name])
    for path, content in expectation.get("files", {}).items():
        problems += _file(path, content, observation.files)
    if "features" in expectation:
        problems += _features(expectation["features"], observation)
    if "ckpt_info" in expectation:
        problems += _ckpt_info(expectation["ckpt_info"], observation)
    return problems


def matches_count(expected: Any, actual: Any) -> bool:
    """An exact value, or a ``{"min", "max"}`` range (either bound optional)."""
    if isinstance(expected, dict):
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return False
        return expected.get("min", actual) <= actual <= expected.get("max", actual)
    return bool(expected == actual)


def _task(name: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in expected.items():
        got = actual.get(key)
        ok = matches_count(value, got) if key in COUNT_FIELDS else value == got
        if not ok:
            problems.append(f"{name}.{key}: expected {_show(value)}, got {_show(got)}")
    if actual.get("killed") and "exit" not in expected:
        problems.append(f"{name}: killed by the runner at the deadline")
    return problems


def _show(value: Any) -> str:
    if isinstance(value, dict) and set(value) <= {"min", "max"}:
        return f"[{value.get('min', '')}, {value.get('max', '')}]"
    return repr(value)


def _file(path: str, content: str | None, files: dict[str, bytes]) -> list[str]:
    actual = files.get(path)
    if content is None:
        return [] if actual is None else [f"{path}: expected absent, found {actual[:80]!r}"]
    if actual is None:
        return [f"{path}: expected {content!r}, absent"]
    if actual != content.encode("utf-8"):
        return [f"{path}: expected {content!r}, got {actual[:200]!r}"]
    return []


def _features(expected: dict[str, list[int]], observation: Observation) -> list[str]:
    problems = []
    by_task: dict[str, list[tuple[int, list[dict[str, list[list[int]]]]]]] = {}
    for path, data in observation.files.items():
        if not path.startswith("features/"):
            continue
        name = path.removeprefix("features/")
        match = FEATURE_FILE.match(name)
        if match is None:
            problems.append(
                f"{path}: not a dump file name (chief_<uuid1>.pb, worker<i>_<uuid1>.pb)"
            )
            continue
        task = match.group(1)
        try:
            records = [_batch(r.decode()) for r in read_records(data)]
        except StreamError as e:
            problems.append(f"{path}: {e}")
            continue
        by_task.setdefault(task, []).append((uuid.UUID(match.group(3)).time, records))
    for task in sorted(set(by_task) - set(expected)):
        problems.append(f"features/: files of {task}, which should have written none")
    for task, counts in expected.items():
        files = sorted(by_task.get(task, []), key=lambda item: item[0])
        got = sorted(len(records) for _, records in files)
        if got != sorted(counts):
            problems.append(f"features/{task}_*.pb: record counts {got}, expected {sorted(counts)}")
            continue
        dumped = [record for _, records in files for record in records]
        dataset = observation.scenario.tasks[task]["dataset"]
        if dumped != dataset[1 : 1 + len(dumped)]:
            problems.append(
                f"features/{task}_*.pb: the records are not {task}'s dataset from element 1 on"
            )
    return problems


def _batch(batch: Any) -> dict[str, list[list[int]]]:
    return {
        named.name: [list(feature.fid_v2_list.value) for feature in named.feature]
        for named in batch.named_feature_list
    }


def _ckpt_info(expected: dict[str, Any], observation: Observation) -> list[str]:
    problems = []
    steps = {}
    for path, data in observation.files.items():
        match = CKPT_INFO.match(path)
        if match:
            steps[int(match.group(1))] = data
    writer = expected["writer"]
    saved = _ints(observation.tasks[writer].get("saves"))
    if sorted(steps) != sorted(set(saved)):
        problems.append(f"ckpt.info steps {sorted(steps)}, but {writer} saved at {saved}")
    for task, result in observation.tasks.items():
        if task != writer and result.get("saves"):
            problems.append(f"{task} saved checkpoints at {result['saves']}: only {writer} may")
    for step, data in sorted(steps.items()):
        content = expected["content"]
        if step == min(steps):
            content = expected.get("first", content)
        if data != content.encode("utf-8"):
            problems.append(f"ckpt.info-{step}: expected {content!r}, got {data!r}")
    if expected.get("last_step_is_all_runs") and steps:
        total = sum(sum(_ints([r.get("runs")])) for r in observation.tasks.values())
        if max(steps) != total:
            problems.append(f"last ckpt.info step {max(steps)}, but all tasks ran {total} runs")
    return problems


def _ints(values: Any) -> list[int]:
    """The integers of a list a task reported (a task that died reported none)."""
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
