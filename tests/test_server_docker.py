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


def _run_steps(docker: str) -> list[str]:
    """The Dockerfile's RUN instructions, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", docker)
    return [line[4:] for line in joined.splitlines() if line.startswith("RUN ")]


def test_the_image_has_the_openmp_runtime_lightgbm_links():
    """python:3.11-slim has no libgomp.so.1, which lightgbm's lib_lightgbm.so links: every predictor RPC failed."""
    import lightgbm

    lib = next(Path(lightgbm.__file__).parent.rglob("lib_lightgbm.so"))
    assert b"libgomp.so.1" in lib.read_bytes(), "lightgbm no longer links libgomp: the apt step may go"
    apt = [step for step in _run_steps((REPO / "Dockerfile").read_text()) if "apt-get install" in step]
    assert apt and re.search(r"apt-get install -y --no-install-recommends [^&]*\blibgomp1\b", apt[0]), apt
    assert "apt-get update" in apt[0] and "rm -rf /var/lib/apt/lists/*" in apt[0], "update and cleanup in the same layer"


def test_the_image_ships_the_default_predictor_and_its_health_is_checked():
    """An image without a predictor answered Predict/ShouldStop/ReportResult with FAILED_PRECONDITION."""
    from rag_server.server import SERVICE_NAMES

    docker = (REPO / "Dockerfile").read_text()
    steps = _run_steps(docker)
    trains = [i for i, step in enumerate(steps) if "load_or_train_default(get_settings().predictor_path)" in step]
    assert trains, "the demo's default predictor must be trained at build time"
    assert trains[0] > next(i for i, step in enumerate(steps) if step.startswith("pip install --no-cache-dir --no-deps .")), \
        "trained after the package is installed"
    healthcheck = re.search(r"^HEALTHCHECK .*\n((?:\s+.*\n)+)", docker, flags=re.M).group(1)
    assert f"--service {SERVICE_NAMES[1]}" in healthcheck and "rag_server.healthcheck 127.0.0.1:50051 " in healthcheck
