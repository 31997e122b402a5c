"""CLI shapes: `nnrag block/search/stats --json` over a real small store."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from helpers_index import ok_validation, real_block, real_blocks
from indexer.build import store_blocks
from nnrag.cli import app
from sandbox.spec import Example

runner = CliRunner()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    blocks = real_blocks()
    se = next(b for b in blocks if b.name == "SqueezeExcitation")
    se.example = Example(init_args=[16, 4], init_kwargs={}, inputs=[[2, 16, 8, 8]])
    other = real_block("timm.layers.mlp", "Mlp", source="pkg:other", validation=ok_validation("instantiate"))
    other.qualified_name = "other.layers.Mlp"
    other.code += "\n\nEXTRA = 2\n"
    path = tmp_path_factory.mktemp("cli") / "store"
    store_blocks([*blocks, other], path)
    return path


def _json(args):
    result = runner.invoke(app, args)
    return result, json.loads(result.stdout) if result.stdout.strip().startswith(("[", "{")) else None


def test_block_json_shape(store_dir):
    result, data = _json(["block", "SqueezeExcitation", "Mlp", "NoSuchThing", "--json", "--store", str(store_dir)])
    assert result.exit_code == 1  # one name unknown
    assert [d["name"] for d in data] == ["SqueezeExcitation", "Mlp", "NoSuchThing"]
    se = data[0]
    for key in ("name", "qualified_name", "source", "provenance", "validation", "example", "hash", "alternatives"):
        assert key in se
    assert se["qualified_name"] == "torchvision.ops.misc.SqueezeExcitation"
    assert "class SqueezeExcitation" in se["source"]
    assert se["provenance"][0]["path"] == "torchvision/ops/misc.py"
    assert se["validation"]["forward"] == {"status": "ok", "ok": True, "error": ""}
    assert se["example"] == {"init_args": [16, 4], "init_kwargs": {}, "inputs": [[2, 16, 8, 8]], "input_dtypes": None, "input_specs": None}
    assert len(se["hash"]) == 64
    mlp = data[1]
    assert mlp["qualified_name"] == "timm.layers.mlp.Mlp"  # the best-validated of two
    assert mlp["alternatives"] == ["other.layers.Mlp"]
    assert "error" in data[2] and "NoSuchThing" in data[2]["error"]


def test_block_text_output(store_dir):
    result = runner.invoke(app, ["block", "DropPath", "--store", str(store_dir)])
    assert result.exit_code == 0
    assert "class DropPath" in result.stdout and "timm.layers.drop.DropPath" in result.stdout
    typo = runner.invoke(app, ["search", "DropPth", "--mode", "symbol", "--store", str(store_dir)])
    assert typo.exit_code == 0 and "did you mean" in typo.output and "DropPath" in typo.output, typo.output  # an empty table alone
    empty = runner.invoke(app, ["block", "DropPath", " ", "--store", str(store_dir)])
    assert empty.exit_code == 2 and "a block name is empty" in empty.output, "refused as GetBlock refuses it, not 'no block named'"


def test_search_json(store_dir):
    result, data = _json(["search", "randomly drop residual paths", "-k", "3", "--json", "--store", str(store_dir)])
    assert result.exit_code == 0, result.output
    assert len(data) == 3 and [d["rank"] for d in data] == [1, 2, 3]
    assert data[0]["name"] in ("DropPath", "StochasticDepth")
    assert {"score", "match", "qualified_name", "hash", "stage", "source_spec"} <= set(data[0])
    assert data[0]["score"] >= data[-1]["score"]
    result, data = _json(["search", "mlp", "--json", "--min-stage", "forward", "--store", str(store_dir)])
    assert "other.layers.Mlp" not in {d["qualified_name"] for d in data}
    bad = runner.invoke(app, ["search", "x", "--min-stage", "fly", "--store", str(store_dir)])
    assert bad.exit_code == 2 and "unknown stage" in bad.output
    for nothing in ("\x00", " ()  "):  # not empty after strip, yet names nothing: used to return the embedding's nearest
        bad = runner.invoke(app, ["search", nothing, "--store", str(store_dir)])
        assert bad.exit_code == 2 and "no letter or digit" in bad.output, bad.output


def test_stats_json(store_dir):
    result, data = _json(["stats", "--json", "--store", str(store_dir)])
    assert result.exit_code == 0
    assert data["blocks"] == len(real_blocks()) + 1
    assert data["by_stage"]["instantiate"] == data["blocks"]
    assert data["by_stage"]["forward"] == data["blocks"] - 1
    assert set(data["by_source"]) == {"pkg:torch", "pkg:torchvision", "pkg:timm", "pkg:other"}


def test_tables_piped_to_a_file_keep_whole_names(store_dir):
    """Not a terminal (CliRunner, like a pipe or a CI log): rich would fit 80 columns and cut names with an ellipsis."""
    result = runner.invoke(app, ["search", "squeeze excitation", "-k", "2", "--store", str(store_dir)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "torchvision.ops.misc.SqueezeExcitation" in result.output and "…" not in result.output, result.output
    result = runner.invoke(app, ["stats", "--store", str(store_dir)], env={"COLUMNS": "80"})
    assert result.exit_code == 0 and str(store_dir) in result.output and "…" not in result.output, result.output


def test_missing_store_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["stats", "--store", str(tmp_path / "none")])
    assert result.exit_code == 2 and "no index" in result.output


def test_user_text_is_printed_not_read_as_markup(store_dir, tmp_path):
    for query in ("x[/foo]", "[bold]attention[/bold] list[int]"):
        result = runner.invoke(app, ["search", query, "-k", "1", "--store", str(store_dir)])
        assert result.exit_code == 0 and f"search: {query}" in result.output, result.output
    odd = tmp_path / "a[/foo]" / "store"
    shutil.copytree(store_dir, odd)
    result = runner.invoke(app, ["stats", "--store", str(odd)], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and "a[/foo]" in result.output, result.output


def test_index_summary_prints_a_bracketed_store_path(tmp_path, monkeypatch):
    import indexer.build
    from indexer.build import BuildReport, SourceReport

    odd = tmp_path / "[red]s[/foo]"
    report = BuildReport(store_dir=str(odd), version="v1", sources=[SourceReport(spec="dir:[b]x[/b]")])
    monkeypatch.setattr(indexer.build, "build_index", lambda *args, **kwargs: report)
    result = runner.invoke(app, ["index", "-s", "dir:x", "--store", str(odd), "--no-validate"], env={"COLUMNS": "400"})
    assert result.exit_code == 0 and f"{odd}: published version v1" in result.output and "dir:[b]x[/b]" in result.output, result.output


def test_a_store_path_that_is_a_file_is_a_clear_error(tmp_path):
    afile = tmp_path / "afile"
    afile.touch()
    for store, named in ((afile, f"store path {afile} is not a directory"), (afile / "sub", f"{afile}, above store path")):
        result = runner.invoke(app, ["index", "-s", f"dir:{tmp_path}", "--store", str(store), "--no-validate"])
        assert result.exit_code == 2 and named in result.output, result.output


def test_search_modes_are_the_clients_in_process_too(store_dir):
    from rag_server.client import SEARCH_MODES

    help_text = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "400"}).output
    for mode in SEARCH_MODES:
        assert mode in help_text
        result, data = _json(["search", "DropPath", "-k", "2", "--json", "--mode", mode, "--store", str(store_dir)])
        assert result.exit_code == 0 and data, (mode, result.output)
        assert (data[0]["match"] not in ("hybrid", "vector", "lexical")) == (mode in ("auto", "symbol")), (mode, data[0])
    result, data = _json(["search", "DropPath", "-k", "2", "--json", "--store", str(store_dir)])  # no --mode: auto, as the SDK
    assert result.exit_code == 0 and data[0]["match"] == "exact", result.output


def test_a_relative_dir_source_names_the_source_index_stored(tmp_path, monkeypatch):
    """``nnrag index -s dir:proj`` stores ``dir:/abs/proj``; ``--source dir:proj`` (or ``dir:proj/``) on block,
    search and patch was "not in this store"."""
    (tmp_path / "proj").mkdir()
    block = real_block("timm.layers.mlp", "Mlp", source=f"dir:{tmp_path / 'proj'}", validation=ok_validation("instantiate"))
    store_blocks([block], tmp_path / "store")
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model.py"
    model.write_text("import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                     "        super().__init__()\n        self.mlp = Mlp(8)\n\n    def forward(self, x):\n        return self.mlp(x)\n")
    for spec in ("dir:proj", "dir:proj/", f"dir:{tmp_path / 'proj'}"):
        store = ["--store", str(tmp_path / "store"), "--source", spec]
        result = runner.invoke(app, ["block", "Mlp", *store])
        assert result.exit_code == 0 and "class Mlp" in result.stdout, result.output
        result, data = _json(["search", "mlp", "--json", *store])
        assert result.exit_code == 0 and data[0]["name"] == "Mlp", result.output
        result = runner.invoke(app, ["patch", str(model), *store])
        assert result.exit_code == 0 and "class Mlp" in result.stdout, result.output
    result = runner.invoke(app, ["block", "Mlp", "--store", str(tmp_path / "store"), "--source", "dir:elsewhere"])
    assert result.exit_code == 2 and "not in this store" in result.output
    # a name no stored block answers: the file is written out, and the exit says it does not run (it said 0)
    model.write_text(model.read_text().replace("Mlp(8)", "Qwzxv_Frobnicator_9(8)").replace("self.mlp(x)", "self.mlp(x) + Qwzxv_Frobnicator_9"))
    result = runner.invoke(app, ["patch", str(model), "--store", str(tmp_path / "store")])
    assert result.exit_code == 1 and "# unresolved: Qwzxv_Frobnicator_9" in result.output, result.output
    assert "class Net" in result.stdout


MODULE_FILE = "import torch.nn as nn\n\n\nclass TinyBlock(nn.Module):\n    def __init__(self, dim=8):\n        super().__init__()\n" \
              "        self.fc = nn.Linear(dim, dim)\n\n    def forward(self, x):\n        return self.fc(x)\n"


def test_a_damaged_store_is_a_clear_error_and_a_build_replaces_it(store_dir, tmp_path):
    """A missing vectors.faiss or a truncated blocks.sqlite made every command a traceback, index --force included,
    and the store had to be deleted by hand: reads now exit 2 naming the broken file, --add refuses (it would drop the
    sources it cannot read), and a build publishes a new version without reading the damaged one."""
    from indexer.store import read_current

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "tiny.py").write_text(MODULE_FILE)
    for broken in ("vectors.faiss", "blocks.sqlite"):
        store = tmp_path / f"store_{broken}"
        shutil.copytree(store_dir, store)
        damaged = read_current(store) / broken
        if broken == "vectors.faiss":
            damaged.unlink()
        else:
            damaged.write_bytes(damaged.read_bytes()[:8192])
        for args in (["stats"], ["search", "mlp"], ["block", "Mlp"]):
            result = runner.invoke(app, [*args, "--store", str(store)])
            assert result.exit_code == 2 and f"{damaged} cannot be read" in result.output and "--force" in result.output, (args, result.output)
        result = runner.invoke(app, ["index", "-s", f"dir:{proj}", "--store", str(store), "--add", "--no-validate"])
        assert result.exit_code == 2 and "cannot --add" in result.output and f"{damaged} cannot be read" in result.output, result.output
        assert read_current(store) == damaged.parent  # nothing published
        result = runner.invoke(app, ["index", "-s", f"dir:{proj}", "--store", str(store), "--force", "--no-validate"])
        assert result.exit_code == 0, result.output
        result, data = _json(["stats", "--json", "--store", str(store)])
        assert result.exit_code == 0 and data["blocks"] == 1 and list(data["by_source"]) == [f"dir:{proj}"], result.output


def test_a_source_that_gives_no_block_is_named_in_a_warning(tmp_path):
    """A folder of Python files without an nn.Module class indexed silently, as if it held blocks."""
    with_block, without = tmp_path / "with_block", tmp_path / "no_module"
    with_block.mkdir()
    without.mkdir()
    (with_block / "tiny.py").write_text(MODULE_FILE)
    (without / "util.py").write_text("def add(a, b):\n    return a + b\n")
    result = runner.invoke(app, ["index", "-s", f"dir:{with_block}", "-s", f"dir:{without}", "--store", str(tmp_path / "store"), "--no-validate"],
                           env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert f"warning: dir:{without}: no block (no nn.Module class) in its 1 Python file(s)" in result.output
    assert f"dir:{with_block}: no block" not in result.output


def test_sources_that_give_no_block_publish_nothing(store_dir, tmp_path):
    """Python files without an nn.Module class indexed silently into an empty store (an empty folder was an error),
    replacing the store's blocks: now exit 2 naming the source, and the published version stays."""
    from indexer.store import read_current

    without = tmp_path / "no_module"
    without.mkdir()
    (without / "util.py").write_text("def add(a, b):\n    return a + b\n")
    store = tmp_path / "store"
    shutil.copytree(store_dir, store)
    before = read_current(store)
    result = runner.invoke(app, ["index", "-s", f"dir:{without}", "--store", str(store), "--no-validate"], env={"COLUMNS": "400"})
    assert result.exit_code == 2 and f"dir:{without}: no block (no nn.Module class) in its 1 Python file(s)" in result.output, result.output
    assert read_current(store) == before


def test_a_build_on_a_pipe_prints_plain_progress_lines(monkeypatch, capsys):
    """rich draws nothing on a pipe or a CI log until the end: a 5 MB source sat silent for minutes. Each task's count
    is a plain line every EVERY_S seconds, and once more at the end."""
    from indexer.build import PlainProgress

    monkeypatch.setattr(PlainProgress, "EVERY_S", 0.0)
    with PlainProgress() as progress:
        task = progress.add_task("embedding", total=3)
        progress.update(task, advance=2)
        quiet = progress.add_task("validating in the sandbox")
        progress.update(quiet, completed=5, total=9)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == ["embedding: 2/3", "validating in the sandbox: 5/9"], lines
