"""The cluster tier's judge: the hooks in a real multi-process TensorFlow cluster.

``python -m harness.cluster [--monolith DIR [--monolith-commit C]] [-k PATTERN]`` runs
every cluster scenario (``fixtures/cluster/<name>.json``) on the TF tier, and on the
original Monolith modules when a checkout is named. Modules, one concern each:

* :mod:`.scenario`: loading and validating cluster scenarios (schema + semantic checks);
* :mod:`.processes`: starting task processes, deadlines, ending every one of them;
* :mod:`.runner`: one scenario on one tier: the plan, the harness's steps, the outcome;
* :mod:`.judge`: what was observed against what the scenario expects (pure);
* :mod:`.cli`: the command, its report and exit status.

The task processes run :mod:`reference.cluster.task`; ``docs/cluster.md`` describes the
tier. Cluster scenarios are not part of the parity corpus (``harness.scenario.discover``
skips ``fixtures/cluster/``).
"""
