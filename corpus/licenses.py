"""What kind of license a source declares: permissive, copyleft, or unknown.

Why: Patch copies a block's code into the user's model, so the block's license travels with it. A
copyleft block (GPL, AGPL: ultralytics' YOLO blocks) obliges whoever ships the model to release it
under the same terms; a permissive one (MIT, BSD, Apache) only asks for a notice. The strings come
from package metadata and LICENSE files as written (``"Apache-2.0 AND BSD-3-Clause AND MIT"``,
``"BSD"``, ``"GNU AFFERO GENERAL PUBLIC LICENSE"``), so they are read by words, not as exact SPDX ids.
"""

from __future__ import annotations

import re

PERMISSIVE = "permissive"
COPYLEFT = "copyleft"
UNKNOWN = "unknown"

# Weak copyleft (LGPL, MPL, EPL) counts as copyleft: code copied into a model file carries the terms with it.
_COPYLEFT = re.compile(
    r"\b[AL]?GPL|\b(?:GNU|AFFERO|GENERAL PUBLIC|LESSER GENERAL|MPL|MOZILLA|EUPL|CDDL|EPL|ECLIPSE PUBLIC|OSL|SSPL"
    r"|CC-BY-SA|SHARE-?ALIKE|COPYLEFT|CPAL|RPL|SLEEPYCAT)\b",
    re.IGNORECASE,
)
_PERMISSIVE = re.compile(
    r"\b(?:MIT|BSD|0BSD|APACHE|PSF|PYTHON SOFTWARE FOUNDATION|ISC|ZLIB|UNLICENSE|CC0|BSL-1\.0|BOOST|PUBLIC DOMAIN"
    r"|WTFPL|X11|HPND|UPL|NCSA|POSTGRESQL|ZPL|ARTISTIC)\b",
    re.IGNORECASE,
)
_ALTERNATIVES = re.compile(r"\s+OR\s+|\s*/\s*", re.IGNORECASE)  # "MIT OR GPL-3.0": the user may take either


def _kind_of_one(text: str) -> str:
    if _COPYLEFT.search(text):
        return COPYLEFT  # "Apache-2.0 AND GPL-3.0": every part binds
    if _PERMISSIVE.search(text):
        return PERMISSIVE  # "Apache-2.0 WITH LLVM-exception AND MIT": permissive parts only
    return UNKNOWN


def license_kind(text: str) -> str:
    """``PERMISSIVE``, ``COPYLEFT`` or ``UNKNOWN`` (nothing declared, or a name this does not know).

    A choice of licenses (``A OR B``) is permissive when one of them is; a conjunction is copyleft when one
    part is."""
    text = (text or "").strip()
    if not text:
        return UNKNOWN
    kinds = {_kind_of_one(part) for part in _ALTERNATIVES.split(text) if part.strip()}
    for kind in (PERMISSIVE, COPYLEFT):
        if kind in kinds:
            return kind
    return UNKNOWN
