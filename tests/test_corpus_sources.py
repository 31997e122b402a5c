"""Code sources: installed packages, directories and git checkouts, wheels, sdists, the
PyPI cache and LEMUR, each yielding sorted files with provenance."""

from __future__ import annotations

import importlib.metadata
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from corpus.sources import SourceError, open_source
from indexer.mine import mine_files

LAYERS = "import torch.nn as nn\n\nfrom . import util\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n        return util.double(x)\n"
UTIL = "def double(x):\n    return 2 * x\n"


def _wheel(path: Path, files: dict[str, str], metadata: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        dist = path.name.split("-")[0] + "-" + path.name.split("-")[1] + ".dist-info"
        zf.writestr(f"{dist}/METADATA", metadata)
        zf.writestr(f"{dist}/RECORD", "")
    return path


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_installed_subpackage(tmp_path):
    src = open_source("pkg:torch.nn", tmp_path)
    files = list(src.files())
    paths = [f.provenance.path for f in files]
    assert paths == sorted(paths) and len(files) > 50
    assert files[0].module == "torch.nn" and files[0].is_package
    assert all(f.module == "torch.nn" or f.module.startswith("torch.nn.") for f in files)
    conv = next(f for f in files if f.module == "torch.nn.modules.conv")
    assert conv.provenance.path == "torch/nn/modules/conv.py" and "class Conv2d" in conv.text
    assert conv.provenance.version == importlib.metadata.version("torch")
    assert conv.provenance.package == "torch" and conv.provenance.license
    assert conv.provenance.source == "pkg:torch.nn"
    assert src.fingerprint() == open_source("pkg:torch.nn", tmp_path).fingerprint()
    single = list(open_source("pkg:torch.nn.modules.conv", tmp_path).files())
    assert [f.module for f in single] == ["torch.nn.modules.conv"]


def test_installed_package_is_not_imported(tmp_path):
    code = "import sys; from pathlib import Path; from corpus.sources import open_source; " "n = len(list(open_source('pkg:timm', Path('.')).files())); print(n, 'timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    count, imported = out.stdout.split()
    assert int(count) > 100 and imported == "False"


@pytest.mark.parametrize("spec", ["pkg:not_a_real_pkg_xyz", "pkg:torch.no_such_sub", "pkg:bad name", "dir:/no/such/dir", "wheel:/no/such.whl", "pypi:torch", "ftp:x", "nope"])
def test_bad_specs_name_the_problem(tmp_path, spec):
    with pytest.raises(SourceError) as err:
        list(open_source(spec, tmp_path).files())
    assert str(err.value)


def test_directory_git_checkout(tmp_path):
    repo = tmp_path / "repo"
    (repo / "mypkg" / "__pycache__").mkdir(parents=True)
    (repo / "mypkg" / "__init__.py").write_text("")
    (repo / "mypkg" / "layers.py").write_text(LAYERS)
    (repo / "mypkg" / "util.py").write_text(UTIL)
    (repo / "mypkg" / "__pycache__" / "junk.py").write_text("x = 1\n")
    (repo / "LICENSE").write_text("\nMIT License\n\nCopyright ...\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "init"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    src = open_source(f"dir:{repo}", tmp_path)
    files = list(src.files())
    assert [f.module for f in files] == ["mypkg", "mypkg.layers", "mypkg.util"]
    assert {f.provenance.version for f in files} == {head}
    assert {f.provenance.license for f in files} == {"MIT"}
    before = src.fingerprint()
    assert before == open_source(f"dir:{repo}", tmp_path).fingerprint()
    time.sleep(0.01)
    (repo / "mypkg" / "util.py").write_text(UTIL + "\n# changed\n")
    assert open_source(f"dir:{repo}", tmp_path).fingerprint() != before
    (block,) = mine_files(files)
    assert block.qualified_name == "mypkg.layers.Block" and "return double(x)" in block.code and block.unresolved == []


def test_package_directory_keeps_its_name(tmp_path):
    pkg = tmp_path / "lib" / "mypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "util.py").write_text(UTIL)
    files = list(open_source(f"dir:{pkg}", tmp_path).files())
    assert [f.module for f in files] == ["mypkg", "mypkg.util"]
    assert files[1].provenance.version == ""


def test_wheel_read_in_place(tmp_path):
    whl = _wheel(
        tmp_path / "mypkg-1.2.0-py3-none-any.whl",
        {"mypkg/__init__.py": "", "mypkg/layers.py": LAYERS, "mypkg/util.py": UTIL, "mypkg/data.json": "{}"},
        "Metadata-Version: 2.4\nName: mypkg\nVersion: 1.2.0\nLicense-Expression: MIT\n\n",
    )
    src = open_source(f"wheel:{whl}", tmp_path)
    files = list(src.files())
    assert [f.module for f in files] == ["mypkg", "mypkg.layers", "mypkg.util"]
    p = files[1].provenance
    assert (p.package, p.version, p.license, p.path, p.source) == ("mypkg", "1.2.0", "MIT", "mypkg/layers.py", f"wheel:{whl}")
    assert src.fingerprint() == open_source(f"wheel:{whl}", tmp_path).fingerprint()
    (block,) = mine_files(files)
    assert block.provenance.version == "1.2.0" and block.unresolved == []


def test_sdist_with_src_layout(tmp_path):
    sdist = _sdist(
        tmp_path / "mypkg-0.3.tar.gz",
        {
            "mypkg-0.3/PKG-INFO": "Metadata-Version: 2.1\nName: mypkg\nVersion: 0.3\nLicense: BSD-3-Clause\n\n",
            "mypkg-0.3/setup.py": "from setuptools import setup\nsetup()\n",
            "mypkg-0.3/tests/test_x.py": "def test():\n    pass\n",
            "mypkg-0.3/src/mypkg/__init__.py": "",
            "mypkg-0.3/src/mypkg/layers.py": LAYERS,
            "mypkg-0.3/src/mypkg/util.py": UTIL,
        },
    )
    files = list(open_source(f"wheel:{sdist}", tmp_path).files())
    assert [f.module for f in files] == ["mypkg", "mypkg.layers", "mypkg.util"]
    assert files[0].provenance.license == "BSD-3-Clause" and files[0].provenance.version == "0.3"


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_a_truncated_sdist_is_a_source_error_naming_the_archive(tmp_path, keep):
    """A cut download: gzip's EOFError went past the readers' handlers and ``nnrag index`` said only "Aborted."."""
    files = {"mypkg-0.3/PKG-INFO": "Metadata-Version: 2.1\nName: mypkg\nVersion: 0.3\n\n",
             "mypkg-0.3/mypkg/__init__.py": "", "mypkg-0.3/mypkg/layers.py": LAYERS * 40}
    whole = _sdist(tmp_path / "whole-0.3.tar.gz", files).read_bytes()
    cut = tmp_path / "mypkg-0.3.tar.gz"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(SourceError, match="cannot read archive .*mypkg-0.3.tar.gz"):
        list(open_source(f"wheel:{cut}", tmp_path).files())


def test_pypi_reads_the_cache_without_installing(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / "my_pkg-2.0-py3-none-any.whl", {"my_pkg/__init__.py": UTIL}, "Metadata-Version: 2.1\nName: my-pkg\nVersion: 2.0\n\n")
    src = open_source("pypi:my-pkg==2.0", tmp_path)  # normalised name, found in the cache: no download
    (f,) = list(src.files())
    assert (f.module, f.provenance.version, f.provenance.source) == ("my_pkg", "2.0", "pypi:my-pkg==2.0")


def test_default_sources_leave_out_an_archive_that_cannot_be_fetched(tmp_path, monkeypatch):
    from indexer.build import default_sources
    from nnrag.settings import get_settings

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / "my_pkg-2.0-py3-none-any.whl", {"my_pkg/__init__.py": UTIL}, "Metadata-Version: 2.1\nName: my-pkg\nVersion: 2.0\n\n")
    specs = ["pkg:timm", "pypi:my-pkg==2.0", "pypi:nnrag-no-such-package-xyz==0.0.1"]
    monkeypatch.setenv("NNRAG_INDEX_SOURCES", json.dumps(specs))
    get_settings.cache_clear()
    try:
        usable, warnings = default_sources(tmp_path)
    finally:
        get_settings.cache_clear()
    assert usable == ["pkg:timm", "pypi:my-pkg==2.0"]  # the cached archive is kept, the unknown one left out
    assert len(warnings) == 1 and warnings[0].startswith("pypi:nnrag-no-such-package-xyz==0.0.1 left out of the default index: ")


def test_lemur_model_files(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    net = "import torch.nn as nn\n\n\ndef supported_hyperparameters():\n    return {'lr'}\n\n\nclass Net(nn.Module):\n    def __init__(self, in_shape, out_shape, prm, device):\n        super().__init__()\n        self.fc = nn.Linear(in_shape[1], out_shape[0])\n"
    _wheel(
        wheels / "nn_dataset-2.1.2-py3-none-any.whl",
        {"ab/nn/nn/__init__.py": "", "ab/nn/nn/AlexNet.py": net, "ab/nn/nn/ga-7.py": net, "ab/nn/stat/train/x/1.json": "[]", "ab/nn/api.py": "raise RuntimeError\n"},
        "Metadata-Version: 2.1\nName: nn-dataset\nVersion: 2.1.2\nLicense: MIT\n\n",
    )
    src = open_source("lemur", tmp_path)
    files = list(src.files())
    assert [f.provenance.path for f in files] == ["ab/nn/nn/AlexNet.py", "ab/nn/nn/__init__.py", "ab/nn/nn/ga-7.py"]  # sorted by path
    assert [f.module for f in files] == ["ab.nn.nn.AlexNet", "ab.nn.nn", "ab.nn.nn.ga-7"]
    assert files[0].provenance.package == "nn-dataset" and files[0].provenance.version == "2.1.2"
    blocks = mine_files(files)
    assert [b.qualified_name for b in blocks] == ["ab.nn.nn.AlexNet.Net", "ab.nn.nn.ga-7.Net"]
    assert all(b.unresolved == [] for b in blocks)


GPL_NOTICE = """    Copyright (C) 2021  Jane Researcher

    This program is free software: you can redistribute it and/or modify
    it under the terms of the GNU General Public License as published by
    the Free Software Foundation, either version 3 of the License, or
    (at your option) any later version.
"""
MIT_TEXT = """Copyright (c) 2019 Some One

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
"""
BSD3_TEXT = """Copyright (c) 2018, Some One
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice.
2. Redistributions in binary form must reproduce the above copyright notice.
3. Neither the name of the copyright holder nor the names of its contributors may be used
   to endorse or promote products derived from this software without specific prior written permission.
"""
BSD2_TEXT = BSD3_TEXT.split("3. Neither")[0]
APACHE_TEXT = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/
"""
GPL3_TEXT = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
  13. Use with the GNU Affero General Public License.
"""
LGPL3_TEXT = """                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007

  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public License
"""
MPL_TEXT = "Mozilla Public License Version 2.0\n==================================\n"


@pytest.mark.parametrize("files, expected, kind", [
    ({"LICENSE": GPL_NOTICE}, "GPL-3.0-or-later", "copyleft"),
    ({"LICENSE": MIT_TEXT}, "MIT", "permissive"),
    ({"LICENSE.md": BSD3_TEXT}, "BSD-3-Clause", "permissive"),
    ({"license.txt": BSD2_TEXT}, "BSD-2-Clause", "permissive"),
    ({"LICENSE.rst": APACHE_TEXT}, "Apache-2.0", "permissive"),
    ({"COPYING": GPL3_TEXT}, "GPL-3.0", "copyleft"),
    ({"COPYING": GPL3_TEXT, "COPYING.LESSER": LGPL3_TEXT}, "LGPL-3.0", "copyleft"),
    ({"COPYING.txt": MPL_TEXT}, "MPL-2.0", "copyleft"),
    ({"LICENSE-MIT": MIT_TEXT, "LICENSE-APACHE": APACHE_TEXT}, "Apache-2.0 OR MIT", "permissive"),
    ({"LICENSE": "Copyright 2020 Acme Corp. All rights reserved.\n"}, "Copyright 2020 Acme Corp. All rights reserved.", "unknown"),
    ({"pyproject.toml": '[project]\nname = "x"\nlicense = "AGPL-3.0-only"\n'}, "AGPL-3.0-only", "copyleft"),
    ({"pyproject.toml": '[project]\nname = "x"\nlicense = {text = "BSD-3-Clause"}\n'}, "BSD-3-Clause", "permissive"),
    ({"pyproject.toml": '[project]\nname = "x"\nlicense = {file = "LEGAL.txt"}\n', "LEGAL.txt": GPL3_TEXT}, "GPL-3.0", "copyleft"),
    ({"setup.cfg": "[metadata]\nname = x\nlicense = MIT\n"}, "MIT", "permissive"),
])
def test_directory_license_is_read_from_the_license_text(tmp_path, files, expected, kind):
    from corpus.licenses import license_kind

    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # the checkout's root is where LICENSE is looked for
    for spec in (f"dir:{repo}", f"dir:{repo / 'pkg'}"):
        (f,) = open_source(spec, tmp_path).files()
        assert f.provenance.license == expected
        assert license_kind(f.provenance.license) == kind


D = "tpkg-1.0.dist-info"  # the dist-info directory of the wheels below


@pytest.mark.parametrize("members, declared, expected, kind", [
    ({f"{D}/LICENSE": MIT_TEXT}, "", "MIT", "permissive"),  # pytorch-tabnet 4.1.0: no License field, an MIT file
    ({f"{D}/licenses/COPYING": GPL3_TEXT}, "License-File: COPYING\n", "GPL-3.0", "copyleft"),  # Metadata 2.4
    ({f"{D}/LICENSE.txt": BSD3_TEXT, f"{D}/NOTICE": "Acme models\n"}, "License-File: LICENSE.txt\nLicense-File: NOTICE\n",
     "BSD-3-Clause", "permissive"),
    ({f"{D}/licenses/LICENSE": APACHE_TEXT, f"{D}/licenses/third_party/k/LICENSE": GPL3_TEXT},
     "License-File: LICENSE\nLicense-File: third_party/k/LICENSE\n", "Apache-2.0", "permissive"),
    ({f"{D}/LICENSE-MIT": MIT_TEXT, f"{D}/LICENSE-APACHE": APACHE_TEXT}, "", "Apache-2.0 OR MIT", "permissive"),
    ({f"{D}/COPYING": GPL3_TEXT, f"{D}/COPYING.LESSER": LGPL3_TEXT}, "", "LGPL-3.0", "copyleft"),
    ({"LICENSE": MPL_TEXT}, "", "MPL-2.0", "copyleft"),  # at the wheel's top
    ({f"{D}/LICENSE": BSD2_TEXT, "tpkg/LICENSE": GPL3_TEXT}, "", "BSD-2-Clause", "permissive"),  # a data file, not the wheel's
])
def test_wheel_license_is_read_from_its_license_files_when_the_metadata_declares_none(tmp_path, members, declared, expected, kind):
    from corpus.licenses import license_kind

    whl = _wheel(tmp_path / "tpkg-1.0-py3-none-any.whl", {"tpkg/__init__.py": "", **members},
                 f"Metadata-Version: 2.1\nName: tpkg\nVersion: 1.0\nClassifier: Programming Language :: Python :: 3\n{declared}\n")
    src = open_source(f"wheel:{whl}", tmp_path)
    (f,) = src.files()
    assert f.provenance.license == expected and license_kind(f.provenance.license) == kind
    read = src.info.license_from.split(", ")
    assert read and all(m in members for m in read)  # where it came from: the archive members read


def test_archive_metadata_license_wins_over_its_files_and_an_sdist_reads_its_top(tmp_path):
    whl = _wheel(tmp_path / "tpkg-1.0-py3-none-any.whl", {"tpkg/__init__.py": "", f"{D}/LICENSE": MIT_TEXT},
                 "Metadata-Version: 2.1\nName: tpkg\nVersion: 1.0\nLicense: BSD-3-Clause\n\n")
    src = open_source(f"wheel:{whl}", tmp_path)
    assert (src.info.license, src.info.license_from) == ("BSD-3-Clause", "metadata")
    sdist = _sdist(tmp_path / "tpkg-0.3.tar.gz", {
        "tpkg-0.3/PKG-INFO": "Metadata-Version: 2.1\nName: tpkg\nVersion: 0.3\n\n",
        "tpkg-0.3/LICENSE.md": BSD2_TEXT,
        "tpkg-0.3/tpkg/__init__.py": "",
    })
    src = open_source(f"wheel:{sdist}", tmp_path)
    (f,) = src.files()
    assert f.provenance.license == "BSD-2-Clause" and src.info.license_from == "tpkg-0.3/LICENSE.md"
    bare = _wheel(tmp_path / "bare-1.0-py3-none-any.whl", {"bare/__init__.py": ""}, "Metadata-Version: 2.1\nName: bare\nVersion: 1.0\n\n")
    assert (open_source(f"wheel:{bare}", tmp_path).info.license, open_source(f"wheel:{bare}", tmp_path).info.license_from) == ("", "")


def test_installed_distribution_without_license_metadata_reads_its_license_file(tmp_path):
    from corpus.sources import installed_license

    info = tmp_path / "tpkg-1.0.dist-info"
    (info / "licenses").mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.4\nName: tpkg\nVersion: 1.0\nLicense-File: LICENSE\n\n")
    (info / "licenses" / "LICENSE").write_text(APACHE_TEXT)
    (info / "RECORD").write_text("tpkg/__init__.py,,\ntpkg-1.0.dist-info/METADATA,,\ntpkg-1.0.dist-info/licenses/LICENSE,,\n")
    dist = importlib.metadata.PathDistribution(info)
    assert installed_license(dist) == ("Apache-2.0", "tpkg-1.0.dist-info/licenses/LICENSE")


def test_directory_license_records_the_file_it_was_read_from(tmp_path):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "COPYING").write_text(GPL3_TEXT)
    src = open_source(f"dir:{repo / 'pkg'}", tmp_path)
    assert (src.info.license, src.info.license_from) == ("GPL-3.0", str(repo / "COPYING"))


def test_directory_symlinks_are_followed_once_and_loops_end(tmp_path):
    shared = tmp_path / "shared_models"
    shared.mkdir()
    (shared / "__init__.py").write_text("")
    (shared / "blk.py").write_text(LAYERS.replace("from . import util\n", "").replace("util.double(x)", "x"))
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "models").symlink_to("../shared_models")  # a shared package linked into the project
    (proj / "sub" / "up").symlink_to("..")  # a loop: would be walked forever
    (proj / "sub" / "again").symlink_to("../models")  # the same directory a second time, deeper: read once
    (proj / "sub" / "out").symlink_to("../..")  # above the source: it walked every sibling of the project
    (proj / "net.py").write_text("from models.blk import Block\n")
    src = open_source(f"dir:{proj}", tmp_path)
    files = list(src.files())
    assert [f.module for f in files] == ["models", "models.blk", "net"]
    assert src.skipped == {"sub/up/": "symlink loop", "sub/again/": "same directory as models/, read there",
                           "sub/out/": "symlink loop: a link to a directory above the source"}
    assert [b.qualified_name for b in mine_files(files)] == ["models.blk.Block"]


