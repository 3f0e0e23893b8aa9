"""Scenario files: discovery, schema validation and semantic checks, with clear errors.

Every error names the file and the JSON path of the offending field, e.g.
``fixtures/controller/stop.json: steps[3].seconds: -1 is less than the minimum of 0``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from harness.json_input import JsonInputError, read_json
from harness.paths import FIXTURES_DIR, SCHEMA_PATH

HARNESS_OPS = frozenset({"write_action", "remove_file", "snapshot", "advance_until"})
# What a scenario's ``before_setup`` may do: files waiting before the session is created.
BEFORE_SETUP_OPS = frozenset({"write_action", "remove_file"})
# advance_until: the most advances one step may make (max_seconds / step_seconds).
MAX_UNTIL_ADVANCES = 100_000
# The orders of an assign and a read in one run (``order``, docs/scenarios.md): the
# caller's assign before the hooks' read (the harness convention, the default), after it,
# or left open (every legal outcome is golden).
ASSIGN_FIRST, READ_FIRST, OPEN = "assign_first", "read_first", "open"
ORDERS = (ASSIGN_FIRST, READ_FIRST)
# How ControllerHooks that see the stop flag race to place the barrier (``place_race``):
# each check and set in one turn, so the first places and the later ones find it placed
# (the default), or every racer's check before any set, so each places it.
RACES = ("first", "together")
MAX_OPEN_STEPS = 3  # 2**3 alternatives at most
ASSIGNING_FETCHES = ("stop_op", "trigger_save_op")
# What a run step may fetch, by family (the schema lists every family's together).
FETCHES = {
    "controller": ("dummy", "stop_op", "trigger_save_op"),
    "feature_dump": ("train_op", "dummy"),
}

# Fields a step needs, by family and op (the schema cannot say which op needs what).
REQUIRED = {
    ("slot_count", "assign"): ("table", "fids"),
    ("slot_count", "save"): ("global_step",),
    ("barrier", "query"): ("what",),
    ("barrier", "wait"): ("index",),
    ("hook_utils", "save"): ("global_step",),
    ("hook_utils", "end"): ("global_step",),
    ("hook_utils", "call"): ("listener", "method"),
    ("hook_utils", "repr"): ("listener",),
    ("*", "advance"): ("seconds",),
    ("*", "run_while_not_stopped"): ("max_runs",),
    ("*", "advance_until"): ("until", "step_seconds", "max_seconds"),
}
# Step fields that only some ops take (the schema lists every field any op takes).
ONLY_FOR = {
    "on_error": ("run", "run_while_not_stopped"),
    "max_runs": ("run_while_not_stopped",),
    "read": ("snapshot",),
    "until": ("advance_until",),
    "step_seconds": ("advance_until",),
    "max_seconds": ("advance_until",),
    "if_open": ("end",),
    "order": ("run", "run_while_not_stopped"),
}


# Ranges and size budgets (docs/scenarios.md, "Ranges and budgets").
FID_RANGE = (-(1 << 63), (1 << 64) - 1)  # uint64; a negative is its int64 reinterpretation
INT64_RANGE = (-(1 << 63), (1 << 63) - 1)  # global steps
DTYPE_RANGES = {
    "int64": INT64_RANGE,
    "uint64": FID_RANGE,
    "int32": (-(1 << 31), (1 << 31) - 1),
}
MAX_GENERATED = 10_000_000  # values all generators of one scenario produce together
MAX_DEPTH = 64  # nesting of arrays and objects
MAX_FILE_BYTES = 64 << 20


class ScenarioError(ValueError):
    """A scenario file is not valid; the message names the file and the field."""


@dataclass(frozen=True)
class Scenario:
    id: str
    family: str
    description: str
    config: dict[str, Any]
    steps: list[dict[str, Any]]
    pins: list[str] = field(default_factory=list)
    path: str = ""
    before_setup: list[dict[str, Any]] = field(default_factory=list)
    # Where this scenario's goldens are when not in the run's golden directory: a port's
    # own scenario (an overlay, :func:`load_overlay`) keeps them beside it.
    golden: str = ""

    @property
    def local(self) -> bool:
        """Whether it is a port's own scenario (from an overlay), not the shipped corpus's."""
        return bool(self.golden)

    def to_json(self) -> dict[str, Any]:
        """The scenario as the protocol sends it to a testee."""
        return {
            "id": self.id,
            "family": self.family,
            "config": self.config,
            "steps": self.steps,
        }

    @property
    def open_steps(self) -> list[int]:
        """Indexes of the steps whose order TensorFlow leaves open (``"order": "open"``)."""
        return [i for i, s in enumerate(self.steps) if s.get("order") == OPEN]

    def alternatives(self) -> list[tuple[str, Scenario]]:
        """Every legal outcome's name and the scenario that forces it: each open step's
        order and an open placement race made concrete, in every combination
        (``s1-assign_first``, ``s1-read_first``, ``place_race-together``, ...; several
        joined with ``+``). Empty when nothing is open: the scenario has one outcome, its
        golden directory holds it directly."""
        opened = self.open_steps
        race = [RACES] if self.config.get("place_race") == OPEN else []
        found = []
        choices = [ORDERS] * len(opened) + race
        for chosen in itertools.product(*choices) if choices else ():
            steps = [dict(s) for s in self.steps]
            names = []
            for index, order in zip(opened, chosen, strict=False):
                steps[index]["order"] = order
                names.append(f"s{index}-{order}")
            config = self.config
            if race:
                config = {**config, "place_race": chosen[-1]}
                names.append(f"place_race-{chosen[-1]}")
            found.append(("+".join(names), replace(self, steps=steps, config=config)))
        return found


@cache
def _validator() -> Any:
    try:
        import jsonschema
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ScenarioError(
            "validating scenarios needs the jsonschema package (pip install jsonschema)"
        ) from e
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@cache
def _fast_validator() -> Any:
    """The schema compiled to Python code by fastjsonschema (None without it): a valid
    scenario is validated once by it, fast; only an invalid one goes through jsonschema,
    for its precise message. (The schema uses draft-07 keywords only, which both read
    alike; tests/harness/test_scenario_loader.py checks they agree.)"""
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema.pop("$schema", None)  # fastjsonschema knows drafts up to 07
    return fastjsonschema.compile(schema, use_default=False)


def schema_valid(data: Any) -> bool | None:
    """Whether ``data`` passes the compiled schema (None: no compiled validator)."""
    fast = _fast_validator()
    if fast is None:
        return None
    import fastjsonschema

    try:
        fast(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _json_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _best_error(errors: list[Any]) -> Any:
    """The most relevant error (jsonschema's heuristic), then its deepest sub-error."""
    from jsonschema.exceptions import best_match

    error = best_match(errors)
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    return error


def parse(data: Any, scenario_id: str, where: str) -> Scenario:
    """Validate decoded JSON and build a :class:`Scenario`; ``where`` names it in errors."""
    _check_depth(data, where)
    _check_finite(data, where, "")
    errors = [] if schema_valid(data) else list(_validator().iter_errors(data))
    if errors:
        e = _best_error(errors)
        raise ScenarioError(f"{where}: {_json_path(e.absolute_path)}: {e.message}")
    family = data["family"]
    expected_family = scenario_id.split("/", 1)[0]
    if "/" in scenario_id and family != expected_family:
        raise ScenarioError(
            f"{where}: family: {family!r} does not match the folder {expected_family!r}"
        )
    model_dir = data.get("config", {}).get("model_dir", ".")
    if ".." in Path(model_dir).parts:
        raise ScenarioError(
            f"{where}: config.model_dir: {model_dir!r} does not stay inside files/ ('..')"
        )
    if family == "feature_dump":
        for i, element in enumerate(data.get("config", {}).get("batches", [])):
            _check_element(element, f"{where}: config.batches[{i}]")
    config = data.get("config", {})
    _check_racing_workers(family, config, where)
    indexes = [w.get("index") for w in config.get("workers", [])]
    repeated = sorted({i for i in indexes if indexes.count(i) > 1})
    if repeated:
        raise ScenarioError(
            f"{where}: config.workers: index {repeated[0]} is given twice (each worker is one "
            "task, with one index)"
        )
    if family == "controller" and config.get("workers") and "barrier" not in config:
        # A worker is a BarrierHook at the chief's barrier: without one there is nothing
        # the original could be asked (the simulation would only fail in its own code).
        raise ScenarioError(
            f"{where}: config.workers: a worker waits at the chief's barrier; give "
            "config.barrier too"
        )
    steps = data["steps"]
    for i, step in enumerate(steps):
        _check_step(family, step, f"{where}: steps[{i}]")
    before_setup = data.get("before_setup", [])
    for i, step in enumerate(before_setup):
        here = f"{where}: before_setup[{i}]"
        if step["op"] not in BEFORE_SETUP_OPS:
            raise ScenarioError(
                f"{here}.op: {step['op']!r} cannot happen before set-up; "
                f"one of {sorted(BEFORE_SETUP_OPS)}"
            )
        _check_step(family, step, here)
    _check_ranges(data, where)
    opened = [i for i, step in enumerate(steps) if step.get("order") == OPEN]
    if len(opened) > MAX_OPEN_STEPS:
        raise ScenarioError(
            f"{where}: steps: {len(opened)} steps leave their order open, more than the "
            f"{MAX_OPEN_STEPS} a scenario may ({2**MAX_OPEN_STEPS} outcomes)"
        )
    return Scenario(
        id=scenario_id,
        family=family,
        description=data["description"],
        config=data.get("config", {}),
        steps=steps,
        pins=list(data.get("pins", [])),
        path=where,
        before_setup=list(before_setup),
    )


def _check_racing_workers(family: str, config: dict[str, Any], where: str) -> None:
    """Workers with their own ControllerHook share the chief's stop flag only through a
    parameter server, and a placement race needs them."""
    racing = [w for w in config.get("workers", []) if w.get("controller")]
    if racing and family != "controller":
        raise ScenarioError(
            f"{where}: config.workers: only controller workers build a ControllerHook"
        )
    if racing and int(config.get("num_ps", 0)) < 1:
        raise ScenarioError(
            f"{where}: config.workers: a worker's ControllerHook shares the chief's stop flag "
            "only on a parameter server: set config.num_ps to 1 or more"
        )
    if "place_race" in config and not racing:
        raise ScenarioError(
            f"{where}: config.place_race: no worker builds a ControllerHook, so nothing races "
            "to place the barrier"
        )


_INT_STRING = re.compile(r"-?(0[xX][0-9a-fA-F]+|[0-9]+)")


def _is_integral(value: Any) -> bool:
    """A JSON integer or an integer string. Never a JSON number with a fraction or an
    exponent (``1e5``, ``1.0``: above 2**53 such a number has already lost digits when it
    is read, so the value would not be the one written), nor ``true``/``false``."""
    if isinstance(value, str):
        return _INT_STRING.fullmatch(value) is not None
    return isinstance(value, int) and not isinstance(value, bool)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _check_rectangular(value: list[Any], where: str) -> None:
    kinds = {isinstance(v, list) for v in value}
    if len(kinds) > 1:
        raise ScenarioError(f"{where}: mixes rows and scalars")
    if kinds == {True}:
        if len({len(v) for v in value}) > 1:
            raise ScenarioError(f"{where}: rows differ in length (not rectangular)")
        for i, v in enumerate(value):
            _check_rectangular(v, f"{where}[{i}]")


def _check_element(element: list[dict[str, Any]], where: str) -> None:
    """What the schema cannot say about one dataset element."""
    seen: set[str] = set()
    for j, feature in enumerate(element):
        here = f"{where}[{j}]"
        if feature["name"] in seen:
            raise ScenarioError(f"{here}.name: {feature['name']!r} repeats a feature name")
        seen.add(feature["name"])
        dense = feature.get("dense")
        if isinstance(dense, list):
            _check_rectangular(dense, f"{here}.dense")
            values = list(_leaves(dense, f"{here}.dense"))
        elif isinstance(dense, dict):
            # generated values always fit; literals among them are checked like any
            literals = dense.get("values", [])
            values = [
                (f"{here}.dense.values[{i}]", v)
                for i, v in enumerate(literals if isinstance(literals, list) else [])
                if not isinstance(v, dict)
            ]
        else:
            values = list(_leaves(feature.get("ragged", []), f"{here}.ragged"))
        dtype = feature.get("dtype", "int64")
        if not dtype.startswith("float"):
            for path, value in values:
                if not _is_integral(value):
                    raise ScenarioError(f"{path}: {value!r} is not an integer (dtype {dtype})")


def _check_depth(data: Any, where: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` (iteratively: no recursion limit)."""
    stack = [(data, 0, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise ScenarioError(f"{where}: {path}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack += [(v, depth + 1, f"{path}.{k}" if path else str(k)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]


def _as_int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith(("0x", "-0x")) else int(value)
    return int(value)


def _in_range(value: Any, bounds: tuple[int, int], path: str, what: str) -> None:
    lo, hi = bounds
    number = _as_int(value)
    if not lo <= number <= hi:
        raise ScenarioError(f"{path}: {value!r} is out of range for {what} ([{lo}, {hi}])")


def _check_value_list(
    items: list[Any], path: str, bounds: tuple[int, int] | None, what: str
) -> int:
    """Range-check a value list's literals and generator parameters; returns how many
    values its generators produce."""
    generated = 0
    for i, item in enumerate(items):
        here = f"{path}[{i}]"
        if isinstance(item, dict):
            generated += int(item["count"])
            for key in ("start", "step", "seed", "slot"):
                if key in item:
                    _in_range(item[key], FID_RANGE, f"{here}.{key}", "a 64-bit generator value")
        elif bounds is not None and _is_integral(item):
            _in_range(item, bounds, here, what)
        elif bounds is FID_RANGE:
            raise ScenarioError(f"{here}: {item!r} is not an integer (a fid)")
    return generated


def _check_ranges(data: dict[str, Any], where: str) -> None:
    """Every integer in its range, and the scenario's generated values within budget."""
    config = data.get("config", {})
    generated = 0
    tables = config.get("tables", []) if data["family"] == "slot_count" else []
    for i, table in enumerate(tables):
        generated += _check_value_list(
            table.get("fids", []), f"{where}: config.tables[{i}].fids", FID_RANGE, "a fid"
        )
    if data["family"] == "feature_dump":
        for i, element in enumerate(config.get("batches", [])):
            for j, feature in enumerate(element):
                here = f"{where}: config.batches[{i}][{j}]"
                try:  # the name is written as UTF-8, and the protocol carries it so
                    feature["name"].encode("utf-8")
                except UnicodeEncodeError as e:
                    raise ScenarioError(
                        f"{here}.name: not encodable as UTF-8 (character {e.start})"
                    ) from e
                bounds = DTYPE_RANGES.get(feature.get("dtype", "int64"))
                dense = feature.get("dense")
                what = f"dtype {feature.get('dtype', 'int64')}"
                if isinstance(dense, dict):
                    generated += _check_value_list(
                        dense.get("values", []), f"{here}.dense.values", bounds, what
                    )
                elif bounds is not None:
                    rows = dense if dense is not None else feature.get("ragged", [])
                    kind = "dense" if dense is not None else "ragged"
                    for path, value in _leaves(rows, f"{here}.{kind}"):
                        if _is_integral(value):
                            _in_range(value, bounds, path, what)
    for i, step in enumerate(data["steps"]):
        here = f"{where}: steps[{i}]"
        if "global_step" in step and _is_integral(step["global_step"]):
            _in_range(step["global_step"], INT64_RANGE, f"{here}.global_step", "a global step")
        if "fids" in step:
            generated += int(step.get("count", 1)) * _check_value_list(
                step["fids"], f"{here}.fids", FID_RANGE, "a fid"
            )
    if generated > MAX_GENERATED:
        raise ScenarioError(
            f"{where}: generators produce {generated} values, more than the "
            f"{MAX_GENERATED} a scenario may"
        )


def _check_step(family: str, step: dict[str, Any], where: str) -> None:
    op = step["op"]
    for name in REQUIRED.get((family, op), ()) + REQUIRED.get(("*", op), ()):
        if name not in step:
            raise ScenarioError(f"{where}: {op} needs {name!r}")
    for name, ops in ONLY_FOR.items():
        if name in step and op not in ops:
            raise ScenarioError(f"{where}.{name}: only {' and '.join(ops)} take it, not {op}")
    fetch = step.get("fetch")
    if fetch is not None and fetch not in FETCHES.get(family, ()):
        raise ScenarioError(
            f"{where}.fetch: {fetch!r} is not a fetch of the {family} family (one of "
            f"{', '.join(FETCHES.get(family, ())) or 'none'})"
        )
    if "order" in step and (family != "controller" or step.get("fetch") not in ASSIGNING_FETCHES):
        raise ScenarioError(
            f"{where}.order: only a controller run whose fetch assigns a flag the hooks read "
            f"({' or '.join(ASSIGNING_FETCHES)}) has an order to choose"
        )
    if "if_open" in step and family not in ("controller", "feature_dump"):
        raise ScenarioError(
            f"{where}.if_open: only the controller and feature_dump families' end takes it"
        )
    if op == "call" and step["method"] != "begin" and "global_step" not in step:
        raise ScenarioError(f"{where}: call of {step['method']} needs 'global_step'")
    if op == "write_action":
        if ("text" in step) == ("base64" in step):
            raise ScenarioError(f"{where}: write_action needs exactly one of 'text' or 'base64'")
        if "base64" in step:
            try:
                base64.b64decode(step["base64"], validate=True)
            except (binascii.Error, ValueError) as e:
                raise ScenarioError(f"{where}.base64: not valid base64: {e}") from e
        else:
            try:
                step["text"].encode("utf-8")
            except UnicodeEncodeError as e:
                raise ScenarioError(
                    f"{where}.text: not encodable as UTF-8 (character {e.start}): use base64"
                ) from e
    if op == "remove_file":
        _check_inside(step.get("path"), f"{where}.path")
    if op == "snapshot":
        for i, path in enumerate(step.get("read", [])):
            _check_inside(path, f"{where}.read[{i}]")
    if op == "advance_until":
        advances = math.ceil(step["max_seconds"] / step["step_seconds"])
        if advances > MAX_UNTIL_ADVANCES:
            raise ScenarioError(
                f"{where}: max_seconds / step_seconds is {advances} advances, more than "
                f"the {MAX_UNTIL_ADVANCES} a step may make"
            )


def _check_inside(path: Any, where: str) -> None:
    if not path or os.path.isabs(path) or ".." in Path(path).parts or not Path(path).parts:
        raise ScenarioError(f"{where}: must be a relative path inside files/: {path!r}")


def load(path: str | os.PathLike[str], root: str | os.PathLike[str] = FIXTURES_DIR) -> Scenario:
    """Load and validate one scenario file."""
    path = Path(path)
    try:
        scenario_id = path.resolve().relative_to(Path(root).resolve()).with_suffix("").as_posix()
    except ValueError:
        scenario_id = path.stem
    try:
        data = read_json(path, "a scenario file", MAX_FILE_BYTES, MAX_DEPTH)
    except JsonInputError as e:
        raise ScenarioError(str(e)) from e
    return parse(data, scenario_id, str(path))


def _check_finite(value: Any, where: str, path: str) -> None:
    """NaN and infinities are not JSON; a caller passing decoded data must not sneak them in."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"{where}: {path or '(top level)'}: {value!r} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, where, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, where, f"{path}[{i}]")


# Cluster scenarios (``fixtures/cluster/``, harness.cluster) have a format of their own and
# are not part of the parity corpus.
NOT_CORPUS = frozenset({"cluster"})


def discover(root: str | os.PathLike[str] = FIXTURES_DIR) -> Iterator[Path]:
    """Every scenario file under ``root`` (``<family>/<name>.json``), sorted; the folders of
    :data:`NOT_CORPUS` are skipped. Every entry but a directory is one: a link, a fifo or a
    device named so is refused by :func:`load`, not silently skipped."""
    root = Path(root)
    yield from sorted(
        p
        for p in root.glob("*/*.json")
        if p.parent.name not in NOT_CORPUS and not stat.S_ISDIR(_lmode(p))
    )


def _lmode(path: Path) -> int:
    try:
        return path.lstat().st_mode
    except OSError:  # gone since it was listed: load() says so
        return 0


def load_all(root: str | os.PathLike[str] = FIXTURES_DIR) -> list[Scenario]:
    return [load(p, root) for p in discover(root)]


def load_overlay(root: str | os.PathLike[str], shipped: Sequence[Scenario]) -> list[Scenario]:
    """A port's own scenarios: ``<root>/fixtures/<family>/<name>.json``, their goldens in
    ``<root>/golden/`` (made by the reference: ``monolith-parity --overlay DIR regen``).
    An id the shipped corpus already has is refused (one id, one golden)."""
    base = Path(root)
    if not (base / "fixtures").is_dir():
        raise ScenarioError(f"--overlay {base}: no fixtures/ directory in it")
    taken = {s.id for s in shipped}
    found = []
    for scenario in load_all(base / "fixtures"):
        if scenario.id in taken:
            raise ScenarioError(
                f"{scenario.path}: the shipped corpus already has a scenario {scenario.id!r}; "
                "give the port's own one another name"
            )
        found.append(replace(scenario, golden=str(base / "golden")))
    return found
