"""The testee protocol's one definition: ``messages.schema.json`` and its codec.

A leaf package: it imports nothing from ``harness`` or ``reference``, so both (and a port's
own Python tooling) can use it. See ``docs/protocol.md``.
"""