def test_an_unreadable_directory_is_reported_not_dropped(tmp_path):
    from corpus.sources import python_files

    root = tmp_path / "proj"
    root.mkdir()
    (root / "ok.py").write_text("x = 1\n")
    # a directory no one can list, whatever the user (root reads a chmod 000 one): its path is past PATH_MAX
    fd = os.open(root, os.O_RDONLY)
    depth = 0
    try:
        while depth * 201 < 4200:
            os.mkdir("d" * 200, dir_fd=fd)
            new = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd, depth = new, depth + 1
    finally:
        os.close(fd)
    found, skipped = python_files(root)
    assert [p.name for p in found] == ["ok.py"]
    ((where, why),) = skipped.items()
    assert where.endswith("/") and where.startswith("d" * 200) and why.startswith("unreadable directory: ")
    shutil.rmtree(root)


def test_a_release_file_pip_cannot_prepare_is_fetched_from_the_index_and_checked(tmp_path):
    """pip download of an sdist runs its build backend for metadata (mmcv 2.2.0's setup.py fails there): the file is
    then fetched from the index's simple API (PEP 691 JSON), a pure-Python wheel before the sdist, its sha256 checked."""
    import hashlib
    import http.server
    import json
    import threading

    from corpus.sources import download_release_file

    files = {"my-pkg-1.0.tar.gz": b"sdist bytes", "my_pkg-1.0-py3-none-any.whl": b"wheel bytes",
             "my_pkg-1.0-cp311-cp311-linux_x86_64.whl": b"binary", "my_pkg-0.9-py3-none-any.whl": b"older"}

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            index, _, rest = self.path.strip("/").partition("/")
            if rest.startswith("files/"):
                body = files[rest.removeprefix("files/")]
            else:
                assert rest == "my-pkg" and self.headers["Accept"] == "application/vnd.pypi.simple.v1+json", self.path
                listed = {f: b for f, b in files.items() if index != "sdist-only" or not f.endswith(".whl")}
                body = json.dumps({"files": [{"filename": f, "url": f"../files/{f}",  # relative, as indexes write them
                                              "hashes": {"sha256": hashlib.sha256(b if index != "bad" else b"x").hexdigest()}}
                                             for f, b in listed.items()]}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        got = download_release_file("My_Pkg", "1.0", tmp_path, f"{base}/any")
        assert got.name == "my_pkg-1.0-py3-none-any.whl" and got.read_bytes() == b"wheel bytes"  # the pure wheel first
        got = download_release_file("my.pkg", "1.0", tmp_path, f"{base}/sdist-only")
        assert got.name == "my-pkg-1.0.tar.gz" and got.read_bytes() == b"sdist bytes"
        (tmp_path / "x").mkdir()
        with pytest.raises(ValueError, match="sha256"):
            download_release_file("my-pkg", "1.0", tmp_path / "x", f"{base}/bad")
        assert not any((tmp_path / "x").iterdir())
    finally:
        server.shutdown()


PLAIN_BLOCK = "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n        return x + 1\n"


@pytest.mark.parametrize("files, expected, declaring", [
    ({"setup.py": 'from setuptools import setup\nsetup(name="x", license="MIT")\n'}, "MIT", "setup.py"),
    ({"setup.py": 'import setuptools\nsetuptools.setup(name="x", license_expression="GPL-2.0-only", license="GPL")\n'},
     "GPL-2.0-only", "setup.py"),
    ({"setup.cfg": "[metadata]\nname = x\n", "setup.py": 'from setuptools import setup\nsetup(license="BSD-3-Clause")\n'},
     "BSD-3-Clause", "setup.py"),
    ({"pyproject.toml": '[project]\nname = "x"\n', "setup.cfg": "[metadata]\nlicense = MIT\n"}, "MIT", "setup.cfg"),
])
def test_a_declared_license_is_read_from_setup_py_when_there_is_no_license_file(tmp_path, files, expected, declaring):
    from corpus.sources import directory_license_from

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "good.py").write_text(PLAIN_BLOCK)
    for name, text in files.items():
        (repo / name).write_text(text)
    assert directory_license_from(repo) == (expected, str(repo / declaring))
    assert {f.provenance.license for f in open_source(f"dir:{repo}", tmp_path).files()} == {expected}


