"""The program one task of a cluster scenario runs: ``python -m reference.cluster.task PLAN TASK``.

``TASK`` is ``ps``, ``chief`` or ``worker<i>`` (the chief is worker task 0). The task

1. asks the kernel to kill it when the runner dies (``PR_SET_PDEATHSIG``), so no task
   outlives its runner even if the runner is killed outright;
2. imports TensorFlow and the tier's hook modules (the TF tier, or the originals of a
   checkout), sets ``QUERY_INTERVAL`` as the plan says;
3. starts its ``tf.compat.v1.train.Server`` on its planned port (exit
   :data:`~reference.cluster.control.EXIT_BIND` when the port is taken: the runner then
   retries with new ports); the ps then serves until it is killed;
4. builds its graph and hooks (:mod:`reference.cluster.graph`); a worker then waits for
   its ``go`` file, which the runner creates once the chief's session is ready (or at a
   ``release`` step), so it never pays MonitoredTrainingSession's 30 s recovery wait;
5. creates its ``MonitoredTrainingSession`` (``is_chief`` for the chief; device filters
   keep each session to ps0 and the task itself) and trains: before each run it sleeps
   ``run_seconds`` (and makes no run while the runner holds it: ``hold`` file), and it
   leaves the loop when the session should stop, the dataset runs out, the runner asks
   (``end`` file), or ``max_runs`` / ``max_seconds`` is reached;
6. writes what it observed to ``<task>.result.json`` and exits with the status of
   :mod:`reference.cluster.control`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from typing import Any

from reference.cluster.control import (
    EXIT_BIND,
    EXIT_OK,
    EXIT_SESSION_ERROR,
    EXIT_SETUP,
    PS,
    Control,
    read_plan,
)

PR_SET_PDEATHSIG = 1
# How often a waiting worker looks for its go file, and the loop for its end file.
POLL_SECONDS = 0.02


def _die_with(parent: int) -> None:
    """SIGKILL when the runner (``parent``) exits; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(EXIT_SETUP)


def _server(plan: dict[str, Any], job: str, index: int) -> Any:
    import tensorflow as tf

    spec = tf.train.ClusterSpec(plan["cluster"])
    return tf.compat.v1.train.Server(spec, job_name=job, task_index=index, start=True)


def _bind_failed(error: BaseException) -> bool:
    return "Could not start gRPC server" in str(error)


def run_ps(plan: dict[str, Any], control: Control) -> int:
    try:
        server = _server(plan, "ps", 0)
    except Exception as e:
        if _bind_failed(e):
            control.event("bind_failed", error=str(e))
            return EXIT_BIND
        raise
    control.event("server")
    server.join()  # serves until the runner kills it
    return EXIT_OK


