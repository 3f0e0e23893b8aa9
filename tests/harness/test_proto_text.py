"""The fast text rendering is byte-identical to protobuf's ``MessageToString``."""

import math

import pytest
from google.protobuf import text_format

from harness.compare import files_under
from harness.formats.example_stream import read_records
from harness.formats.proto_text import message_to_text
from harness.golden import GOLDEN_DIR
from reference.protos.example_pb2 import Example, ExampleBatch, FeatureMap

STREAMS = sorted(rel for rel in files_under(GOLDEN_DIR) if rel.endswith(".pb"))


@pytest.mark.parametrize("rel", STREAMS)
def test_golden_streams_render_as_text_format_does(rel):
    for record in read_records((GOLDEN_DIR / rel).read_bytes()):
        batch = record.decode()
        assert message_to_text(batch) == text_format.MessageToString(batch)


def test_every_value_type_renders_as_text_format_does():
    batch = ExampleBatch(batch_size=3)
    named = batch.named_feature_list.add(name='we"ird\n\xe9')
    feature = named.feature.add()
    feature.fid_v2_list.value.extend([0, 1, 2**64 - 1])
    named.feature.add().float_list.value.extend([0.1, -0.0, math.inf, -math.inf, math.nan, 3e38])
    named.feature.add().double_list.value.extend([0.1, 1e308, math.nan, -0.0])
    named.feature.add().int64_list.value.extend([-(2**63), 2**63 - 1, 0])
    named.feature.add().bytes_list.value.extend([b"\x00\xff", b"", "é".encode()])
    named.feature.add().float_value = 1.5
    named.feature.add().bytes_value = b"\n\t"
    named.feature.add()  # empty
    raw = batch.named_raw_feature_list.add(name="r")
    raw.raw_feature.add().feature.add().int64_list.value.append(7)
    assert batch.ListFields()
    assert message_to_text(batch) == text_format.MessageToString(batch)
    example = Example(label=[1.0, 0.5])
    example.named_feature.add(name="n")
    assert message_to_text(example) == text_format.MessageToString(example)


def test_a_map_field_falls_back_to_text_format():
    fmap = FeatureMap()
    fmap.feature_map["a"].fid_v2_list.value.append(3)
    assert message_to_text(fmap) == text_format.MessageToString(fmap)
