"""The family worlds on real TensorFlow: graphs, clusters and ``tf.compat.v1`` sessions.

Each class here is the shared world of :mod:`reference.testee.worlds` with its runtime
methods (see :class:`reference.testee.world.World`) done the TensorFlow way; the steps
are the shared ones. Hooks come from the tier's hook set (this tier's, or the original
modules'). How each family runs:

* ``controller``: the chief's hooks in a ``SingularMonitoredSession`` and each worker's
  in a ``MonitoredSession``, all sessions of one graph connected to an in-process cluster
  (:mod:`reference.tf.cluster`) with one ps task (``num_ps`` when more); each worker's
  ``BarrierOp`` reuses the graph's barrier variables (``AUTO_REUSE``). Every op is built
  at set-up, before the chief's session finalizes the graph.
* ``barrier``: the chief's ``BarrierOp`` on a plain session to the same kind of cluster.
* ``feature_dump``: a one-shot ``tf.data`` iterator over the scenario's batches
  (:mod:`reference.tf.dataset`); the train op consumes the element the hook fetches.
* ``slot_count``: the tier's tables on the scenario's devices (local CPUs, or a cluster
  for job-qualified devices) and a plain session.
* ``hook_utils``: the wrappers around recording ``CheckpointSaverListener``\\ s.

Harness convention (docs/scenarios.md, "Orders left open"): within one run the caller's
fetches come before the hooks'. TensorFlow does not order an assign and a read in one
``session.run`` (the hook sees a just-fetched ``stop_op`` about 4 runs in 5), so a ``run``
of ``stop_op`` or ``trigger_save_op`` first runs that (idempotent) assign on the raw
session, then the monitored run fetches it as asked.

Session behaviour is TensorFlow's own where it differs from the simulated runtime: a
``run`` after ``end`` raises ``AttributeError``, and a second ``end`` calls every hook's
``end`` again before raising ``RuntimeError('Session is already closed.')``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import tensorflow as tf

from reference.runtime.virtual_clock import VirtualClock
from reference.testee import worlds
from reference.testee.world import World
from reference.tf.cluster import Cluster, NoInitSessionCreator, cluster, placement
from reference.tf.dataset import dataset

Emit = Callable[[dict[str, Any]], None]


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


class TFWorld(World):
    """The runtime methods on one graph (the executor makes it the default around calls)."""

    out_of_range: ClassVar[type[BaseException]] = tf.errors.OutOfRangeError

    def __init__(self, config: dict[str, Any], files_dir: str, clock: VirtualClock, emit: Emit):
        super().__init__(config, files_dir, clock, emit)
        self.graph = tf.Graph()
        self.cluster: Cluster | None = None
        self._closables: list[Any] = []

    def building(self) -> AbstractContextManager[Any]:
        return self.graph.as_default()

    def sharing_barrier(self) -> AbstractContextManager[Any]:
        # A reuse checks the scope's dtype against the variable's: the shared flags
        # (barrier_var, control_var) are bool vectors created without naming a dtype.
        scope = tf.compat.v1.get_variable_scope()
        return tf.compat.v1.variable_scope(scope, reuse=tf.compat.v1.AUTO_REUSE, dtype=tf.bool)

    def constant(self, name: str) -> Any:
        return tf.constant(1, name=name)

    def plain_session(self, worker: int = 0) -> Any:
        session = tf.compat.v1.Session(graph=self.graph)
        self._closables.append(session)
        return session

    def chief_monitored(self, hooks: Sequence[Any]) -> Any:
        master = self.cluster.target if self.cluster is not None else ""
        with self.graph.as_default():
            session = tf.compat.v1.train.SingularMonitoredSession(hooks=hooks, master=master)
        self._closables.append(session.raw_session())
        return session

    @contextlib.contextmanager
    def worker_session(self, hooks: Sequence[Any], index: int) -> Iterator[Any]:
        assert self.cluster is not None
        # A worker's own session to the cluster: the chief initialised the variables.
        creator = NoInitSessionCreator(self.cluster.target, self.graph)
        with (
            self.graph.as_default(),
            tf.compat.v1.train.MonitoredSession(session_creator=creator, hooks=hooks) as sess,
        ):
            yield sess

    def run_fetch(self, session: Any, fetch: Any, assigns: bool = False) -> None:
        if assigns and not session.should_stop():
            # Harness convention: the caller's assign takes effect before the hooks' reads.
            session.raw_session().run(fetch)
        session.run(fetch)

    def close_error(self, name: str | None) -> tuple[type[BaseException], BaseException] | None:
        return _close_error(name)

    def assign_after(self, session: Any, fetch: Any) -> None:
        session.raw_session().run(fetch)

    def init_locals(self, session: Any, variables: Sequence[Any]) -> None:
        if variables:  # a worker's MonitoredSession, whose tf.Session is not public
            session._tf_sess().run([var.initializer for var in variables])

    def is_closed(self, session: Any) -> bool:
        # TensorFlow's monitored session drops its session object when it closes.
        return session._sess is None

    def close_tf(self) -> None:
        """Release TensorFlow resources without calling any hook (after the clock's
        shutdown, so no simulated thread is inside a session call)."""
        for sess in self._closables:
            with contextlib.suppress(Exception):  # already closed, or by a failed step
                sess.close()
        if self.cluster is not None:
            tf.compat.v1.Session.reset(self.cluster.target)


class BarrierWorld(TFWorld, worlds.BarrierWorld):
    def setup(self) -> None:
        self.cluster = cluster({"ps": 1})
        super().setup()

    def chief_session(self) -> Any:
        assert self.cluster is not None
        with self.graph.as_default():
            init = [
                tf.compat.v1.global_variables_initializer(),
                tf.compat.v1.local_variables_initializer(),
            ]
        self.graph.finalize()
        session = tf.compat.v1.Session(self.cluster.target, graph=self.graph)
        self._closables.append(session)
        session.run(init)
        return session

    def waiter_session(self, index: int) -> Any:
        return self.session


class ControllerWorld(TFWorld, worlds.ControllerWorld):
    def setup(self) -> None:
        self.cluster = cluster({"ps": max(1, int(self.config.get("num_ps", 0)))})
        super().setup()


class _RunConfig:
    def __init__(self, model_dir: str, server_type: str, index: int) -> None:
        self.model_dir = model_dir
        self.server_type = server_type
        self.index = index


class FeatureDumpWorld(TFWorld, worlds.FeatureDumpWorld):
    def next_element(self, batches: list[list[dict[str, Any]]]) -> Any:
        iterator = tf.compat.v1.data.make_one_shot_iterator(dataset(batches, self.steps))
        return iterator.get_next()

    def train_op(self, next_element: Any) -> Any:
        return tf.group(tf.nest.flatten(next_element, expand_composites=True))


class SlotCountWorld(TFWorld, worlds.SlotCountWorld):
    def table_session(self, devices: list[str]) -> Any:
        jobs, cpus = placement(devices)
        if jobs:
            self.cluster = cluster(jobs, cpus)
            session = tf.compat.v1.Session(self.cluster.target, graph=self.graph)
        else:
            config = tf.compat.v1.ConfigProto(device_count={"CPU": cpus})
            session = tf.compat.v1.Session(graph=self.graph, config=config)
        self._closables.append(session)
        return session


class HookUtilsWorld(TFWorld, worlds.HookUtilsWorld):
    pass


WORLDS: dict[str, type[TFWorld]] = {
    "barrier": BarrierWorld,
    "controller": ControllerWorld,
    "feature_dump": FeatureDumpWorld,
    "hook_utils": HookUtilsWorld,
    "slot_count": SlotCountWorld,
}
