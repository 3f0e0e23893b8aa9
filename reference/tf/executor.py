"""Runs scenario steps against the TensorFlow tier, inside real TF1-style sessions.

Same interface as :class:`reference.testee.executor.Executor` (``Executor(emit)``,
``capabilities``, ``setup(scenario, files_dir)``, ``step(step)``, ``teardown()``) and the
same events, so the harness drives both tiers through the same scenarios. Time is the
harness's :class:`~reference.runtime.virtual_clock.VirtualClock`, injected into every hook
that sleeps, polls, waits or starts a thread; TensorFlow's own session calls never block
on it, so threads interleave exactly as in the reference.

How each family is run:

* ``controller``: the chief's hooks (controller, stop hook, query hook) in a
  ``SingularMonitoredSession``; workers (own ``BarrierOp``, ``BarrierHook``, stop hook)
  in ``MonitoredSession``\\ s. All sessions are separate ``tf.Session``\\ s of one graph,
  connected to an in-process cluster (one ps task, one worker task), so they share the
  barrier variables as real workers share variables on a server, and closing one leaves
  the others usable. Each worker's ``BarrierOp`` reuses the graph's ``barrier_var`` and
  ``barrier_op_action`` (``AUTO_REUSE``); every op is built at set-up, before the chief's
  session finalizes the graph. With ``num_ps > 0`` the control variable lives on ps 0.
* ``barrier``: the chief's ``BarrierOp`` on a plain session to the same kind of cluster.
* ``feature_dump``: a one-shot ``tf.data`` iterator over the scenario's batches; the
  train op consumes the element the hook fetches in the same run. One dataset has one
  element structure, so the elements the hook can see must share keys (in order) and
  kinds; dtypes are unified where that keeps the hook's Python values (see
  :func:`_dataset`), and an element consumed by the skipped first run is replaced by
  zeros of the others' structure.
* ``slot_count``: stand-in hash tables on the scenario's devices (local CPUs, or an
  in-process cluster for job-qualified devices) and a plain session; saves call the
  listener like the reference's saver loop (no checkpoint files are written).
* ``hook_utils``: the wrappers around recording ``CheckpointSaverListener``\\ s.

Harness convention (docs/design.md): within one run the caller's fetches come before the
hooks'. TensorFlow does not order an assign and a read in one ``session.run`` (the hook
sees a just-fetched ``stop_op`` about 4 runs in 5), so a ``run`` of ``stop_op`` or
``trigger_save_op`` first runs that (idempotent) assign on the raw session, then the
monitored run fetches it as asked.

Session behaviour is TensorFlow's own, where it differs from the simulated runtime: a
``run`` after ``end`` raises ``AttributeError``, and a second ``end`` calls every hook's
``end`` again before raising ``RuntimeError('Session is already closed.')``.

Scenarios this tier cannot express raise :class:`reference.testee.world.NotApplicable`
from :meth:`Executor.setup` (dataset elements the hook sees with different keys, or an
empty element); an adapter must let it through to the harness.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from reference.runtime.session import CheckpointSaver
from reference.runtime.virtual_clock import VirtualClock
from reference.testee import inputs
from reference.testee.executor import Executor as ReferenceExecutor
from reference.testee.world import BarrierRecorder, NotApplicable, World
from reference.testee.worlds.barrier import BarrierWorld as ReferenceBarrierWorld
from reference.testee.worlds.hook_utils import HookUtilsWorld as ReferenceHookUtilsWorld
from reference.testee.worlds.hook_utils import RecordingListener
from reference.tf.hookset import HookSet

Emit = Callable[[dict[str, Any]], None]

# Bounds run_until_end (as in the reference world).
MAX_RUNS = 1_000_000


# --------------------------------------------------------------------------- sessions


class _Cluster:
    """In-process gRPC servers, one per task; sessions connect to ``/job:worker/task:0``."""

    def __init__(self, jobs: dict[str, int], cpus: int) -> None:
        ports = {job: [_free_port() for _ in range(n)] for job, n in jobs.items()}
        spec = tf.train.ClusterSpec(
            {job: [f"localhost:{p}" for p in job_ports] for job, job_ports in ports.items()}
        )
        config = tf.compat.v1.ConfigProto(device_count={"CPU": cpus})
        self.servers = [
            tf.distribute.Server(spec, job_name=job, task_index=i, config=config, start=True)
            for job, n in jobs.items()
            for i in range(n)
        ]
        self.target = next(s.target for s in self.servers if s.server_def.job_name == "worker")


_CLUSTERS: dict[tuple[Any, ...], _Cluster] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def cluster(jobs: dict[str, int], cpus: int = 1) -> _Cluster:
    """A cached in-process cluster with (at least) these tasks; servers cannot be stopped,
    so one per shape lives as long as the process. Reset its state with ``Session.reset``."""
    jobs = {"worker": 1, **jobs}
    key = (tuple(sorted(jobs.items())), cpus)
    if key not in _CLUSTERS:
        _CLUSTERS[key] = _Cluster(dict(sorted(jobs.items())), cpus)
    return _CLUSTERS[key]


class _NoInitSessionCreator(tf.compat.v1.train.SessionCreator):
    """A worker's own session to the cluster; the chief already initialised the variables."""

    def __init__(self, target: str, graph: tf.Graph) -> None:
        self._target = target
        self._graph = graph

    def create_session(self) -> tf.compat.v1.Session:
        return tf.compat.v1.Session(self._target, graph=self._graph)


