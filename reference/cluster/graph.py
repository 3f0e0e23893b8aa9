"""One cluster task's graph and hooks, built from its spec in the plan.

As Monolith's distributed CPU training does, a task builds its whole graph under
``tf.compat.v1.train.replica_device_setter(ps_tasks=1)`` (with the plan's ``placement``;
without it, no device function: every op stays on the task itself). The graph:

* the global step, incremented once by every run of the train op (on ps0, so shared);
* with ``feature_dump``: a ``tf.data`` iterator over the task's ``dataset`` whose next
  element the train op consumes and a ``FeatureEngineeringSaveHook`` dumps;
* with ``slot_count``: a hash table (shared on ps0) the train op fills with the task's
  ``table`` fids, if it has any, and a ``CheckpointSaverHook`` (every ``save_steps``
  steps, at session creation and at the end) whose listeners are
  ``FidSlotCountSaverListener`` and a recorder of the steps, handed to
  MonitoredTrainingSession as a chief-only hook: as in Monolith, every task builds it,
  only the chief runs it;
* with a barrier: one ``BarrierOp`` (``is_chief`` on the chief), whose callbacks are a
  recorder, then the ``StopHelper``'s callback when the task has ``stop_helper``.

Hooks are built in the order of the spec's ``hooks``: ``controller`` (a ControllerHook
over the task's BarrierOp; the chief's has a trigger-save callback that records),
``stop_helper`` (the StopHelper's stop hook), ``query_action`` (a QueryActionHook over
the ControllerHook), ``barrier`` (a BarrierHook with the task's index), ``feature_dump``
and ``slot_count``.
"""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from reference.cluster.control import Control
from reference.cluster.tiers import Tier

# Callbacks run inside these BarrierOp methods: the recorder tells which from its caller.
_VIA = {"place_barrier": "place", "wait_until_barrier_removed": "wait"}


@dataclass
class Observations:
    """What a task saw; the task's result file is made from it."""

    control: Control
    callbacks: list[str] = field(default_factory=list)
    trigger_saves: int = 0
    saves: list[int] = field(default_factory=list)
    runs: int = 0
    last_wait_run: int | None = None

    def barrier_callback(self, action: str, session: Any) -> None:
        via = _caller_of_callbacks()
        self.callbacks.append(f"{via}:{action}")
        if via == "wait":
            self.last_wait_run = self.runs + 1  # the run in progress
        self.control.event("barrier_callback", via=via, action=action, run=self.runs + 1)

    def trigger_save(self) -> None:
        self.trigger_saves += 1
        self.control.event("trigger_save", run=self.runs + 1)

    def saved(self, step: int) -> None:
        self.saves.append(step)
        self.control.event("before_save", step=step)


def _caller_of_callbacks() -> str:
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        via = _VIA.get(frame.f_code.co_name)
        if via:
            return via
        frame = frame.f_back
    return "unknown"


class _SaveRecorder(tf.compat.v1.train.CheckpointSaverListener):
    def __init__(self, observations: Observations) -> None:
        self._observations = observations

    def before_save(self, session: Any, global_step_value: int) -> None:
        self._observations.saved(int(global_step_value))


class RunConfig:
    """What ``FeatureEngineeringSaveHook`` reads of an estimator ``RunConfig``."""

    def __init__(self, model_dir: str, index: int) -> None:
        self.model_dir = model_dir
        self.server_type = "worker"  # the chief is worker 0, as in Monolith's clusters
        self.index = index


@dataclass
class Built:
    graph: tf.Graph
    train_op: Any
    hooks: list[Any]
    # MonitoredTrainingSession runs these on the chief only, as it does the checkpoint
    # saver (and its listeners) it makes itself.
    chief_only_hooks: list[Any]
    uninitialized: Any


def _dataset(elements: list[dict[str, list[list[int]]]]) -> Any:
    parts = [
        tf.data.Dataset.from_tensors(
            {name: tf.constant(np.array(rows, dtype=np.int64)) for name, rows in e.items()}
        )
        for e in elements
    ]
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    return dataset


