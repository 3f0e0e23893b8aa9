"""The hook modules a cluster task builds from: this project's TF tier, or the originals.

Both are called exactly as Monolith's own code calls them (the TF tier's constructors take
the same arguments, their extra clock argument left at its real-time default). What the
originals take from module globals is set as Monolith's own tests set it:
``controller_hooks.QUERY_INTERVAL`` (seconds between two looks at the action file).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tier:
    """One tier's hook modules and how it makes a hash table."""

    name: str
    barrier_ops: types.ModuleType
    controller_hooks: types.ModuleType
    feature_hooks: types.ModuleType
    ckpt_info: types.ModuleType
    hash_table: Callable[[str], Any]
    describe: str

    def set_query_interval(self, seconds: float) -> None:
        self.controller_hooks.QUERY_INTERVAL = seconds


def tf_tier() -> Tier:
    """This project's TensorFlow tier (:mod:`reference.tf`)."""
    from reference.tf import barrier_ops, ckpt_info, controller_hooks, hash_table
    from reference.tf import feature_engineering_hooks as feature_hooks

    return Tier(
        name="tf",
        barrier_ops=barrier_ops,
        controller_hooks=controller_hooks,
        feature_hooks=feature_hooks,
        ckpt_info=ckpt_info,
        hash_table=lambda name: hash_table.HashTable(name),
        describe="the TF tier (reference/tf)",
    )


def original_tier(source: str, commit: str | None) -> Tier:
    """The original Monolith modules of a checkout, imported by the original tier's loader
    (:mod:`reference.original.loader`, with its stand-ins)."""
    from reference.original import loader
    from reference.original.checkout import open_checkout

    modules = loader.load(open_checkout(source, commit))
    return Tier(
        name="original",
        barrier_ops=modules.barrier_ops,
        controller_hooks=modules.controller_hooks,
        feature_hooks=modules.feature_engineering_hooks,
        ckpt_info=modules.ckpt_info,
        hash_table=lambda name: modules.hash_table_ops.HashTable(name),
        describe=modules.checkout.describe(),
    )


def load(plan: dict[str, Any]) -> Tier:
    """The tier a plan names (``tf`` or ``original``, with its checkout)."""
    if plan["tier"] == "tf":
        return tf_tier()
    if plan["tier"] == "original":
        monolith = plan["monolith"]
        return original_tier(monolith["source"], monolith.get("commit"))
    raise ValueError(f"unknown tier {plan['tier']!r}")
