"""Every ExampleBatch stream the feature-dump hook writes decodes back to its input.

The hook runs on the simulated session over a generated dataset; its files are read with
the harness's own decoder (``read_records`` + ``ExampleBatch`` parsing) and compared with
a model of the input built from the dtypes alone: names and order kept, fids exact,
floats rounded to float32 (NaN payloads as a Python float carries them), empty rows as
empty fid lists, ``batch_size`` the row count of the last key, one lagrange header 0 per
record, ``cap`` records per file and the rest at ``end``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from budget import examples
from hypothesis import given
from hypothesis import strategies as st

from harness.artifacts import kind_of
from harness.formats.example_stream import read_records
from harness.strategies import batches, dense_features
from reference.feature_engineering_hooks import (
    FeatureEngineeringSaveHook,
    RaggedValue,
    RunConfig,
)
from reference.protos.example_pb2 import ExampleBatch
from reference.runtime.graph import Read, Variable
from reference.runtime.session import MonitoredSession, OutOfRangeError, Session

pytestmark = pytest.mark.timeout(120)


def uuids() -> Any:
    counter = iter(range(1 << 30))
    return lambda: f"{next(counter):08x}-0000-1000-8000-000000000000"


def run_hook(elements: list[dict[str, Any]], cap: int, model_dir: Path) -> None:
    """A session fetching ``elements`` one per run (after the iterator's initialisation
    run, which fetches a dummy), until the data runs out; ``end`` then saves the rest."""
    data = iter(elements)

    def next_element(store: Any) -> dict[str, Any]:
        try:
            return next(data)
        except StopIteration:
            raise OutOfRangeError("End of sequence") from None

    element = Read("IteratorGetNext", next_element)
    hook = FeatureEngineeringSaveHook(RunConfig(str(model_dir)), element, cap, uuids())
    with MonitoredSession([hook], Session()) as session:
        session.run(Variable("dummy", 1))  # run 1: the hook fetches nothing
        while True:
            session.run(element)


def as_float32_bits(values: Any) -> list[int]:
    """float32 bit patterns of Python floats (what a protobuf float field stores)."""
    with np.errstate(all="ignore"):
        return np.asarray(values, dtype=np.float64).astype(np.float32).view(np.uint32).tolist()


def expected_rows(value: Any) -> list[tuple[str, list[int]]]:
    """``(oneof, values)`` per row, from the dtype of the input alone."""
    if isinstance(value, RaggedValue):
        rows = value.to_list()
        is_float = any(isinstance(v, float) for row in rows for v in row)
    else:
        rows = value.tolist()
        is_float = value.dtype.kind == "f"
    out = []
    for row in rows:
        if is_float and row:
            out.append(("float_list", as_float32_bits(row)))
        else:
            out.append(("fid_v2_list", [int(v) for v in row]))
    return out


def decoded_rows(named: Any) -> list[tuple[str, list[int]]]:
    out = []
    for feature in named.feature:
        which = feature.WhichOneof("type")
        values = list(getattr(feature, which).value)
        out.append((which, as_float32_bits(values) if which == "float_list" else values))
    return out


def check_batch(decoded: ExampleBatch, element: dict[str, Any]) -> None:
    assert [n.name for n in decoded.named_feature_list] == list(element)
    for named, (name, value) in zip(decoded.named_feature_list, element.items(), strict=True):
        assert named.type == 0 and named.id == 0, name  # INDIVIDUAL, no id
        assert decoded_rows(named) == expected_rows(value), name
    last_rows = len(expected_rows(list(element.values())[-1])) if element else 0
    assert decoded.batch_size == last_rows
    assert decoded.data_source_key == 0 and not decoded.named_raw_feature_list


@examples(100)
@given(elements=st.lists(batches(), max_size=7), cap=st.integers(1, 4))
def test_written_stream_decodes_back_to_the_input(elements: list[dict[str, Any]], cap: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_hook(elements, cap, Path(tmp))
        files = sorted((Path(tmp) / "features").iterdir())
        # cap records per file; the rest at end; no file for an empty save (lazy open).
        sizes = [len(elements[i : i + cap]) for i in range(0, len(elements), cap)]
        assert [f.name for f in files] == [
            f"chief_{k:08x}-0000-1000-8000-000000000000.pb" for k in range(len(sizes))
        ]
        decoded = []
        for f, size in zip(files, sizes, strict=True):
            data = f.read_bytes()
            records = read_records(data)
            assert len(records) == size
            assert all(r.header == 0 for r in records)
            decoded += [r.decode() for r in records]
            # The dump renderer reads every valid stream.
            assert kind_of(f"files/features/{f.name}").render(data).count("# record ") == size
        assert len(decoded) == len(elements)
        for batch, element in zip(decoded, elements, strict=True):
            check_batch(batch, element)


@examples(50)
@given(value=dense_features(dtypes=["int64", "int32"], negative=True, max_rows=3))
def test_negative_fids_raise_value_error_and_write_nothing(value: np.ndarray) -> None:
    """A negative integer cannot be a fid: the save raises ValueError before any file is
    opened (the original builds every ExampleBatch first, then writes)."""
    negative = bool(value.size) and bool((value < 0).any())
    with tempfile.TemporaryDirectory() as tmp:
        if negative:
            with pytest.raises(ValueError):
                run_hook([{"f": value}], 1, Path(tmp))
            assert list((Path(tmp) / "features").iterdir()) == []
        else:
            run_hook([{"f": value}], 1, Path(tmp))
            assert len(list((Path(tmp) / "features").iterdir())) == 1


@examples(20)
@given(elements=st.lists(batches(max_features=2), min_size=1, max_size=3))
def test_records_are_the_protobuf_serialization(elements: list[dict[str, Any]]) -> None:
    """Each record's payload is the canonical protobuf serialization of what it decodes to
    (so a reader that re-serializes sees the same bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        run_hook(elements, 100, Path(tmp))
        (f,) = (Path(tmp) / "features").iterdir()
        for record in read_records(f.read_bytes()):
            assert record.decode().SerializeToString() == record.payload
