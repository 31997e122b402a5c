"""Suggest on code as an editor holds it: broken mid-edit, importing blocks from modules an LLM imagined, calling
helpers of stored blocks, feeding a block channels-last. A small real store (the indexer's own mining of installed
modules, unvalidated for speed: real SQLite + FAISS), no mocks of our parts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rag_server.call_layout import fed_channels_last, needs_channels_first
from rag_server.mend import mended
from rag_server.suggest import suggest

SOURCES = ["pkg:timm.layers.mlp", "pkg:timm.models.swiftformer", "pkg:timm.layers.drop", "pkg:torchvision.models.shufflenetv2",
           "pkg:torchvision.models.mobilenetv2", "pkg:torchvision.ops.misc", "pkg:torch.nn.modules.activation"]

MODEL = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = ConvBNReLU(3, 32, stride=2)
        self.layer1 = InvertedResidual(32, 16, stride=1, expand_ratio=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        x = self.layer1(self.stem(x))
        x = channel_shuffle(x, 2)
        return self.fc(self.pool(x).flatten(1))
'''

FC = "        self.fc = nn.Linear(16, num_classes)"
# (what is broken, the line it replaces, what it reads instead): the states code passes through while typed
BREAKAGES = [
    ("unclosed bracket", "        self.fc = nn.Linear(16, num_classes)", "        self.fc = nn.Linear(16, num_classes"),
    ("unclosed call over lines", "        self.fc = nn.Linear(16, num_classes)", "        self.fc = nn.Sequential(\n            nn.Linear(16, num_classes),"),
    ("half-typed line", "        return self.fc(self.pool(x).flatten(1))", "        x = self.\n        return self.fc(self.pool(x).flatten(1))"),
    ("unterminated string", "        self.pool = nn.AdaptiveAvgPool2d(1)", '        self.pool = nn.AdaptiveAvgPool2d(1)\n        self.tag = "pool'),
    ("wrong indent", "        self.pool = nn.AdaptiveAvgPool2d(1)", "       self.pool = nn.AdaptiveAvgPool2d(1)"),
    ("body not typed yet", "    def forward(self, x):", "    def extra(self):\n\n    def forward(self, x):"),
    # typing the last argument of a call that is itself an argument of an open call: every open bracket is closed
    ("inner call open in an open call", FC, "        self.fc = nn.Sequential(\n            nn.Dropout(0.1),\n            nn.Linear(16, num_classes"),
    ("trailing comma in open calls", FC, "        self.fc = nn.Sequential(\n            nn.Linear(16, num_classes,"),
    ("keyword argument not typed yet", FC, "        self.fc = nn.Sequential(\n            nn.Linear(16, num_classes, bias="),
    ("string open in open calls", FC, '        self.fc = nn.Sequential(\n            nn.Linear(16, num_classes), Tagged("fc'),
    ("comment after open calls", FC, "        self.fc = nn.Sequential(\n            nn.Linear(16, num_classes  # wip: (more"),
    ("list in dict in call", FC, "        self.fc = nn.ModuleDict({'head': nn.Sequential(nn.Linear(16, num_classes), [nn.ReLU(),"),
]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    from indexer.build import build_index

    path = tmp_path_factory.mktemp("suggest_store")
    build_index(SOURCES, path, validate=False, cache_dir=tmp_path_factory.mktemp("cache"))
    return path


@pytest.fixture(scope="module")
def store(store_dir):
    from indexer.store import BlockStore

    return BlockStore(store_dir)


def _line_of(code: str, text: str) -> int:
    return code.splitlines().index(text) + 1


def _blocks(result) -> dict[str, tuple[str, int]]:
    """undefined name -> (qualified name of the block offered for it, insert line)."""
    out = {}
    for s in result.suggestions:
        if s.reason.startswith("undefined name "):
            out[s.reason.split()[2].rstrip(":")] = (s.hit.block.qualified_name, s.insert_line)
    return out


@pytest.mark.parametrize("kind, line, broken", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_code_that_does_not_parse_gets_the_blocks_parseable_code_gets(store, kind, line, broken):
    code = MODEL.replace(line, broken)
    assert code != MODEL and mended(MODEL) == MODEL
    with pytest.raises(SyntaxError):
        ast.parse(code)
    expected = _blocks(suggest(store, MODEL, k=5, context_lines=100))
    assert expected["InvertedResidual"][0] == "torchvision.models.mobilenetv2.InvertedResidual"  # takes expand_ratio=
    assert {"ConvBNReLU", "channel_shuffle"} <= set(expected)
    broken_line = _line_of(code, broken.splitlines()[-1])
    class_line = _line_of(code, "class Net(nn.Module):")
    for cursor in (broken_line, _line_of(code, "    def forward(self, x):"), 0):
        result = suggest(store, code, cursor_line=cursor, k=5, context_lines=100)
        assert {"ConvBNReLU", "InvertedResidual", "channel_shuffle"} <= set(result.undefined_names), (kind, cursor, result.undefined_names)
        got = _blocks(result)
        assert {name: qualified for name, (qualified, _) in got.items()} == {name: q for name, (q, _) in expected.items()}, (kind, cursor)
        assert {at for _, at in got.values()} == {class_line}, (kind, cursor)


def test_mending_keeps_every_line_and_the_call_sites():
    for _, line, broken in BREAKAGES:
        code = MODEL.replace(line, broken)
        fixed = mended(code)
        assert fixed is not None and len(fixed.split("\n")) == len(code.split("\n"))
        ast.parse(fixed)
        assert "InvertedResidual(32, 16, stride=1, expand_ratio=1)" in fixed and "channel_shuffle(x, 2)" in fixed
    assert "nn.Sequential(\n            nn.Linear(16, num_classes),)" in mended(MODEL.replace(BREAKAGES[1][1], BREAKAGES[1][2]))
    assert mended("x = (" * 5 + "\n") is not None


def test_imports_of_what_does_not_exist_and_nn_names_torch_lacks_get_blocks(store):
    code = ("import torch.nn as nn\nfrom models.common import InvertedResidual\nfrom .layers import DropPath\n"
            "from torchvision.ops import ConvBNActivation\nfrom timm.layers import Mlp\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n        self.a = InvertedResidual(16, 16, stride=1, expand_ratio=6)\n"
            "        self.b = ConvBNActivation(16, 16)\n        self.drop = DropPath(0.1)\n        self.act = nn.Swish()\n"
            "        self.drop2 = nn.DropPath(0.1)\n        self.mlp = Mlp(16)\n")
    result = suggest(store, code, k=10)
    assert {"InvertedResidual", "DropPath", "ConvBNActivation", "nn.Swish"} <= set(result.undefined_names)
    assert "Mlp" not in result.undefined_names  # timm.layers has it: the import binds
    got = _blocks(result)
    class_line = _line_of(code, "class Net(nn.Module):")
    assert got["InvertedResidual"] == ("torchvision.models.mobilenetv2.InvertedResidual", class_line)
    assert got["DropPath"] == ("timm.layers.drop.DropPath", class_line)
    assert "ConvBNActivation" in got
    [swish] = [s for s in result.suggestions if s.reason.startswith("undefined name nn.Swish")]
    assert swish.hit.block.name == "SiLU" and "nn.SiLU" in swish.reason
    assert swish.insert_line == 0 and f'(line {_line_of(code, "        self.act = nn.Swish()")})' in swish.reason  # a rewrite
    [dropped] = [s for s in result.suggestions if s.reason.startswith("undefined name InvertedResidual")]
    assert "'models.common', a module that does not exist here" in dropped.reason
    assert "(remove the import of InvertedResidual from 'models.common'" in dropped.reason, dropped.reason  # not "removed": Suggest edits nothing


def test_a_helper_function_is_offered_alone_not_its_hosting_network(store):
    code = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
            "        x = drop_path(x, 0.1, self.training)\n        return channel_shuffle(x, 2)\n")
    result = suggest(store, code, k=2)
    offered = {s.hit.block.name: s.hit.block for s in result.suggestions}
    assert set(offered) == {"drop_path", "channel_shuffle"}, offered
    shuffle = offered["channel_shuffle"]
    assert shuffle.qualified_name == "torchvision.models.shufflenetv2.channel_shuffle"
    assert "def channel_shuffle(" in shuffle.code and "class " not in shuffle.code
    assert shuffle.signature.startswith("(x") and shuffle.provenance.module == "torchvision.models.shufflenetv2"
    assert "def drop_path(" in offered["drop_path"].code and "class DropPath" not in offered["drop_path"].code


CHANNELS_LAST = '''import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.mlp = Mlp(dim, hidden_features=4 * dim)

    def forward(self, x):
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)
        x = self.mlp(x)
        return x.permute(0, 3, 1, 2)
'''


def test_a_block_fed_channels_last_gets_one_that_works_on_the_last_dimension(store):
    [mlp] = [s.hit.block for s in suggest(store, CHANNELS_LAST, k=1).suggestions]
    assert mlp.name == "Mlp" and not needs_channels_first(mlp.code, "Mlp"), mlp.qualified_name
    assert needs_channels_first(store.get("timm.models.swiftformer.Mlp").code, "Mlp")  # the one it must not be
    plain = CHANNELS_LAST.replace("        x = x.permute(0, 2, 3, 1)\n", "").replace("return x.permute(0, 3, 1, 2)", "return x")
    [conv_mlp] = [s.hit.block for s in suggest(store, plain, k=1).suggestions]  # fed [B, C, H, W]: a 1x1-conv Mlp stays
    assert conv_mlp.qualified_name == "timm.models.swiftformer.Mlp"


@pytest.mark.parametrize("forward, last", [
    ("x = x.permute(0, 2, 3, 1)\n        return self.mlp(x)", True),
    ("return self.mlp(x.flatten(2).transpose(1, 2))", True),
    ("x = rearrange(x, 'b c h w -> b h w c')\n        y = self.mlp(x)\n        return y", True),
    ("y = x.permute(0, 2, 3, 1)\n        return self.mlp(x)", False),  # another variable
    ("x = self.mlp(x)\n        x = x.permute(0, 2, 3, 1)\n        return x", False),  # permuted after the call
    ("return self.mlp(x.permute(0, 3, 1, 2))", False),  # back to channels-first
])
def test_channels_last_input_is_read_from_the_call_site(forward, last):
    code = f"class B:\n    def __init__(self):\n        self.mlp = Mlp(8)\n\n    def forward(self, x):\n        {forward}\n"
    assert fed_channels_last(ast.parse(code), "Mlp") is last
    assert fed_channels_last(ast.parse(code), "Other") is False


def test_cursor_window_and_lines_point_into_the_editor_file(store):
    code = MODEL.replace("import torch.nn as nn\n", "import torch.nn as nn\nfrom models.common import (\n    Helper,\n)\n")
    layer_line = _line_of(code, "        self.layer1 = InvertedResidual(32, 16, stride=1, expand_ratio=1)")
    result = suggest(store, code, cursor_line=layer_line, k=1, context_lines=0)
    assert result.undefined_names == ["InvertedResidual"]
    assert [s.insert_line for s in result.suggestions] == [_line_of(code, "class Net(nn.Module):")]


def test_store_fixture_mined_the_blocks_the_tests_name(store):
    names = set(store.all_names())
    assert {"InvertedResidual", "Mlp", "DropPath", "ShuffleNetV2", "SiLU", "Conv2dNormActivation"} <= names


def test_context_lines_zero_reads_the_cursor_line_only_over_grpc(store_dir, tmp_path):
    """``context_lines`` is proto3 ``optional``: 0 is asked for, unset is the default 20 (0 used to mean 20)."""
    from nnrag.settings import Settings
    from rag_server.backend import Backend
    from rag_server.client import Client
    from rag_server.server import build_server

    settings = Settings(store_dir=store_dir, address="127.0.0.1:0", workers=1, predictor_dir=tmp_path / "none")
    running = build_server(settings, Backend.open(settings, pool=None))
    try:
        with Client(running.address) as client:
            layer_line = _line_of(MODEL, "        self.layer1 = InvertedResidual(32, 16, stride=1, expand_ratio=1)")
            assert client.suggest(MODEL, cursor_line=layer_line, k=1, context_lines=0).undefined_names == ["InvertedResidual"]
            assert {"ConvBNReLU", "InvertedResidual", "channel_shuffle"} <= set(client.suggest(MODEL, cursor_line=layer_line, k=1).undefined_names)
            typo = client.suggest(MISSPELT_LOCAL, cursor_line=_line_of(MISSPELT_LOCAL, "        return self.conv2(feature)"), k=3)
            assert typo.notes == [f"feature: most likely a typo of features (line {_line_of(MISSPELT_LOCAL, '        return self.conv2(feature)')})"]
    finally:
        running.stop(grace=1)


def test_a_block_imported_under_another_name_is_not_offered_as_similar(store):
    code = ("import torch.nn as nn\nfrom timm.layers.mlp import Mlp as TimmMlp\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self, dim):\n        super().__init__()\n        self.mlp = TimmMlp(dim, hidden_features=4 * dim)\n")
    plain = code.replace("Mlp as TimmMlp", "GluMlp as TimmMlp")
    assert "timm.layers.mlp.Mlp" in {s.hit.block.qualified_name for s in suggest(store, plain, k=10).suggestions}  # offered otherwise
    result = suggest(store, code, k=10)
    assert result.undefined_names == [] and "timm.layers.mlp.Mlp" not in {s.hit.block.qualified_name for s in result.suggestions}


MISSPELT_LOCAL = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3)
        self.conv2 = nn.Conv2d(16, 16, 3)

    def forward(self, x):
        features = self.conv1(x)
        return self.conv2(feature)
"""