def _close_error(name: str | None) -> tuple[type[BaseException], BaseException] | None:
    """The exception a ``with`` block ends with, as TensorFlow raises it."""
    if name is None:
        return None
    made: dict[str, Callable[[], BaseException]] = {
        "OutOfRangeError": lambda: tf.errors.OutOfRangeError(None, None, "scenario close"),
        "StopIteration": lambda: StopIteration("scenario close"),
        "RuntimeError": lambda: RuntimeError("scenario close"),
        "KeyboardInterrupt": lambda: KeyboardInterrupt("scenario close"),
    }
    if name not in made:
        raise ValueError(f"unknown close error {name!r}; one of {sorted(made)}")
    exc = made[name]()
    return type(exc), exc


class _TFWorld(World):
    """A family's world on one graph (the executor makes it the default around each call)."""

    def __init__(self, config: dict[str, Any], files_dir: str, clock: VirtualClock, emit: Emit):
        super().__init__(config, files_dir, clock, emit)
        self.graph = tf.Graph()
        self.steps: list[dict[str, Any]] = []
        self.cluster: _Cluster | None = None
        self._closables: list[Any] = []
        self.hooks: Any = None  # the tier's HookSet, given by the executor before setup

    def close_tf(self) -> None:
        """Release TensorFlow resources without calling any hook (after the clock's
        shutdown, so no simulated thread is inside a session call)."""
        for sess in self._closables:
            with contextlib.suppress(Exception):  # already closed, or by a failed step
                sess.close()
        if self.cluster is not None:
            tf.compat.v1.Session.reset(self.cluster.target)


def _end(session: Any, step: dict[str, Any]) -> None:
    error = _close_error(step.get("error"))
    if error is None:
        session.__exit__(None, None, None)
    else:
        session.__exit__(error[0], error[1], None)


# ---------------------------------------------------------------------------- workers


