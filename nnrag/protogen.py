"""Regenerate the committed gRPC stubs under ``nnrag/v1`` from ``proto/nnrag/v1/*.proto``.

Why committed stubs: the package then installs without a build step, and
``tests/test_proto.py`` regenerates into a temporary directory and compares, so the
stubs can never drift from the .proto files unnoticed.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO_ROOT / "proto"


def proto_files(proto_root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((proto_root / "nnrag" / "v1").glob("*.proto"))


def generate(out_dir: Path = REPO_ROOT, proto_root: Path = PROTO_ROOT) -> list[Path]:
    """Write ``_pb2.py``, ``_pb2.pyi`` and ``_pb2_grpc.py`` for every .proto under ``out_dir``."""
    files = proto_files(proto_root)
    if not files:
        raise FileNotFoundError(f"no .proto files under {proto_root / 'nnrag' / 'v1'}")
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--pyi_out={out_dir}",
        *[str(f.relative_to(proto_root)) for f in files],
    ]
    # protoc resolves the relative file names against -I, so run from proto_root's view.
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    out = Path(out_dir) / "nnrag" / "v1"
    return sorted(p for p in out.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")))


def main() -> None:
    written = generate()
    for path in written:
        print(path.relative_to(REPO_ROOT))


if __name__ == "__main__":
    sys.exit(main())
