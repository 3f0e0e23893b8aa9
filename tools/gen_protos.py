#!/usr/bin/env python3
"""Generate (or check) the committed ``reference/protos/*_pb2.py`` / ``*_pb2.pyi`` files.

Runs ``grpc_tools.protoc`` (pinned: grpcio-tools==1.85.1) with the repository root as the only
import root, so ``import "reference/protos/line_id.proto";`` becomes
``from reference.protos import line_id_pb2``.

Usage::

    python tools/gen_protos.py           # regenerate in place
    python tools/gen_protos.py --check   # exit 1 listing stale files, generate nothing in-tree
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR_REL = Path("reference") / "protos"
PINNED_GRPCIO_TOOLS = "1.85.1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi")


def proto_files(root: Path = REPO_ROOT) -> list[Path]:
    """The .proto sources, relative to ``root``, in a stable order."""
    return sorted(p.relative_to(root) for p in (root / PROTO_DIR_REL).glob("*.proto"))


def expected_outputs(root: Path = REPO_ROOT) -> list[Path]:
    """Relative paths of every generated file the sources should produce."""
    out = []
    for proto in proto_files(root):
        stem = proto.with_suffix("")
        out.extend(stem.with_name(stem.name + suffix) for suffix in GENERATED_SUFFIXES)
    return sorted(out)


def committed_outputs(root: Path = REPO_ROOT) -> list[Path]:
    """Relative paths of generated files currently present in the tree."""
    found: set[Path] = set()
    for suffix in GENERATED_SUFFIXES:
        found.update(p.relative_to(root) for p in (root / PROTO_DIR_REL).glob("*" + suffix))
    return sorted(found)


def grpcio_tools_version() -> str | None:
    try:
        return importlib.metadata.version("grpcio-tools")
    except importlib.metadata.PackageNotFoundError:
        return None


def generate(out_dir: Path, root: Path = REPO_ROOT) -> None:
    """Run protoc over every source, writing ``<out_dir>/reference/protos/*_pb2.py[i]``."""
    protos = [p.as_posix() for p in proto_files(root)]
    if not protos:
        raise SystemExit(f"no .proto files under {root / PROTO_DIR_REL}")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{root}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *protos,
    ]
    subprocess.run(cmd, cwd=root, check=True)


def stale_files(root: Path = REPO_ROOT) -> list[str]:
    """Generate into a temp dir and list generated files that differ from, or are missing in,
    the tree, plus committed generated files no source produces."""
    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        tmp_path = Path(tmp)
        generate(tmp_path, root)
        expected = expected_outputs(root)
        for rel in expected:
            fresh = (tmp_path / rel).read_bytes()
            committed = root / rel
            if not committed.is_file():
                stale.append(f"{rel.as_posix()} (missing)")
            elif committed.read_bytes() != fresh:
                stale.append(f"{rel.as_posix()} (differs)")
        for rel in committed_outputs(root):
            if rel not in expected:
                stale.append(f"{rel.as_posix()} (no matching .proto)")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="generate into a temp dir; exit 1 listing committed files that are stale",
    )
    parser.add_argument(
        "--any-version",
        action="store_true",
        help=f"do not insist on grpcio-tools=={PINNED_GRPCIO_TOOLS}",
    )
    args = parser.parse_args(argv)

    version = grpcio_tools_version()
    if version is None:
        print(f"grpcio-tools is not installed (need =={PINNED_GRPCIO_TOOLS})", file=sys.stderr)
        return 2
    if version != PINNED_GRPCIO_TOOLS and not args.any_version:
        print(
            f"grpcio-tools {version} found, {PINNED_GRPCIO_TOOLS} required "
            "(generated code embeds the protoc version)",
            file=sys.stderr,
        )
        return 2

    if args.check:
        stale = stale_files()
        if stale:
            print("stale generated protobuf files (run `python tools/gen_protos.py`):")
            for line in stale:
                print(f"  {line}")
            return 1
        print(f"generated protobuf files are up to date ({len(expected_outputs())} files)")
        return 0

    for rel in committed_outputs():
        (REPO_ROOT / rel).unlink()
    generate(REPO_ROOT)
    for rel in expected_outputs():
        print(f"wrote {rel.as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
