"""Source and license filters: license kinds read from real-world license strings, and a store view that hides
blocks the filter excludes from every lookup Patch and Suggest make (real SQLite + FAISS store)."""

import pytest

from corpus.licenses import COPYLEFT, PERMISSIVE, UNKNOWN, license_kind
from helpers_index import ok_validation, real_block
from indexer.build import store_blocks
from indexer.embed import Embedder
from indexer.store import BlockStore
from rag_server.block_filter import license_allowed, restrict
from rag_server.patch import patch


@pytest.mark.parametrize("text, kind", [
    ("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-2-Clause AND BSD-3-Clause AND BSL-1.0 AND MIT", PERMISSIVE),  # torch
    ("BSD", PERMISSIVE), ("Apache", PERMISSIVE), ("MIT License", PERMISSIVE), ("Python Software Foundation License", PERMISSIVE),
    ("AGPL-3.0", COPYLEFT), ("GNU AFFERO GENERAL PUBLIC LICENSE", COPYLEFT), ("GPLv3", COPYLEFT), ("LGPL-2.1-or-later", COPYLEFT),
    ("MPL-2.0", COPYLEFT), ("Apache-2.0 AND GPL-2.0", COPYLEFT),  # every part of a conjunction binds
    ("MIT OR GPL-3.0", PERMISSIVE), ("MIT/Apache-2.0", PERMISSIVE),  # a choice: the permissive one may be taken
    ("", UNKNOWN), ("Proprietary", UNKNOWN), ("CC-BY-NC-4.0", UNKNOWN),
])
def test_license_kind(text, kind):
    assert license_kind(text) == kind


def test_a_license_passes_a_policy_by_its_kind():
    assert license_allowed("MIT", "no-copyleft") and license_allowed("", "no-copyleft") and not license_allowed("", "permissive")
    assert not license_allowed("GPL-3.0", "no-copyleft") and license_allowed("GPL-3.0", "any") and license_allowed("BSD", "permissive")
    with pytest.raises(ValueError, match="unknown license policy 'gpl'"):
        restrict(None, None, "gpl")


COPYLEFT_SPEC = "pypi:yolo-blocks==1.0"


def _licensed(block, license, source=None):
    for p in block.provenances:
        p.license = license
        p.source = source or p.source
    return block


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    se = _licensed(real_block("timm.layers.squeeze_excite", "SEModule", validation=ok_validation()), "Apache-2.0")
    mlp = _licensed(real_block("timm.layers.mlp", "Mlp", validation=ok_validation()), "AGPL-3.0", COPYLEFT_SPEC)
    drop = _licensed(real_block("timm.layers.drop", "DropPath", validation=ok_validation()), "AGPL-3.0", COPYLEFT_SPEC)
    drop.provenances += _licensed(real_block("timm.layers.drop", "DropPath"), "Apache-2.0").provenances  # also in timm
    lstm = _licensed(real_block("torch.nn.modules.rnn", "LSTM", source="dir:/src/vendored", validation=ok_validation()), "")
    embedder = Embedder()
    path = tmp_path_factory.mktemp("store")
    store_blocks([se, mlp, drop, lstm], path, embedder=embedder)
    return BlockStore(path, embedder=embedder)


def test_no_copyleft_hides_blocks_only_a_copyleft_source_holds(store):
    assert restrict(store, None, "any") is store
    view = restrict(store, None, "no-copyleft")
    assert view.restriction == {"pkg:timm", "dir:/src/vendored"}
    assert view.blocks_named("Mlp") == [] and view.get("Mlp") is None and view.get(store.get("Mlp").content_hash) is None
    assert "Mlp" not in {h.block.name for h in view.lookup_symbol("Mlp")} | {h.block.name for h in view.lookup_initials("M")}
    assert "Mlp" not in {h.block.name for h in view.search("multi layer perceptron", k=10)}
    assert "Mlp" in {h.block.name for h in store.search("multi layer perceptron", k=10)}  # the store itself is unchanged
    assert "Mlp" not in view.all_names() and "Mlp" in store.all_names()
    [drop] = view.blocks_named("DropPath")  # held by timm too: kept, and reported from timm only
    assert [(p.source, p.license) for p in drop.provenances] == [("pkg:timm", "Apache-2.0")]
    assert len(store.get("DropPath").provenances) == 2
    assert view.get("LSTM") is not None  # no license declared is not copyleft


def test_permissive_keeps_only_known_permissive_sources(store):
    view = restrict(store, None, "permissive")
    assert view.restriction == {"pkg:timm"}
    assert view.get("LSTM") is None and view.get("SEModule") is not None
    narrowed = restrict(view, ["timm"], "permissive")  # a view of a view narrows further
    assert narrowed.restriction == {"pkg:timm"}


def test_a_filter_that_leaves_no_source_says_so(store):
    assert restrict(store, ["yolo-blocks"], "any").restriction == {COPYLEFT_SPEC}  # a PyPI spec by its package name
    assert restrict(store, ["vendored"], "no-copyleft").restriction == {"dir:/src/vendored"}  # a directory by its name
    with pytest.raises(ValueError, match=r"license policy 'no-copyleft' leaves no source .*yolo-blocks==1.0 \(AGPL-3.0\)"):
        restrict(store, [COPYLEFT_SPEC], "no-copyleft")
    with pytest.raises(ValueError, match="source 'nosuch' is not in this store"):
        restrict(store, ["nosuch"], "any")


MODEL = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = Mlp(16, 32, 10)

    def forward(self, x):
        return self.mlp(x)
