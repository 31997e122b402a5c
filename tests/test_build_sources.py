"""What a build does with the sources a user really has: files that are not files (editor lock links, symlink
loops, FIFOs), files that do not parse, a BOM, two files taking one module name, paths typed relative, a source
that has gone since the last build, and ``--add --force``. Each used to lose blocks, stop the whole index, or hang.
Real miner, embedder and store; validation is off (these tests are about which blocks are kept)."""

import os
from pathlib import Path

import pytest

from corpus.sources import canonical_spec, open_dir
from indexer.build import build_index
from helpers_index import BLOCK
from indexer.store import BlockStore


def _block_file(path: Path, name: str, prefix: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(prefix + BLOCK.format(name=name).encode())


def _names(store_dir: Path) -> set[str]:
    store = BlockStore(store_dir)
    try:
        return {store.block_by_id(i).name for i in range(len(store))}
    finally:
        store.close()


def _build(specs: list[str], store: Path, cache: Path, **kw):
    return build_index(specs, store, cache_dir=cache, validate=False, **kw)


@pytest.fixture()
def checkout(tmp_path):
    root = tmp_path / "checkout"
    _block_file(root / "good.py", "GoodBlock")
    _block_file(root / "bom.py", "BomBlock", prefix=b"\xef\xbb\xbf")
    _block_file(root / "bar.py", "TopBar")
    _block_file(root / "src" / "bar.py", "SrcBar")  # src layout, but bar.py is taken at the top
    (root / "broken.py").write_text("class Broken(:\n")
    os.symlink("root@host.1234", root / ".#good.py")  # an Emacs lock: a dangling link
    os.symlink("loop_b.py", root / "loop_a.py")
    os.symlink("loop_a.py", root / "loop_b.py")
    os.mkfifo(root / "pipe.py")  # reading it would block forever
    return root


def test_odd_files_are_skipped_and_reported_and_every_block_is_kept(checkout, tmp_path):
    report = _build([f"dir:{checkout}"], tmp_path / "store", tmp_path / "cache")
    assert _names(tmp_path / "store") == {"GoodBlock", "BomBlock", "TopBar", "SrcBar"}
    skipped = report.sources[0].skipped
    assert set(skipped) == {"broken.py", ".#good.py", "loop_a.py", "loop_b.py", "pipe.py"}
    assert "SyntaxError" in skipped["broken.py"] and skipped[".#good.py"] == "broken symlink"
    assert skipped["loop_a.py"] == skipped["loop_b.py"] == "symlink loop"  # was "broken symlink"
    assert skipped["pipe.py"] == "not a regular file"


def test_a_module_name_two_files_claim_goes_to_the_package_as_in_python(tmp_path):
    root = tmp_path / "pkgs"
    _block_file(root / "foo.py", "ShadowedFoo")
    _block_file(root / "foo" / "__init__.py", "PackageFoo")
    report = _build([f"dir:{root}"], tmp_path / "store", tmp_path / "cache")
    assert _names(tmp_path / "store") == {"PackageFoo"}
    assert report.sources[0].skipped == {"foo.py": "module foo is already foo/__init__.py"}


def test_directory_specs_are_stored_absolute_whatever_the_spelling(checkout, tmp_path, monkeypatch):
    monkeypatch.chdir(checkout.parent)
    assert canonical_spec("dir:checkout/") == canonical_spec(f" dir:{checkout} ") == f"dir:{checkout.resolve()}"
    assert canonical_spec("pkg:timm") == "pkg:timm"
    report = _build(["dir:checkout", f"dir:{checkout}/"], tmp_path / "store", tmp_path / "cache")
    assert [s.spec for s in report.sources] == [f"dir:{checkout.resolve()}"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # a later --add from another directory still finds the first source
    _block_file(tmp_path / "second" / "more.py", "MoreBlock")
    again = _build([f"dir:{tmp_path / 'second'}"], tmp_path / "store", tmp_path / "cache", add=True)
    assert {s.spec for s in again.sources} == {f"dir:{checkout.resolve()}", f"dir:{(tmp_path / 'second').resolve()}"}
    assert "MoreBlock" in _names(tmp_path / "store") and "GoodBlock" in _names(tmp_path / "store")


@pytest.fixture()
def two_sources(tmp_path) -> tuple[Path, Path, Path, Path]:
    """(first, second, store, cache): a store built from ``first``; ``second`` not indexed yet."""
    first, second = tmp_path / "first", tmp_path / "second"
    _block_file(first / "a.py", "FirstBlock")
    _block_file(second / "b.py", "SecondBlock")
    store, cache = tmp_path / "store", tmp_path / "cache"
    _build([f"dir:{first}"], store, cache)
    return first, second, store, cache


def test_add_force_keeps_the_other_sources_and_a_plain_build_says_what_it_drops(two_sources):
    first, second, store, cache = two_sources
    forced = _build([f"dir:{second}"], store, cache, add=True, force=True)
    assert _names(store) == {"FirstBlock", "SecondBlock"} and not forced.dropped
    replaced = _build([f"dir:{second}"], store, cache)
    assert _names(store) == {"SecondBlock"}
    assert replaced.dropped == {f"dir:{first.resolve()}": 1}


def test_add_keeps_an_earlier_source_that_is_gone_instead_of_failing(two_sources, tmp_path):
    first, second, store, cache = two_sources
    first.rename(tmp_path / "moved")
    report = _build([f"dir:{second}"], store, cache, add=True)
    assert _names(store) == {"FirstBlock", "SecondBlock"}
    kept = next(s for s in report.sources if s.spec == f"dir:{first.resolve()}")
    assert kept.reused and "kept as it was" in kept.error and "not a directory" in kept.error
    with pytest.raises(ValueError, match="not a directory"):  # asked for by name, it is still an error
        _build([f"dir:{first}"], store, cache, add=True)


def test_a_bom_or_a_coding_cookie_is_read_as_python_reads_it(tmp_path):
    root = tmp_path / "enc"
    _block_file(root / "bom.py", "BomBlock", prefix=b"\xef\xbb\xbf")
    (root / "latin.py").write_bytes(b"# -*- coding: latin-1 -*-\n# auteur: Ren\xe9\n" + BLOCK.format(name="LatinBlock").encode())
    texts = {f.provenance.path: f.text for f in open_dir(root).files()}
    assert not texts["bom.py"].startswith("\ufeff") and "Ren\u00e9" in texts["latin.py"]


def test_a_source_without_python_files_is_an_error_alone_and_a_warning_beside_others(tmp_path):
    empty, data = tmp_path / "empty", tmp_path / "data"
    empty.mkdir()
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "table.csv").write_text("a,b\n1,2\n")
    store, cache = tmp_path / "store", tmp_path / "cache"
    with pytest.raises(ValueError, match=f"dir:{empty} holds no Python files; dir:{data} holds no Python files"):
        _build([f"dir:{empty}", f"dir:{data}"], store, cache)
    assert not store.exists() or not _names_or_empty(store)
    _block_file(tmp_path / "code" / "net.py", "CodeBlock")
    report = _build([f"dir:{empty}", f"dir:{tmp_path / 'code'}"], store, cache)
    assert _names(store) == {"CodeBlock"}
    assert {s.spec: s.error for s in report.sources} == {f"dir:{empty}": "holds no Python files", f"dir:{tmp_path / 'code'}": ""}


def _names_or_empty(store_dir: Path) -> set[str]:
    try:
        return _names(store_dir)
    except Exception:  # no version was ever published
        return set()


def test_the_cli_exits_2_naming_a_source_without_python_files(tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["index", "-s", f"dir:{tmp_path / 'empty'}", "--store", str(tmp_path / "store"), "--no-validate"])
    assert result.exit_code == 2
    assert f"dir:{tmp_path / 'empty'} holds no Python files" in result.output


def test_a_reused_source_still_reports_the_files_that_gave_no_block(checkout, tmp_path):
    first = _build([f"dir:{checkout}"], tmp_path / "store", tmp_path / "cache")
    again = _build([f"dir:{checkout}"], tmp_path / "store", tmp_path / "cache")
    assert again.up_to_date and again.sources[0].reused
    assert again.sources[0].skipped == first.sources[0].skipped and "broken.py" in again.sources[0].skipped
    (checkout / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge, to any person\n")
    # the fingerprint changes (the license), the files do not: reused after reading
    touched = _build([f"dir:{checkout}"], tmp_path / "store", tmp_path / "cache")
    assert touched.sources[0].reused and not touched.up_to_date
    assert touched.sources[0].skipped == first.sources[0].skipped


def test_a_gpl_checkout_whose_license_starts_with_a_copyright_line_is_copyleft(tmp_path):
    from corpus.licenses import license_kind

    repo = tmp_path / "gplrepo"
    _block_file(repo / "head.py", "GplHead")
    (repo / "LICENSE").write_text("    Copyright (C) 2021  Jane Researcher\n\n    This program is free software: you can "
                                  "redistribute it and/or modify\n    it under the terms of the GNU General Public License "
                                  "as published by\n    the Free Software Foundation, either version 3 of the License.\n")
    _build([f"dir:{repo}"], tmp_path / "store", tmp_path / "cache")
    store = BlockStore(tmp_path / "store")
    try:
        (block,) = [store.block_by_id(i) for i in range(len(store))]
    finally:
        store.close()
    assert block.provenance.license == "GPL-3.0" and license_kind(block.provenance.license) == "copyleft"


def test_an_edit_that_keeps_size_and_modification_time_is_seen(tmp_path):
    """The fingerprint read size and mtime only: an older copy restored with ``cp -p`` / ``rsync -a`` / ``tar x`` (same
    size, the mtime it had) left the store serving the code that is no longer there, with 'up to date'."""
    root = tmp_path / "src"
    _block_file(root / "m.py", "ScaleA")
    before = (root / "m.py").stat()
    _build([f"dir:{root}"], tmp_path / "store", tmp_path / "cache")
    assert _names(tmp_path / "store") == {"ScaleA"}
    _block_file(root / "m.py", "ScaleB")  # same length of name, so the same size
    os.utime(root / "m.py", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (root / "m.py").stat().st_size == before.st_size
    _build([f"dir:{root}"], tmp_path / "store", tmp_path / "cache")
    assert _names(tmp_path / "store") == {"ScaleB"}


def test_a_block_read_through_a_file_link_is_named_by_its_real_file(tmp_path):
    """``compat.py -> layers/conv.py``: the block's first provenance was compat.py (sorted first), whose git blob is
    the link's text, not the code."""
    root = tmp_path / "src"
    _block_file(root / "layers" / "conv.py", "ConvLinked")
    os.symlink("layers/conv.py", root / "compat.py")
    _build([f"dir:{root}"], tmp_path / "store", tmp_path / "cache")
    store = BlockStore(tmp_path / "store")
    try:
        block = store.get("ConvLinked")
    finally:
        store.close()
    assert block.provenance.path == "layers/conv.py", [p.path for p in block.provenances]
    assert {p.path for p in block.provenances} == {"layers/conv.py", "compat.py"}
