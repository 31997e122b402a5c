"""The Dockerfile stays consistent with the Makefile and the package layout (Docker cannot run here)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"\b(torch|torchvision)==([0-9][\w.+-]*)", text))


def test_torch_pins_match_the_makefile_and_pyproject():
    docker, make = (REPO / "Dockerfile").read_text(), (REPO / "Makefile").read_text()
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert _pins(docker) == _pins(make) == _pins(" ".join(deps)) and _pins(docker)


def test_every_package_is_copied_into_the_image():
    docker = (REPO / "Dockerfile").read_text()
    includes = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\w+) \1$", docker, flags=re.M))
    assert {p.rstrip("*") for p in includes} <= copied


def test_image_serves_on_all_interfaces_with_a_grpc_healthcheck():
    docker = (REPO / "Dockerfile").read_text()
    assert re.search(r'^CMD \["nnrag", "serve", "--address", "0\.0\.0\.0:50051"\]', docker, flags=re.M)
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*rag_server\.healthcheck", docker, flags=re.M)
    assert re.search(r"^RUN nnrag index", docker, flags=re.M), "the default index must be built at build time"
    assert (REPO / "rag_server" / "healthcheck.py").exists()
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
