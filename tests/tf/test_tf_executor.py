"""The TF tier's executor: session semantics, conventions and not-applicable reasons.

The corpus itself runs against the TF tier through the parity suite
(``pytest tests/test_parity.py --impl tf``, in ``nox -s tf``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

tf = pytest.importorskip("tensorflow")

from tf_helpers import TFTier  # noqa: E402

from harness.driver import run_scenario  # noqa: E402
from reference.testee import executor as ref_executor  # noqa: E402
from reference.tf import executor  # noqa: E402

pytestmark = [pytest.mark.tf]


def test_capabilities_match_the_reference():
    assert executor.Executor.capabilities == ref_executor.Executor.capabilities


def _events(impl_cls, scenario, tmp_path):
    events = []
    ex = impl_cls(events.append)
    ex.setup(scenario, str(tmp_path))
    for step in scenario["steps"]:
        events.append({"step": step["op"]})
        ex.step(step)
    ex.teardown()
    return events


def test_session_after_end_matches_the_simulation(tmp_path):
    """A second end calls every hook's end again, then raises RuntimeError ("Session is
    already closed."); a run after that raises AttributeError: in real TF and in the
    simulated session alike."""
    scenario = {
        "family": "feature_dump",
        "config": {"batches": [[{"name": "f", "dense": [[1]]}]] * 3},
        "steps": [{"op": "run"}, {"op": "run"}, {"op": "end"}, {"op": "end"}, {"op": "run"}],
    }
    ref = _events(ref_executor.Executor, scenario, tmp_path / "ref")
    got = _events(executor.Executor, scenario, tmp_path / "tf")
    uuid = "00000000-0000-1000-8000-000000000000"
    uuid2 = "00000001-0000-1000-8000-000000000000"

    def expected(root):
        def save(uid):
            return {
                "event": "log",
                "level": "INFO",
                "message": f"save to {root}/features/chief_{uid}.pb",
            }

        return [
            {"step": "run"},
            {"event": "run", "fetch": "train_op", "should_stop": False, "worker": 0},
            {"step": "run"},
            {"event": "run", "fetch": "train_op", "should_stop": False, "worker": 0},
            {"step": "end"},
            save(uuid),
            {"step": "end"},
            save(uuid2),  # end called again on every hook
            {"event": "error", "type": "RuntimeError"},  # "Session is already closed."
            {"step": "run"},
            {"event": "error", "type": "AttributeError"},
        ]

    assert ref == expected(tmp_path / "ref")
    assert got == expected(tmp_path / "tf")


def test_stop_op_run_is_seen_in_the_same_run(tmp_path):
    """The executor applies the harness convention (caller's fetch before the hooks'):
    over many sessions, the controller always reacts in the run that fetched stop_op."""
    scenario = {
        "family": "controller",
        "config": {"stop_helper": True, "barrier": {"capacity": 1}},
        "steps": [{"op": "run", "fetch": "stop_op"}],
    }
    for i in range(10):
        events = _events(executor.Executor, scenario, tmp_path / str(i))
        assert events[-1] == {"event": "run", "fetch": "stop_op", "should_stop": True, "worker": 0}


def test_not_applicable_reasons(tmp_path):
    from harness.adapters.base import NotApplicable

    cases = {
        "a tf.data element cannot be an empty dict": [[], [], []],
        "same keys, in one order": [
            [],
            [{"name": "a", "dense": [[1]]}],
            [{"name": "b", "dense": [[1]]}],
        ],
        "mixes integer and float": [
            [],
            [{"name": "a", "dense": [[1]]}],
            [{"name": "a", "dense": [[1.5]], "dtype": "float32"}],
        ],
        "no one integer dtype": [
            [],
            [{"name": "a", "dense": [[-1]]}],
            [{"name": "a", "dense": [["0xffffffffffffffff"]], "dtype": "uint64"}],
        ],
        "dense in one element, ragged in another": [
            [],
            [{"name": "a", "dense": [[1]]}],
            [{"name": "a", "ragged": [[1]]}],
        ],
    }
    for reason, batches in cases.items():
        ex = executor.Executor(lambda event: None)
        scenario = {"family": "feature_dump", "config": {"batches": batches}, "steps": []}
        with pytest.raises(NotApplicable, match=reason):
            ex.setup(scenario, tempfile.mkdtemp(dir=tmp_path))


def test_unseen_first_element_and_dtype_unification(tmp_path):
    """The skipped first element may differ (it is replaced); int64/uint64/int32 values
    that fit one dtype, and float32/float64, are unified without changing the dump."""
    from harness.scenario import parse

    data = {
        "format": 1,
        "family": "feature_dump",
        "description": "unification",
        "config": {
            "batches": [
                [],
                [
                    {"name": "i", "dense": [[1, 2]], "dtype": "int32"},
                    {"name": "f", "ragged": [[0.1]], "dtype": "float32"},
                ],
                [
                    {"name": "i", "dense": [["0xffffffffffffffff", 3]], "dtype": "uint64"},
                    {"name": "f", "ragged": [[], [0.1, 2.5]], "dtype": "float64"},
                ],
            ]
        },
        "steps": [{"op": "run_until_end"}],
    }
    scenario = parse(data, "feature_dump/unification", "<test>")
    from harness.adapters.inprocess import InProcessReference

    ref_out = run_scenario(scenario, InProcessReference(), tmp_path / "ref")
    tf_out = run_scenario(scenario, TFTier(), tmp_path / "tf")
    assert ref_out.failure is None and tf_out.failure is None
    assert tf_out.not_applicable is None
    for name in ("listing.txt", "trace.jsonl"):
        ref_text = (tmp_path / "ref" / name).read_bytes()
        assert (tmp_path / "tf" / name).read_bytes() == ref_text
    ref_files = sorted(p for p in (tmp_path / "ref" / "files").rglob("*") if p.is_file())
    assert ref_files
    for p in ref_files:
        rel = p.relative_to(tmp_path / "ref")
        assert Path(tmp_path / "tf" / rel).read_bytes() == p.read_bytes()
