"""The block record: a scope-closed nn.Module with its provenance and validation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from corpus.records import Provenance
from sandbox.spec import Example


@dataclass
class Block:
    """An nn.Module class plus every module-level definition and import it needs.

    ``code`` runs alone (given its external imports are installed). ``validation``
    maps stage -> {"ok": bool, "error": str}. ``provenances`` lists every place the
    identical code (same content_hash) was found; the first is the canonical one.
    """

    name: str  # class name, e.g. "SqueezeExcite"
    qualified_name: str  # module.Class, e.g. "timm.layers.squeeze_excite.SqueezeExcite"
    code: str
    provenances: list[Provenance]
    content_hash: str = ""
    struct_hash: str = ""
    signature: str = ""  # "(self, in_chs, rd_ratio=0.0625, ...)"
    docstring: str = ""
    external_imports: list[str] = field(default_factory=list)  # top-level modules imported
    missing_deps: list[str] = field(default_factory=list)  # external imports not installed
    unresolved: list[str] = field(default_factory=list)  # names that could not be resolved
    validation: dict[str, dict[str, Any]] = field(default_factory=dict)
    example: Example | None = None
    near_dup_group: str = ""
    params: int | None = None
    flops: int | None = None

    @property
    def provenance(self) -> Provenance:
        return self.provenances[0]

    def passed(self, stage: str) -> bool:
        return bool(self.validation.get(stage, {}).get("ok"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["example"] = self.example.to_dict() if self.example else None
        return data
