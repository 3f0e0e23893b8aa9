"""The reference as a testee: executes scenario steps against the reference hooks.

:mod:`reference.testee.executor` is what the in-process adapter calls directly;
``python -m reference.testee`` serves the same executor over the harness protocol.
"""
