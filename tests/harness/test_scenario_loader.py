"""The loader rejects bad scenarios with a message naming the file and the field."""

import json

import pytest

from harness.scenario import ScenarioError, load, parse

BASE = {"format": 1, "family": "controller", "description": "d", "steps": [{"op": "run"}]}


def bad(**changes):
    return {**BASE, **changes}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bad(format=2), "f.json: format: 1 was expected"),
        (bad(family="nope"), "f.json: family: 'nope' is not one of"),
        (
            bad(steps=[{"op": "advance", "seconds": -1}]),
            "f.json: steps[0].seconds: -1 is less than",
        ),
        (bad(steps=[{"op": "place"}]), "f.json: steps[0].op: 'place' is not one of"),
        (bad(steps=[{"op": "run", "fetch": "x"}]), "f.json: steps[0].fetch: 'x' is not one of"),
        (bad(config={"barrier": {"capacity": 0}}), "f.json: config.barrier.capacity: 0 is less"),
        (bad(config={"nope": 1}), "f.json: config: Additional properties are not allowed"),
        (bad(steps=[{"op": "write_action"}]), "f.json: steps[0]: write_action needs exactly one"),
        (
            bad(steps=[{"op": "write_action", "base64": "!!"}]),
            "f.json: steps[0].base64: not valid base64",
        ),
        (
            bad(steps=[{"op": "remove_file", "path": "../../etc/passwd"}]),
            "f.json: steps[0].path: must be a relative path inside files/",
        ),
        (
            bad(steps=[{"op": "remove_file", "path": "/etc/passwd"}]),
            "f.json: steps[0].path: must be a relative path inside files/",
        ),
        (bad(config={"model_dir": "../escape"}), "f.json: config.model_dir: '../escape' does not"),
        (bad(config={"model_dir": "/abs"}), "f.json: config.model_dir: '/abs' does not match"),
        (bad(steps=[{"op": "advance"}]), "f.json: steps[0]: advance needs 'seconds'"),
        (bad(description=""), "f.json: description: '' should be non-empty"),
    ],
)
def test_errors_name_file_and_field(data, message):
    with pytest.raises(ScenarioError) as info:
        parse(data, "controller/x", "f.json")
    assert str(info.value).startswith(message), str(info.value)


def test_nested_feature_error_points_at_the_value():
    data = {
        **BASE,
        "family": "feature_dump",
        "config": {"batches": [[{"name": "a", "dense": [[1, "x"]]}]]},
        "steps": [],
    }
    with pytest.raises(
        ScenarioError, match=r"^f\.json: config\.batches\[0\]\[0\]\.dense\[0\]\[1\]: 'x'"
    ):
        parse(data, "feature_dump/x", "f.json")


def test_family_must_match_folder(tmp_path):
    (tmp_path / "barrier").mkdir()
    path = tmp_path / "barrier" / "x.json"
    path.write_text(json.dumps(BASE))
    with pytest.raises(
        ScenarioError, match="family: 'controller' does not match the folder 'barrier'"
    ):
        load(path, tmp_path)


def test_file_errors(tmp_path):
    (tmp_path / "controller").mkdir()
    path = tmp_path / "controller" / "x.json"
    path.write_text('{"format": 1,\n "family": }')
    with pytest.raises(ScenarioError, match=r"x\.json: line 2 column 12: Expecting value"):
        load(path, tmp_path)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ScenarioError, match=r"x\.json: not UTF-8 at byte offset 7"):
        load(path, tmp_path)
    with pytest.raises(ScenarioError, match=r"missing\.json: cannot read"):
        load(tmp_path / "missing.json", tmp_path)


def test_valid_scenario_loads_with_id(tmp_path):
    (tmp_path / "controller").mkdir()
    path = tmp_path / "controller" / "ok.json"
    path.write_text(json.dumps({**BASE, "pins": ["q"]}))
    scenario = load(path, tmp_path)
    assert (scenario.id, scenario.family, scenario.pins) == ("controller/ok", "controller", ["q"])
    assert scenario.to_json() == {
        "id": "controller/ok",
        "family": "controller",
        "config": {},
        "steps": [{"op": "run"}],
    }


