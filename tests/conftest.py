"""Test configuration: the parity plugin, hypothesis profiles, the sandbox fixture."""

import os

import pytest
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


# The sandboxes every confinement probe (and the subprocess corpus) runs in: unconfined
# (watched, supervised) and under bubblewrap. Where bwrap does not work the bwrap case is
# skipped, saying why, unless MONOLITH_PARITY_REQUIRE_BWRAP is set (CI sets it after
# installing bubblewrap): then it fails, so a CI that lost its sandbox cannot pass as one
# that has it.
SANDBOXES = ("none", "bwrap")


@pytest.fixture(params=SANDBOXES)
def sandbox(request: pytest.FixtureRequest) -> str:
    """``none`` or ``bwrap``: the sandbox a probe's testee runs in."""
    if request.param == "bwrap":
        from harness.adapters import confine

        why = confine.probe()
        if why is not None:
            if os.environ.get("MONOLITH_PARITY_REQUIRE_BWRAP"):
                pytest.fail(f"MONOLITH_PARITY_REQUIRE_BWRAP is set but {why}")
            pytest.skip(why)
    return str(request.param)