"""


def test_patch_through_a_view_inserts_no_excluded_block(store):
    anything = patch(MODEL, None, store, None)
    [block] = [i for i in anything.inserted if i["name"] == "Mlp"]
    assert block["provenance"]["source"] == COPYLEFT_SPEC
    filtered = patch(MODEL, None, restrict(store, None, "no-copyleft"), None)
    assert "class Mlp" not in filtered.code
    assert all(i["provenance"]["source"] != COPYLEFT_SPEC for i in filtered.inserted), filtered.inserted


def test_cli_search_and_patch_take_the_license_policy(store, tmp_path):
    import json

    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    args = ["search", "multi layer perceptron", "--store", str(store.store_dir), "--json"]
    everything = json.loads(runner.invoke(app, args).stdout)
    assert "Mlp" in {r["name"] for r in everything}
    out = runner.invoke(app, args + ["--license-policy", "no-copyleft"])
    assert out.exit_code == 0, out.output
    assert "Mlp" not in {r["name"] for r in json.loads(out.stdout)}
    assert runner.invoke(app, args + ["--license-policy", "gpl-ok"]).exit_code == 2  # not a policy: typer names the choices
    model = tmp_path / "model.py"
    model.write_text(MODEL)
    out = runner.invoke(app, ["patch", str(model), "--store", str(store.store_dir), "--source", "yolo-blocks", "--license-policy", "permissive"])
    assert out.exit_code == 2 and "license policy 'permissive' leaves no source" in out.output
    out = runner.invoke(app, ["patch", str(model), "--store", str(store.store_dir)])
    assert out.exit_code == 0 and "# inserted Mlp <- timm.layers.mlp.Mlp (exact; license AGPL-3.0)" in out.output, out.output


def test_cli_block_takes_the_license_policy(store):
    import json

    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    args = ["block", "Mlp", "--store", str(store.store_dir), "--json"]
    [found] = json.loads(runner.invoke(app, args).stdout)
    assert found["provenance"][0]["license"] == "AGPL-3.0"
    out = runner.invoke(app, args + ["--license-policy", "no-copyleft"])
    assert out.exit_code == 1 and "in the allowed sources (dir:/src/vendored, pkg:timm)" in json.loads(out.stdout)[0]["error"]
    [kept] = json.loads(runner.invoke(app, ["block", "DropPath", "--store", str(store.store_dir), "--json", "--license-policy", "permissive"]).stdout)
    assert [p["source"] for p in kept["provenance"]] == ["pkg:timm"], "reported from the allowed source only"
    assert runner.invoke(app, args + ["--source", "yolo-blocks", "--license-policy", "permissive"]).exit_code == 2


def test_the_settings_accept_exactly_the_license_policies():
    """nnrag.settings may not import rag_server (imports flow one way), so it spells the policies out: keep them equal."""
    from typing import get_args

    from nnrag.settings import Settings
    from rag_server.block_filter import LICENSE_POLICIES

    assert get_args(Settings.model_fields["license_policy"].annotation) == LICENSE_POLICIES


def test_a_source_with_vendored_copyleft_code_keeps_its_other_blocks(tmp_path):
    """Licenses are per file: a checkout under MIT that vendors a GPL folder loses only that folder's blocks under
    no-copyleft (the whole source was dropped, MIT blocks included), and a block held under both is shown from its
    MIT file only."""
    mixed = "dir:/src/mixed"
    se = _licensed(real_block("timm.layers.squeeze_excite", "SEModule", validation=ok_validation()), "MIT", mixed)
    mlp = _licensed(real_block("timm.layers.mlp", "Mlp", validation=ok_validation()), "GPL-3.0", mixed)
    drop = _licensed(real_block("timm.layers.drop", "DropPath", validation=ok_validation()), "GPL-3.0", mixed)
    mit_copy = _licensed(real_block("timm.layers.drop", "DropPath"), "MIT", mixed).provenances
    for prov in mit_copy:  # the same code in another file of the checkout
        prov.module, prov.path, prov.qualified_name = "mit.drop", "mit/drop.py", "mit.drop.DropPath"
    drop.provenances += mit_copy
    embedder = Embedder()
    store_blocks([se, mlp, drop], tmp_path, embedder=embedder)
    store = BlockStore(tmp_path, embedder=embedder)
    for view in (restrict(store, None, "no-copyleft"), restrict(store, ["mixed"], "permissive"),
                 restrict(restrict(store, ["mixed"], "any"), None, "no-copyleft")):  # a view of a view keeps the test
        assert view.restriction == {mixed}
        assert view.get("SEModule") is not None and view.get("Mlp") is None and view.blocks_named("Mlp") == []
        assert "Mlp" not in view.all_names() and "Mlp" not in {h.block.name for h in view.search("multi layer perceptron", k=10)}
        [kept] = view.blocks_named("DropPath")
        assert [p.license for p in kept.provenances] == ["MIT"]
        assert kept.qualified_name == "mit.drop.DropPath"  # the shown copy's name, not the hidden GPL copy's
    assert store.get("Mlp") is not None and len(store.get("DropPath").provenances) == 2  # the store itself is unchanged
    assert store.get("DropPath").qualified_name == "timm.layers.drop.DropPath"
    asked = store.get("mit.drop.DropPath")  # asked for by the MIT copy's name: that copy, first
    assert asked.qualified_name == "mit.drop.DropPath" and asked.provenances[0].license == "MIT"
    gpl_only = tmp_path.parent / "gpl_only"
    store_blocks([_licensed(real_block("timm.layers.mlp", "Mlp", validation=ok_validation()), "GPL-3.0", mixed)], gpl_only, embedder=embedder)
    with pytest.raises(ValueError, match=r"leaves no source .*dir:/src/mixed \(GPL-3.0\)"):
        restrict(BlockStore(gpl_only, embedder=embedder), None, "no-copyleft")
