"""The installed harness's version (``monolith-parity --version``, the reports)."""

from __future__ import annotations


def version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        return installed("monolith-hook-parity")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout on sys.path
        return "unknown (not installed)"