class _Workers:
    """Non-chief workers: own BarrierOp (reusing the shared variables), own session."""

    def __init__(self, world: _TFWorld, specs: list[dict[str, Any]], barrier: dict[str, Any]):
        self._world = world
        self._specs = specs
        self._threads: list[Any] = []
        self._built: dict[int, Any] = {}
        stop_helper = bool(world.config.get("stop_helper", False))
        self._dummy = tf.constant(1, name="worker_dummy")
        for spec in specs:
            index = int(spec["index"])
            try:
                self._built[index] = self._build(index, barrier, stop_helper)
            except Exception as e:  # raised on the worker's thread, as in the reference
                self._built[index] = e

    def _build(self, index: int, barrier: dict[str, Any], stop_helper: bool) -> list[Any]:
        made = self._world.hooks
        helper = made.stop_helper() if stop_helper else None
        callbacks: list[Any] = [BarrierRecorder(self._world.emit, index)]
        if helper is not None:
            callbacks.append(helper.create_barrier_callback())
        scope = tf.compat.v1.get_variable_scope()
        with tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE):
            op = made.barrier_op(
                int(barrier["capacity"]),
                is_chief=False,
                wait_seconds=float(barrier.get("wait_seconds", 1)),
                name_prefix=barrier.get("name_prefix", "default"),
                callbacks=callbacks,
            )
        hooks: list[Any] = [made.barrier_hook(index, op)]
        if helper is not None:
            hooks.append(helper.create_stop_hook())
        return hooks

    def start(self) -> None:
        for spec in self._specs:
            thread = self._world.clock.thread(
                lambda spec=spec: self._loop(spec), name=f"worker{spec['index']}"
            )
            thread.start()
            self._threads.append(thread)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _loop(self, spec: dict[str, Any]) -> None:
        index = int(spec["index"])
        hooks = self._built[index]
        if isinstance(hooks, Exception):
            raise hooks
        world, clock = self._world, self._world.clock
        assert world.cluster is not None
        creator = _NoInitSessionCreator(world.cluster.target, world.graph)
        with world.graph.as_default():
            sess = tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=hooks)
            with sess:
                for _ in range(int(spec.get("runs", 1))):
                    if sess.should_stop():
                        break
                    clock.sleep(float(spec.get("run_seconds", 1)))
                    sess.run(self._dummy)
                    world.emit({"event": "run", "worker": index, "should_stop": sess.should_stop()})
        world.emit({"event": "worker_done", "worker": index})


# ------------------------------------------------------------------------ the worlds


class BarrierWorld(_TFWorld, ReferenceBarrierWorld):
    """The reference world's barrier steps over a TF BarrierOp and a TF session."""

    def setup(self) -> None:
        c = self.config
        self.cluster = cluster({"ps": 1})
        with self.graph.as_default():
            self.op = self.hooks.barrier_op(
                int(c["capacity"]),
                is_chief=True,
                wait_seconds=float(c.get("wait_seconds", 1)),
                name_prefix=c.get("name_prefix", "default"),
                callbacks=[BarrierRecorder(self.emit, 0)],
            )
            self.workers = _Workers(self, c.get("workers", []), c)
            init = [
                tf.compat.v1.global_variables_initializer(),
                tf.compat.v1.local_variables_initializer(),
            ]
        self.graph.finalize()
        self.session = tf.compat.v1.Session(self.cluster.target, graph=self.graph)
        self._closables.append(self.session)
        self.session.run(init)
        self.waiters: list[Any] = []

    def op_wait(self, step: dict[str, Any]) -> None:
        index = int(step["index"])

        def wait() -> None:
            self.op.wait_until_barrier_removed(self.session, index)
            self.emit({"event": "wait_returned", "index": index})

        thread = self.clock.thread(wait, name=f"wait{index}")
        thread.start()
        self.waiters.append(thread)


