"""Every golden in the repository is certified against the original Monolith hooks.

``golden/CERTIFICATE.json`` is written by ``python -m harness certify --monolith DIR``,
which runs the corpus on the original tier. This test needs neither TensorFlow nor a
checkout: it fails when a scenario or golden changed since it was certified, or when a
scenario is neither agreed nor not applicable with a reason.
"""

from __future__ import annotations

from harness import certificate
from harness.golden import GOLDEN_DIR
from harness.scenario import FIXTURES_DIR, load_all


def test_every_scenario_is_certified_by_the_original() -> None:
    check = certificate.check(load_all(FIXTURES_DIR), GOLDEN_DIR)
    assert check.ok, "\n".join([*check.lines(), check.summary()])


def test_the_certificate_names_the_pinned_upstream_commit_and_modules() -> None:
    data = certificate.read(GOLDEN_DIR)
    upstream = data["upstream"]
    assert upstream == certificate.PINNED_UPSTREAM
    assert upstream["commit"].startswith("135c491")
    assert sorted(upstream["modules"]) == [
        "monolith/native_training/barrier_ops.py",
        "monolith/native_training/hash_table_utils.py",
        "monolith/native_training/hooks/ckpt_info.py",
        "monolith/native_training/hooks/controller_hooks.py",
        "monolith/native_training/hooks/feature_engineering_hooks.py",
        "monolith/native_training/hooks/hook_utils.py",
    ]
    assert data["environment"]["tensorflow"] == "2.21.0"


def test_docs_original_names_only_scenarios_that_exist() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "original.md").read_text()
    named = set(
        re.findall(r"`((?:barrier|controller|feature_dump|hook_utils|slot_count)/\w+)`", text)
    )
    ids = {s.id for s in load_all(FIXTURES_DIR)}
    assert named and named <= ids, sorted(named - ids)


def test_every_quirk_names_a_section_of_docs_original() -> None:
    import re
    from pathlib import Path

    from harness import quirks

    text = (Path(__file__).resolve().parents[1] / "docs" / "original.md").read_text()
    sections = set(re.findall(r"^### (\w+)$", text, re.M))
    assert sections == set(quirks.SECTIONS)
    assert {q.behaviour for q in quirks.load()} <= sections


def test_docs_original_names_the_pinned_upstream() -> None:
    """The pinned commit and each module's sha256 are named in docs/original.md exactly as
    in the code (harness.certificate.PINNED_UPSTREAM)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "original.md").read_text()
    pinned = certificate.PINNED_UPSTREAM
    assert f"`{pinned['commit']}`" in text
    for path, sha in pinned["modules"].items():
        assert f"| `{path.removeprefix('monolith/native_training/')}` | `{sha}` |" in text
