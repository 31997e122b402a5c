"""Patch takes a pure-torch helper from a block that stops at import, when the helper's own code needs none of the
missing modules.

Blind set heldout15: mmseg's ``nlc_to_nchw`` / ``nchw_to_nlc`` and mmcv's ``kaiming_init`` / ``constant_init`` live
only inside blocks that import mmcv / cv2, which are not installed here; Patch refused every such block, so the models
calling these one-line helpers stayed unrestored although the helpers themselves import only torch. Such blocks also
take no place among the meaning matches, where no call could use them.
"""

from __future__ import annotations

import textwrap

import pytest

from corpus.records import Provenance
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore
from rag_server.patch import patch
from sandbox.spec import CheckSpec, Example

MIX_FFN = textwrap.dedent('''\
    import torch.nn as nn
    from nnrag_absent_mmcv import build_norm_layer


    def nlc_to_nchw(x, hw_shape):
        H, W = hw_shape
        B, L, C = x.shape
        return x.transpose(1, 2).reshape(B, C, H, W).contiguous()


    def nchw_to_nlc(x):
        return x.flatten(2).transpose(1, 2).contiguous()


    def registered_norm(dim):
        return build_norm_layer(dict(type="LN"), dim)[1]


    class MixFFN(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.norm = registered_norm(dim)
            self.fc = nn.Conv2d(dim, dim, 1)

        def forward(self, x, hw_shape):
            return nchw_to_nlc(self.fc(nlc_to_nchw(self.norm(x), hw_shape)))
    ''')

SEGFORMER_LIKE = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=16):
            super().__init__()
            self.embed = nn.Conv2d(3, dim, 4, stride=4)
            self.mix = nn.Linear(dim, dim)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.embed(x)
            hw = x.shape[2:]
            x = self.mix(nchw_to_nlc(x))
            x = nlc_to_nchw(x, hw)
            return self.head(x.mean(dim=(2, 3)))
    ''')

NORM_USER = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=16):
            super().__init__()
            self.norm = registered_norm(dim)
            self.head = nn.Linear(3 * 32 * 32, 10)

        def forward(self, x):
            return self.head(x.flatten(1))
    ''')


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        yield p


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store whose only block stops at import on a module not installed here, as mmseg's blocks do on mmcv."""
    path = tmp_path_factory.mktemp("store")
    prov = Provenance(source="pkg:segkit", package="segkit", version="test", path="segkit/mix.py", module="segkit.mix",
                      line_start=1, line_end=MIX_FFN.count("\n"), qualified_name="segkit.mix.MixFFN")
    stopped = {"parse": {"ok": True}, "import": {"ok": False, "error": "ModuleNotFoundError: No module named 'nnrag_absent_mmcv'"}}
    block = Block(name="MixFFN", qualified_name="segkit.mix.MixFFN", code=MIX_FFN, provenances=[prov],
                  external_imports=["torch", "nnrag_absent_mmcv"], missing_deps=["nnrag_absent_mmcv"], validation=stopped)
    store_blocks([block], path)
    return BlockStore(path)


def test_a_pure_helper_of_a_block_stopped_at_import_is_patched_in(store, pool):
    result = patch(SEGFORMER_LIKE, CheckSpec(example=Example(inputs=[[2, 3, 32, 32]])), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    assert sorted(block["name"] for block in result.inserted) == ["nchw_to_nlc", "nlc_to_nchw"], result.inserted
    assert "nnrag_absent_mmcv" not in result.code and "class MixFFN" not in result.code, result.code


def test_a_helper_needing_the_missing_module_is_not(store, pool):
    result = patch(NORM_USER, CheckSpec(example=Example(inputs=[[2, 3, 32, 32]])), store, pool)
    assert result.inserted == [] and "registered_norm" in result.unresolved, (result.inserted, result.unresolved)


@pytest.mark.parametrize("code, needs", [
    ("import torch\n\n\ndef f(x):\n    return torch.relu(x)\n", False),
    ("from nnrag_absent_mmcv.cnn import build_norm_layer\n\n\ndef f(x):\n    return build_norm_layer(x)\n", True),
    ("import nnrag_absent_mmcv as mm\n\n\ndef f(x):\n    return mm.f(x)\n", True),
])
def test_needs_missing_module_reads_the_helpers_own_imports(code, needs):
    from rag_server.candidates import needs_missing_module

    assert needs_missing_module(code, ["nnrag_absent_mmcv", "cv2"]) is needs
    assert needs_missing_module(code, []) is False


def _graph_block(name: str, doc: str, stopped: bool) -> Block:
    code = (f'import torch.nn as nn\n\n\nclass {name}(nn.Module):\n    """{doc}"""\n\n    def __init__(self, dim):\n'
            f'        super().__init__()\n        self.fc = nn.Linear(dim, dim)\n\n    def forward(self, x, adj):\n'
            f'        return adj @ self.fc(x)\n')
    prov = Provenance(source="pkg:graphkit", package="graphkit", version="test", path="graphkit/conv.py", module="graphkit.conv",
                      line_start=1, line_end=code.count("\n"), qualified_name=f"graphkit.conv.{name}")
    validation = ({"parse": {"ok": True}, "import": {"ok": False, "error": "ModuleNotFoundError: No module named 'nnrag_absent_mmcv'"}}
                  if stopped else {s: {"ok": True} for s in ("parse", "import", "instantiate", "forward", "backward")})
    return Block(name=name, qualified_name=f"graphkit.conv.{name}", code=code, provenances=[prov], external_imports=["torch"],
                 missing_deps=["nnrag_absent_mmcv"] if stopped else [], validation=validation)


def test_blocks_that_stop_at_import_take_no_place_among_the_meaning_matches(tmp_path):
    """mmpretrain's graph convolutions (they import mmcv) took 7 of the 10 meaning hits of a GCN's ``GraphConvolution``,
    and each was then refused as a candidate: the blocks that could serve were crowded out."""
    from rag_server.candidates import semantic_hits

    stopped = [_graph_block(f"GraphConv{i}", "Graph convolution over node features and an adjacency matrix.", True) for i in range(6)]
    store_blocks(stopped + [_graph_block("NodeMixer", "Mixes the features of neighbouring nodes.", False)], tmp_path)
    hits = semantic_hits(BlockStore(tmp_path), "graph convolution layer over node features", k=3)
    assert [hit.block.name for hit, _ in hits] == ["NodeMixer"], [(hit.block.name, round(s, 2)) for hit, s in hits]
