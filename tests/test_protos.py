"""Wire-level tests for the re-stated Monolith protobuf schemas (no TensorFlow).

Expected bytes are written out by hand from the protobuf wire format
(tag = field_number << 3 | wire_type; 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor as FD
from google.protobuf.internal import api_implementation

from reference.protos import (
    ckpt_info_pb2,
    controller_hooks_pb2,
    embedding_hash_table_pb2,
    example_pb2,
    line_id_pb2,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Set by the nox/tox `protos` sessions: a missing or wrong grpcio-tools is then a failure.
REQUIRE_PROTOC_ENV = "MONOLITH_PARITY_REQUIRE_PROTOC"


def _f32(x: float) -> bytes:
    return struct.pack("<f", x)


def _f64(x: float) -> bytes:
    return struct.pack("<d", x)


def _u64(x: int) -> bytes:
    return struct.pack("<Q", x)


def _load_gen_protos():
    path = REPO_ROOT / "tools" / "gen_protos.py"
    spec = importlib.util.spec_from_file_location("_gen_protos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_PROTOC_ENV):
        pytest.fail(f"{reason} ({REQUIRE_PROTOC_ENV} is set)")
    pytest.skip(reason)


# ---------------------------------------------------------------- (a) freshness


def test_generated_code_is_fresh():
    gen = _load_gen_protos()
    if importlib.util.find_spec("grpc_tools") is None:
        _skip_or_fail(
            "grpc_tools not importable: install grpcio-tools=="
            f"{gen.PINNED_GRPCIO_TOOLS} (the nox `protos` session does) to check freshness"
        )
    version = gen.grpcio_tools_version()
    if version != gen.PINNED_GRPCIO_TOOLS:
        _skip_or_fail(
            f"grpcio-tools {version} installed, generated code is pinned to "
            f"{gen.PINNED_GRPCIO_TOOLS}"
        )
    assert gen.stale_files() == [], "run `python tools/gen_protos.py` and commit the result"


def test_every_proto_has_committed_outputs():
    gen = _load_gen_protos()
    assert [p.name for p in gen.proto_files()] == [
        "ckpt_info.proto",
        "controller_hooks.proto",
        "embedding_hash_table.proto",
        "example.proto",
        "line_id.proto",
    ]
    assert gen.committed_outputs() == gen.expected_outputs()


# ---------------------------------------------------------------- (b) wire bytes: ckpt_info


def test_ckpt_info_single_map_entry_bytes():
    # field 1 LEN (0x0a), len 4: entry {key(1) varint 0, value(2) varint 1}; the map
    # entry writes the zero key explicitly.
    info = ckpt_info_pb2.CkptInfo(slot_counts={0: 1})
    assert info.SerializeToString() == b"\x0a\x04\x08\x00\x10\x01"


def test_ckpt_info_int64_value_and_feature_counts_bytes():
    info = ckpt_info_pb2.CkptInfo()
    info.slot_counts[300] = 2**40
    # key 300 = varint ac 02; value 2**40 = varint 80 80 80 80 80 20
    entry = b"\x08\xac\x02" + b"\x10\x80\x80\x80\x80\x80\x20"
    assert info.SerializeToString() == b"\x0a" + bytes([len(entry)]) + entry

    info = ckpt_info_pb2.CkptInfo(feature_counts={"ab": 3})
    entry = b"\x0a\x02ab\x10\x03"
    assert info.SerializeToString() == b"\x12" + bytes([len(entry)]) + entry


def test_ckpt_info_negative_int32_key_is_ten_byte_varint():
    info = ckpt_info_pb2.CkptInfo(slot_counts={-1: 1})
    entry = b"\x08" + b"\xff" * 9 + b"\x01" + b"\x10\x01"
    assert info.SerializeToString() == b"\x0a" + bytes([len(entry)]) + entry


def test_ckpt_info_empty_is_empty():
    assert ckpt_info_pb2.CkptInfo().SerializeToString() == b""
    assert str(ckpt_info_pb2.CkptInfo()) == ""


# ---------------------------------------------------------------- controller_hooks


def test_controller_action_bytes():
    proto = controller_hooks_pb2.ControllerHooksProto
    assert proto(action=proto.TRIGGER_SAVE).SerializeToString() == b"\x08\x01"
    assert proto(action=proto.STOP).SerializeToString() == b"\x08\x02"
    # proto2: explicit presence, so an explicitly set UNKNOWN (0) is still written.
    assert proto(action=proto.UNKNOWN).SerializeToString() == b"\x08\x00"
    assert proto().SerializeToString() == b""


def test_controller_action_enum_values():
    action = controller_hooks_pb2.ControllerHooksProto.Action
    assert dict(action.items()) == {"UNKNOWN": 0, "TRIGGER_SAVE": 1, "STOP": 2}


def test_controller_action_text_format():
    proto = controller_hooks_pb2.ControllerHooksProto
    assert text_format.Parse("action: STOP", proto()).action == proto.STOP
    assert text_format.Parse("action: 1", proto()).action == proto.TRIGGER_SAVE
    assert text_format.Parse("", proto()).HasField("action") is False
    assert str(proto(action=proto.TRIGGER_SAVE)) == "action: TRIGGER_SAVE\n"


# ---------------------------------------------------------------- example


def test_empty_fid_v2_list_sets_oneof():
    feature = example_pb2.Feature()
    feature.fid_v2_list.value.extend([])
    assert feature.WhichOneof("type") == "fid_v2_list"
    assert feature.SerializeToString() == b"\x12\x00"


def test_fid_list_is_packed_fixed64():
    fids = example_pb2.FidList(value=[1, 2**63 + 5])
    payload = _u64(1) + _u64(2**63 + 5)
    assert fids.SerializeToString() == b"\x0a\x10" + payload
    assert example_pb2.FidList().SerializeToString() == b""
    # Parsers accept the unpacked form too (tag 0x09 per element).
    unpacked = b"\x09" + _u64(1) + b"\x09" + _u64(2**63 + 5)
    assert list(example_pb2.FidList.FromString(unpacked).value) == [1, 2**63 + 5]


def test_float_list_is_packed_float():
    floats = example_pb2.FloatList(value=[1.0, -2.5])
    assert floats.SerializeToString() == b"\x0a\x08" + _f32(1.0) + _f32(-2.5)


def test_feature_with_values_bytes():
    feature = example_pb2.Feature(fid_v2_list=example_pb2.FidList(value=[7]))
    assert feature.SerializeToString() == b"\x12\x0a\x0a\x08" + _u64(7)
    feature = example_pb2.Feature(float_list=example_pb2.FloatList(value=[0.5]))
    assert feature.SerializeToString() == b"\x1a\x06\x0a\x04" + _f32(0.5)


FEATURE_ONEOF = {
    "fid_v1_list": 1,
    "fid_v2_list": 2,
    "float_list": 3,
    "double_list": 4,
    "int64_list": 5,
    "bytes_list": 6,
    "fid_v2_lists": 7,
    "float_lists": 8,
    "double_lists": 9,
    "int64_lists": 10,
    "bytes_lists": 11,
    "int64_value": 12,
    "float_value": 13,
    "double_value": 14,
    "bytes_value": 15,
    "fid_v1_lists": 16,
}


def test_feature_oneof_members_and_numbers():
    descriptor = example_pb2.Feature.DESCRIPTOR
    assert list(descriptor.oneofs_by_name) == ["type"]
    members = {f.name: f.number for f in descriptor.oneofs_by_name["type"].fields}
    assert members == FEATURE_ONEOF
    assert {f.name for f in descriptor.fields} == set(FEATURE_ONEOF)


FEATURE_SCALAR_MEMBERS = {"int64_value", "float_value", "double_value", "bytes_value"}


@pytest.mark.parametrize(
    ("name", "number"),
    sorted(
        ((n, k) for n, k in FEATURE_ONEOF.items() if n not in FEATURE_SCALAR_MEMBERS),
        key=lambda kv: kv[1],
    ),
)
def test_feature_oneof_member_empty_submessage_wire(name, number):
    field = example_pb2.Feature.DESCRIPTOR.fields_by_name[name]
    assert field.message_type is not None
    feature = example_pb2.Feature()
    getattr(feature, name).SetInParent()
    tag = (number << 3) | 2
    tag_bytes = bytes([tag]) if tag < 0x80 else bytes([(tag & 0x7F) | 0x80, tag >> 7])
    assert feature.SerializeToString() == tag_bytes + b"\x00"


def test_feature_scalar_members_wire():
    feature = example_pb2.Feature
    # In a oneof, proto3 scalars have presence: a zero is still written.
    assert feature(int64_value=0).SerializeToString() == b"\x60\x00"
    assert feature(int64_value=-1).SerializeToString() == b"\x60" + b"\xff" * 9 + b"\x01"
    assert feature(float_value=1.0).SerializeToString() == b"\x6d" + _f32(1.0)
    assert feature(double_value=2.0).SerializeToString() == b"\x71" + _f64(2.0)
    assert feature(bytes_value=b"x").SerializeToString() == b"\x7a\x01x"
    # field 16: tag 130 needs two varint bytes.
    assert feature(fid_v1_lists=example_pb2.FidLists()).SerializeToString() == b"\x82\x01\x00"


def test_named_feature_list_field_numbers():
    fields = {f.name: f.number for f in example_pb2.NamedFeatureList.DESCRIPTOR.fields}
    assert fields == {"id": 4, "name": 1, "feature": 2, "type": 3}
    nfl = example_pb2.NamedFeatureList(
        id=7, name="a", feature=[example_pb2.Feature()], type=example_pb2.SHARED
    )
    # Serialized in field-number order: name(1), feature(2), type(3), id(4).
    assert nfl.SerializeToString() == b"\x0a\x01a" + b"\x12\x00" + b"\x18\x01" + b"\x20\x07"
    # proto3 implicit presence: INDIVIDUAL (0) and id 0 are not written.
    nfl = example_pb2.NamedFeatureList(name="f", type=example_pb2.INDIVIDUAL)
    assert nfl.SerializeToString() == b"\x0a\x01f"


def test_feature_list_type_enum_values():
    assert dict(example_pb2.FeatureListType.items()) == {"INDIVIDUAL": 0, "SHARED": 1}
    assert dict(example_pb2.PoolingType.items()) == {"SUM": 0, "MEAN": 1, "FIRSTN": 3}
    assert dict(example_pb2.OutType.items()) == {"CONCAT": 0, "STACK": 1, "ADDN": 2, "NONE": 3}


def test_example_batch_field_numbers_and_bytes():
    fields = {f.name: f.number for f in example_pb2.ExampleBatch.DESCRIPTOR.fields}
    assert fields == {
        "named_feature_list": 1,
        "named_raw_feature_list": 2,
        "batch_size": 3,
        "data_source_key": 100,
    }
    assert example_pb2.ExampleBatch(batch_size=3).SerializeToString() == b"\x18\x03"
    # field 100 varint: tag 800 = varint a0 06.
    batch = example_pb2.ExampleBatch(batch_size=3, data_source_key=5)
    assert batch.SerializeToString() == b"\x18\x03\xa0\x06\x05"


def test_example_batch_nested_bytes():
    batch = example_pb2.ExampleBatch(batch_size=1)
    nfl = batch.named_feature_list.add(name="x")
    nfl.feature.add().fid_v2_list.value.extend([])
    inner = b"\x0a\x01x" + b"\x12\x02\x12\x00"
    assert batch.SerializeToString() == b"\x0a" + bytes([len(inner)]) + inner + b"\x18\x01"


def test_example_line_id_field():
    example = example_pb2.Example(line_id=line_id_pb2.LineId(uid=1))
    # Example.line_id = 100 (LEN, tag 802 = a2 06); LineId.uid = 2 fixed64 (tag 0x11).
    assert example.SerializeToString() == b"\xa2\x06\x09\x11" + _u64(1)


# ---------------------------------------------------------------- line_id


def test_line_id_packed_and_unpacked_repeated():
    line_id = line_id_pb2.LineId(actions=[1, 2], special_strategies=[3, 4])
    # actions = 6 [packed = true]: tag 0x32 LEN.
    # special_strategies = 39, no packed option in proto2: tag 312 = b8 02 per element.
    expected = b"\x32\x02\x01\x02" + b"\xb8\x02\x03" + b"\xb8\x02\x04"
    assert line_id.SerializeToString() == expected


def test_line_id_defaults_and_presence():
    line_id = line_id_pb2.LineId()
    assert line_id.sample_rate == 1.0
    assert not line_id.HasField("sample_rate")
    assert line_id.SerializeToString() == b""
    fields = line_id_pb2.LineId.DESCRIPTOR.fields_by_name
    assert fields["actions"].is_packed
    assert fields["pre_actions"].is_packed
    assert not fields["special_strategies"].is_packed
    assert fields["data_source_name"].number == 235


# ---------------------------------------------------------------- embedding_hash_table


def test_entry_dump_bytes():
    dump = embedding_hash_table_pb2.EntryDump(id=-1, num=[1.0, 2.0], last_update_ts_sec=4)
    expected = b"".join(
        [
            b"\x09" + b"\xff" * 8,  # id = 1, sfixed64 (two's complement, little endian)
            b"\x15" + _f32(1.0),  # num = 2, proto2 repeated float: unpacked, tag per element
            b"\x15" + _f32(2.0),
            b"\x20\x04",  # last_update_ts_sec = 4, varint
        ]
    )
    assert dump.SerializeToString() == expected


def test_entry_dump_num_is_not_packed_but_packed_input_parses():
    fields = embedding_hash_table_pb2.EntryDump.DESCRIPTOR.fields_by_name
    assert not fields["num"].is_packed
    packed = b"\x09" + _u64(3) + b"\x12\x08" + _f32(1.0) + _f32(2.0)
    dump = embedding_hash_table_pb2.EntryDump.FromString(packed)
    assert dump.id == 3
    assert list(dump.num) == [1.0, 2.0]


def test_entry_dump_fields_and_opt():
    fields = {
        f.name: (f.number, f.type) for f in embedding_hash_table_pb2.EntryDump.DESCRIPTOR.fields
    }
    assert fields == {
        "id": (1, FD.TYPE_SFIXED64),
        "num": (2, FD.TYPE_FLOAT),
        "opt": (3, FD.TYPE_MESSAGE),
        "last_update_ts_sec": (4, FD.TYPE_INT64),
    }
    dump = embedding_hash_table_pb2.EntryDump(id=2**48)
    dump.opt.dump.add().adagrad.norm.append(0.5)
    # opt(3) LEN { dump(1) LEN { adagrad(1) LEN { norm(1) fixed32 } } }
    adagrad = b"\x0d" + _f32(0.5)
    single = b"\x0a" + bytes([len(adagrad)]) + adagrad
    opt = b"\x0a" + bytes([len(single)]) + single
    assert dump.SerializeToString() == b"\x09" + _u64(2**48) + b"\x1a" + bytes([len(opt)]) + opt


def test_single_optimizer_dump_oneof_numbers():
    descriptor = embedding_hash_table_pb2.SingleOptimizerDump.DESCRIPTOR
    members = {f.name: f.number for f in descriptor.oneofs_by_name["type"].fields}
    assert members == {
        "adagrad": 1,
        "sgd": 2,
        "ftrl": 3,
        "dynamic_wd_adagrad": 4,
        "adadelta": 6,
        "adam": 7,
        "amsgrad": 8,
        "momentum": 9,
        "rmsprop": 11,
        "rmspropv2": 12,
        "group_ftrl": 13,
        "batch_softmax": 14,
        "group_adagrad": 15,
    }


# ---------------------------------------------------------------- syntax / presence


def test_syntax_shows_in_presence():
    # proto2 singular scalars have explicit presence; proto3 plain scalars do not.
    assert controller_hooks_pb2.ControllerHooksProto.DESCRIPTOR.fields_by_name[
        "action"
    ].has_presence
    assert embedding_hash_table_pb2.EntryDump.DESCRIPTOR.fields_by_name["id"].has_presence
    assert line_id_pb2.LineId.DESCRIPTOR.fields_by_name["uid"].has_presence
    assert not example_pb2.ExampleBatch.DESCRIPTOR.fields_by_name["batch_size"].has_presence


# ---------------------------------------------------------------- (c) text format


CKPT_TEXT = "slot_counts {\n  key: 0\n  value: 1\n}\nslot_counts {\n  key: 5\n  value: 7\n}\n"


@pytest.mark.skipif(
    api_implementation.Type() == "python",
    reason="the pure-python backend's str() omits a zero map key; the pinned upb backend keeps it",
)
def test_ckpt_info_str_sorted_keys():
    a = ckpt_info_pb2.CkptInfo()
    a.slot_counts[5] = 7
    a.slot_counts[0] = 1
    b = ckpt_info_pb2.CkptInfo()
    b.slot_counts[0] = 1
    b.slot_counts[5] = 7
    assert str(a) == CKPT_TEXT
    assert str(b) == CKPT_TEXT
    assert (
        str(ckpt_info_pb2.CkptInfo(slot_counts={0: 1}))
        == "slot_counts {\n  key: 0\n  value: 1\n}\n"
    )


def test_text_format_module_drops_zero_map_key():
    # Canary for protobuf 7.36.2: google.protobuf.text_format (used by str() only on the
    # pure-python backend) skips a map entry's zero key, unlike upb's str(). Code that must
    # reproduce the original `str(info)` output cannot use text_format.MessageToString.
    a = ckpt_info_pb2.CkptInfo(slot_counts={5: 7, 0: 1})
    assert text_format.MessageToString(a) == CKPT_TEXT.replace("  key: 0\n", "")


def test_ckpt_info_text_format_round_trip():
    info = text_format.Parse(CKPT_TEXT, ckpt_info_pb2.CkptInfo())
    assert dict(info.slot_counts) == {0: 1, 5: 7}


# ---------------------------------------------------------------- (d) full names


@pytest.mark.parametrize(
    ("message", "full_name"),
    [
        (ckpt_info_pb2.CkptInfo, "monolith.CkptInfo"),
        (controller_hooks_pb2.ControllerHooksProto, "monolith.ControllerHooksProto"),
        (example_pb2.ExampleBatch, "monolith.io.proto.ExampleBatch"),
        (example_pb2.NamedFeatureList, "monolith.io.proto.NamedFeatureList"),
        (example_pb2.Feature, "monolith.io.proto.Feature"),
        (example_pb2.FidList, "monolith.io.proto.FidList"),
        (line_id_pb2.LineId, "idl.matrix.proto.LineId"),
        (embedding_hash_table_pb2.EntryDump, "monolith.hash_table.EntryDump"),
        (embedding_hash_table_pb2.OptimizerDump, "monolith.hash_table.OptimizerDump"),
    ],
)
def test_descriptor_full_names(message, full_name):
    assert message.DESCRIPTOR.full_name == full_name


def test_enum_full_names():
    assert (
        controller_hooks_pb2.ControllerHooksProto.Action.DESCRIPTOR.full_name
        == "monolith.ControllerHooksProto.Action"
    )
    assert example_pb2.FeatureListType.DESCRIPTOR.full_name == "monolith.io.proto.FeatureListType"
