"""The hooks in a real multi-process TensorFlow cluster on loopback (the cluster tier).

Every task of a cluster scenario (``fixtures/cluster/<name>.json``) is its own OS process
running :mod:`reference.cluster.task`: the parameter server, the chief, each worker, each
with its own graph and ``tf.compat.v1.train.Server``. The harness side
(:mod:`harness.cluster`) starts and supervises them, talks to them through files in a
control directory (:mod:`reference.cluster.control`) and judges what they observed.

:mod:`reference.cluster.control` is plain Python (the runner imports it); the task program
and :mod:`reference.cluster.tiers` need TensorFlow (the ``tf`` extra). ``docs/cluster.md``
describes the tier.
"""
