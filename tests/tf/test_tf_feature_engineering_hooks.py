"""TF tier of feature_engineering_hooks: dump files byte for byte against the reference.

Both tiers get the same dataset: TF through a ``tf.data`` initializable iterator inside a
``SingularMonitoredSession``, the reference through a ``Read`` in the harness's monitored
session. The first run initialises the iterator; each later run consumes one element.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from tf_helpers import counter_uuids, tree  # noqa: E402

from reference import feature_engineering_hooks as ref_hooks  # noqa: E402
from reference.protos.example_pb2 import ExampleBatch  # noqa: E402
from reference.runtime import graph as ref_graph  # noqa: E402
from reference.runtime.session import MonitoredSession as RefMonitoredSession  # noqa: E402
from reference.runtime.session import OutOfRangeError as RefOutOfRangeError  # noqa: E402
from reference.tf import feature_engineering_hooks  # noqa: E402

pytestmark = [pytest.mark.tf]


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str  # numpy dtype name
    kind: str  # "dense" or "ragged"
    rows: list


def _tf_value(f: Feature):
    if f.kind == "dense":
        return tf.constant(np.array(f.rows, dtype=f.dtype))
    # Not tf.ragged.constant: it goes through float64 for lists mixing ints below and
    # above 2**63, losing bits.
    flat = np.array([v for row in f.rows for v in row], dtype=f.dtype)
    lengths = np.array([len(row) for row in f.rows], dtype=np.int64)
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat), tf.constant(lengths))


def _ref_value(f: Feature):
    if f.kind == "dense":
        return np.array(f.rows, dtype=f.dtype)
    return ref_hooks.RaggedValue([np.array(r, dtype=f.dtype).tolist() for r in f.rows])


@dataclass(frozen=True)
class Config:
    model_dir: str
    server_type: str = "worker"
    index: int = 0


def _script(sess, init, train, runs, ending):
    sess.run(init)
    if ending == "out_of_range":
        while True:
            sess.run(train)
    for _ in range(runs):
        sess.run(train)
    if ending == "error":
        raise RuntimeError("boom")
    if ending == "stop_iteration":
        raise StopIteration


def run_tf(batches, model_dir, runs=0, ending="close", cap=100, **config):
    """Returns the type name of the exception that left the session, or None."""
    with tf.Graph().as_default():
        elements = [{f.name: _tf_value(f) for f in batch} for batch in batches]
        ds = functools.reduce(
            lambda a, b: a.concatenate(b), [tf.data.Dataset.from_tensors(e) for e in elements]
        )
        iterator = tf.compat.v1.data.make_initializable_iterator(ds)
        nxt = iterator.get_next()
        train = tf.group(tf.nest.flatten(nxt, expand_composites=True))
        hook = feature_engineering_hooks.FeatureEngineeringSaveHook(
            Config(model_dir, **config), nxt, cap=cap, uuid_fn=counter_uuids()
        )
        try:
            with tf.compat.v1.train.SingularMonitoredSession(hooks=[hook]) as sess:
                _script(sess, iterator.initializer, train, runs, ending)
        except Exception as e:
            return type(e).__name__
    return None


def run_ref(batches, model_dir, runs=0, ending="close", cap=100, **config):
    pending = [{f.name: _ref_value(f) for f in batch} for batch in batches]

    def next_element(store):
        if not pending:
            raise RefOutOfRangeError("End of sequence")
        return pending.pop(0)

    nxt = ref_graph.Read("IteratorGetNext", next_element)
    init = ref_graph.Op("iterator_init", lambda store, feed: None)
    hook = ref_hooks.FeatureEngineeringSaveHook(
        ref_hooks.RunConfig(model_dir, **config), nxt, cap=cap, uuid_fn=counter_uuids()
    )
    try:
        with RefMonitoredSession([hook]) as sess:
            _script(sess, init, nxt, runs, ending)
    except Exception as e:
        return {"RefOutOfRangeError": "OutOfRangeError"}.get(type(e).__name__, type(e).__name__)
    return None


def compare(tmp_path, logs, batches, **kwargs):
    """Runs both tiers; asserts identical files, logs and escaping error; returns them."""
    ref_dir, tf_dir = tmp_path / "ref", tmp_path / "tf"
    ref_error = run_ref(batches, str(ref_dir), **kwargs)
    ref_logs = [(lv, m.replace(str(ref_dir), "$DIR")) for lv, m in logs.messages("reference.")]
    logs.records.clear()
    tf_error = run_tf(batches, str(tf_dir), **kwargs)
    tf_logs = [(lv, m.replace(str(tf_dir), "$DIR")) for lv, m in logs.messages("reference.tf.")]
    got = (tree(tf_dir), tf_logs, tf_error)
    assert got == (tree(ref_dir), ref_logs, ref_error)
    return got


def _parse(data: bytes) -> list[ExampleBatch]:
    out = []
    while data:
        header, size = struct.unpack("<QQ", data[:16])
        assert header == 0
        out.append(ExampleBatch.FromString(data[16 : 16 + size]))
        data = data[16 + size :]
    return out


UUID0 = "00000000-0000-1000-8000-000000000000"
UUID1 = "00000001-0000-1000-8000-000000000000"
UUID2 = "00000002-0000-1000-8000-000000000000"


def mixed_batch(k: int) -> list[Feature]:
    """Dense int64 and float32, ragged int64 and float32 with empty rows; unsorted keys."""
    return [
        Feature("b_ids", "int64", "dense", [[k, k + 1, 2**40], [3, 4, 5]]),
        Feature("a_dense_f", "float32", "dense", [[0.1 * k, 1.5], [2.25, -3.0]]),
        Feature("ragged", "int64", "ragged", [[1, (9 << 48) | k], [], [7]]),
        Feature("ragged_f", "float32", "ragged", [[], [0.5, k + 0.25]]),
    ]


# --------------------------------------------------------------------------------- cases


def test_mixed_features_one_file(graph, tmp_path, logs):
    files, messages, error = compare(tmp_path, logs, [mixed_batch(k) for k in range(3)], runs=3)
    assert error is None
    assert sorted(files) == ["features/", f"features/chief_{UUID0}.pb"]
    assert messages == [("INFO", f"save to $DIR/features/chief_{UUID0}.pb")]
    batches = _parse(files[f"features/chief_{UUID0}.pb"])
    assert len(batches) == 3
    first = batches[0]
    assert [n.name for n in first.named_feature_list] == [
        "b_ids",
        "a_dense_f",
        "ragged",
        "ragged_f",
    ]
    assert first.batch_size == 2  # the last key's row count
    ragged = first.named_feature_list[2].feature
    assert [f.WhichOneof("type") for f in ragged] == ["fid_v2_list"] * 3
    assert list(ragged[1].fid_v2_list.value) == []
    ragged_f = first.named_feature_list[3].feature
    assert [f.WhichOneof("type") for f in ragged_f] == ["fid_v2_list", "float_list"]


def test_cap_flushes_then_end_on_out_of_range(graph, tmp_path, logs):
    files, messages, error = compare(
        tmp_path, logs, [mixed_batch(k) for k in range(5)], ending="out_of_range", cap=2
    )
    assert error is None  # OutOfRangeError ends the session normally: end is called
    names = [f"features/chief_{u}.pb" for u in (UUID0, UUID1, UUID2)]
    assert sorted(files) == ["features/", *names]
    assert [len(_parse(files[n])) for n in names] == [2, 2, 1]
    assert len(messages) == 3


def test_end_with_empty_buffer_creates_no_file(graph, tmp_path, logs):
    files, messages, _ = compare(tmp_path, logs, [mixed_batch(k) for k in range(4)], runs=4, cap=2)
    assert sorted(files) == [
        "features/",
        f"features/chief_{UUID0}.pb",
        f"features/chief_{UUID1}.pb",
    ]
    # end still "saves": it logs a third path, but no file is opened for it.
    assert messages[-1] == ("INFO", f"save to $DIR/features/chief_{UUID2}.pb")
    assert len(messages) == 3


def test_no_data_runs_only_the_directory(graph, tmp_path, logs):
    files, messages, error = compare(tmp_path, logs, [mixed_batch(0)], runs=0)
    assert files == {"features/": None}
    assert messages == [("INFO", f"save to $DIR/features/chief_{UUID0}.pb")]
    assert error is None


def test_out_of_range_calls_end(graph, tmp_path, logs):
    files, _, error = compare(
        tmp_path, logs, [mixed_batch(k) for k in range(2)], ending="out_of_range"
    )
    assert error is None
    assert len(_parse(files[f"features/chief_{UUID0}.pb"])) == 2


def test_stop_iteration_calls_end(graph, tmp_path, logs):
    files, _, error = compare(
        tmp_path, logs, [mixed_batch(k) for k in range(2)], runs=1, ending="stop_iteration"
    )
    assert error is None
    assert len(_parse(files[f"features/chief_{UUID0}.pb"])) == 1


def test_other_error_skips_end(graph, tmp_path, logs):
    files, messages, error = compare(
        tmp_path, logs, [mixed_batch(k) for k in range(3)], runs=2, ending="error"
    )
    assert (files, messages, error) == ({}, [], "RuntimeError")


def test_other_error_after_a_flush_keeps_the_flushed_file(graph, tmp_path, logs):
    files, _, error = compare(
        tmp_path, logs, [mixed_batch(k) for k in range(3)], runs=3, ending="error", cap=2
    )
    assert error == "RuntimeError"
    assert sorted(files) == ["features/", f"features/chief_{UUID0}.pb"]


def test_scalar_rows_raise_type_error_at_end(graph, tmp_path, logs):
    batches = [[Feature("ids", "int64", "dense", [1, 2, 3])]]
    files, messages, error = compare(tmp_path, logs, batches, runs=1)
    assert (files, messages, error) == ({"features/": None}, [], "TypeError")


def test_scalar_rows_raise_type_error_at_flush(graph, tmp_path, logs):
    batches = [[Feature("ids", "int64", "dense", [1, 2, 3])]] * 2
    files, messages, error = compare(tmp_path, logs, batches, runs=2, cap=1)
    assert (files, messages, error) == ({"features/": None}, [], "TypeError")


@pytest.mark.parametrize(
    ("server_type", "index", "name"),
    [("worker", 0, "chief"), ("worker", 3, "worker3"), ("ps", 0, "worker0"), ("ps", 2, "worker2")],
)
def test_file_names(graph, tmp_path, logs, server_type, index, name):
    files, _, _ = compare(
        tmp_path, logs, [mixed_batch(1)], runs=1, server_type=server_type, index=index
    )
    assert sorted(files) == ["features/", f"features/{name}_{UUID0}.pb"]


def test_dtypes_and_batch_size_last_key_wins(graph, tmp_path, logs):
    # One tf.data dataset has one element structure: every element has the same keys and
    # dtypes (dense shapes and ragged row counts may vary).
    def batch(k):
        return [
            Feature("u64", "uint64", "dense", [[2**64 - 1, 2**63], [0, k]][: k + 1]),
            Feature("i32", "int32", "dense", [[-0, 7], [2**31 - 1, 5]]),
            Feature("f64", "float64", "dense", [[1e300, 0.5]]),
            Feature("rf64", "float64", "ragged", [[1.0], [], [2.5, 3.5], []][k:]),
            Feature("ri32", "int32", "ragged", [[], [], [1, 2, 3]][: 3 - k]),
        ]

    files, _, _ = compare(tmp_path, logs, [batch(0), batch(1)], runs=2)
    parsed = _parse(files[f"features/chief_{UUID0}.pb"])
    assert [b.batch_size for b in parsed] == [3, 2]


ragged_rows = st.lists(st.lists(st.integers(0, 2**64 - 1), max_size=4), min_size=1, max_size=4)
float_rows = st.lists(
    st.lists(st.floats(allow_nan=False, width=32), min_size=2, max_size=2), min_size=1, max_size=3
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.lists(st.tuples(ragged_rows, float_rows), min_size=1, max_size=3),
    cap=st.integers(1, 3),
)
def test_random_batches_match_reference(tmp_path_factory, logs, data, cap):
    batches = [
        [Feature("r", "uint64", "ragged", r), Feature("d", "float32", "dense", d)] for r, d in data
    ]
    logs.records.clear()
    compare(tmp_path_factory.mktemp("fe"), logs, batches, ending="out_of_range", cap=cap)
