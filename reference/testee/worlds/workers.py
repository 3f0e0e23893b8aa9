"""Simulated non-chief workers: each runs its own hooked session on its own thread.

Every worker has its own ``BarrierOp`` object (own lock and callbacks) over the chief's
barrier variables, its ``BarrierHook`` and, with ``stop_helper``, a ``StopHelper``'s
callback and stop hook. The hooks are built at set-up (a tier on TensorFlow must build
everything before the graph is finalized); an error building them is raised on the
worker's thread, where the original would raise it.

A worker's session starts ``start_seconds`` after its thread does (at once by default),
and, as a real task's monitored session runs its local init op, it re-initialises the
worker's local variables then: the barrier's action, which lives on the parameter server
and is shared, so a worker that starts while the barrier is placed finds the action
empty (and loses a ``Stop``).
"""

from __future__ import annotations

from typing import Any

from reference.testee.world import BarrierRecorder, World


class Workers:
    """The workers of ``specs`` (``index``, ``runs``, ``run_seconds``, ``start_seconds``,
    ``controller``) in ``world``."""

    def __init__(self, world: World, specs: list[dict[str, Any]], barrier: dict[str, Any]):
        self._world = world
        self._specs = specs
        self._threads: list[Any] = []
        self._built: dict[int, list[Any] | Exception] = {}
        self._locals: dict[int, list[Any]] = {}
        # The BarrierOps of workers with their own ControllerHook (they race to place).
        self.racing_ops: list[Any] = []
        self._fetch = world.constant("worker_dummy")
        stop_helper = bool(world.config.get("stop_helper", False))
        for spec in specs:
            index = int(spec["index"])
            try:
                self._built[index] = self._build(
                    index, barrier, stop_helper, bool(spec.get("controller", False))
                )
            except Exception as e:
                self._built[index] = e

    def _build(
        self, index: int, barrier: dict[str, Any], stop_helper: bool, controller: bool
    ) -> list[Any]:
        made = self._world.hooks
        helper = made.stop_helper() if stop_helper else None
        callbacks: list[Any] = [BarrierRecorder(self._world.emit, index)]
        if helper is not None:
            callbacks.append(helper.create_barrier_callback())
        with self._world.sharing_barrier():
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
        self._locals[index] = [op._action]  # the worker's local variables (shared here)
        if controller:
            # Its own ControllerHook over the chief's stop flags (shared on the ps), last
            # among its hooks; it places the barrier with the worker's own BarrierOp.
            with self._world.sharing_barrier():
                hook = made.controller_hook(int(self._world.config.get("num_ps", 0)), op, None)
            hooks.append(hook)
            self._locals[index].append(hook._control_var)
            self.racing_ops.append(op)
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
        world = self._world
        start = float(spec.get("start_seconds", 0))
        if start > 0:
            world.clock.sleep(start)
        with world.worker_session(hooks, index) as sess:
            world.init_locals(sess, self._locals.get(index, []))
            for _ in range(int(spec.get("runs", 1))):
                if sess.should_stop():
                    break
                world.clock.sleep(float(spec.get("run_seconds", 1)))
                sess.run(self._fetch)
                world.emit({"event": "run", "worker": index, "should_stop": sess.should_stop()})
        world.emit({"event": "worker_done", "worker": index})


class PlaceRace:
    """``place_race: together``: every racing ControllerHook's first check of the barrier
    (``is_barrier_placed``, inside ``place_barrier``) happens before any of them sets it,
    so each finds it not placed and places it. Each racer's first check waits until all
    racers have checked; later checks are ordinary."""

    def __init__(self, clock: Any, ops: list[Any]) -> None:
        self._left = len(ops)
        self._all_checked = clock.event()
        for op in ops:
            self._wrap(op)

    def _wrap(self, op: Any) -> None:
        check = op.is_barrier_placed
        first = [True]

        def racing(session: Any) -> Any:
            placed = check(session)
            if first[0]:
                first[0] = False
                self._left -= 1
                if self._left <= 0:
                    self._all_checked.set()
                else:
                    self._all_checked.wait()
            return placed

        op.is_barrier_placed = racing