def test_setup_py_is_read_never_run(tmp_path):
    from corpus.sources import directory_license_from

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "net.py").write_text(PLAIN_BLOCK)
    ran = tmp_path / "setup_py_ran"
    (repo / "setup.py").write_text(f"open({str(ran)!r}, 'w').write('x')\nfrom setuptools import setup\nsetup(license='Apache-2.0')\n")
    assert directory_license_from(repo) == ("Apache-2.0", str(repo / "setup.py"))
    assert not ran.exists()
    (repo / "setup.py").write_text("setup(license=LICENSE_NAME)\n")  # not a literal: nothing to read without running it
    assert directory_license_from(repo) == ("", "")


def _licensed_tree(root: Path) -> Path:
    """An MIT project vendoring GPL code (its own COPYING), a nested folder of it, and a folder with its own pyproject."""
    (root / "mine").mkdir(parents=True)
    (root / "LICENSE").write_text(MIT_TEXT)
    (root / "mine" / "net.py").write_text(PLAIN_BLOCK)
    (root / "third_party" / "gplcode" / "deep").mkdir(parents=True)
    (root / "third_party" / "gplcode" / "COPYING").write_text(GPL3_TEXT)
    (root / "third_party" / "gplcode" / "gplblock.py").write_text(PLAIN_BLOCK)
    (root / "third_party" / "gplcode" / "deep" / "inner.py").write_text(PLAIN_BLOCK)
    (root / "third_party" / "apache_pkg").mkdir()
    (root / "third_party" / "apache_pkg" / "pyproject.toml").write_text('[project]\nname = "a"\nlicense = "Apache-2.0"\n')
    (root / "third_party" / "apache_pkg" / "layer.py").write_text(PLAIN_BLOCK)
    (root / "third_party" / "tagged.py").write_text("# SPDX-License-Identifier: BSD-3-Clause\n" + PLAIN_BLOCK)
    return root


