"""What a corpus source yields: one source file with its provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Provenance:
    """Where a piece of code came from. ``source`` is the SPEC that produced it
    (``pkg:timm``, ``dir:/x``, ``wheel:/x.whl``, ``pypi:ultralytics==8.3.0``, ``lemur``)."""

    source: str
    package: str  # distribution or top-level package name ("timm", "nn-dataset")
    version: str
    path: str  # file path inside the package/checkout, posix, e.g. "timm/layers/mlp.py"
    module: str  # dotted module name, e.g. "timm.layers.mlp"
    line_start: int = 0
    line_end: int = 0
    qualified_name: str = ""  # module.Class for a block; "" for a whole file
    license: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SourceFile:
    """One Python file of a source, with the module name it has inside that source."""

    module: str
    text: str
    provenance: Provenance
    is_package: bool = False  # True for __init__.py
    extra: dict[str, Any] = field(default_factory=dict)
