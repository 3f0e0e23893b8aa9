"""The golden corpus: where each scenario's expected output lives, its manifest, and
atomic regeneration from the reference.

``golden/<scenario id>/`` holds ``files/``, ``listing.txt`` and ``trace.jsonl``;
``golden/MANIFEST.json`` maps every golden file to its sha256, so a hand edit is caught
(:func:`verify_manifest`; :func:`check_corpus` raises on it, and the run path calls it
before judging, so a corrupted golden is reported as such, not blamed on the
implementation).

Goldens are only ever written by :func:`regenerate`, which

* refuses when ``golden/`` has changes regeneration would lose (uncommitted or untracked
  files in a git checkout, ``git status``; a disagreement with the manifest elsewhere),
  unless forced;
* builds the whole new corpus in a sibling ``.golden-regen-<pid>-*`` directory;
* swaps it in with one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux), so a kill at any
  instant leaves either the old or the new corpus whole at ``golden/``, then removes the
  old tree (now at the sibling name). Where the exchange is not available it falls back
  to two renames through ``.golden-old-<pid>``; a kill between them leaves no
  ``golden/``, and the next regeneration renames the old corpus back first;
* removes what an interrupted earlier regeneration left (siblings whose process is gone).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.adapters.base import Implementation
from harness.driver import run_scenario
from harness.json_input import JsonInputError, read_json
from harness.paths import GOLDEN_DIR
from harness.safe_fs import files_under
from harness.scenario import Scenario

MANIFEST = "MANIFEST.json"
# The manifest is read by harness.json_input.read_json, at most this big (the corpus's is
# tens of kilobytes).
MAX_MANIFEST_BYTES = 16 << 20
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
        data = read_json(path, "the golden manifest", MAX_MANIFEST_BYTES)
    except JsonInputError as e:
        cause = e.__cause__
        if isinstance(cause, FileNotFoundError):
            raise GoldenError(f"{e.path}: missing; run the regeneration (nox -s regen)") from e
        if isinstance(cause, (json.JSONDecodeError, UnicodeDecodeError)):
            # The manifest's wording for these predates read_json (and tests pin it).
            raise GoldenError(f"{e.path}: not valid JSON: {cause}") from e
        raise GoldenError(str(e)) from e
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


def golden_dirs(scenario: Scenario, root: Path = GOLDEN_DIR) -> list[tuple[str, Path]]:
    """Where a scenario's goldens are: ``[("", root/<id>)]``, or, for a scenario whose
    order is left open (:meth:`Scenario.alternatives`), one ``(name, root/<id>/<name>)``
    per legal outcome."""
    if scenario.golden:  # a port's own scenario keeps its goldens beside it
        root = Path(scenario.golden)
    alternatives = scenario.alternatives()
    if not alternatives:
        return [("", root / scenario.id)]
    return [(name, root / scenario.id / name) for name, _ in alternatives]


def stale_dirs(scenarios: Sequence[Scenario], root: Path = GOLDEN_DIR) -> list[str]:
    """Golden output directories no scenario expects (left behind by a removed fixture,
    or an outcome a scenario no longer has)."""
    expected = {
        path.relative_to(root).as_posix() for s in scenarios for _, path in golden_dirs(s, root)
    }
    found = {
        p.parent.as_posix() for p in (Path(r) for r in files_under(root)) if p.name == "trace.jsonl"
    }
    return sorted(found - expected)


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


def check_corpus(root: Path = GOLDEN_DIR) -> None:
    """Raise :class:`GoldenError` listing every way ``root`` disagrees with its manifest
    (hashes about 3.5 MB; call it once before judging a run)."""
    problems = verify_manifest(root)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise GoldenError(
            f"{root}: the golden corpus is corrupt (it disagrees with {MANIFEST}), so "
            f"nothing can be judged against it:\n  {shown}{more}\n"
            "restore it from version control, or regenerate it (nox -s regen)"
        )


def uncommitted_changes(root: Path) -> list[str]:
    """What regeneration would lose in ``root``: ``git status`` lines for uncommitted,
    untracked or ignored files when ``root`` is in a git checkout, else every disagreement
    with the manifest. Empty when ``root`` does not exist."""
    if not root.is_dir() or not files_under(root):
        return []  # nothing there to lose
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        inside = None
    if inside is not None and inside.returncode == 0 and inside.stdout.strip() == "true":
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain=v1", "--untracked-files=all",
             "--ignored=matching", "--", "."],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        if status.returncode != 0:
            raise GoldenError(f"{root}: git status failed: {status.stderr.strip()}")
        return [f"git: {line}" for line in status.stdout.splitlines() if line.strip()]
    try:
        return verify_manifest(root)
    except GoldenError as e:
        return [str(e)]


def _leftover_pattern(root: Path) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(root.name)}-(regen|old)-(\d+)(-.*)?")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(root: Path) -> list[str]:
    """Restore or remove what an interrupted regeneration left next to ``root``.

    With ``root`` missing and a ``.<root>-old-<pid>`` tree present (a kill between the
    fallback's two renames), that tree is the last whole corpus: it is renamed back.
    Staging and retired trees of processes no longer running are then removed. Returns
    what was done, one line each."""
    done: list[str] = []
    if not root.parent.is_dir():
        return done
    pattern = _leftover_pattern(root)
    found = []
    for entry in root.parent.iterdir():
        m = pattern.fullmatch(entry.name)
        if m and not entry.is_symlink() and entry.is_dir() and not _alive(int(m.group(2))):
            found.append((m.group(1), entry))
    if not root.exists():
        old = sorted((e for kind, e in found if kind == "old"), key=lambda e: e.stat().st_mtime)
        if old:
            os.rename(old[-1], root)
            done.append(f"restored {root.name}/ from {old[-1].name} (interrupted regeneration)")
            found = [(k, e) for k, e in found if e != old[-1]]
    for _, entry in found:
        shutil.rmtree(entry)
        done.append(f"removed {entry.name} (left by an interrupted regeneration)")
    return done


def regenerate(
    scenarios: Sequence[Scenario],
    impl: Implementation,
    root: Path = GOLDEN_DIR,
    progress: Callable[[str], None] = lambda _: None,
    force: bool = False,
) -> RegenReport:
    """Rebuild the whole corpus from ``impl`` and swap it in atomically.

    Refuses (:class:`GoldenError`) when ``root`` has changes it would lose (see
    :func:`uncommitted_changes`), unless ``force``."""
    root = root.resolve()
    root.parent.mkdir(parents=True, exist_ok=True)
    cleaned = clean_leftovers(root)
    for line in cleaned:
        progress(line)
    if not force:
        changes = uncommitted_changes(root)
        if changes:
            shown = "\n  ".join(changes)
            raise GoldenError(
                f"{root}: has changes regeneration would overwrite or delete:\n  {shown}\n"
                "commit or remove them first, or pass --force to discard them"
            )
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-regen-{os.getpid()}-", dir=root.parent))
    try:
        for scenario in scenarios:
            progress(scenario.id)
            # one output per legal outcome, each forced (or the one, directly)
            variants = scenario.alternatives() or [("", scenario)]
            for name, variant in variants:
                output = run_scenario(variant, impl, staging / scenario.id / name)
                if output.failure:
                    raise GoldenError(
                        f"{scenario.id}{f' ({name})' if name else ''}: the reference could "
                        f"not run it: {output.failure}"
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


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False when the system or file system cannot, leaving both."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _swap(root: Path, staging: Path) -> None:
    """Put ``staging`` at ``root``: one atomic exchange where possible (the old tree lands
    at ``staging`` and is removed), else two renames (see the module docstring)."""
    if not root.exists():
        os.rename(staging, root)
        return
    if exchange(staging, root):
        shutil.rmtree(staging)
        return
    retired = root.with_name(f".{root.name}-old-{os.getpid()}")
    os.rename(root, retired)
    try:
        os.rename(staging, root)
    except OSError:
        os.rename(retired, root)
        raise
    shutil.rmtree(retired)