def build(plan: dict[str, Any], spec: dict[str, Any], tier: Tier, seen: Observations) -> Built:
    """The task's graph, train op and hooks (the graph is left unfinalized)."""
    index = spec["index"]
    graph = tf.Graph()
    device_fn = None
    if plan["placement"]:
        device_fn = tf.compat.v1.train.replica_device_setter(
            ps_tasks=1, worker_device=f"/job:worker/task:{index}"
        )
    with graph.as_default(), tf.compat.v1.device(device_fn):
        global_step = tf.compat.v1.train.get_or_create_global_step()
        consumed: list[Any] = [global_step.assign_add(1)]
        hooks_by_name: dict[str, Any] = {}
        next_element = None
        if spec.get("dataset"):
            iterator = tf.compat.v1.data.make_one_shot_iterator(_dataset(spec["dataset"]))
            next_element = iterator.get_next()
            consumed += tf.nest.flatten(next_element)
        if "slot_count" in spec["hooks"]:
            table = tier.hash_table("cluster_table")
            if spec.get("table"):
                fids = np.array([int(f) for f in spec["table"]], dtype=np.uint64)
                consumed.append(table.assign(fids).as_op())
        barrier_op = None
        stop_helper = tier.controller_hooks.StopHelper()
        if plan.get("barrier"):
            callbacks = [seen.barrier_callback]
            if "stop_helper" in spec["hooks"]:
                callbacks.append(stop_helper.create_barrier_callback())
            barrier_op = tier.barrier_ops.BarrierOp(
                plan["barrier"]["capacity"],
                is_chief=index == 0,
                wait_seconds=plan["barrier"]["wait_seconds"],
                barrier_callbacks=callbacks,
            )
        for name in spec["hooks"]:
            hooks_by_name[name] = _hook(
                name, plan, spec, tier, seen, barrier_op, stop_helper, hooks_by_name, next_element
            )
        train_op = tf.group(consumed, name="train_op")
        # What a worker's session waits for (its ready_for_local_init_op), kept for the
        # diagnosis of a session that never comes.
        uninitialized = tf.compat.v1.report_uninitialized_variables(tf.compat.v1.global_variables())
    hooks = [hooks_by_name[name] for name in spec["hooks"] if name != "slot_count"]
    chief_only = [hooks_by_name["slot_count"]] if "slot_count" in hooks_by_name else []
    return Built(graph, train_op, hooks, chief_only, uninitialized)


def _hook(
    name: str,
    plan: dict[str, Any],
    spec: dict[str, Any],
    tier: Tier,
    seen: Observations,
    barrier_op: Any,
    stop_helper: Any,
    built: dict[str, Any],
    next_element: Any,
) -> Any:
    index = spec["index"]
    if name == "controller":
        trigger_save = seen.trigger_save if index == 0 else None
        return tier.controller_hooks.ControllerHook(
            num_ps=spec["num_ps"], barrier_op=barrier_op, trigger_save=trigger_save
        )
    if name == "stop_helper":
        return stop_helper.create_stop_hook()
    if name == "query_action":
        return tier.controller_hooks.QueryActionHook(plan["model_dir"], built["controller"])
    if name == "barrier":
        return tier.barrier_ops.BarrierHook(index, barrier_op)
    if name == "feature_dump":
        config = RunConfig(plan["model_dir"], index)
        return tier.feature_hooks.FeatureEngineeringSaveHook(config, next_element, cap=spec["cap"])
    if name == "slot_count":
        listener = tier.ckpt_info.FidSlotCountSaverListener(plan["model_dir"])
        return tf.compat.v1.train.CheckpointSaverHook(
            os.path.join(plan["model_dir"], "checkpoints"),
            save_steps=spec["save_steps"],
            saver=tf.compat.v1.train.Saver(),
            listeners=[listener, _SaveRecorder(seen)],
        )
    raise ValueError(f"unknown hook {name!r}")
