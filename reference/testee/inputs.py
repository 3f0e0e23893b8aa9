"""Scenario inputs decoded to values: fid lists, generated sequences, feature batches.

These encodings are part of the language-neutral scenario format (docs/scenarios.md);
another implementation's testee decodes them the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reference.feature_engineering_hooks import RaggedValue

U64 = (1 << 64) - 1
I64_MIN = -(1 << 63)  # a negative uint64 value is its int64 reinterpretation
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(seed: int, count: int) -> np.ndarray:
    """The first ``count`` outputs of SplitMix64 seeded with ``seed`` (uint64).

    Computed in place, in the result and one scratch array, rather than in a new array
    per operation (arithmetic wraps modulo 2**64: the order of the additions is free)."""
    with np.errstate(over="ignore"):
        z = np.arange(1, count + 1, dtype=np.uint64)
        z *= _GOLDEN
        z += np.uint64(seed & U64)  # state_i = seed + i * golden
        shifted = np.empty_like(z)
        for shift, mix in ((30, _MIX1), (27, _MIX2)):
            np.right_shift(z, np.uint64(shift), out=shifted)
            z ^= shifted
            z *= mix
        np.right_shift(z, np.uint64(31), out=shifted)
        z ^= shifted
        return z


def parse_int(value: Any) -> int:
    """A JSON integer, or a decimal or ``0x`` hex string (for values past 2**53)."""
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value, 16) if value.lower().startswith(("0x", "-0x")) else int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _generate(spec: dict[str, Any]) -> np.ndarray:
    gen = spec["gen"]
    count = int(spec["count"])
    if gen == "range":
        start, step = parse_int(spec.get("start", 0)), parse_int(spec.get("step", 1))
        return np.array([(start + i * step) & U64 for i in range(count)], dtype=np.uint64)
    if gen == "slot_range":
        start, slot = parse_int(spec.get("start", 0)), parse_int(spec["slot"])
        low = np.arange(count, dtype=np.uint64) + np.uint64(start & U64)
        if spec.get("version", 2) == 1:
            return (np.uint64(slot << 54 & U64)) | (low & np.uint64((1 << 54) - 1))
        return (np.uint64(slot << 48 & U64)) | (low & np.uint64((1 << 48) - 1))
    if gen == "splitmix64":
        return splitmix64(parse_int(spec.get("seed", 0)), count)
    if gen == "uniform":
        bits = splitmix64(parse_int(spec.get("seed", 0)), count) >> np.uint64(11)
        return bits.astype(np.float64) * (2.0**-53)
    raise ValueError(f"unknown generator {gen!r}")


def flat_values(spec: list[Any], dtype: str = "uint64") -> np.ndarray:
    """Literals and generator objects, concatenated, as a 1-D array of ``dtype``."""
    np_dtype = _DTYPES[dtype]
    parts: list[np.ndarray] = []
    literal: list[Any] = []
    for item in spec:
        if isinstance(item, dict):
            if literal:
                parts.append(np.array(literal, dtype=np_dtype))
                literal = []
            parts.append(_generate(item).astype(np_dtype))
        else:
            literal.append(_scalar(item, dtype))
    if literal:
        parts.append(np.array(literal, dtype=np_dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np_dtype)


def fids(spec: list[Any]) -> np.ndarray:
    """A fid list (uint64): integers, integer strings and generator objects."""
    return flat_values(spec, "uint64")


_DTYPES = {
    "int64": np.int64,
    "uint64": np.uint64,
    "int32": np.int32,
    "float32": np.float32,
    "float64": np.float64,
}


def _scalar(value: Any, dtype: str) -> Any:
    if dtype.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)  # strings: "nan", "inf", "-inf"
    number = parse_int(value)
    if dtype == "uint64":
        if not I64_MIN <= number <= U64:
            raise ValueError(f"{value!r} is out of range for uint64 ([{I64_MIN}, {U64}])")
        return number & U64
    return number


def _nested(spec: Any, dtype: str) -> Any:
    if isinstance(spec, list):
        return [_nested(v, dtype) for v in spec]
    return _scalar(spec, dtype)


def feature_value(feature: dict[str, Any]) -> Any:
    """A feature of a batch as the hook would fetch it: ndarray or ragged value."""
    dtype = feature.get("dtype", "int64")
    np_dtype = _DTYPES[dtype]
    if "ragged" in feature:
        return RaggedValue(
            [np.array(_nested(row, dtype), dtype=np_dtype).tolist() for row in feature["ragged"]]
        )
    dense = feature["dense"]
    if isinstance(dense, dict):
        values = flat_values(dense["values"], dtype)
        return values.reshape(dense["shape"]) if "shape" in dense else values
    return np.array(_nested(dense, dtype), dtype=np_dtype)


def batch(features: list[dict[str, Any]]) -> dict[str, Any]:
    """One dataset element: feature name -> value, in the listed order."""
    return {f["name"]: feature_value(f) for f in features}
