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


# Recognisable titles and phrases of the standard license texts -> (SPDX stem, takes a version).
# Why: LICENSE files often begin with a copyright line, not the title, so their first line names no
# license ("Copyright (C) 2021 Jane Researcher") and a GPL checkout would pass a no-copyleft policy.
_TEXT_MARKERS: tuple[tuple[str, str, bool], ...] = (
    (r"GNU\s+AFFERO\s+GENERAL\s+PUBLIC\s+LICENSE", "AGPL", True),
    (r"GNU\s+(?:LESSER|LIBRARY)\s+GENERAL\s+PUBLIC\s+LICENSE", "LGPL", True),
    (r"GNU\s+GENERAL\s+PUBLIC\s+LICENSE", "GPL", True),
    (r"GNU\s+FREE\s+DOCUMENTATION\s+LICENSE", "GFDL", True),
    (r"Mozilla\s+Public\s+License", "MPL", True),
    (r"Eclipse\s+Public\s+License", "EPL", True),
    (r"European\s+Union\s+Public\s+Licen[cs]e", "EUPL", True),
    (r"Apache\s+License", "Apache", True),
    (r"Boost\s+Software\s+License", "BSL-1.0", False),
    (r"\bMIT\s+License\b|Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge", "MIT", False),
    (r"\bBSD\b|Redistribution\s+and\s+use\s+in\s+source\s+and\s+binary\s+forms", "BSD", False),
    (r"Permission\s+to\s+use,\s+copy,\s+modify,\s+and(?:/or)?\s+distribute\s+this\s+software\s+for\s+any\s+purpose", "ISC", False),
    (r"free\s+and\s+unencumbered\s+software\s+released\s+into\s+the\s+public\s+domain", "Unlicense", False),
    (r"\bCC0\s+1\.0", "CC0-1.0", False),
    (r"Python\s+Software\s+Foundation\s+License", "PSF-2.0", False),
)
_VERSION = re.compile(r"\bv(?:ersion|\.)?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SPDX_LINE = re.compile(r"SPDX-License-Identifier:\s*([^\n*#]+)", re.IGNORECASE)


def _versioned(stem: str, tail: str) -> str:
    """``stem`` with the version stated just after its title ("GPL" + "Version 3, 29 June 2007" -> "GPL-3.0")."""
    m = _VERSION.search(tail[:200])
    if m is None:
        return stem
    number = m.group(1) if "." in m.group(1) else f"{m.group(1)}.0"
    later = stem.endswith("GPL") and re.search(r"any\s+later\s+version", tail[:600], re.IGNORECASE)
    return f"{stem}-{number}" + ("-or-later" if later else "")


def _bsd_clauses(text: str) -> str:
    """BSD-4/3/2-Clause by the clauses that are there: an advertising clause is the 4th, a no-endorsement one the 3rd."""
    m = re.search(r"\bBSD[\s-]*(\d)[\s-]*Clause", text, re.IGNORECASE)
    if m:
        return f"BSD-{m.group(1)}-Clause"
    if re.search(r"advertising\s+materials", text, re.IGNORECASE):
        return "BSD-4-Clause"
    if re.search(r"endorse\s+or\s+promote", text, re.IGNORECASE):
        return "BSD-3-Clause"
    if re.search(r"Redistribution\s+and\s+use", text, re.IGNORECASE):
        return "BSD-2-Clause"
    return "BSD"


def known_license_in_text(text: str) -> str:
    """The license a text states by an SPDX line or a standard license's title or phrase ("" when it has neither).
    Why apart from ``license_from_text``: a file that is only maybe a license (an archive's ``NOTICE`` or
    ``AUTHORS`` listed as License-File) must name no license rather than its first line."""
    spdx = _SPDX_LINE.search(text)
    if spdx:
        return spdx.group(1).strip()[:80]
    found = [(m.start(), m.end(), stem, versioned) for pattern, stem, versioned in _TEXT_MARKERS
             for m in [re.search(pattern, text, re.IGNORECASE)] if m]
    if not found:
        return ""
    start, end, stem, versioned = min(found)
    if stem == "BSD":
        return _bsd_clauses(text)
    return _versioned(stem, text[end:]) if versioned else stem


def license_from_text(text: str) -> str:
    """A short license name (SPDX-like: "GPL-3.0", "MIT", "BSD-3-Clause", "Apache-2.0") for a LICENSE file's text.

    The marker that comes first in the text wins: a GPL-3.0 text mentions the AGPL in section 13, and an Apache
    LICENSE often appends third-party MIT notices, but the title comes before either. Falls back to the first
    non-empty line (cut to 80 characters) when no marker is there, and "" for an empty text."""
    known = known_license_in_text(text)
    if known:
        return known
    for line in text.splitlines():
        if line.strip():
            return line.strip().strip("#= ")[:80]
    return ""


_SOURCE_SPDX = re.compile(r"^\s*(?:#|//|/?\*+|\"\"\"|''')?\s*SPDX-License-Identifier:\s*(.+?)\s*(?:\*/|\"\"\"|''')?\s*$",
                          re.IGNORECASE | re.MULTILINE)


def spdx_in_source(text: str, head_lines: int = 40) -> str:
    """The ``SPDX-License-Identifier`` a source file declares in its header (its first ``head_lines`` lines), "" when
    none. Why only the header: the tag is a comment at the top by convention, and a license scanner's code mentions it
    further down as a string."""
    head = "\n".join(text.splitlines()[:head_lines])
    m = _SOURCE_SPDX.search(head)
    return m.group(1).strip()[:80] if m else ""


# A declared name (a License field, the last part of a classifier) as a whole -> its SPDX-like id; the version
# group, when the name states one, goes after the stem. Why: package metadata names one license many ways ("MIT
# License", "Apache Software License", "GNU General Public License v3 (GPLv3)"), and a search table listed two MIT
# packages as "MIT" and "MIT License". Only whole names are matched, so an SPDX expression ("Apache-2.0 AND MIT") or a
# name this does not know stays as written; a version is never added where the name states none ("Apache").
_VER = r"(?:[\s,]*(?:version|ver\.?|v\.?|-)?\s*(?P<ver>\d+(?:\.\d+)?))?"
_LATER = r"(?P<later>\s*(?:\+|or\s+(?:any\s+)?later(?:\s+version)?))?"
_PAREN = r"(?:\s*\([^()]*\))?"  # the classifier's own abbreviation: "(GPLv3)", "(MPL 2.0)", "(ISCL)"
_DECLARED_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), stem) for pattern, stem in (
        (rf"(?:the\s+)?MIT(?:[\s-]+licen[cs]e)?{_PAREN}", "MIT"),
        (rf"Apache(?:\s+software)?(?:[\s-]+licen[cs]e)?{_VER}(?:\s+licen[cs]e)?{_PAREN}", "Apache"),
        (rf"(?:GNU\s+)?Affero\s+General\s+Public\s+Licen[cs]e{_VER}{_LATER}{_PAREN}", "AGPL"),
        (rf"AGPL{_VER}{_LATER}", "AGPL"),
        (rf"GNU\s+(?:Library\s+or\s+)?Lesser\s+General\s+Public\s+Licen[cs]e{_VER}{_LATER}{_PAREN}", "LGPL"),
        (rf"LGPL{_VER}{_LATER}", "LGPL"),
        (rf"(?:GNU\s+)?General\s+Public\s+Licen[cs]e{_VER}{_LATER}{_PAREN}", "GPL"),
        (rf"(?:GNU\s+)?GPL{_VER}{_LATER}", "GPL"),
        (rf"Mozilla\s+Public\s+Licen[cs]e{_VER}{_PAREN}", "MPL"),
        (rf"MPL{_VER}", "MPL"),
        (rf"(?:new|modified|revised)\s+BSD(?:\s+licen[cs]e)?{_PAREN}", "BSD-3-Clause"),
        (rf"(?:BSD[\s-]*3[\s-]*clause|3[\s-]*clause\s+BSD)(?:\s+licen[cs]e)?{_PAREN}", "BSD-3-Clause"),
        (rf"(?:simplified\s+|free)BSD(?:\s+licen[cs]e)?{_PAREN}", "BSD-2-Clause"),
        (rf"(?:BSD[\s-]*2[\s-]*clause|2[\s-]*clause\s+BSD)(?:\s+licen[cs]e)?{_PAREN}", "BSD-2-Clause"),
        (rf"BSD(?:\s+licen[cs]e)?{_PAREN}", "BSD"),
        (rf"ISC(?:\s+licen[cs]e)?{_PAREN}", "ISC"),
        (rf"(?:the\s+)?Unlicen[cs]e{_PAREN}", "Unlicense"),
        (rf"CC0\s*1\.0(?:\s+Universal)?{_PAREN}(?:\s+Public\s+Domain\s+Dedication)?", "CC0-1.0"),
        (rf"Boost\s+Software\s+Licen[cs]e\s*1\.0{_PAREN}", "BSL-1.0"),
    )
)
_TAKES_VERSION = ("Apache", "AGPL", "LGPL", "GPL", "MPL")
_TAKES_LATER = ("AGPL", "LGPL", "GPL")  # "or later" is part of the GNU licenses' ids only


def spdx_like(name: str) -> str:
    """``name`` (a declared license name) as an SPDX-like id: "MIT License" -> "MIT", "Apache License, Version 2.0"
    -> "Apache-2.0", "Apache Software License" -> "Apache", "GNU General Public License v3 or later (GPLv3+)" ->
    "GPL-3.0-or-later". A name that is not one license this knows by its whole name (an SPDX expression, an unknown
    string) is returned as written: it is still what the package declared. ``license_kind`` reads both the same."""
    text = (name or "").strip()
    for pattern, stem in _DECLARED_NAMES:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        if stem not in _TAKES_VERSION:
            return stem
        version = m.groupdict().get("ver")
        if not version:
            return stem
        number = version if "." in version else f"{version}.0"
        later = stem in _TAKES_LATER and m.groupdict().get("later")
        return f"{stem}-{number}" + ("-or-later" if later else "")
    return name