def test_a_misspelt_local_variable_gets_a_note_not_a_block(store):
    """``self.conv2(feature)`` beside ``features = ...`` was offered a library block found by meaning for ``feature``
    (fightingcv's ``conv_head_pooling``); Patch leaves such a name alone and says it is a typo, and so does Suggest."""
    result = suggest(store, MISSPELT_LOCAL, cursor_line=_line_of(MISSPELT_LOCAL, "        return self.conv2(feature)"), k=3)
    assert result.undefined_names == ["feature"]
    assert result.notes == [f"feature: most likely a typo of features (line {_line_of(MISSPELT_LOCAL, '        return self.conv2(feature)')})"]
    assert not any(s.reason.startswith("undefined name feature") for s in result.suggestions)


def test_an_nn_call_torch_spells_with_an_argument_is_read_as_patch_reads_it(store):
    """``nn.GlobalAvgPool2d()`` is no free name; Patch reads it as ``nn.AdaptiveAvgPool2d(1)`` with a note, and
    Suggest must say the same, from the same table, with or without a torch.nn block in the store to show."""
    from rag_server.candidates import free_what_is_missing

    code = ("import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.pool = nn.GlobalAvgPool2d( )\n        self.act = nn.Swish()\n")
    _, patch_notes, rewrites = free_what_is_missing(code)
    assert rewrites["nn.GlobalAvgPool2d()"] == "nn.AdaptiveAvgPool2d(1)"
    result = suggest(store, code, k=5)
    assert {"nn.GlobalAvgPool2d", "nn.Swish"} <= set(result.undefined_names)
    gap_note = next(n for n in patch_notes if "GlobalAvgPool2d" in n)
    said = result.notes + [s.reason for s in result.suggestions]
    assert any(gap_note in text and f"line {_line_of(code, '        self.pool = nn.GlobalAvgPool2d( )')}" in text for text in said), said
    # a rewrite, not an insertion: the nn.Swish line had been given as the place to insert SiLU's source
    swish = [s for s in result.suggestions if "nn.Swish" in s.reason]
    assert swish and all(s.insert_line == 0 and f"line {_line_of(code, '        self.act = nn.Swish()')}" in s.reason for s in swish), swish


