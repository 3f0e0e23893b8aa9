"""The certificate: which goldens the ORIGINAL Monolith hooks were run against, and agreed.

``python -m harness certify --monolith DIR`` runs the corpus through the original tier
(:mod:`reference.original`) and writes ``golden/CERTIFICATE.json``: the upstream commit
and the sha256 of each original module used, the TensorFlow, protobuf and Python
versions, and per scenario its status (``agreed``, ``not_applicable`` with the tier's
reason, or ``disagreed`` with the explanation), keyed to a digest of the scenario file and
its golden files. ``python -m harness verify`` (and so CI, through
``tests/test_certificate.py``) then fails when a golden or scenario changed since it was
certified, or when a scenario is neither agreed nor not applicable with a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare import files_under
from harness.golden import CERTIFICATE
from harness.json_input import JsonInputError, read_json
from harness.runner import NOT_APPLICABLE, PASSED, ScenarioResult
from harness.scenario import Scenario

FORMAT = 1
AGREED, NOT_APPLICABLE_STATUS, DISAGREED = "agreed", "not_applicable", "disagreed"
# The certificate is read by harness.json_input.read_json, at most this big.
MAX_FILE_BYTES = 16 << 20


class CertificateError(RuntimeError):
    """The certificate is missing or malformed (the message names the file and field)."""


class CertificateMissing(CertificateError):
    """There is no certificate: the corpus is uncertified (``verify`` lists it as a
    problem; a certificate that is there but unreadable is bad input, exit status 2)."""


def digest(scenario: Scenario, golden_root: Path) -> str:
    """sha256 over the scenario file and every golden file of the scenario."""
    h = hashlib.sha256()
    h.update(b"scenario\0" + hashlib.sha256(Path(scenario.path).read_bytes()).digest())
    root = golden_root / scenario.id
    for rel, path in sorted(files_under(root).items()) if root.is_dir() else []:
        h.update(b"golden\0" + rel.encode("utf-8") + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _entry(result: ScenarioResult, runs: list[ScenarioResult]) -> dict[str, Any]:
    statuses = {r.status for r in runs}
    if statuses == {PASSED}:
        return {"status": AGREED}
    if statuses == {NOT_APPLICABLE} and result.reason:
        return {"status": NOT_APPLICABLE_STATUS, "reason": result.reason}
    bad = next((r for r in runs if r.status not in (PASSED, NOT_APPLICABLE)), result)
    return {"status": DISAGREED, "explanation": bad.explanation()[:4000]}


def build(
    scenarios: Sequence[Scenario],
    runs: Sequence[Sequence[ScenarioResult]],
    golden_root: Path,
    upstream: dict[str, Any],
) -> dict[str, Any]:
    """The certificate for ``runs`` (one result list per repetition, in scenario order)."""
    import google.protobuf

    environment = {"python": platform.python_version(), "protobuf": google.protobuf.__version__}
    try:
        import tensorflow as tf

        environment["tensorflow"] = tf.__version__
    except ImportError:  # pragma: no cover - the original tier needs TensorFlow
        pass
    entries: dict[str, Any] = {}
    for i, scenario in enumerate(scenarios):
        per_run = [results[i] for results in runs]
        entry = _entry(per_run[0], per_run)
        entries[scenario.id] = {
            "digest": digest(scenario, golden_root),
            "runs": len(per_run),
            **entry,
        }
    counts: dict[str, int] = {}
    for entry in entries.values():
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    return {
        "format": FORMAT,
        "upstream": upstream,
        "environment": environment,
        "summary": dict(sorted(counts.items())),
        "scenarios": dict(sorted(entries.items())),
    }


def render(certificate: dict[str, Any]) -> bytes:
    return (json.dumps(certificate, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()


def write(certificate: dict[str, Any], golden_root: Path) -> Path:
    """Write ``golden/CERTIFICATE.json`` atomically (a temporary file, then one rename)."""
    target = golden_root / CERTIFICATE
    fd, tmp = tempfile.mkstemp(prefix=".certificate-", dir=golden_root)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(render(certificate))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read(golden_root: Path) -> dict[str, Any]:
    path = golden_root / CERTIFICATE
    try:
        data = read_json(path, "the certificate", MAX_FILE_BYTES)
    except JsonInputError as e:
        if isinstance(e.__cause__, FileNotFoundError):
            raise CertificateMissing(
                f"{e.path}: missing; run python -m harness certify --monolith DIR"
            ) from e
        raise CertificateError(str(e)) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CertificateError(f"{path}: format: expected {FORMAT}")
    if not isinstance(data.get("scenarios"), dict):
        raise CertificateError(f"{path}: scenarios: expected an object")
    return data


@dataclass
class Check:
    """How the corpus stands against the certificate."""

    certified: list[str] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)
    uncertified: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.uncertified

    def summary(self) -> str:
        return (
            f"{len(self.certified)} certified, {len(self.not_applicable)} not applicable, "
            f"{len(self.uncertified)} uncertified"
        )

    def lines(self) -> list[str]:
        return [f"{sid}: uncertified: {why}" for sid, why in self.uncertified]


def check(scenarios: Sequence[Scenario], golden_root: Path) -> Check:
    """Every scenario against ``golden/CERTIFICATE.json`` (raises if it cannot be read)."""
    entries = read(golden_root)["scenarios"]
    result = Check()
    for scenario in scenarios:
        entry = entries.get(scenario.id)
        if not isinstance(entry, dict):
            result.uncertified.append((scenario.id, "not in the certificate"))
        elif entry.get("digest") != digest(scenario, golden_root):
            result.uncertified.append(
                (scenario.id, "the scenario or its golden changed since it was certified")
            )
        elif entry.get("status") == AGREED:
            result.certified.append(scenario.id)
        elif entry.get("status") == NOT_APPLICABLE_STATUS and entry.get("reason"):
            result.not_applicable.append((scenario.id, str(entry["reason"])))
        else:
            why = entry.get("explanation") or f"status {entry.get('status')!r}"
            result.uncertified.append((scenario.id, f"the original disagreed: {why}"))
    return result
