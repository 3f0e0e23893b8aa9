"""The golden corpus: where each scenario's expected output lives, its manifest, and
atomic regeneration from the reference.

``golden/<scenario id>/`` holds ``files/``, ``listing.txt`` and ``trace.jsonl``;
``golden/MANIFEST.json`` maps every golden file to its sha256, so a hand edit is caught.
Goldens are only ever written by :func:`regenerate`, which builds the whole new corpus in
a sibling directory and swaps it in, so a failed regeneration changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters.base import Implementation
from harness.compare import files_under
from harness.driver import run_scenario
from harness.paths import GOLDEN_DIR
from harness.scenario import Scenario

MANIFEST = "MANIFEST.json"
# Not a golden output: the original tier's verdict on them (harness.certificate). The
# manifest leaves it out, and regeneration carries it over (its digests then tell which
# scenarios need certifying again).
CERTIFICATE = "CERTIFICATE.json"


class GoldenError(RuntimeError):
    """The golden corpus is inconsistent, or regeneration could not complete."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(root: Path) -> dict[str, str]:
    return {
        rel: sha256(p) for rel, p in files_under(root).items() if rel not in (MANIFEST, CERTIFICATE)
    }


def render_manifest(entries: dict[str, str]) -> bytes:
    body = {"format": 1, "files": dict(sorted(entries.items()))}
    return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode("ascii")


def read_manifest(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise GoldenError(f"{path}: missing; run the regeneration (nox -s regen)") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GoldenError(f"{path}: not valid JSON: {e}") from e
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or data.get("format") != 1:
        raise GoldenError(f"{path}: expected {{'format': 1, 'files': {{path: sha256}}}}")
    for rel, digest in files.items():
        if not isinstance(digest, str) or len(digest) != 64:
            raise GoldenError(f"{path}: files[{rel!r}]: not a sha256 hex digest: {digest!r}")
    return files


def verify_manifest(root: Path = GOLDEN_DIR) -> list[str]:
    """Every way the golden files disagree with the manifest (empty when consistent)."""
    recorded = read_manifest(root)
    actual = build_manifest(root)
    problems = []
    for rel in sorted(set(recorded) | set(actual)):
        if rel not in actual:
            problems.append(f"{rel}: in the manifest but missing")
        elif rel not in recorded:
            problems.append(f"{rel}: not in the manifest (added by hand?)")
        elif recorded[rel] != actual[rel]:
            problems.append(f"{rel}: sha256 differs from the manifest (edited by hand?)")
    return problems


def stale_dirs(scenarios: Sequence[Scenario], root: Path = GOLDEN_DIR) -> list[str]:
    """Golden scenario directories with no scenario (left behind by a removed fixture)."""
    ids = {s.id for s in scenarios}
    found = {
        p.parent.as_posix() for p in (Path(r) for r in files_under(root)) if p.name == "trace.jsonl"
    }
    return sorted(found - ids)


@dataclass
class RegenReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"added   {p}" for p in self.added]
        out += [f"changed {p}" for p in self.changed]
        out += [f"removed {p}" for p in self.removed]
        summary = (
            f"golden: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed"
        )
        return [*out, summary]


def regenerate(
    scenarios: Sequence[Scenario],
    impl: Implementation,
    root: Path = GOLDEN_DIR,
    progress: Callable[[str], None] = lambda _: None,
) -> RegenReport:
    """Rebuild the whole corpus from ``impl`` and swap it in atomically."""
    root = root.resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".golden-regen-", dir=root.parent))
    try:
        for scenario in scenarios:
            progress(scenario.id)
            output = run_scenario(scenario, impl, staging / scenario.id)
            if output.failure:
                raise GoldenError(
                    f"{scenario.id}: the reference could not run it: {output.failure}"
                )
        (staging / MANIFEST).write_bytes(render_manifest(build_manifest(staging)))
        if (root / CERTIFICATE).is_file():
            shutil.copy2(root / CERTIFICATE, staging / CERTIFICATE)
        report = _changes(root, staging)
        _swap(root, staging)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return report


def _changes(old_root: Path, new_root: Path) -> RegenReport:
    old, new = files_under(old_root), files_under(new_root)
    report = RegenReport()
    for rel in sorted(set(old) | set(new)):
        if rel not in old:
            report.added.append(rel)
        elif rel not in new:
            report.removed.append(rel)
        elif old[rel].read_bytes() != new[rel].read_bytes():
            report.changed.append(rel)
    return report


def _swap(root: Path, staging: Path) -> None:
    """Replace ``root`` by ``staging`` with two renames (the old tree is kept until done)."""
    retired = root.with_name(f".golden-old-{os.getpid()}")
    if root.exists():
        os.rename(root, retired)
    try:
        os.rename(staging, root)
    except OSError:
        if retired.exists():
            os.rename(retired, root)
        raise
    if retired.exists():
        shutil.rmtree(retired)