class ControllerWorld(_TFWorld):
    def setup(self) -> None:
        c = self.config
        num_ps = int(c.get("num_ps", 0))
        self.cluster = cluster({"ps": max(1, num_ps)})
        with self.graph.as_default():
            helper = self.hooks.stop_helper() if c.get("stop_helper", False) else None
            barrier_cfg = c.get("barrier")
            barrier = None
            if barrier_cfg is not None:
                callbacks: list[Any] = [BarrierRecorder(self.emit, 0)]
                if helper is not None:
                    callbacks.append(helper.create_barrier_callback())
                barrier = self.hooks.barrier_op(
                    int(barrier_cfg["capacity"]),
                    is_chief=True,
                    wait_seconds=float(barrier_cfg.get("wait_seconds", 1)),
                    name_prefix=barrier_cfg.get("name_prefix", "default"),
                    callbacks=callbacks,
                )
            trigger = self._trigger_save if c.get("trigger_save", True) else None
            self.controller = self.hooks.controller_hook(num_ps, barrier, trigger)
            hooks: list[Any] = [self.controller]
            if helper is not None:
                hooks.append(helper.create_stop_hook())
            if c.get("query_action", False):
                hooks.append(
                    self.hooks.query_action_hook(
                        self.model_dir, self.controller, float(c.get("query_interval", 60))
                    )
                )
            self.fetches = {
                "dummy": tf.constant(1, name="dummy"),
                "stop_op": self.controller.stop_op,
                "trigger_save_op": self.controller.trigger_save_op,
            }
            self.workers = _Workers(self, c.get("workers", []), barrier_cfg or {})
            self.session = tf.compat.v1.train.SingularMonitoredSession(
                hooks=hooks, master=self.cluster.target
            )
        self._closables.append(self.session.raw_session())
        self.workers.start()

    def _trigger_save(self) -> None:
        self.emit({"event": "trigger_save"})

    def op_run(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", "dummy")
        fetch = self.fetches[name]
        if name != "dummy" and not self.session.should_stop():
            # Harness convention: the caller's fetch takes effect before the hooks' reads.
            self.session.raw_session().run(fetch)
        self.session.run(fetch)
        self.emit(
            {"event": "run", "worker": 0, "fetch": name, "should_stop": self.session.should_stop()}
        )

    def op_end(self, step: dict[str, Any]) -> None:
        _end(self.session, step)

    def op_join_workers(self, step: dict[str, Any]) -> None:
        self.workers.join()


class _RunConfig:
    def __init__(self, model_dir: str, server_type: str, index: int) -> None:
        self.model_dir = model_dir
        self.server_type = server_type
        self.index = index


def _first_element_unobserved(steps: list[dict[str, Any]]) -> bool:
    """Whether element 0 is consumed by the first run (whose fetches the hook skips) or
    never consumed: the first session step is a ``train_op`` run, ``run_until_end`` or
    ``end``. Every other element counts as seen by the hook."""
    for step in steps:
        if step["op"] == "run":
            return step.get("fetch", "train_op") == "train_op"
        if step["op"] in ("run_until_end", "end"):
            return True
    return True


_INTS = {"int32", "int64", "uint64"}
_FLOATS = {"float32", "float64"}


def _common_dtype(name: str, features: list[dict[str, Any]], values: list[Any]) -> np.dtype:
    """One dtype for a key across elements that gives the hook the same Python values."""
    dtypes = {f.get("dtype", "int64") for f in features}
    if len(dtypes) == 1:
        return np.dtype(dtypes.pop())
    if dtypes <= _FLOATS:
        return np.dtype(np.float64)  # float32 values are exact in float64
    if not dtypes <= _INTS:
        raise NotApplicable(f"feature {name!r} mixes integer and float dtypes across elements")
    flat = [int(v) for value in values for v in np.asarray(_rows_flat(value)).tolist()]
    if all(-(2**63) <= v < 2**63 for v in flat):
        return np.dtype(np.int64)
    if all(v >= 0 for v in flat):
        return np.dtype(np.uint64)
    raise NotApplicable(f"feature {name!r}: no one integer dtype holds all its values")


def _rows_flat(value: Any) -> list[Any]:
    if isinstance(value, np.ndarray):
        return value.reshape(-1).tolist()
    return [v for row in value.to_list() for v in row]


def _tf_value(value: Any, dtype: np.dtype) -> Any:
    if isinstance(value, np.ndarray):
        return tf.constant(value.astype(dtype))
    rows = value.to_list()
    # From flat values, not tf.ragged.constant (which may go through float64, losing bits).
    flat = np.array([v for row in rows for v in row], dtype=dtype)
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat), tf.constant(lengths))


def _filler(value: Any, dtype: np.dtype) -> Any:
    """A stand-in for an element the hook never sees, with ``value``'s structure."""
    if isinstance(value, np.ndarray):
        return tf.zeros(value.shape, tf.as_dtype(dtype))
    return tf.RaggedTensor.from_row_lengths(
        tf.zeros([0], tf.as_dtype(dtype)), tf.zeros([0], tf.int64)
    )