def test_each_file_takes_the_license_of_its_nearest_license_file(tmp_path):
    from corpus.licenses import license_kind

    root = _licensed_tree(tmp_path / "repo")
    src = open_source(f"dir:{root}", tmp_path)
    got = {f.provenance.path: f.provenance.license for f in src.files()}
    assert got == {
        "mine/net.py": "MIT",
        "third_party/gplcode/gplblock.py": "GPL-3.0",
        "third_party/gplcode/deep/inner.py": "GPL-3.0",
        "third_party/apache_pkg/layer.py": "Apache-2.0",
        "third_party/tagged.py": "BSD-3-Clause",  # the file's own SPDX line wins over the folder's
    }
    assert src.info.license == "MIT" and license_kind(got["third_party/gplcode/gplblock.py"]) == "copyleft"
    # mined blocks carry their file's license
    licenses = {b.provenance.path: b.provenance.license for b in mine_files(list(src.files()))}
    assert licenses["third_party/gplcode/gplblock.py"] == "GPL-3.0" and licenses["mine/net.py"] == "MIT"


def test_a_license_file_added_to_a_sub_folder_changes_the_fingerprint(tmp_path):
    root = _licensed_tree(tmp_path / "repo")
    before = open_source(f"dir:{root}", tmp_path).fingerprint()
    (root / "mine" / "LICENSE").write_text(GPL3_TEXT)
    src = open_source(f"dir:{root}", tmp_path)
    assert src.fingerprint() != before
    assert {f.provenance.path: f.provenance.license for f in src.files()}["mine/net.py"] == "GPL-3.0"


