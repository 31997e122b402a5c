"""Git provenance of ``dir:`` sources: a block's version must name a commit that holds its code, and commit + path
must find the file. Real git repositories made with ``git init``; real miner, embedder and store (no validation)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from corpus.sources import git_head, open_dir
from indexer.build import build_index
from helpers_index import BLOCK
from indexer.store import BlockStore


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A checkout with one committed package ``sub/pkg`` (a block in ``sub/pkg/net.py``) and a README."""
    root = tmp_path / "repo"
    (root / "sub" / "pkg").mkdir(parents=True)
    (root / "sub" / "pkg" / "__init__.py").write_text("")
    (root / "sub" / "pkg" / "net.py").write_text(BLOCK.format(name="NetBlock"))
    (root / "README.md").write_text("hello\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "init")
    return root


def test_a_clean_checkout_records_head(repo):
    assert git_head(repo) == _git(repo, "rev-parse", "HEAD")


@pytest.mark.parametrize("change", ["edit", "untracked", "staged", "deleted"])
def test_changed_python_files_record_a_dirty_version(repo, change):
    head = _git(repo, "rev-parse", "HEAD")
    net = repo / "sub" / "pkg" / "net.py"
    if change == "edit":
        net.write_text(BLOCK.format(name="EditedBlock"))
    elif change == "untracked":
        (repo / "sub" / "pkg" / "extra.py").write_text(BLOCK.format(name="ExtraBlock"))
    elif change == "staged":
        net.write_text(BLOCK.format(name="StagedBlock"))
        _git(repo, "add", str(net))
    else:
        net.unlink()
    assert git_head(repo) == f"{head}-dirty"
    assert {f.provenance.version for f in open_dir(repo).files()} == {f"{head}-dirty"}


def test_changes_outside_the_indexed_python_files_keep_the_commit(repo):
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("edited\n")  # not code: HEAD still holds every indexed file
    (repo / "other").mkdir()
    (repo / "other" / "tool.py").write_text("x = 1\n")  # untracked, but outside the indexed dir
    for skipped_dir in ("build", ".venv/lib"):  # untracked, but in directories an index does not read
        (repo / "sub" / "pkg" / skipped_dir).mkdir(parents=True)
        (repo / "sub" / "pkg" / skipped_dir / "gen.py").write_text("x = 1\n")
    assert git_head(repo / "sub") == head
    assert git_head(repo) == f"{head}-dirty"  # the checkout as a whole does have a new .py file


def test_without_a_git_binary_head_is_read_from_packed_refs(repo, monkeypatch):
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")  # what git gc and fresh clones do: no loose refs/heads/main
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    monkeypatch.setenv("PATH", str(repo / "no-binaries-here"))
    assert git_head(repo) == head


def test_paths_of_a_sub_directory_are_relative_to_the_checkout(repo):
    src = open_dir(repo / "sub" / "pkg")
    (net,) = [f for f in src.files() if f.module == "pkg.net"]
    assert net.provenance.path == "sub/pkg/net.py"
    committed = _git(repo, "show", f"{net.provenance.version}:{net.provenance.path}")
    assert committed == net.text.strip()


def _stored_versions(store_dir: Path) -> set[str]:
    store = BlockStore(store_dir)
    try:
        return {p.version for i in range(len(store)) for p in store.block_by_id(i).provenances}
    finally:
        store.close()


def test_a_new_commit_with_the_same_files_refreshes_the_stored_version(repo, tmp_path):
    store, cache = tmp_path / "store", tmp_path / "cache"
    first = _git(repo, "rev-parse", "HEAD")
    build_index([f"dir:{repo}"], store, cache_dir=cache, validate=False)
    assert _stored_versions(store) == {first}
    (repo / "README.md").write_text("a new commit that leaves the code as it was\n")
    _git(repo, "commit", "-q", "-am", "docs")
    second = _git(repo, "rev-parse", "HEAD")
    report = build_index([f"dir:{repo}"], store, cache_dir=cache, validate=False)
    assert report.sources[0].reused and not report.up_to_date
    assert _stored_versions(store) == {second}


def test_a_gitignored_file_claims_no_commit(repo):
    (repo / ".gitignore").write_text("outputs/\n")
    _git(repo, "add", ".gitignore")
    _git(repo, "commit", "-q", "-m", "ignore outputs")
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "outputs" / "run1").mkdir(parents=True)
    (repo / "outputs" / "run1" / "snap.py").write_text(BLOCK.format(name="SnapshotBlock"))
    assert git_head(repo) == head  # git status leaves ignored files out
    src = open_dir(repo)
    files = {f.provenance.path: f.provenance.version for f in src.files()}
    assert files["outputs/run1/snap.py"] == f"{head}-dirty"  # no commit holds it
    assert src.info.version == f"{head}-dirty" and set(files.values()) == {f"{head}-dirty"}
    shown = subprocess.run(["git", "-C", str(repo), "show", f"{head}:outputs/run1/snap.py"], capture_output=True)
    assert shown.returncode != 0
    assert open_dir(repo / "sub").info.version == head  # the ignored file is not in that part of the checkout


