"""Imports the original Monolith modules of a :class:`~.checkout.Checkout`, once per process.

The originals import each other and their dependencies by Monolith's package names
(``monolith.native_training...``, ``idl.matrix.proto...``). The loader builds exactly
those names in ``sys.modules``: empty packages, the stand-ins of :mod:`.standins`, and
the originals themselves, executed from the checkout's files in dependency order. Before
that it gives TensorFlow the ``tf.estimator`` shim (only if TensorFlow has no
``estimator`` of its own). The same checkout is loaded once; a second, different one in
the same process is refused (the module names would clash).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass

import tensorflow as tf

from reference.original import standins
from reference.original.checkout import Checkout, CheckoutError

# Dependency order: hash_table_utils before ckpt_info, barrier_ops before controller_hooks.
ORDER = (
    "monolith.native_training.hash_table_utils",
    "monolith.native_training.barrier_ops",
    "monolith.native_training.hooks.hook_utils",
    "monolith.native_training.hooks.ckpt_info",
    "monolith.native_training.hooks.controller_hooks",
    "monolith.native_training.hooks.feature_engineering_hooks",
)


@dataclass(frozen=True)
class OriginalModules:
    """The imported originals (and the stand-in modules the hook set uses)."""

    checkout: Checkout
    barrier_ops: types.ModuleType
    ckpt_info: types.ModuleType
    controller_hooks: types.ModuleType
    feature_engineering_hooks: types.ModuleType
    hook_utils: types.ModuleType
    hash_table_ops: types.ModuleType
    multi_hash_table_ops: types.ModuleType


_LOADED: OriginalModules | None = None


def _package(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        module = types.ModuleType(name)
        module.__path__ = []  # a namespace: submodules come from sys.modules
        sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(_package(parent), child, module)
    return module


def _install(name: str, module: types.ModuleType) -> None:
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    setattr(_package(parent), child, module)


def load(checkout: Checkout) -> OriginalModules:
    """The originals of ``checkout``, imported (once per process)."""
    global _LOADED
    if _LOADED is not None:
        if _LOADED.checkout.sha256 != checkout.sha256:
            raise CheckoutError(
                "another Monolith checkout is already loaded in this process "
                f"({_LOADED.checkout.describe()}); run each checkout in its own process"
            )
        return _LOADED
    if not hasattr(tf, "estimator"):
        tf.estimator = standins.estimator_shim()  # type: ignore[attr-defined]
    for name, module in standins.modules().items():
        _install(name, module)
    for name in ORDER:
        spec = importlib.util.spec_from_file_location(name, checkout.files[name])
        if spec is None or spec.loader is None:
            raise CheckoutError(f"cannot import {checkout.files[name]}")
        module = importlib.util.module_from_spec(spec)
        _install(name, module)
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[name]
            raise CheckoutError(
                f"importing the original {checkout.files[name]} failed: {type(e).__name__}: {e}"
            ) from e
    m = sys.modules
    utils = m["monolith.native_training.hash_table_utils"]
    utils.iterate_table_and_apply = standins.returning_call_op(utils.iterate_table_and_apply)
    _LOADED = OriginalModules(
        checkout=checkout,
        barrier_ops=m["monolith.native_training.barrier_ops"],
        ckpt_info=m["monolith.native_training.hooks.ckpt_info"],
        controller_hooks=m["monolith.native_training.hooks.controller_hooks"],
        feature_engineering_hooks=m["monolith.native_training.hooks.feature_engineering_hooks"],
        hook_utils=m["monolith.native_training.hooks.hook_utils"],
        hash_table_ops=m["monolith.native_training.hash_table_ops"],
        multi_hash_table_ops=m["monolith.native_training.multi_hash_table_ops"],
    )
    return _LOADED
