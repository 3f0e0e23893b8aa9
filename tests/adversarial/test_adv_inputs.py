"""Scenario values out of range or over budget: refused by the loader, naming file and field.

Fids are uint64 (a negative one is its int64 reinterpretation, so ``[-2**63, 2**64-1]``),
global steps int64, dataset integers their dtype's range; one scenario's generators may
produce at most 10 million values (80 MB of uint64), one generator too; a scenario nests
at most 64 levels and its file is at most 64 MB; ``multi_hash_tables`` is at most 4096 and
a table index at most 1023. Before, a fid of 2**64 wrapped to slot 0, a 29-digit step
reached the hooks, 1e15 multi-hash tables ran out of memory, and deep JSON crashed the
loader with a ``RecursionError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from adv_helpers import scenario

from harness.scenario import ScenarioError, load, parse
from reference.testee import inputs

pytestmark = pytest.mark.timeout(60)
FID_RANGE = "[-9223372036854775808, 18446744073709551615]"
INT64_RANGE = "[-9223372036854775808, 9223372036854775807]"


def slot_count(config: dict[str, Any], *steps: dict[str, Any]) -> dict[str, Any]:
    return scenario("slot_count", list(steps) or [{"op": "save", "global_step": 1}], config)


REFUSED = [
    (
        slot_count({"tables": [{"fids": [1, "18446744073709551616"]}]}),
        f"config.tables[0].fids[1]: '18446744073709551616' is out of range for a fid ({FID_RANGE})",
    ),
    (
        slot_count({"tables": [{"fids": ["-0x8000000000000001"]}]}),
        f"config.tables[0].fids[0]: '-0x8000000000000001' is out of range for a fid ({FID_RANGE})",
    ),
    (
        slot_count({"tables": [{"fids": ["1e5"]}]}),
        "config.tables[0].fids[0]: '1e5' is not an integer (a fid)",
    ),
    # JSON numbers with a fraction or an exponent are no fids, even integral ones: above
    # 2**53 one has lost digits by the time it is read (9007199254740993.0 reads as ...992),
    # and no original pipeline takes a float as a fid (the reference truncated them).
    (
        slot_count({"tables": [{"fids": [1e5]}]}),
        "config.tables[0].fids[0]: 100000.0 is not an integer (a fid)",
    ),
    (
        slot_count({"tables": [{"fids": [9007199254740993.0]}]}),
        "config.tables[0].fids[0]: 9007199254740992.0 is not an integer (a fid)",
    ),
    (
        scenario(
            "feature_dump",
            [],
            {"batches": [[{"name": "f", "dtype": "uint64", "dense": {"values": [2.0]}}]]},
        ),
        "config.batches[0][0].dense.values[0]: 2.0 is not an integer (dtype uint64)",
    ),
    (
        scenario("controller", [], {"workers": [{"index": 1, "runs": 1}]}),
        "config.workers: a worker waits at the chief's barrier; give config.barrier too",
    ),
    # A fetch of another family failed with KeyError in the simulation's own lookup; two
    # workers of one index shared one build. Neither is anything the original can be asked.
    (
        scenario("controller", [{"op": "run", "fetch": "train_op"}]),
        "steps[0].fetch: 'train_op' is not a fetch of the controller family (one of dummy, "
        "stop_op, trigger_save_op)",
    ),
    (
        scenario("feature_dump", [{"op": "run", "fetch": "stop_op"}]),
        "steps[0].fetch: 'stop_op' is not a fetch of the feature_dump family (one of "
        "train_op, dummy)",
    ),
    (
        scenario(
            "barrier",
            [],
            {"capacity": 2, "workers": [{"index": 1, "runs": 1}, {"index": 1, "runs": 2}]},
        ),
        "config.workers: index 1 is given twice (each worker is one task, with one index)",
    ),
    (
        slot_count({}, {"op": "save", "global_step": "1" * 29}),
        f"steps[0].global_step: '{'1' * 29}' is out of range for a global step ({INT64_RANGE})",
    ),
    (
        slot_count({"tables": [{}]}, {"op": "assign", "table": 0, "fids": ["0x10000000000000000"]}),
        f"steps[0].fids[0]: '0x10000000000000000' is out of range for a fid ({FID_RANGE})",
    ),
    (
        slot_count({"multi_hash_tables": 10**15}),
        "config.multi_hash_tables: 1000000000000000 is greater than the maximum of 4096",
    ),
    (
        slot_count({"tables": [{"fids": [{"gen": "range", "count": 200_000_000}]}]}),
        "config.tables[0].fids[0].count: 200000000 is greater than the maximum of 10000000",
    ),
    (
        slot_count(
            {"tables": [{"fids": [{"gen": "range", "count": 6_000_000}]}]},
            {"op": "assign", "table": 0, "fids": [{"gen": "splitmix64", "count": 6_000_000}]},
        ),
        "generators produce 12000000 values, more than the 10000000 a scenario may",
    ),
    (
        slot_count(
            {"tables": [{"fids": [{"gen": "range", "start": "0x1" + "0" * 16, "count": 1}]}]}
        ),
        f"config.tables[0].fids[0].start: '0x10000000000000000' is out of range for a 64-bit "
        f"generator value ({FID_RANGE})",
    ),
    (
        slot_count({"tables": [{}]}, {"op": "assign", "table": 10**12, "fids": []}),
        "steps[0].table: 1000000000000 is greater than the maximum of 1023",
    ),
    (
        scenario(
            "feature_dump",
            [],
            {"batches": [[{"name": "f", "dtype": "int32", "ragged": [[1, 2147483648]]}]]},
        ),
        "config.batches[0][0].ragged[0][1]: 2147483648 is out of range for dtype int32 "
        "([-2147483648, 2147483647])",
    ),
    (
        scenario(
            "feature_dump", [], {"batches": [[{"name": "f", "ragged": [["0xffffffffffffffff"]]}]]}
        ),
        f"config.batches[0][0].ragged[0][0]: '0xffffffffffffffff' is out of range for dtype "
        f"int64 ({INT64_RANGE})",
    ),
]


@pytest.mark.parametrize(("data", "message"), REFUSED, ids=[m[:40] for _, m in REFUSED])
def test_out_of_range_values_are_refused_naming_the_field(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError) as e:
        parse(data, f"{data['family']}/x", "f.json")
    assert str(e.value) == f"f.json: {message}"


@pytest.mark.parametrize(
    "fid", ["-0x8000000000000000", "-1", "18446744073709551615", "0xffffffffffffffff"]
)
def test_the_ends_of_the_fid_range_are_accepted(fid: str) -> None:
    parse(slot_count({"tables": [{"fids": [fid]}]}), "slot_count/x", "f.json")


def test_the_ends_of_the_global_step_range_are_accepted() -> None:
    for step in ("9223372036854775807", "-9223372036854775808"):
        parse(slot_count({}, {"op": "save", "global_step": step}), "slot_count/x", "f.json")


def test_json_nested_100k_deep_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "slot_count" / "deep.json"
    path.parent.mkdir()
    path.write_text('{"format": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ScenarioError, match=r"deep\.json: nested more than 64 levels deep$"):
        load(path, tmp_path)


def test_python_data_nested_too_deep_is_a_scenario_error() -> None:
    data = slot_count({})
    deep: list[Any] = []
    data["config"]["tables"] = [{"fids": deep}]
    for _ in range(100):
        deep.append([])
        deep = deep[0]
    with pytest.raises(ScenarioError, match=r"f\.json: config\.tables\[0\]\.fids(\[0\])+: nested"):
        parse(data, "slot_count/x", "f.json")


def test_a_file_over_the_size_budget_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "slot_count" / "big.json"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.truncate((64 << 20) + 1)  # sparse: costs no disk
    with pytest.raises(ScenarioError, match=r"big\.json: 67108865 bytes, more than the 67108864"):
        load(path, tmp_path)


def test_the_reference_decoder_refuses_an_out_of_range_fid_too() -> None:
    assert inputs.fids(["-1", "0xffffffffffffffff"]).tolist() == [2**64 - 1, 2**64 - 1]
    with pytest.raises(ValueError, match="out of range for uint64"):
        inputs.fids(["18446744073709551616"])