def test_channels_last_input_is_read_through_the_layers_that_keep_it(store):
    """``self.mlp(self.norm(x))`` after ``x = x.permute(0, 2, 3, 1)`` (ConvNeXt) was read as saying nothing, and the
    1x1-conv ``Mlp`` of swiftformer was offered; it fails on [B, H, W, C] input."""
    code = CHANNELS_LAST.replace("        x = self.mlp(x)\n", "        x = self.mlp(self.norm(x))\n").replace(
        "        super().__init__()\n", "        super().__init__()\n        self.norm = nn.LayerNorm(64)\n")
    assert "self.mlp(self.norm(x))" in code and "self.norm = nn.LayerNorm(64)" in code
    assert fed_channels_last(ast.parse(code), "Mlp")
    [mlp] = [s.hit.block for s in suggest(store, code, k=1).suggestions]
    assert mlp.name == "Mlp" and not needs_channels_first(mlp.code, "Mlp"), mlp.qualified_name


EDITED_BLOCKS_MODEL = '''import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.layer = BasicBlock(16, 32, 2)
        self.gate = FutureGate(32)
        self.res = ResidualBlock(32, 32)

    def forward(self, x):
        return self.res(self.gate(self.layer(self.stem(x))))
'''

FUTURE_GATE = '''from __future__ import annotations

import torch
import torch.nn as nn


class FutureGate(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(x))
'''


