"""Every way a store fails to open is one line naming the store, the exact file or folder that is missing or does
not read, and the rebuild command: a deleted blocks.sqlite said "CURRENT names version 'v...', which is missing"
(the folder was there) without naming the file, and an empty or garbage CURRENT gave no way out."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from helpers_index import real_blocks
from indexer.build import store_blocks
from indexer.embed import Embedder
from indexer.store import BlockStore, StoreError, read_current
from nnrag.cli import app

runner = CliRunner()
MODULE_FILE = "import torch.nn as nn\n\n\nclass TinyBlock(nn.Module):\n    def __init__(self, dim=8):\n        super().__init__()\n" \
              "        self.fc = nn.Linear(dim, dim)\n\n    def forward(self, x):\n        return self.fc(x)\n"


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


@pytest.fixture(scope="module")
def built(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("built") / "store"
    store_blocks(real_blocks()[:2], path, embedder=embedder)
    return path


def _damage(store, how: str):
    """Break a copy of a published store; returns the path the error must name."""
    version = read_current(store)
    current = store / "CURRENT"
    if how == "no blocks.sqlite":
        (version / "blocks.sqlite").unlink()
        return version / "blocks.sqlite"
    if how == "blocks.sqlite is a folder":
        (version / "blocks.sqlite").unlink()
        (version / "blocks.sqlite").mkdir()
        return version / "blocks.sqlite"
    if how == "no version folder":
        shutil.rmtree(version)
        return version
    if how == "CURRENT names another version":
        current.write_text("vNOPE\n")
        return store / "versions" / "vNOPE"
    if how == "empty CURRENT":
        current.write_text("")
        return current
    if how == "blank CURRENT":
        current.write_text(" \n\n")
        return current
    if how == "binary CURRENT":
        current.write_bytes(b"\xff\xfe\x00\x81garbage\x00")
        return current
    if how == "CURRENT names a path":
        current.write_text("../../etc\n")
        return current
    if how == "CURRENT is a folder":
        current.unlink()
        current.mkdir()
        return current
    raise AssertionError(how)


HOWS = ["no blocks.sqlite", "blocks.sqlite is a folder", "no version folder", "CURRENT names another version", "empty CURRENT",
        "blank CURRENT", "binary CURRENT", "CURRENT names a path", "CURRENT is a folder"]


@pytest.mark.parametrize("how", HOWS)
def test_a_store_that_does_not_open_names_the_file_and_the_rebuild(built, tmp_path, embedder, how):
    store = tmp_path / "store"
    shutil.copytree(built, store)
    broken = _damage(store, how)
    with pytest.raises(StoreError) as err:
        BlockStore(store, embedder=embedder)
    message = str(err.value)
    assert "\n" not in message, message
    assert f"store {store}" in message and f"{broken} " in message, message
    assert f"nnrag index --force --store {store}" in message, message
    if how in ("no blocks.sqlite", "blocks.sqlite is a folder"):
        assert "CURRENT names" not in message and "blocks.sqlite" in message, message  # the version folder is there


@pytest.mark.parametrize("how", ["no blocks.sqlite", "empty CURRENT", "CURRENT names another version"])
def test_the_cli_says_it_in_one_line_and_a_forced_build_replaces_it(built, tmp_path, how):
    store = tmp_path / "store"
    shutil.copytree(built, store)
    broken = _damage(store, how)
    for args in (["stats"], ["search", "mlp"]):
        result = runner.invoke(app, [*args, "--store", str(store)], env={"COLUMNS": "1000"})
        assert result.exit_code == 2, (args, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and f"{broken} " in lines[0] and f"nnrag index --force --store {store}" in lines[0], (args, result.output)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "tiny.py").write_text(MODULE_FILE)
    result = runner.invoke(app, ["index", "-s", f"dir:{proj}", "--store", str(store), "--add", "--no-validate"], env={"COLUMNS": "1000"})
    assert result.exit_code == 2 and "cannot --add" in result.output and f"{broken} " in result.output, result.output
    result = runner.invoke(app, ["index", "-s", f"dir:{proj}", "--store", str(store), "--force", "--no-validate"])
    assert result.exit_code == 0, result.output
    assert BlockStore(store).get("TinyBlock") is not None
