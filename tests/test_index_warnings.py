"""A dir: source whose classes all duplicate blocks of a source already indexed (a subfolder of it) holds those
blocks: a later ``index --add`` warned "no block (no nn.Module class)" for it, the build report said 0 blocks while
``stats`` said 1."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nnrag.cli import app

runner = CliRunner()
BLOCK = "import torch.nn as nn\n\n\nclass OvlBlock(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n" \
        "        self.l = nn.Linear(c, c)\n\n    def forward(self, x):\n        return self.l(x)\n"
OTHER = "import torch.nn as nn\n\n\nclass OtherBlock(nn.Module):\n    def forward(self, x):\n        return x\n"


def _index(store, *args):
    result = runner.invoke(app, ["index", *args, "--store", str(store), "--no-validate", "--json"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result


def _report(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_a_source_of_duplicate_blocks_is_not_said_to_hold_none(tmp_path):
    outer, inner, other = tmp_path / "ovl", tmp_path / "ovl" / "pkg", tmp_path / "other"
    inner.mkdir(parents=True)
    other.mkdir()
    (inner / "m.py").write_text(BLOCK)
    (inner / "__init__.py").write_text("")
    (other / "o.py").write_text(OTHER)
    store = tmp_path / "store"
    _index(store, "-s", f"dir:{outer}")
    result = _index(store, "--add", "-s", f"dir:{inner}")
    assert "no block" not in result.output, result.output
    for step in range(2):  # the next builds reuse the inner source: it still holds OvlBlock
        result = _index(store, "--add", "-s", f"dir:{other}")
        assert "no block" not in result.output, (step, result.output)
        report = {sr["spec"]: sr["blocks"] for sr in _report(result)["sources"]}
        stats = runner.invoke(app, ["stats", "--json", "--store", str(store)])
        by_source = {spec: entry["blocks"] for spec, entry in json.loads(stats.stdout)["by_source"].items()}
        assert by_source == {f"dir:{outer}": 1, f"dir:{inner}": 1, f"dir:{other}": 1}, stats.stdout
        assert report == by_source, (report, by_source)


def test_a_source_without_a_module_class_is_still_named(tmp_path):
    """The warning stays for what it is for: a folder of Python files without an nn.Module class, next to others."""
    with_block, without = tmp_path / "with_block", tmp_path / "no_module"
    with_block.mkdir()
    without.mkdir()
    (with_block / "m.py").write_text(BLOCK)
    (without / "util.py").write_text("def add(a, b):\n    return a + b\n")
    result = _index(tmp_path / "store", "-s", f"dir:{with_block}", "-s", f"dir:{without}")
    assert f"warning: dir:{without}: no block (no nn.Module class) in its 1 Python file(s)" in result.output
    assert f"dir:{with_block}: no block" not in result.output


def test_index_and_stats_say_which_count_is_mined_and_which_unique(tmp_path):
    """perceiver-pytorch's PreNorm is identical in two files: mined twice, stored once. ``index --json`` said 20 blocks
    and ``stats`` 19, neither saying which count it was."""
    proj = tmp_path / "twice"
    proj.mkdir()
    (proj / "a.py").write_text(BLOCK)
    (proj / "b.py").write_text(BLOCK + "\n\n" + OTHER.split("\n\n\n", 1)[1])
    store, spec = tmp_path / "store", f"dir:{proj}"
    for step in range(2):  # built, then up to date (counts read back from the store)
        (sr,) = _report(_index(store, "-s", spec))["sources"]
        assert (sr["blocks"], sr["unique_blocks"]) == (3, 2), (step, sr)
    entry = json.loads(runner.invoke(app, ["stats", "--json", "--store", str(store)]).stdout)["by_source"][spec]
    assert (entry["mined_blocks"], entry["blocks"]) == (3, 2)
    for args in (["index", "-s", spec], ["stats"]):
        table = runner.invoke(app, [*args, "--store", str(store), *(["--no-validate"] if args[0] == "index" else [])],
                              env={"COLUMNS": "400"}).stdout
        assert "mined" in table and "unique" in table, table
