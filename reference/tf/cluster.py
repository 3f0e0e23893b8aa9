"""In-process TensorFlow clusters for the TF tier's worlds.

Sessions of one scenario (the chief's, each worker's) are separate ``tf.Session``\\ s of
one graph, connected to an in-process cluster (one worker task, plus the ps tasks and
jobs the scenario's devices need), so they share variables as real workers share
variables on a server, and closing one leaves the others usable. Servers cannot be
stopped, so one cluster per shape lives as long as the process; a world resets its state
with ``Session.reset`` when it is done.
"""

from __future__ import annotations

import socket
from typing import Any

import tensorflow as tf

from reference.testee.world import NotApplicable


class Cluster:
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


_CLUSTERS: dict[tuple[Any, ...], Cluster] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def cluster(jobs: dict[str, int], cpus: int = 1) -> Cluster:
    """A cached in-process cluster with (at least) these tasks; servers cannot be stopped,
    so one per shape lives as long as the process. Reset its state with ``Session.reset``."""
    jobs = {"worker": 1, **jobs}
    key = (tuple(sorted(jobs.items())), cpus)
    if key not in _CLUSTERS:
        _CLUSTERS[key] = Cluster(dict(sorted(jobs.items())), cpus)
    return _CLUSTERS[key]


class NoInitSessionCreator(tf.compat.v1.train.SessionCreator):
    """A worker's own session to the cluster; the chief already initialised the variables."""

    def __init__(self, target: str, graph: tf.Graph) -> None:
        self._target = target
        self._graph = graph

    def create_session(self) -> tf.compat.v1.Session:
        return tf.compat.v1.Session(self._target, graph=self._graph)


def placement(devices: list[str]) -> tuple[dict[str, int], int]:
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