class Task:
    """A chief or worker: its session, its loop, what it observed."""

    def __init__(self, plan: dict[str, Any], name: str, control: Control) -> None:
        from reference.cluster import graph, tiers

        self.plan = plan
        self.spec = plan["tasks"][name]
        self.index = self.spec["index"]
        self.control = control
        self.tier = tiers.load(plan)
        self.tier.set_query_interval(plan["query_interval"])
        self.seen = graph.Observations(control)
        self.server: Any = None
        self.result: dict[str, Any] = {
            "task": name,
            "tier": self.tier.name,
            "session": False,
            "should_stop": None,
            "error": None,
            "error_message": None,
            "loop_end": None,
            "longest_run": 0.0,
        }
        self.built = graph.build(plan, self.spec, self.tier, self.seen)

    def wait_for_go(self) -> bool:
        """Whether the runner let this worker create its session (not: it asked the task
        to end first, or ``max_seconds`` ran out)."""
        deadline = time.monotonic() + self.spec["max_seconds"]
        while not self.control.signalled("go"):
            if self.control.signalled("end") or time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def session(self) -> Any:
        import tensorflow as tf

        config = tf.compat.v1.ConfigProto(
            device_filters=["/job:ps", f"/job:worker/task:{self.index}"]
        )
        return tf.compat.v1.train.MonitoredTrainingSession(
            master=self.server.target,
            is_chief=self.index == 0,
            hooks=self.built.hooks,
            chief_only_hooks=self.built.chief_only_hooks,
            config=config,
            save_checkpoint_secs=None,
            save_summaries_steps=None,
            save_summaries_secs=None,
            log_step_count_steps=None,
            max_wait_secs=self.spec["session_wait_seconds"],
        )

    def uninitialized(self) -> list[str] | None:
        """The global variables this task's session still sees uninitialised (what its
        ready check waits for), asked on a plain session; None if that fails too."""
        import tensorflow as tf

        try:
            config = tf.compat.v1.ConfigProto(
                device_filters=["/job:ps", f"/job:worker/task:{self.index}"],
                operation_timeout_in_ms=10_000,
            )
            with tf.compat.v1.Session(
                self.server.target, graph=self.built.graph, config=config
            ) as sess:
                return [n.decode() for n in sess.run(self.built.uninitialized)]
        except Exception:
            return None

    def loop(self, sess: Any) -> str:
        import tensorflow as tf

        spec, seen = self.spec, self.seen
        deadline = time.monotonic() + spec["max_seconds"]
        held = False
        while True:
            self.result["should_stop"] = bool(sess.should_stop())
            if self.result["should_stop"]:
                return "should_stop"
            if self.control.signalled("end"):
                return "end"
            if seen.runs >= spec["max_runs"]:
                return "max_runs"
            if time.monotonic() > deadline:
                return "max_seconds"
            if self.control.held(seen.runs):  # the runner holds the loop between runs
                if not held:
                    self.control.event("held", runs=seen.runs)
                held = True
                time.sleep(POLL_SECONDS)
                continue
            held = False
            time.sleep(spec["run_seconds"])
            started = time.monotonic()
            try:
                sess.run(self.built.train_op)
            except tf.errors.OutOfRangeError:
                return "out_of_range"  # the with block then ends normally: end is called
            seen.runs += 1
            self.result["longest_run"] = max(self.result["longest_run"], time.monotonic() - started)

    def run(self) -> int:
        try:
            self.server = _server(self.plan, "worker", self.index)
        except Exception as e:
            if _bind_failed(e):
                self.control.event("bind_failed", error=str(e))
                return EXIT_BIND
            raise
        self.control.event("server")
        if self.index > 0 and not self.wait_for_go():
            self.result["loop_end"] = "never released"
            return EXIT_OK
        status = EXIT_OK
        # The whole session in the task's graph, as an estimator runs it: hooks that build
        # or save at run time (the checkpoint saver) must not see eager mode.
        try:
            with self.built.graph.as_default():
                sess = self.session()
                self.result["session"] = True
                self.control.event("session")
                with sess:
                    self.result["loop_end"] = self.loop(sess)
        except Exception as e:
            if not self.result["session"]:
                self.result["uninitialized"] = self.uninitialized()
            self.result["error"] = type(e).__name__
            self.result["error_message"] = str(e)[:500]
            self.control.event("error", error=type(e).__name__, message=str(e)[:500])
            logging.getLogger(__name__).error(traceback.format_exc())
            status = EXIT_SESSION_ERROR
        self.control.event("closed", status=status)
        return status

    def finish(self, status: int) -> None:
        seen = self.seen
        runs_after_wait = None if seen.last_wait_run is None else seen.runs - seen.last_wait_run
        self.result.update(
            exit=status,
            runs=seen.runs,
            callbacks=seen.callbacks,
            trigger_saves=seen.trigger_saves,
            saves=seen.saves,
            runs_after_wait=runs_after_wait,
            longest_run=round(self.result["longest_run"], 3),
        )
        self.control.write_result(self.result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference.cluster.task")
    parser.add_argument("plan", help="the run's plan.json")
    parser.add_argument("task", help="ps, chief or worker<i>")
    parser.add_argument("--token", default="", help="a mark for finding the process (ignored)")
    args = parser.parse_args(argv)
    try:
        plan = read_plan(args.plan)
        _die_with(int(plan["runner_pid"]))
        control = Control(plan["control_dir"], args.task)
    except Exception:
        traceback.print_exc()
        return EXIT_SETUP
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        control.event("started", pid=os.getpid())
        if args.task == PS:
            return run_ps(plan, control)
        task = Task(plan, args.task, control)
        status = task.run()
        task.finish(status)
        return status
    except Exception as e:
        # Whatever went wrong outside the session (the session's own errors are the
        # task's result, see Task.run): a set-up failure, reported, never a hang.
        traceback.print_exc()
        with contextlib.suppress(Exception):
            control.event("setup_error", error=f"{type(e).__name__}: {e}"[:500])
        return EXIT_SETUP


if __name__ == "__main__":
    try:
        code = main()
    except SystemExit as e:  # argparse: bad usage
        code = e.code if isinstance(e.code, int) else EXIT_SETUP
    except BaseException:  # e.g. a stray SIGINT's KeyboardInterrupt
        traceback.print_exc()
        code = EXIT_SETUP
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    # Skip interpreter teardown: TensorFlow's servers and threads can hang it.
    os._exit(code)