def _dataset(batches: list[list[dict[str, Any]]], steps: list[dict[str, Any]]) -> Any:
    """One ``tf.data`` dataset of the scenario's elements, or :class:`NotApplicable`.

    A dataset has one element structure: the elements the hook can see must have the same
    keys in the same order, each key dense or ragged throughout. Dtypes may differ when
    one dtype gives the hook the same Python values (ints -> int64 or uint64, floats ->
    float64). An element the hook never sees (consumed by the skipped first run) may have
    any content: it is replaced by zeros of the others' structure.
    """
    skip_first = _first_element_unobserved(steps)
    seen = [b for i, b in enumerate(batches) if not (i == 0 and skip_first)]
    if not seen:
        n = len(batches)
        return tf.data.Dataset.from_tensors({"unseen": tf.constant(0)}).repeat(n)
    keys = [f["name"] for f in seen[0]]
    if not keys:
        raise NotApplicable("a tf.data element cannot be an empty dict")
    if any([f["name"] for f in b] != keys for b in seen):
        raise NotApplicable("a tf.data dataset's elements all have the same keys, in one order")
    values = [[inputs.feature_value(f) for f in b] for b in seen]
    structure = []
    for k, name in enumerate(keys):
        features = [b[k] for b in seen]
        if len({"ragged" in f for f in features}) > 1:
            raise NotApplicable(f"feature {name!r} is dense in one element, ragged in another")
        structure.append(_common_dtype(name, features, [v[k] for v in values]))
    elements = [
        {name: _tf_value(v, dtype) for name, v, dtype in zip(keys, vs, structure, strict=True)}
        for vs in values
    ]
    if skip_first and batches:
        first = zip(keys, values[0], structure, strict=True)
        elements.insert(0, {name: _filler(v, dtype) for name, v, dtype in first})
    parts = [tf.data.Dataset.from_tensors(e) for e in elements]
    try:
        return functools.reduce(lambda a, b: a.concatenate(b), parts)
    except TypeError as e:
        raise NotApplicable(f"the elements do not make one tf.data structure: {e}") from e


class FeatureDumpWorld(_TFWorld):
    def setup(self) -> None:
        c = self.config
        uuids = list(c.get("uuids", []))
        counter = iter(range(1 << 62))

        def uuid_fn() -> str:
            k = next(counter)
            return uuids[k] if k < len(uuids) else f"{k:08x}-0000-1000-8000-000000000000"

        with self.graph.as_default():
            dataset = _dataset(c.get("batches", []), self.steps)
            next_element = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
            self.hook = self.hooks.feature_hook(
                _RunConfig(self.model_dir, c.get("server_type", "worker"), int(c.get("index", 0))),
                next_element,
                int(c.get("cap", 100)),
                uuid_fn,
            )
            # The train op consumes the element the hook fetches in the same run.
            train_op = tf.group(tf.nest.flatten(next_element, expand_composites=True))
            self.fetches = {"train_op": train_op, "dummy": tf.constant(1, name="dummy")}
            self.session = tf.compat.v1.train.SingularMonitoredSession(hooks=[self.hook])
        self._closables.append(self.session.raw_session())

    def op_run(self, step: dict[str, Any]) -> None:
        name = step.get("fetch", "train_op")
        self.session.run(self.fetches[name])
        self.emit({"event": "run", "worker": 0, "fetch": name, "should_stop": False})

    def op_run_until_end(self, step: dict[str, Any]) -> None:
        runs = 0
        try:
            while runs < MAX_RUNS:
                self.session.run(self.fetches["train_op"])
                runs += 1
        except tf.errors.OutOfRangeError as e:
            self.emit({"event": "runs", "count": runs})
            self.session.__exit__(tf.errors.OutOfRangeError, e, None)

    def op_end(self, step: dict[str, Any]) -> None:
        _end(self.session, step)


def _placement(devices: list[str]) -> tuple[dict[str, int], int]:
    """Cluster jobs (name -> task count) and CPUs per task the devices need."""
    jobs: dict[str, int] = {}
    cpus = 1
    for device in devices:
        if not device:
            continue
        spec = tf.DeviceSpec.from_string(device)
        if spec.device_type not in (None, "CPU") or spec.replica not in (None, 0):
            raise NotApplicable(f"device {device!r}: only CPU devices of replica 0 exist here")
        if spec.device_index is not None:
            cpus = max(cpus, spec.device_index + 1)
        if spec.job is not None and spec.job != "localhost":
            jobs[spec.job] = max(jobs.get(spec.job, 0), (spec.task or 0) + 1)
        elif spec.task not in (None, 0):
            raise NotApplicable(f"device {device!r}: a task without a job")
    return jobs, cpus