def test_offered_code_is_what_patch_inserts_and_runs_where_it_is_offered(tmp_path):
    """The reason said "defaults set in the block: norm_layer=nn.BatchNorm2d" and "downsample: 1x1 conv +
    BatchNorm2d ..." over the stored code, which lacked both (TypeError / a residual sum of mismatched shapes); a block
    starting with ``from __future__ import annotations`` made the editor's file a SyntaxError where it was offered."""
    import torch

    from indexer.build import build_index
    from indexer.store import BlockStore

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "gates.py").write_text(FUTURE_GATE)
    sources = [f"dir:{tmp_path / 'mine'}", "pkg:torchvision.models.resnet", "pkg:torchvision.models.optical_flow.raft"]
    build_index(sources, tmp_path / "store", validate=False, cache_dir=tmp_path / "cache")
    result = suggest(BlockStore(tmp_path / "store"), EDITED_BLOCKS_MODEL, k=3)
    offered = {s.hit.block.name: s for s in result.suggestions}
    assert set(offered) == {"BasicBlock", "FutureGate", "ResidualBlock"}, offered
    assert "# nnrag: the projection shortcut" in offered["BasicBlock"].hit.block.code
    assert "norm_layer=nn.BatchNorm2d" in offered["ResidualBlock"].hit.block.code.replace(" ", "")
    assert "__future__" not in offered["FutureGate"].hit.block.code
    lines = EDITED_BLOCKS_MODEL.split("\n")
    for s in sorted(result.suggestions, key=lambda s: -s.insert_line):  # bottom first: earlier lines keep their numbers
        lines[s.insert_line - 1:s.insert_line - 1] = s.hit.block.code.split("\n")
    namespace: dict = {}
    exec(compile("\n".join(list(result.imports) + lines), "edited.py", "exec"), namespace)
    assert namespace["Net"]()(torch.randn(1, 3, 8, 8)).shape == (1, 32, 4, 4)
    # "similar" blocks go in mid-file too: they came with their from __future__ line (a SyntaxError where offered)
    gated = "import torch\nimport torch.nn as nn\n\n\nclass Gate(nn.Module):\n    def forward(self, x):\n        return x * torch.sigmoid(x)\n"
    similar = suggest(BlockStore(tmp_path / "store"), gated, k=5).suggestions
    assert "FutureGate" in {s.hit.block.name for s in similar}, [s.hit.block.name for s in similar]
    assert all("__future__" not in s.hit.block.code for s in similar)
    # nor a block whose code redefines a name the editor's code has (ResNet brings its own BasicBlock)
    own = ("import torch.nn as nn\n\n\nclass BasicBlock(nn.Module):\n    expansion = 1\n\n\nclass Net(nn.Module):\n"
           "    def __init__(self, layers):\n        super().__init__()\n        self.layer1 = self._make_layer(BasicBlock, 64, layers[0])\n")
    offered = suggest(BlockStore(tmp_path / "store"), own, k=5).suggestions
    assert offered and not any("\nclass BasicBlock(" in s.hit.block.code for s in offered), [s.hit.block.qualified_name for s in offered]


