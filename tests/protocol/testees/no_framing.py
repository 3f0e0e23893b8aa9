"""A deliberately wrong testee: the reference, but feature files lose their record framing.

Each record of a ``features/*.pb`` file should be a 16-byte header (uint64 lagrange header
0, uint64 length) followed by the serialized ``ExampleBatch``; this testee writes the bare
payloads. Every other behaviour is the reference's, so exactly the ``feature_dump``
scenarios that write a feature file differ.
"""

from __future__ import annotations

import sys

import reference.feature_engineering_hooks as feature_engineering_hooks
from reference.testee.__main__ import main


def frame_without_header(serialized: bytes) -> bytes:
    return serialized


if __name__ == "__main__":
    feature_engineering_hooks.frame = frame_without_header
    sys.exit(main())