class SlotCountWorld(_TFWorld):
    def setup(self) -> None:
        c = self.config
        specs = c.get("tables", [])
        jobs, cpus = _placement([s.get("device", "") for s in specs])
        if jobs:
            self.cluster = cluster(jobs, cpus)
            self.session = tf.compat.v1.Session(self.cluster.target, graph=self.graph)
        else:
            config = tf.compat.v1.ConfigProto(device_count={"CPU": cpus})
            self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        self._closables.append(self.session)
        with self.graph.as_default():
            self.tables = [
                self.hooks.hash_table(
                    spec.get("name", f"table{i}"), int(spec.get("dim", 1)), spec.get("device", "")
                )
                for i, spec in enumerate(specs)
            ]
            for _ in range(int(c.get("multi_hash_tables", 0))):
                self.hooks.multi_hash_table()
            updates = [
                t.assign(inputs.fids(s["fids"])).as_op()
                for t, s in zip(self.tables, specs, strict=True)
                if s.get("fids")
            ]
        for update in updates:
            self.session.run(update)
        self.saver: CheckpointSaver | None = None

    def op_create_listener(self, step: dict[str, Any]) -> None:
        with self.graph.as_default():
            listener = self.hooks.slot_listener(self.model_dir)
        wrapped = self.hooks.wrap_listener(self.config.get("wrap"), listener)
        self.saver = CheckpointSaver([wrapped], self.session)

    def op_assign(self, step: dict[str, Any]) -> None:
        with self.graph.as_default():
            update = self.tables[int(step["table"])].assign(inputs.fids(step["fids"])).as_op()
        self.session.run(update)

    def op_save(self, step: dict[str, Any]) -> None:
        if self.saver is None:
            self.op_create_listener(step)
        assert self.saver is not None
        self.saver.save(inputs.parse_int(step["global_step"]))


class _RecordingListener(RecordingListener, tf.compat.v1.train.CheckpointSaverListener):
    """The reference world's recording listener, as a real TF CheckpointSaverListener."""


class HookUtilsWorld(_TFWorld, ReferenceHookUtilsWorld):
    """The reference world's steps over real TF listeners and a TF session."""

    def setup(self) -> None:
        self.session = tf.compat.v1.Session(graph=self.graph)
        self._closables.append(self.session)
        self.listeners = [
            self.hooks.wrap_listener(kind, _RecordingListener(i, self.emit))
            for i, kind in enumerate(self.config.get("listeners", ["before", "after"]))
        ]
        self.saver = CheckpointSaver(self.listeners, self.session)


WORLDS: dict[str, type[_TFWorld]] = {
    "barrier": BarrierWorld,
    "controller": ControllerWorld,
    "feature_dump": FeatureDumpWorld,
    "hook_utils": HookUtilsWorld,
    "slot_count": SlotCountWorld,
}


# -------------------------------------------------------------------------- executor


class Executor(ReferenceExecutor):
    """The reference executor's protocol over the TF worlds, each on its own graph."""

    worlds: ClassVar[dict[str, type[World]]] = WORLDS  # type: ignore[assignment]
    capabilities: ClassVar[dict[str, Any]] = {"virtual_clock": True, "families": sorted(WORLDS)}
    hookset: ClassVar[type[HookSet]] = HookSet

    def _prepare(self, world: World) -> None:
        assert isinstance(world, _TFWorld) and self._clock is not None
        world.hooks = self.hookset(self._clock)

    def _scope(self) -> AbstractContextManager[Any]:
        assert isinstance(self._world, _TFWorld)
        return self._world.graph.as_default()

    def _release(self, world: World) -> None:
        assert isinstance(world, _TFWorld)
        try:
            world.close_tf()
        finally:
            if world.hooks is not None:
                world.hooks.release()
