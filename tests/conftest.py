"""Test configuration: the parity plugin and hypothesis profiles."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["harness.pytest_plugin"]

settings.register_profile("dev", max_examples=100)
settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
