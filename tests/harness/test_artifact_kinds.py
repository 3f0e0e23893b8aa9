"""Artifact kinds: named, matched by their own patterns, looked up by name; order-free."""

import pytest

from harness import artifacts
from harness.artifacts import ArtifactKind, BytesKind, CkptInfoKind, kind_named, kind_of

PATHS = {
    "trace.jsonl": "trace",
    "out/x/trace.jsonl": "trace",
    "listing.txt": "listing",
    "files/model/ckpt.info-1000000": "ckpt_info",
    "files/model/features/chief_ab.pb": "example_batch_stream",
    "files/features/a/b.pb": "bytes",
    "files/model/monolith_action": "action_file",
    "files/model/monolith_action_response": "action_response",
    "files/other.pb": "bytes",
}


@pytest.mark.parametrize("rel", sorted(PATHS))
def test_kind_of_each_path(rel):
    assert kind_of(rel).name == PATHS[rel]


def test_kinds_are_looked_up_by_name_and_are_unique():
    names = [k.name for k in artifacts.kinds()]
    assert names == sorted(set(names))
    assert names == [
        "action_file",
        "action_response",
        "bytes",
        "ckpt_info",
        "example_batch_stream",
        "listing",
        "trace",
    ]
    for name in names:
        assert kind_named(name).name == name
    assert kind_named(CkptInfoKind.name) is kind_of("ckpt.info-3")
    with pytest.raises(KeyError, match="no artifact kind 'nope'"):
        kind_named("nope")
    assert isinstance(kind_of("anything"), BytesKind)


def test_a_kind_overlapping_another_is_an_error():
    class Overlapping(ArtifactKind):
        name = "test_overlapping"
        patterns = ("*.jsonl",)

    try:
        with pytest.raises(AssertionError, match="claimed by several artifact kinds"):
            kind_of("trace.jsonl")
        assert kind_of("other.jsonl").name == "test_overlapping"
    finally:
        artifacts._REGISTRY.pop("test_overlapping")
        artifacts._BY_PATH.clear()


def test_a_kind_needs_a_unique_name():
    with pytest.raises(TypeError, match="defined twice"):

        class Again(ArtifactKind):
            name = "trace"

    with pytest.raises(TypeError, match="needs a name"):

        class Nameless(ArtifactKind):
            pass
