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


#: The upstream the goldens certify, named once here (and in docs/original.md, which a
#: test keeps in agreement): ``verify`` fails on a certificate that claims anything else.
PINNED_UPSTREAM: dict[str, Any] = {
    "repository": "bytedance/monolith",
    "commit": "135c491a52b151772b976af989d8bc938c44d210",
    "modules": {
        "monolith/native_training/barrier_ops.py": (
            "41c07b5597dafce00262249c81c02974b4a6689ef3220d3439b703d26b2b6fbe"
        ),
        "monolith/native_training/hash_table_utils.py": (
            "82f61a18506f9f9d9b491bc5c8b71ca8790d54e144a19b4e530ac8de026e062a"
        ),
        "monolith/native_training/hooks/ckpt_info.py": (
            "878261076318a52e868a08290a13efd8c7d724a7d675828413fa36d90119d1e6"
        ),
        "monolith/native_training/hooks/controller_hooks.py": (
            "16683d041d29ed8707a615ba47653db50240dbed586c2c6c8baeaaeea9a153b0"
        ),
        "monolith/native_training/hooks/feature_engineering_hooks.py": (
            "91345dc783eb674703b5ca6982d2621e9ab6038dc8faea918de212ead16fc130"
        ),
        "monolith/native_training/hooks/hook_utils.py": (
            "f835031bc25cb193089e2fd93ccd00ffceedd0fe78addf35d7da7785a941b035"
        ),
    },
}


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
        outcomes = [name for name, _ in scenario.alternatives()]
        if outcomes:  # each legal outcome was forced and judged on its own
            entries[scenario.id]["outcomes"] = outcomes
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
    # Certified scenarios that accept alternative outcomes (an order left open).
    with_alternatives: list[str] = field(default_factory=list)
    not_applicable: list[tuple[str, str]] = field(default_factory=list)
    uncertified: list[tuple[str, str]] = field(default_factory=list)
    # Why the certificate as a whole certifies nothing (another upstream than the pinned).
    unpinned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.uncertified and not self.unpinned

    def summary(self) -> str:
        alternatives = (
            f" ({len(self.with_alternatives)} accepting alternative outcomes, each certified)"
            if self.with_alternatives
            else ""
        )
        return (
            f"{len(self.certified)} certified{alternatives}, {len(self.not_applicable)} not "
            f"applicable, {len(self.uncertified)} uncertified"
        )

    def lines(self) -> list[str]:
        return self.unpinned + [f"{sid}: uncertified: {why}" for sid, why in self.uncertified]


def unpinned(upstream: Any) -> list[str]:
    """How a certificate's ``upstream`` differs from :data:`PINNED_UPSTREAM` (one line
    each; empty when it is the pinned one)."""
    if not isinstance(upstream, dict):
        return [f"certificate: upstream must be an object, got {upstream!r:.80}"]
    problems = []
    for key in ("repository", "commit"):
        if upstream.get(key) != PINNED_UPSTREAM[key]:
            problems.append(
                f"certificate: upstream {key} is {upstream.get(key)!r:.80}; the goldens "
                f"certify {PINNED_UPSTREAM[key]!r} (harness.certificate.PINNED_UPSTREAM)"
            )
    modules = upstream.get("modules")
    pinned = PINNED_UPSTREAM["modules"]
    if not isinstance(modules, dict):
        return [*problems, "certificate: upstream modules must name each module's sha256"]
    for path in sorted(set(pinned) | set(modules)):
        if modules.get(path) != pinned.get(path):
            got = modules.get(path)
            want = pinned.get(path)
            problems.append(
                f"certificate: upstream module {path}: sha256 {got!r:.80}, pinned {want!r}"
            )
    return problems


def check(scenarios: Sequence[Scenario], golden_root: Path) -> Check:
    """Every scenario against ``golden/CERTIFICATE.json`` (raises if it cannot be read),
    which must name the pinned upstream (:data:`PINNED_UPSTREAM`)."""
    data = read(golden_root)
    entries = data["scenarios"]
    result = Check(unpinned=unpinned(data.get("upstream")))
    for scenario in scenarios:
        entry = entries.get(scenario.id)
        if not isinstance(entry, dict):
            result.uncertified.append((scenario.id, "not in the certificate"))
        elif entry.get("digest") != digest(scenario, golden_root):
            result.uncertified.append(
                (scenario.id, "the scenario or its golden changed since it was certified")
            )
        elif entry.get("status") == AGREED:
            outcomes = [name for name, _ in scenario.alternatives()]
            if outcomes and entry.get("outcomes") != outcomes:
                result.uncertified.append(
                    (scenario.id, "its legal outcomes were not each certified")
                )
                continue
            result.certified.append(scenario.id)
            if outcomes:
                result.with_alternatives.append(scenario.id)
        elif entry.get("status") == NOT_APPLICABLE_STATUS and entry.get("reason"):
            result.not_applicable.append((scenario.id, str(entry["reason"])))
        else:
            why = entry.get("explanation") or f"status {entry.get('status')!r}"
            result.uncertified.append((scenario.id, f"the original disagreed: {why}"))
    return result