def test_a_reason_tells_the_editor_to_edit_the_calls_it_cannot_edit():
    """Patch edits the model's call keywords; Suggest cannot, and "with keywords edited at the call sites" read as
    done: the call kept its ``reduction_ratio=`` (TypeError)."""
    from rag_server.suggest import _as_editor_reason

    patch_reason = "call-site compatibility 1.00 with keywords edited at the call sites (reduction_ratio= -> reduction=), validated=backward"
    assert _as_editor_reason(patch_reason) == ("call-site compatibility 1.00 once you edit the keywords of its calls "
                                               "(reduction_ratio= -> reduction=), validated=backward")


def test_an_import_from_a_library_submodule_that_does_not_exist_binds_nothing(store):
    """``from timm.blocks import DropPath`` (timm has no ``blocks``) was kept as an import of something real: DropPath
    got no block, and Patch left the import to fail."""
    from rag_server.candidates import free_what_is_missing

    code = ("import torch.nn as nn\nfrom timm.blocks import DropPath\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.drop = DropPath(0.1)\n")
    source, notes, _ = free_what_is_missing(code)
    assert "timm.blocks" not in source and any("'timm.blocks', a module that does not exist here" in n for n in notes), notes
    result = suggest(store, code, k=3)
    assert "DropPath" in result.undefined_names
    assert any(s.hit.block.name == "DropPath" and "remove the import of DropPath from 'timm.blocks'" in s.reason
               for s in result.suggestions), [s.reason for s in result.suggestions]
