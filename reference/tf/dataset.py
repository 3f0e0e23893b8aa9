"""The feature-dump scenario's batches as one ``tf.data`` dataset (or NotApplicable).

The hook's input in the original is a ``tf.data`` iterator, and a dataset has one element
structure; :func:`dataset` builds it from the scenario's batches where that structure
gives the hook the same Python values as the reference's plain batches.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import tensorflow as tf

from reference.testee import inputs
from reference.testee.world import NotApplicable


def _first_element_unobserved(steps: list[dict[str, Any]]) -> bool:
    """Whether element 0 is consumed by the first run (whose fetches the hook skips) or
    never consumed: the first session run fetches ``train_op`` (a ``run``, or the first
    run of a ``run_while_not_stopped`` loop, or ``run_until_end``), or an ``end`` comes
    first. A step that runs nothing (``count`` 0, a loop of no runs) is passed over. Every
    other element counts as seen by the hook."""
    for step in steps:
        op = step["op"]
        if int(step.get("count", 1)) == 0:
            continue
        if op == "run" or (op == "run_while_not_stopped" and int(step["max_runs"]) > 0):
            return step.get("fetch", "train_op") == "train_op"
        if op in ("run_until_end", "end"):
            return True
    return True


_INTS = {"int32", "int64", "uint64"}
_FLOATS = {"float32", "float64"}


def _common_dtype(name: str, features: list[dict[str, Any]], values: list[Any]) -> np.dtype:
    """One dtype for a key across elements that gives the hook the same Python values."""
    dtypes = {f.get("dtype", "int64") for f in features}
    if len(dtypes) == 1:
        return np.dtype(dtypes.pop())
    if dtypes <= _FLOATS:
        return np.dtype(np.float64)  # float32 values are exact in float64
    if not dtypes <= _INTS:
        raise NotApplicable(f"feature {name!r} mixes integer and float dtypes across elements")
    flat = [int(v) for value in values for v in np.asarray(_rows_flat(value)).tolist()]
    if all(-(2**63) <= v < 2**63 for v in flat):
        return np.dtype(np.int64)
    if all(v >= 0 for v in flat):
        return np.dtype(np.uint64)
    raise NotApplicable(f"feature {name!r}: no one integer dtype holds all its values")


def _rows_flat(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist()
    return [v for row in value.to_list() for v in row]


def _tf_value(value: Any, dtype: np.dtype) -> Any:
    if isinstance(value, np.ndarray):
        return tf.constant(value.astype(dtype))
    rows = value.to_list()
    # From flat values, not tf.ragged.constant (which may go through float64, losing bits).
    flat = np.array([v for row in rows for v in row], dtype=dtype)
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat), tf.constant(lengths))


def _filler(value: Any, dtype: np.dtype) -> Any:
    """A stand-in for an element the hook never sees, with ``value``'s structure."""
    if isinstance(value, np.ndarray):
        return tf.zeros(value.shape, tf.as_dtype(dtype))
    return tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], tf.as_dtype(dtype)), tf.zeros([0], tf.int64)
    )


def dataset(batches: list[list[dict[str, Any]]], steps: list[dict[str, Any]]) -> Any:
    """One ``tf.data`` dataset of the scenario's elements, or :class:`NotApplicable`.

    A dataset has one element structure: the elements the hook can see must have the same
    keys in the same order, each key dense or ragged throughout. Dtypes may differ when
    one dtype gives the hook the same Python values (ints -> int64 or uint64, floats ->
    float64). An element the hook never sees (consumed by the skipped first run) may have
    any content: it is replaced by zeros of the others' structure.
    """
    skip_first = _first_element_unobserved(steps)
    seen = [b for i, b in enumerate(batches) if not (i == 0 and skip_first)]
    if not seen:
        n = len(batches)
        return tf.data.Dataset.from_tensors({"unseen": tf.constant(0)}).repeat(n)
    keys = [f["name"] for f in seen[0]]
    if not keys:
        raise NotApplicable("a tf.data element cannot be an empty dict")
    if any([f["name"] for f in b] != keys for b in seen):
        raise NotApplicable("a tf.data dataset's elements all have the same keys, in one order")
    values = [[inputs.feature_value(f) for f in b] for b in seen]
    structure = []
    for k, name in enumerate(keys):
        features = [b[k] for b in seen]
        if len({"ragged" in f for f in features}) > 1:
            raise NotApplicable(f"feature {name!r} is dense in one element, ragged in another")
        structure.append(_common_dtype(name, features, [v[k] for v in values]))
    elements = [
        {name: _tf_value(v, dtype) for name, v, dtype in zip(keys, vs, structure, strict=True)}
        for vs in values
    ]
    if skip_first and batches:
        first = zip(keys, values[0], structure, strict=True)
        elements.insert(0, {name: _filler(v, dtype) for name, v, dtype in first})
    parts = [tf.data.Dataset.from_tensors(e) for e in elements]
    try:
        return functools.reduce(lambda a, b: a.concatenate(b), parts)
    except TypeError as e:
        raise NotApplicable(f"the elements do not make one tf.data structure: {e}") from e
