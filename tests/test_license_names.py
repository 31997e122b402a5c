"""Declared license names (package metadata's License field and license classifiers) read as SPDX-like ids, and
an archive source's stored provenance taking the new name on the next index without a forced re-index."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from corpus.licenses import license_kind, spdx_like

# (as declared, as stored): License fields and the last part of license classifiers as real packages write them
DECLARED = [
    ("Apache", "Apache"),  # efficientnet_pytorch 0.7.1: no version stated, none invented
    ("MIT License", "MIT"),  # perceiver-pytorch, x-transformers
    ("MIT", "MIT"),  # rotary-embedding-torch
    ("The MIT License (MIT)", "MIT"),
    ("MIT license", "MIT"),
    ("Apache Software License", "Apache"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache-2", "Apache-2.0"),
    ("Apache License 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Apache License Version 2.0", "Apache-2.0"),
    ("Apache Software License 2.0", "Apache-2.0"),
    ("Apache v2", "Apache-2.0"),
    ("Apache 2.0 License", "Apache-2.0"),
    ("BSD License", "BSD"),
    ("BSD", "BSD"),
    ("BSD 3-Clause", "BSD-3-Clause"),
    ("3-Clause BSD License", "BSD-3-Clause"),
    ("New BSD License", "BSD-3-Clause"),
    ("BSD-2-Clause", "BSD-2-Clause"),
    ("Simplified BSD", "BSD-2-Clause"),
    ("GNU General Public License v3 (GPLv3)", "GPL-3.0"),
    ("GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"),
    ("GNU General Public License v3 or later (GPLv3+)", "GPL-3.0-or-later"),
    ("GNU General Public License (GPL)", "GPL"),
    ("GPLv3", "GPL-3.0"),
    ("GPLv3+", "GPL-3.0-or-later"),
    ("GPL v2", "GPL-2.0"),
    ("GPL", "GPL"),
    ("GNU Lesser General Public License v3 (LGPLv3)", "LGPL-3.0"),
    ("GNU Lesser General Public License v2 or later (LGPLv2+)", "LGPL-2.0-or-later"),
    ("GNU Library or Lesser General Public License (LGPL)", "LGPL"),
    ("LGPLv2.1+", "LGPL-2.1-or-later"),
    ("GNU Affero General Public License v3", "AGPL-3.0"),
    ("GNU Affero General Public License v3 or later (AGPLv3+)", "AGPL-3.0-or-later"),
    ("AGPLv3", "AGPL-3.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("MPL 2.0", "MPL-2.0"),
    ("ISC License (ISCL)", "ISC"),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    # SPDX ids and expressions, and names this does not know, stay as written
    ("Apache-2.0", "Apache-2.0"),
    ("GPL-3.0-only", "GPL-3.0-only"),
    ("GPL-3.0-or-later", "GPL-3.0-or-later"),
    ("AGPL-3.0", "AGPL-3.0"),
    ("Apache-2.0 AND MIT", "Apache-2.0 AND MIT"),
    ("MIT OR GPL-3.0", "MIT OR GPL-3.0"),
    ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
    ("MIT-0", "MIT-0"),
    ("Python Software Foundation License", "Python Software Foundation License"),
    ("Other/Proprietary License", "Other/Proprietary License"),
    ("Free for non-commercial use", "Free for non-commercial use"),
    ("Dual License", "Dual License"),
    ("", ""),
]


@pytest.mark.parametrize("declared, expected", DECLARED)
def test_a_declared_license_name_is_read_as_an_spdx_like_id_of_the_same_kind(declared, expected):
    assert spdx_like(declared) == expected
    assert license_kind(spdx_like(declared)) == license_kind(declared)  # a license policy decides as before


def _wheel(path: Path, metadata: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tpkg/__init__.py", "")
        zf.writestr("tpkg/net.py", "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n")
        zf.writestr("tpkg-1.0.dist-info/METADATA", metadata)
    return path


@pytest.mark.parametrize("field, expected", [
    ("License: MIT License\n", "MIT"),
    ("License: Apache\n", "Apache"),
    ("Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)\n", "GPL-3.0"),
    ("License-Expression: Apache-2.0 AND MIT\n", "Apache-2.0 AND MIT"),
])
def test_an_archive_source_gives_its_files_the_spdx_like_name(tmp_path, field, expected):
    from corpus.sources import open_source

    whl = _wheel(tmp_path / "tpkg-1.0-py3-none-any.whl", f"Metadata-Version: 2.1\nName: tpkg\nVersion: 1.0\n{field}\n")
    src = open_source(f"wheel:{whl}", tmp_path)
    assert src.info.license == expected
    assert {f.provenance.license for f in src.files()} == {expected}


def test_a_store_built_with_the_raw_name_gets_the_spdx_like_name_on_the_next_index(tmp_path, monkeypatch):
    """Stored blocks keep the license they were indexed with; the archive's fingerprint holds the license as read now,
    so the next plain ``index`` re-reads the archive (no re-validation: its files did not change) and refreshes it."""
    import corpus.licenses
    from indexer.build import build_index
    from indexer.store import BlockStore

    whl = _wheel(tmp_path / "tpkg-1.0-py3-none-any.whl", "Metadata-Version: 2.1\nName: tpkg\nVersion: 1.0\nLicense: MIT License\n\n")
    spec = f"wheel:{whl}"
    with monkeypatch.context() as m:  # the store as an index before the names were read as SPDX-like ids wrote it
        m.setattr(corpus.licenses, "spdx_like", lambda name: name)
        build_index([spec], tmp_path / "store", cache_dir=tmp_path / "cache", validate=False)
    report = build_index([spec], tmp_path / "store", cache_dir=tmp_path / "cache", validate=False)
    assert not report.up_to_date and report.sources[0].reused
    store = BlockStore(tmp_path / "store")
    try:
        assert {p.license for i in range(len(store)) for p in store.block_by_id(i).provenances} == {"MIT"}
    finally:
        store.close()
