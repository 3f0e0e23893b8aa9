"""Cluster scenarios (``fixtures/cluster/<name>.json``): loading, validation, defaults.

The JSON schema is ``fixtures/cluster.schema.json``; :func:`load` applies it, then the
checks a schema cannot express (which hook needs what, which task a step names, ...).
Every error is one line naming the file and the field, e.g.
``fixtures/cluster/stop.json: tasks.worker1.hooks: query_action needs controller before it``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness.json_input import JsonInputError, read_json
from harness.paths import FIXTURES, corpus_root

# Always this package's own copy, like the parity scenario schema.
FIXTURES_ROOT = corpus_root({}) / FIXTURES
CLUSTER_DIR = FIXTURES_ROOT / "cluster"
SCHEMA_PATH = FIXTURES_ROOT / "cluster.schema.json"
MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 16

# What a task spec leaves out.
TASK_DEFAULTS: dict[str, Any] = {
    "num_ps": 1,
    "run_seconds": 0.05,
    "max_runs": 100_000,
    "max_seconds": 90,
    "session": "after_chief",
    "session_wait_seconds": 60,
    "dataset": None,
    "cap": 100,
    "table": None,
    "save_steps": 1_000_000,
}
DEFAULT_QUERY_INTERVAL = 1.0
DEFAULT_DEADLINE = 120.0
DEFAULT_WAIT_TIMEOUT = 60.0
DEFAULT_WAIT_SECONDS = 1.0
# The one outcome of a scenario that declares ``expect`` (not ``outcomes``).
EXPECTED = "expected"

# Step fields by op: required, then allowed.
STEP_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "wait": (("for",), ("for", "timeout")),
    "write_action": (("text",), ("text",)),
    "release": (("task",), ("task",)),
    "hold": (("task",), ("task",)),
    "resume": (("task",), ("task", "runs")),
    "end": (("tasks",), ("tasks",)),
}


class ClusterScenarioError(ValueError):
    """A cluster scenario is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class ClusterScenario:
    """A validated cluster scenario, task specs completed with their defaults."""

    id: str
    path: str
    description: str
    tasks: dict[str, dict[str, Any]]
    steps: list[dict[str, Any]]
    outcomes: dict[str, dict[str, Any]]
    simulation: list[str] = field(default_factory=list)
    placement: bool = True
    barrier: dict[str, Any] | None = None
    query_interval: float = DEFAULT_QUERY_INTERVAL
    deadline_seconds: float = DEFAULT_DEADLINE

    @property
    def workers(self) -> list[str]:
        return [name for name in self.tasks if name != "chief"]


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _json_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _schema_error(data: Any, where: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is None:
        return
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    raise ClusterScenarioError(f"{where}: {_json_path(error.absolute_path)}: {error.message}")


def parse(data: Any, scenario_id: str, where: str) -> ClusterScenario:
    """Validate decoded JSON and build a :class:`ClusterScenario`."""
    _schema_error(data, where)
    tasks = _tasks(data["tasks"], data, where)
    names = set(tasks)
    for i, step in enumerate(data["steps"]):
        _check_step(step, tasks, f"{where}: steps[{i}]")
    released = {s["task"] for s in data["steps"] if s["op"] == "release"}
    for name, spec in tasks.items():
        if spec["session"] == "released" and name not in released:
            raise ClusterScenarioError(
                f"{where}: tasks.{name}.session: 'released', but no step releases it"
            )
    outcomes = data.get("outcomes") or {EXPECTED: data["expect"]}
    for outcome, expectation in outcomes.items():
        here = f"{where}: expect" if outcome == EXPECTED else f"{where}: outcomes.{outcome}"
        _check_expectation(expectation, tasks, names, here)
    for sim in data.get("simulation", []):
        if not (FIXTURES_ROOT / f"{sim}.json").is_file():
            raise ClusterScenarioError(f"{where}: simulation: no scenario {sim!r} in fixtures/")
    return ClusterScenario(
        id=scenario_id,
        path=where,
        description=data["description"],
        tasks=tasks,
        steps=data["steps"],
        outcomes=outcomes,
        simulation=data.get("simulation", []),
        placement=data.get("placement", True),
        barrier=_barrier(data.get("barrier")),
        query_interval=data.get("query_interval", DEFAULT_QUERY_INTERVAL),
        deadline_seconds=data.get("deadline_seconds", DEFAULT_DEADLINE),
    )


def _barrier(barrier: dict[str, Any] | None) -> dict[str, Any] | None:
    if barrier is None:
        return None
    return {"wait_seconds": DEFAULT_WAIT_SECONDS, **barrier}


def _tasks(raw: dict[str, Any], data: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    count = len(raw) - 1
    expected = {f"worker{i}" for i in range(1, count + 1)}
    if set(raw) - {"chief"} != expected:
        raise ClusterScenarioError(
            f"{where}: tasks: workers must be worker1..worker{count}, got {sorted(raw)}"
        )
    tasks = {}
    for index, name in enumerate(["chief", *sorted(expected, key=lambda n: int(n[6:]))]):
        spec = {**TASK_DEFAULTS, **raw[name], "index": index}
        _check_task(name, raw[name], spec, data, f"{where}: tasks.{name}")
        tasks[name] = spec
    return tasks


def _check_task(
    name: str, raw: dict[str, Any], spec: dict[str, Any], data: dict[str, Any], where: str
) -> None:
    hooks = spec["hooks"]
    if "query_action" in hooks and name != "chief":
        raise ClusterScenarioError(f"{where}.hooks: query_action is the chief's only")
    if "query_action" in hooks and (
        "controller" not in hooks or hooks.index("controller") > hooks.index("query_action")
    ):
        raise ClusterScenarioError(f"{where}.hooks: query_action needs controller before it")
    if "feature_dump" in hooks and spec["dataset"] is None:
        raise ClusterScenarioError(f"{where}.dataset: the feature_dump hook needs it")
    if spec["table"] is not None and "slot_count" not in hooks:
        raise ClusterScenarioError(f"{where}.table: only the slot_count hook has a table")
    if "barrier" in hooks and "barrier" not in data:
        raise ClusterScenarioError(f"{where}.hooks: the barrier hook needs a top-level barrier")
    if "session" in raw and name == "chief":
        raise ClusterScenarioError(f"{where}.session: the chief creates its session at once")
    if spec["dataset"] is not None:
        _check_dataset(spec["dataset"], f"{where}.dataset")


def _check_dataset(elements: list[dict[str, Any]], where: str) -> None:
    keys = list(elements[0])
    for i, element in enumerate(elements):
        if list(element) != keys:
            raise ClusterScenarioError(
                f"{where}[{i}]: keys {list(element)} differ from element 0's {keys}"
                " (a tf.data dataset has one element structure)"
            )
        for name, rows in element.items():
            if len({len(row) for row in rows}) != 1:
                raise ClusterScenarioError(f"{where}[{i}].{name}: rows of different lengths")


def _check_step(step: dict[str, Any], tasks: dict[str, Any], where: str) -> None:
    required, allowed = STEP_FIELDS[step["op"]]
    for name in required:
        if name not in step:
            raise ClusterScenarioError(f"{where}: {step['op']} needs '{name}'")
    for name in step:
        if name != "op" and name not in allowed:
            raise ClusterScenarioError(f"{where}.{name}: not a field of {step['op']}")
    condition = step.get("for", {})
    named = [("tasks", n) for n in step.get("tasks", [])] + [("task", step.get("task"))]
    named += [
        (f"for.{kind}", n) for kind in ("sessions", "exited") for n in condition.get(kind, [])
    ]
    named.append(("for.event.task", condition.get("event", {}).get("task")))
    for field_name, name in named:
        if name is not None and name not in tasks:
            raise ClusterScenarioError(f"{where}.{field_name}: no task {name!r} in this scenario")
    if step["op"] == "release" and tasks[step["task"]]["session"] != "released":
        raise ClusterScenarioError(
            f"{where}.task: {step['task']} is not declared with session 'released'"
        )


def _check_expectation(
    expectation: dict[str, Any], tasks: dict[str, Any], names: set[str], where: str
) -> None:
    for section in ("tasks", "features"):
        for name in expectation.get(section, {}):
            if name not in names:
                raise ClusterScenarioError(f"{where}.{section}.{name}: no such task")
    dumping = {n for n, spec in tasks.items() if "feature_dump" in spec["hooks"]}
    if "features" in expectation and set(expectation["features"]) != dumping:
        raise ClusterScenarioError(
            f"{where}.features: must name exactly the tasks with feature_dump {sorted(dumping)}"
        )
    ckpt = expectation.get("ckpt_info")
    if ckpt and "slot_count" not in tasks.get(ckpt["writer"], {}).get("hooks", []):
        raise ClusterScenarioError(f"{where}.ckpt_info.writer: {ckpt['writer']} has no slot_count")


def load(path: str | os.PathLike[str]) -> ClusterScenario:
    """Load and validate one cluster scenario file."""
    path = Path(path)
    try:
        data = read_json(path, "a cluster scenario file", MAX_FILE_BYTES, MAX_DEPTH)
    except JsonInputError as e:
        raise ClusterScenarioError(str(e)) from e
    return parse(data, f"cluster/{path.stem}", str(path))


def discover(root: str | os.PathLike[str] = CLUSTER_DIR) -> list[Path]:
    return sorted(Path(root).glob("*.json"))


def load_all(root: str | os.PathLike[str] = CLUSTER_DIR) -> list[ClusterScenario]:
    return [load(p) for p in discover(root)]