@pytest.mark.parametrize(
    ("family", "step", "message"),
    [
        ("slot_count", {"op": "save"}, "steps[0]: save needs 'global_step'"),
        ("slot_count", {"op": "assign", "table": 0}, "steps[0]: assign needs 'fids'"),
        ("barrier", {"op": "wait"}, "steps[0]: wait needs 'index'"),
        ("barrier", {"op": "query"}, "steps[0]: query needs 'what'"),
        (
            "hook_utils",
            {"op": "call", "listener": 0, "method": "after_save"},
            "needs 'global_step'",
        ),
        ("controller", {"op": "run_while_not_stopped"}, "needs 'max_runs'"),
        ("hook_utils", {"op": "repr"}, "steps[0]: repr needs 'listener'"),
        (
            "controller",
            {"op": "end", "on_error": "end"},
            "steps[0].on_error: only run and run_while_not_stopped take it, not end",
        ),
        (
            "feature_dump",
            {"op": "run", "max_runs": 3},
            "steps[0].max_runs: only run_while_not_stopped take it, not run",
        ),
    ],
)
def test_required_fields_per_op(family, step, message):
    config = {"capacity": 2} if family == "barrier" else {}
    data = {**BASE, "family": family, "config": config, "steps": [step]}
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(data, f"{family}/x", "f.json")


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            [{"name": "a", "dense": [[1, 2.5]]}],
            r"batches\[0\]\[0\]\.dense\[0\]\[1\]: 2\.5 is not an integer",
        ),
        (
            [{"name": "a", "dense": [[1], [2, 3]]}],
            r"batches\[0\]\[0\]\.dense: rows differ in length",
        ),
        ([{"name": "a", "dense": [[[1], [2, 3]]]}], r"\.dense\[0\]: rows differ in length"),
        ([{"name": "a", "dense": [1, [2]]}], r"batches\[0\]\[0\]\.dense: mixes rows and scalars"),
        ([{"name": "a", "ragged": [[1], ["nan"]]}], r"ragged\[1\]\[0\]: 'nan' is not an integer"),
        (
            [{"name": "a", "dense": [[1]]}, {"name": "a", "dense": [[2]]}],
            r"batches\[0\]\[1\]\.name: 'a' repeats a feature name",
        ),
    ],
)
def test_feature_inputs_the_reference_cannot_hold_are_rejected(features, message):
    data = {**BASE, "family": "feature_dump", "config": {"batches": [features]}, "steps": []}
    with pytest.raises(ScenarioError, match=message):
        parse(data, "feature_dump/x", "f.json")


def test_float_features_accept_fractions_and_specials():
    features = [{"name": "a", "dtype": "float32", "ragged": [[1.5, "nan", "-inf"], []]}]
    data = {**BASE, "family": "feature_dump", "config": {"batches": [features]}, "steps": []}
    assert parse(data, "feature_dump/x", "f.json").family == "feature_dump"


@pytest.mark.parametrize("value", [float("inf"), float("nan"), float("-inf")])
def test_non_finite_numbers_from_python_callers_are_refused(value):
    data = {**BASE, "steps": [{"op": "advance", "seconds": value}]}
    with pytest.raises(ScenarioError, match=r"^f\.json: steps\[0\]\.seconds: .* is not a finite"):
        parse(data, "controller/x", "f.json")


def _mutations(data, rng, n):
    """``n`` copies of ``data``, each with one node replaced, deleted or added."""
    import copy

    odd = [None, True, -1, 0, 2**60, 1.5, "", "x", "0x10", [], {}, [1], {"gen": "range"}]
    for _ in range(n):
        doc = copy.deepcopy(data)
        node, parents = doc, []
        while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            parents.append((node, key))
            node = node[key]
        if not parents:
            continue
        container, key = parents[-1]
        roll = rng.random()
        if roll < 0.6:
            container[key] = rng.choice(odd)
        elif roll < 0.8:
            del container[key]
        elif isinstance(container, dict):
            container["extra"] = rng.choice(odd)
        else:
            container.append(rng.choice(odd))
        yield doc


def test_compiled_schema_agrees_with_jsonschema():
    """The loader trusts fastjsonschema's "valid"; it must never accept what jsonschema
    refuses (nor refuse what it accepts, which would only cost time)."""
    import json
    import random

    from harness.scenario import _validator, discover, schema_valid

    if schema_valid({}) is None:
        pytest.skip("fastjsonschema not installed")
    rng = random.Random(12)
    checked = 0
    for path in discover():
        data = json.loads(path.read_text())
        for doc in [data, *_mutations(data, rng, 30)]:
            assert schema_valid(doc) == (not list(_validator().iter_errors(doc))), doc
            checked += 1
    assert checked > 2000