@pytest.fixture()
def parent_with_submodule(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """``repo`` with a submodule at ``third_party/sub_lib`` (its own commit, a block in ``layers/subblock.py``)."""
    lib = tmp_path / "sub_lib"
    (lib / "layers").mkdir(parents=True)
    (lib / "layers" / "subblock.py").write_text(BLOCK.format(name="SubmoduleBlock"))
    subprocess.run(["git", "init", "-q", "-b", "main", str(lib)], check=True)
    _git(lib, "add", ".")
    _git(lib, "commit", "-q", "-m", "lib")
    _git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "third_party/sub_lib")
    _git(repo, "commit", "-q", "-m", "add submodule")
    return repo, repo / "third_party" / "sub_lib"


def test_a_file_in_a_submodule_records_the_submodules_commit_and_path(parent_with_submodule):
    parent, sub = parent_with_submodule
    sub_head = _git(sub, "rev-parse", "HEAD")
    src = open_dir(parent)
    files = {f.module: f for f in src.files()}
    inner = files["third_party.sub_lib.layers.subblock"].provenance
    assert (inner.version, inner.path) == (sub_head, "layers/subblock.py")
    assert _git(sub, "show", f"{inner.version}:{inner.path}") == files["third_party.sub_lib.layers.subblock"].text.strip()
    own = files["sub.pkg.net"].provenance  # the parent's own files keep the parent's commit and paths
    assert (own.version, own.path) == (_git(parent, "rev-parse", "HEAD"), "sub/pkg/net.py")
    assert _git(parent, "show", f"{own.version}:{own.path}") == files["sub.pkg.net"].text.strip()
    (sub / "layers" / "extra.py").write_text(BLOCK.format(name="Untracked"))  # untracked in the submodule
    dirty = {f.module: f.provenance.version for f in open_dir(parent).files()}
    assert dirty["third_party.sub_lib.layers.subblock"] == f"{sub_head}-dirty"
    assert dirty["sub.pkg.net"] == own.version


def test_a_carried_submodule_provenance_is_refreshed_to_the_submodules_commit(parent_with_submodule):
    parent, sub = parent_with_submodule
    (inner,) = [f.provenance for f in open_dir(parent).files() if f.module == "third_party.sub_lib.layers.subblock"]
    (sub / "NOTES.md").write_text("a new commit in the submodule that leaves the code as it was\n")
    _git(sub, "add", "NOTES.md")
    _git(sub, "commit", "-q", "-m", "notes")
    src = open_dir(parent)
    src.fingerprint()
    src.refresh(inner)
    assert (inner.version, inner.path) == (_git(sub, "rev-parse", "HEAD"), "layers/subblock.py")


def test_a_store_keeps_the_submodules_commit(parent_with_submodule, tmp_path):
    parent, sub = parent_with_submodule
    store = tmp_path / "store"
    build_index([f"dir:{parent}"], store, cache_dir=tmp_path / "cache", validate=False)
    opened = BlockStore(store)
    try:
        provs = {p.qualified_name: p for i in range(len(opened)) for p in opened.block_by_id(i).provenances}
    finally:
        opened.close()
    inner = provs["third_party.sub_lib.layers.subblock.SubmoduleBlock"]
    assert (inner.version, inner.path) == (_git(sub, "rev-parse", "HEAD"), "layers/subblock.py")
