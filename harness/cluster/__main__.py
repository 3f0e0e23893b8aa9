"""``python -m harness.cluster``."""

import sys

from harness.cluster.cli import main

sys.exit(main())
