"""The ``original`` tier: the scenario corpus run with the ORIGINAL Monolith hook modules.

The modules ``hooks/ckpt_info.py``, ``hooks/controller_hooks.py``,
``hooks/feature_engineering_hooks.py``, ``hooks/hook_utils.py``, ``barrier_ops.py`` and
the pure-TensorFlow ``hash_table_utils.py`` are imported, unchanged, from a Monolith
checkout the user names (:mod:`.checkout`); nothing of them is copied into this project.
They run on TensorFlow 2.21 through the TF tier's scenario worlds
(:mod:`reference.tf.executor`), with this tier's :class:`~.hookset.OriginalHookSet` in
place of the TF tier's hooks. What the originals need and cannot have here is replaced by
documented stand-ins (:mod:`.standins`): Monolith's custom C++ hash tables and their
``MonolithExtractSlotFromEntry`` op, ``multi_hash_table_ops``, ``basic_restore_hook``,
``utils.ps_device``, ``tf.estimator`` (gone from TensorFlow 2.21) and the ``_pb2``
modules (generated from this project's own ``.proto`` files). Time is the scenario's
virtual clock (:mod:`.virtual_time`), so 60 s polls and 30 s barrier waits cost no real
time and interleave as in every other tier.

Needs the ``tf`` extra. ``docs/original.md`` describes the tier and the certificate it
produces (``python -m harness certify --monolith DIR``).
"""
