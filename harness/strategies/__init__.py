"""Hypothesis strategies over the whole scenario format, shared by ``harness fuzz`` and
the property tests (hypothesis is imported here: only ``fuzz`` needs it at run time).

* :mod:`.fids`: the whole unsigned 64-bit range, v1 and v2 shaped fids, the slot and
  signed/unsigned edges; fid lists of any size, empty included, with planted duplicates.
* :mod:`.features`: dense arrays of the five scenario dtypes (zero rows and zero columns
  included, NaN/inf/-0.0 and NaN payloads for floats), ragged rows (empty rows included)
  and whole batches (unicode names, in order, mixed dense and ragged).
* :mod:`.actions`: the bytes of a ``monolith_action`` file (valid, invalid, half-written,
  garbage, non-UTF-8, byte order marks, CRLF, very large).
* :mod:`.scenarios`: scenario dicts for every family and step kind, valid for
  :func:`harness.scenario.parse` and bounded in virtual time.
* :mod:`.damage`: arbitrary JSON, and byte strings damaged the ways a stream gets damaged.
"""

from harness.strategies.actions import INVALID_ACTIONS, VALID_ACTIONS, action_files
from harness.strategies.damage import KEYS, corrupted, json_values
from harness.strategies.features import (
    DTYPES,
    NAN_BITS32,
    NAN_BITS64,
    batches,
    dense_features,
    feature_names,
    features,
    float_elements,
    ragged_features,
)
from harness.strategies.fids import FID_EDGES, I64_MAX, U64, fid_tables, fids, v1_fids, v2_fids
from harness.strategies.scenarios import (
    FAMILIES,
    barrier_schedules,
    controller_scripts,
    feature_dump_scenarios,
    feature_specs,
    hook_utils_scenarios,
    json_float,
    json_int,
    scenarios,
    slot_count_scenarios,
    value_lists,
)

__all__ = [
    "DTYPES",
    "FAMILIES",
    "FID_EDGES",
    "I64_MAX",
    "INVALID_ACTIONS",
    "KEYS",
    "NAN_BITS32",
    "NAN_BITS64",
    "U64",
    "VALID_ACTIONS",
    "action_files",
    "barrier_schedules",
    "batches",
    "controller_scripts",
    "corrupted",
    "dense_features",
    "feature_dump_scenarios",
    "feature_names",
    "feature_specs",
    "features",
    "fid_tables",
    "fids",
    "float_elements",
    "hook_utils_scenarios",
    "json_float",
    "json_int",
    "json_values",
    "ragged_features",
    "scenarios",
    "slot_count_scenarios",
    "v1_fids",
    "v2_fids",
    "value_lists",
]
