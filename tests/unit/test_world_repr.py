"""The hook_utils world reports reprs address-free (docs/scenarios.md, ``hook_utils``)."""

from __future__ import annotations

from reference.testee.worlds.hook_utils import address_free


def test_default_reprs_lose_module_and_address():
    text = (
        "<monolith.native_training.hooks.hook_utils.BeforeSaveListener object at 0x7f3a2c1b9d90>"
        "<reference.testee.worlds.hook_utils.RecordingListener object at 0x7F00AB>"
    )
    assert address_free(text) == "<BeforeSaveListener><RecordingListener>"


def test_other_text_is_kept():
    assert address_free("Listener(<x object>) at 0x12") == "Listener(<x object>) at 0x12"
