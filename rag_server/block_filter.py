"""Which blocks a request may receive: by source and by license.

Search, Suggest and Patch take the same two filters. ``sources`` names source specs (``pkg:timm``, or just
``timm``); ``license_policy`` says which licenses a block's source may carry:

- ``any``: every block.
- ``no-copyleft``: no block whose files are all copyleft (GPL, LGPL, AGPL, MPL, ...). Patch pastes a block's
  code into the user's model, and a copyleft block's terms come with it: the default corpus holds ultralytics'
  YOLO blocks under AGPL-3.0.
- ``permissive``: only blocks from files under a recognised permissive license (MIT, BSD, Apache, ...); a file
  whose source declares none, or one this does not know, is left out.

Licenses are read per provenance (a block's file), not per source: a checkout may vendor GPL code in an MIT repo
(``corpus.sources.DirectoryFacts``), and then only that folder's blocks are left out. A block found in several
places counts as allowed when one allowed provenance holds it, and is then reported with the allowed provenances
only. ``restrict`` returns the store itself when nothing is filtered, else a view (``BlockStore.restricted_to``):
the callers need not know.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterable

from corpus.licenses import COPYLEFT, PERMISSIVE, license_kind


class LicensePolicy(str, Enum):
    """The policies by name (the CLI's choices; the wire has the ``nnrag.v1.LicensePolicy`` enum)."""

    ANY = "any"
    NO_COPYLEFT = "no-copyleft"
    PERMISSIVE = "permissive"


LICENSE_POLICIES = tuple(p.value for p in LicensePolicy)


def check_policy(policy: str) -> str:
    if policy not in LICENSE_POLICIES:
        raise ValueError(f"unknown license policy {policy!r}; known: {', '.join(LICENSE_POLICIES)}")
    return policy


def license_allowed(license: str, policy: str) -> bool:
    """Whether a file under ``license`` ("" when none is declared) passes ``policy``."""
    kind = license_kind(license)
    if policy == "no-copyleft":
        return kind != COPYLEFT
    if policy == "permissive":
        return kind == PERMISSIVE
    return True


def _describe(spec: str, licenses: list[str]) -> str:
    return f"{spec} ({', '.join(lic or 'no license declared' for lic in licenses)})"


def restrict(store: Any, sources: Iterable[str] | None = None, policy: str = "any") -> Any:
    """``store`` seen through ``sources`` and ``policy``; ValueError (naming the sources and their licenses) when
    a named source is unknown or when no source is left, so an empty answer never hides a filter that excludes all."""
    check_policy(policy)
    wanted = store.resolve_sources(sources) if sources else None
    if wanted is None and policy == "any":
        return store
    licenses = store.source_licenses()
    candidates = wanted if wanted is not None else sorted(licenses)
    allowed = [spec for spec in candidates if any(license_allowed(lic, policy) for lic in licenses.get(spec) or [""])]
    if not allowed:
        held = "; ".join(_describe(spec, licenses.get(spec, [])) for spec in candidates) or "no source"
        raise ValueError(f"license policy {policy!r} leaves no source to take blocks from: {held}")
    if policy == "any":
        return store.restricted_to(allowed)
    return store.restricted_to(allowed, license_ok=lambda lic: license_allowed(lic, policy))
