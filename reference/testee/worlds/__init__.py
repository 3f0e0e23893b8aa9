"""One simulated world per scenario family."""

from __future__ import annotations

from reference.testee.world import World
from reference.testee.worlds.barrier import BarrierWorld
from reference.testee.worlds.controller import ControllerWorld
from reference.testee.worlds.feature_dump import FeatureDumpWorld
from reference.testee.worlds.hook_utils import HookUtilsWorld
from reference.testee.worlds.slot_count import SlotCountWorld

WORLDS: dict[str, type[World]] = {
    "barrier": BarrierWorld,
    "controller": ControllerWorld,
    "feature_dump": FeatureDumpWorld,
    "hook_utils": HookUtilsWorld,
    "slot_count": SlotCountWorld,
}