def test_a_carried_provenance_is_refreshed_with_its_own_files_license(tmp_path):
    root = _licensed_tree(tmp_path / "repo")
    src = open_source(f"dir:{root}", tmp_path)
    (vendored,) = [f.provenance for f in src.files() if f.module == "third_party.gplcode.gplblock"]
    vendored.license = "stale"
    src.refresh(vendored)
    assert vendored.license == "GPL-3.0" and vendored.path == "third_party/gplcode/gplblock.py"


BOOK = "import torch.nn as nn\n\n\nclass Residual(nn.Module):\n    def forward(self, x):\n        return x + x\n"
TWIN = "import mxnet\nfrom mxnet.gluon import nn\n\n\nclass Residual(nn.Block):\n    pass\n"


def test_an_archive_spec_can_select_modules(tmp_path):
    """``#book.torch`` reads that module (and the package above it), not its framework twins; a package selected
    brings what it holds. Why: d2l ships its book code for four frameworks, and three only stop at import."""
    whl = _wheel(
        tmp_path / "book-1.0-py3-none-any.whl",
        {"book/__init__.py": "", "book/torch.py": BOOK, "book/mxnet.py": TWIN, "book/extra/__init__.py": "",
         "book/extra/more.py": UTIL},
        "Metadata-Version: 2.4\nName: book\nVersion: 1.0\nLicense-Expression: MIT\n\n",
    )
    files = list(open_source(f"wheel:{whl}#book.torch", tmp_path).files())
    assert [f.module for f in files] == ["book", "book.torch"]
    (block,) = mine_files(files)  # a module without its package's __init__.py gives no block
    assert block.qualified_name == "book.torch.Residual"
    several = open_source(f"wheel:{whl}#book.torch, book.extra", tmp_path)
    assert [f.module for f in several.files()] == ["book", "book.extra", "book.extra.more", "book.torch"]
    assert [f.module for f in open_source(f"wheel:{whl}", tmp_path).files()] == [
        "book", "book.extra", "book.extra.more", "book.mxnet", "book.torch"]


@pytest.mark.parametrize("fragment, message", [("book.jax", "holds no module 'book.jax'"), ("book.torch-x", "bad module list"),
                                               ("", "bad module list")])
def test_a_module_selection_the_archive_cannot_give_is_refused(tmp_path, fragment, message):
    whl = _wheel(tmp_path / "book-1.0-py3-none-any.whl", {"book/__init__.py": "", "book/torch.py": BOOK},
                 "Metadata-Version: 2.4\nName: book\nVersion: 1.0\n\n")
    with pytest.raises(SourceError, match=message):
        list(open_source(f"wheel:{whl}#{fragment}", tmp_path).files())


def test_a_wheel_spec_with_modules_is_canonical_with_its_path_resolved(tmp_path, monkeypatch):
    from corpus.sources import canonical_spec

    monkeypatch.chdir(tmp_path)
    assert canonical_spec("wheel:book-1.0-py3-none-any.whl#book.torch") == f"wheel:{tmp_path}/book-1.0-py3-none-any.whl#book.torch"
    assert canonical_spec("pypi:d2l==0.17.6#d2l.torch") == "pypi:d2l==0.17.6#d2l.torch"
