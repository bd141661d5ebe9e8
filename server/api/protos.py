"""Regenerate, or check, the committed protobuf code under ``server/api/gen/``.

Why a script and not a bare ``protoc`` line: protoc writes ``from openinterest.v1 import ...``
(absolute imports rooted at the proto path, protobuf issue 1491), which is not importable from
inside our package, and ``google/api/annotations.proto`` must come from the pinned
``googleapis-common-protos`` wheel because the buf registry is out of reach. This script does both,
deterministically, so CI can regenerate into a temporary folder and fail when the committed code
is stale.

Usage: ``python -m server.api.protos {generate|check|copy-googleapis DIR}``.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from google.api import annotations_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
GEN_DIR = ROOT / "server" / "api" / "gen"
GEN_PACKAGE = "server.api.gen"
BANNER = "# Generated from proto/ by `make gen` (python -m server.api.protos generate). Do not edit.\n"
GOOGLEAPIS_FILES = ("google/api/annotations.proto", "google/api/http.proto")


def googleapis_include() -> Path:
    """The site-packages folder holding google/api/*.proto from googleapis-common-protos."""
    return Path(annotations_pb2.__file__).resolve().parents[2]


def copy_googleapis(target: Path) -> None:
    """Copy the google/api protos our contract imports into ``target`` (for buf)."""
    include = googleapis_include()
    for name in GOOGLEAPIS_FILES:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(include / name, destination)


def _plugin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{name} not found next to {sys.executable}: install the dev extras")
    return str(path)


def generate_into(out: Path) -> None:
    """Run protoc (grpcio-tools) for every proto file and post-process into ``out``."""
    raw = out / "_raw"
    raw.mkdir(parents=True)
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{googleapis_include()}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={raw}",
        f"--grpc_python_out={raw}",
        f"--mypy_out={raw}",
        f"--mypy_grpc_out={raw}",
        *protos,
    ]
    subprocess.run(command, check=True)
    for source in sorted(raw.rglob("*.py*")):
        relative = source.relative_to(raw)
        text = source.read_text()
        for package_dir in {p.parent for p in raw.rglob("*.py")}:
            dotted = ".".join(package_dir.relative_to(raw).parts)
            text = text.replace(f"from {dotted} import", f"from {GEN_PACKAGE}.{dotted} import")
            text = text.replace(f"import {dotted}.", f"import {GEN_PACKAGE}.{dotted}.")
        destination = out / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(BANNER + text)
    shutil.rmtree(raw)
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").write_text(BANNER)


def _tree(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def stale_files(committed: Path, fresh: Path) -> list[str]:
    """Names of files that differ between the committed and a freshly generated tree."""
    names = set(_tree(committed)) | set(_tree(fresh))
    return sorted(
        name
        for name in names
        if not (committed / name).exists()
        or not (fresh / name).exists()
        or not filecmp.cmp(committed / name, fresh / name, shallow=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="rewrite server/api/gen from proto/")
    sub.add_parser("check", help="exit 1 when server/api/gen is stale")
    copy = sub.add_parser("copy-googleapis", help="copy google/api protos into DIR (for buf)")
    copy.add_argument("dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "copy-googleapis":
        copy_googleapis(args.dir)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "gen"
        generate_into(fresh)
        if args.command == "generate":
            shutil.rmtree(GEN_DIR, ignore_errors=True)
            shutil.copytree(fresh, GEN_DIR)
            print(f"generated {len(_tree(GEN_DIR))} files into {GEN_DIR.relative_to(ROOT)}")
            return 0
        stale = stale_files(GEN_DIR, fresh)
        if stale:
            print("generated protobuf code is stale; run `make gen`:", *stale, sep="\n  ", file=sys.stderr)
            return 1
        print("generated protobuf code is fresh")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
