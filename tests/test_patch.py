"""Patching against a small real store (real indexer, real sandbox): no mocks of our parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_server.llm_text import PatchInputError
from rag_server.patch import patch
from rag_server.scope import analyze
from sandbox.spec import CheckSpec

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
SOURCES = ["pkg:timm.layers.drop", "pkg:timm.layers.squeeze_excite", "pkg:timm.layers.mlp", "pkg:torchvision.ops.misc", "pkg:timm.layers.grn",
           "pkg:timm.layers.cbam", "pkg:timm.models.res2net", "pkg:timm.layers.norm", "pkg:torchvision.models.resnet"]


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        yield p


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, pool) -> Path:
    from indexer.build import build_index

    path = tmp_path_factory.mktemp("patch_store")
    report = build_index(SOURCES, path, pool=pool)
    assert report.unique >= 10, report
    return path


@pytest.fixture(scope="module")
def store(store_dir):
    from indexer.store import BlockStore

    return BlockStore(store_dir)


def added_lines_only(before: str, diff: str) -> bool:
    """The diff only adds lines: nothing the user wrote was changed or removed."""
    return all(not (line.startswith("-") and not line.startswith("---")) for line in diff.splitlines())


def test_missing_blocks_are_inserted_and_the_model_runs(store, pool):
    code = (EXAMPLES / "missing_se_droppath.py").read_text()
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    names = {item["name"] for item in result.inserted}
    assert {"SqueezeExcite", "DropPath"} <= names
    for item in result.inserted:
        assert item["provenance"]["package"] in {"timm", "torchvision"}
        assert item["qualified_name"] and item["reason"]
    assert result.changed and result.unresolved == []
    assert added_lines_only(code, result.diff)
    assert analyze(result.code).free == {}
    # the inserted definitions come before the class that uses them
    assert result.code.index("class ResidualSEBlock") > result.code.index("class DropPath")


def test_missing_standard_imports_are_added(store, pool):
    code = (EXAMPLES / "missing_imports.py").read_text()
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, result.check
    assert result.inserted == []
    assert set(result.added_imports) == {
        "import torch.nn.functional as F", "import math", "from collections import OrderedDict"
    }
    assert added_lines_only(code, result.diff)


def test_working_models_come_back_byte_identical(store, pool):
    code = (EXAMPLES / "working_resnet.py").read_text()
    result = patch(code, CheckSpec(), store, pool)
    assert result.code == code and not result.changed and result.diff == ""
    assert result.check is not None and result.check.ok
    # a model we patched is now a working model: patching it again changes nothing
    fixed = patch((EXAMPLES / "missing_se_droppath.py").read_text(), CheckSpec(), store, pool).code
    again = patch(fixed, CheckSpec(), store, pool)
    assert again.code == fixed and not again.changed and again.check.ok


def test_markdown_answer_is_extracted_and_patched(store, pool):
    text = (EXAMPLES / "fenced_reply.md").read_text()
    result = patch(text, CheckSpec(), store, pool)
    assert result.stripped_text and "Sure!" not in result.code and "```" not in result.code
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert {"DropPath", "Mlp"} <= {item["name"] for item in result.inserted}
    assert "import torch.nn.functional as F" in result.added_imports


def test_an_acronym_finds_the_block_its_initials_spell(store, pool):
    code = (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, num_classes=10):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(3, 16, 3, padding=1)\n"
        "        self.grn = GRN(16)\n"
        "        self.head = nn.Linear(16, num_classes)\n\n"
        "    def forward(self, x):\n"
        "        x = self.stem(x).permute(0, 2, 3, 1)\n"
        "        x = self.grn(x).permute(0, 3, 1, 2)\n"
        "        return self.head(x.mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert [(i["name"], i["qualified_name"]) for i in result.inserted] == [("GRN", "timm.layers.grn.GlobalResponseNorm")]
    assert result.check is not None and result.check.ok, (result.check, result.code)


def test_a_reduction_divisor_is_inverted_and_an_unknown_keyword_dropped_at_the_call(store, pool):
    """An LLM's CBAM takes ``reduction_ratio=16`` and ``kernel_size=7``; timm's ``CbamModule`` takes the reduction as
    ``rd_ratio=1/16`` and names its spatial kernel otherwise. The call is edited (shown in the diff) and the model runs."""
    code = (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(3, 32, 3, padding=1)\n"
        "        self.att = CBAM(32, reduction_ratio=8, kernel_size=7)\n"
        "        self.head = nn.Linear(32, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.att(self.stem(x)).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    [item] = result.inserted
    assert item["qualified_name"] == "timm.layers.cbam.CbamModule", item
    assert item["keyword_inverted"] == {"reduction_ratio": "rd_ratio"} and item["keyword_dropped"] == ["kernel_size"], item
    assert "+        self.att = CBAM(32, rd_ratio=1 / 8)" in result.diff


def test_a_layer_the_block_leaves_to_its_caller_is_passed_at_the_call(store, pool):
    """timm's res2net ``Bottle2neck`` defaults ``norm_layer`` to None and calls it; its validated example passed
    ``nn.BatchNorm2d``, which becomes the inserted block's default, so the model runs instead of "'NoneType' is not
    callable", also where it calls the block through a variable (``_make_layer(Bottle2neck, ...)``)."""
    code = (
        "import torch\n\n\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = torch.nn.Conv2d(3, 64, 3, padding=1)\n"
        "        self.block = self._make_layer(Bottle2neck, 64, 16)\n"
        "        self.head = torch.nn.Linear(64, 10)\n\n"
        "    def _make_layer(self, block, inplanes, planes):\n"
        "        return block(inplanes, planes)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.block(self.stem(x)).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    [item] = [i for i in result.inserted if i["name"] == "Bottle2neck"]
    assert item["defaults_set"] == {"norm_layer": "nn.BatchNorm2d",  # and the shortcut it leaves to ResNet too
                                    "downsample": "1x1 conv + BatchNorm2d when the stride or the width changes"}, item
    assert "norm_layer: Optional[Type[nn.Module]] = nn.BatchNorm2d," in result.code
    assert "self.block = self._make_layer(Bottle2neck, 64, 16)" in result.code  # the model's own lines are untouched


def test_a_library_bottleneck_called_like_a_cifar_resnet_block_gets_its_projection_shortcut(store, pool):
    """torchvision's ``Bottleneck`` leaves the shortcut to ``ResNet._make_layer``; an LLM's CIFAR ResNet passes the
    class to its own ``_make_layer`` and calls it ``block(in_planes, planes, stride)``, which only a block that builds
    its own shortcut survives. The inserted block builds one where the shape changes, and the model runs."""
    code = (
        "import torch\n\n\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.in_planes = 16\n"
        "        self.stem = torch.nn.Conv2d(3, 16, 3, padding=1)\n"
        "        self.layer1 = self._make_layer(Bottleneck, 16, 2, stride=1)\n"
        "        self.layer2 = self._make_layer(Bottleneck, 32, 2, stride=2)\n"
        "        self.head = torch.nn.Linear(32 * Bottleneck.expansion, 10)\n\n"
        "    def _make_layer(self, block, planes, num_blocks, stride):\n"
        "        layers = []\n"
        "        for s in [stride] + [1] * (num_blocks - 1):\n"
        "            layers.append(block(self.in_planes, planes, s))\n"
        "            self.in_planes = planes * block.expansion\n"
        "        return torch.nn.Sequential(*layers)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.layer2(self.layer1(self.stem(x))).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    [item] = [i for i in result.inserted if i["name"] == "Bottleneck"]
    assert item["qualified_name"] == "torchvision.models.resnet.Bottleneck", item
    assert item["defaults_set"] == {"downsample": "1x1 conv + BatchNorm2d when the stride or the width changes"}
    assert "if downsample is None and (stride != 1 or inplanes != planes * self.expansion):" in result.code
    assert result.tries == 2  # as given, then the first combination


def test_a_helper_that_names_its_kernel_size_calls_the_library_block_with_it(store, pool):
    """MobileNetV2's reference ``conv_1x1_bn(inp, oup)`` / ``conv_3x3_bn(inp, oup, stride)`` are one library block
    with a kernel size: torchvision's ``Conv2dNormActivation(in, out, kernel_size, stride)``."""
    code = (
        "import torch\n\n\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = conv_3x3_bn_relu(3, 16, 2)\n"
        "        self.mix = conv_1x1_bn_relu(16, 32)\n"
        "        self.head = torch.nn.Linear(32, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.mix(self.stem(x)).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    names = {i["name"]: i["qualified_name"] for i in result.inserted}
    assert names == {"conv_3x3_bn_relu": "torchvision.ops.misc.Conv2dNormActivation",
                     "conv_1x1_bn_relu": "torchvision.ops.misc.Conv2dNormActivation"}, result.inserted
    assert "def conv_3x3_bn_relu(in_channels, out_channels, *args, **kwargs):\n" \
           "    return Conv2dNormActivation(in_channels, out_channels, 3, *args, **kwargs)" in result.code
    assert "return Conv2dNormActivation(in_channels, out_channels, 1, *args, **kwargs)" in result.code
    assert "self.stem = conv_3x3_bn_relu(3, 16, 2)" in result.code  # the model's lines are untouched


def test_a_channels_first_layernorm_becomes_the_libraries_layernorm2d(store, pool):
    """ConvNeXt's reference LayerNorm switches layout with ``data_format``; timm splits it into ``LayerNorm`` and
    ``LayerNorm2d``. The channels-first calls get ``LayerNorm2d`` with the keyword dropped, and the model runs (timm's
    channels-last LayerNorm would normalise over the width)."""
    code = (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Sequential(nn.Conv2d(3, 48, 4, stride=4), LayerNorm(48, eps=1e-6, data_format='channels_first'))\n"
        "        self.head = nn.Linear(48, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.stem(x).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    [item] = result.inserted
    assert item["qualified_name"] == "timm.layers.norm.LayerNorm2d" and item["keyword_dropped"] == ["data_format"], item
    assert "LayerNorm(48, eps=1e-6))" in result.code and "LayerNorm = LayerNorm2d" in result.code


def test_a_keyword_the_block_takes_under_another_name_is_renamed_at_the_call(store, pool):
    """timm's Mlp takes the dropout rate as ``drop=``; an LLM writes ``dropout=``. The call site is renamed (shown in the
    diff) and the model runs, instead of a TypeError or a worse block that happens to accept ``dropout``."""
    code = (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.mlp = Mlp(3, hidden_features=32, out_features=10, dropout=0.1)\n\n"
        "    def forward(self, x):\n"
        "        return self.mlp(x.mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    [item] = result.inserted
    assert item["qualified_name"] == "timm.layers.mlp.Mlp" and item["keyword_renames"] == {"dropout": "drop"}
    assert "dropout= -> drop=" in item["reason"]
    assert "-        self.mlp = Mlp(3, hidden_features=32, out_features=10, dropout=0.1)" in result.diff
    assert "+        self.mlp = Mlp(3, hidden_features=32, out_features=10, drop=0.1)" in result.diff


def test_blocks_imported_from_a_module_that_does_not_exist_are_inserted(store, pool):
    """An LLM imports its blocks from the project it imagines; the import goes (named in fixes and the diff) and the
    names are resolved from the store."""
    code = (EXAMPLES / "missing_se_droppath.py").read_text()
    code = code.replace("import torch.nn as nn\n", "import torch.nn as nn\nfrom models.layers import SqueezeExcite, DropPath\n", 1)
    assert "from models.layers import" in code
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert {"SqueezeExcite", "DropPath"} <= {item["name"] for item in result.inserted}
    assert result.fixes == ["removed the import of SqueezeExcite, DropPath from 'models.layers', a module that does not exist here"]
    assert "-from models.layers import SqueezeExcite, DropPath" in result.diff


def test_blocks_read_through_a_module_that_does_not_exist_are_inserted(store, pool):
    code = (EXAMPLES / "missing_se_droppath.py").read_text()
    code = code.replace("import torch.nn as nn\n", "import torch.nn as nn\nimport models.layers as L\n", 1)
    code = code.replace("SqueezeExcite(", "L.SqueezeExcite(").replace("DropPath(", "L.DropPath(")
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert result.fixes == ["removed `import models.layers as L`, a module that does not exist here, and read L.X as X"]
    assert "L." not in result.code and {"SqueezeExcite", "DropPath"} <= {i["name"] for i in result.inserted}


def test_a_block_imported_from_a_library_module_that_lacks_it_is_inserted(store, pool):
    code = (EXAMPLES / "missing_se_droppath.py").read_text()
    code = code.replace("import torch.nn as nn\n", "import torch.nn as nn\nfrom torchvision.ops import SqueezeExcite, StochasticDepth\n", 1)
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert result.fixes == ["removed SqueezeExcite from the import from 'torchvision.ops', which does not define it"]
    assert "from torchvision.ops import StochasticDepth\n" in result.code and "SqueezeExcite" in {i["name"] for i in result.inserted}


def test_a_wrong_name_imported_through_timms_deprecated_layers_path_is_inserted(store, pool):
    """``timm.models.layers`` only star-imports ``timm.layers``: a name neither offers is resolved from the store, the
    names it does offer stay imported (the sandbox runs the patched file, so they must be real)."""
    code = (EXAMPLES / "missing_se_droppath.py").read_text()
    code = code.replace("import torch.nn as nn\n", "import torch.nn as nn\nfrom timm.models.layers import DropPath, SqueezeExciteBlock\n", 1)
    code = code.replace("SqueezeExcite(channels", "SqueezeExciteBlock(channels")
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.attempts)
    assert result.fixes == ["removed SqueezeExciteBlock from the import from 'timm.models.layers', which does not define it"]
    assert "from timm.models.layers import DropPath\n" in result.code
    assert [i["name"] for i in result.inserted] == ["SqueezeExciteBlock"]


def test_a_misspelt_local_variable_is_named_not_filled_with_a_block(store, pool):
    """``self.conv2(feature)`` beside ``features = ...``: the model's own typo. No store block stands for it; Patch says
    which name it misspells and where, and checks the model once (its real NameError)."""
    code = (EXAMPLES / "missing_se_droppath.py").read_text().replace(
        "        out = self.se(self.bn2(self.conv2(out)))\n", "        out = self.se(self.bn2(self.conv2(outt)))\n")
    result = patch(code, CheckSpec(), store, pool)
    assert "outt" in result.unresolved and "outt" not in {i["name"] for i in result.inserted}
    line = code.splitlines().index("        out = self.se(self.bn2(self.conv2(outt)))") + 1
    assert any("`outt`" in f and "`out`" in f and f"line {line}" in f for f in result.fixes), result.fixes
    assert {i["name"] for i in result.inserted} == {"SqueezeExcite", "DropPath"}  # the real missing blocks still come
    assert result.check is not None and result.check.error_type == "NameError" and "outt" in result.check.message


def test_shape_bug_is_diagnosed_not_patched(store, pool):
    code = (EXAMPLES / "shape_mismatch.py").read_text()
    result = patch(code, CheckSpec(), store, pool)
    assert result.code == code and not result.changed
    assert result.check is not None and not result.check.ok
    assert result.check.failed_stage == "forward"


def test_user_definitions_are_never_overwritten(store, pool):
    code = (
        "import torch\nimport torch.nn as nn\n\n\n"
        "class DropPath(nn.Module):\n"
        "    def __init__(self, p):\n        super().__init__()\n        self.p = p\n\n"
        "    def forward(self, x):\n        return x\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 16, 3, padding=1)\n"
        "        self.se = SEModule(16)\n        self.dp = DropPath(0.1)\n"
        "        self.fc = nn.Linear(16, 10)\n\n"
        "    def forward(self, x):\n"
        "        x = self.dp(self.se(self.conv(x)))\n"
        "        return self.fc(x.mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check.ok, result.check
    assert result.code.count("class DropPath(") == 1
    assert "def forward(self, x):\n        return x\n" in result.code
    assert added_lines_only(code, result.diff)


def test_unknown_names_are_reported_unresolved(store):
    code = "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.x = Qwzxv_Frobnicator_9(3)\n"
    result = patch(code, None, store, None)
    assert result.unresolved == ["Qwzxv_Frobnicator_9"]
    assert result.check is None


def test_syntax_error_names_its_line(store):
    with pytest.raises(PatchInputError) as info:
        patch("import torch\n\nclass Net(nn.Module:\n    pass\n", None, store, None)
    assert info.value.line == 3


def test_cli_json(store_dir):
    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["patch", str(EXAMPLES / "missing_se_droppath.py"), "--json", "--store", str(store_dir)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert {"code", "diff", "inserted", "unresolved", "check"} <= set(data)
    assert data["check"] is None
    assert {"name", "qualified_name", "provenance"} <= set(data["inserted"][0])
    bad = runner.invoke(app, ["patch", "-", "--store", str(store_dir)], input="def f(:\n  pass\n")
    assert bad.exit_code == 2 and "line 1" in bad.output


def test_cli_reads_files_as_python_does_and_keeps_their_line_ends(store_dir, tmp_path):
    """A BOM (the user's first import was cut as prose and a corpus block pasted in its place), a coding cookie (a
    traceback) and CRLF line ends (every line changed) are how editors save files; each came back wrong."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    working = (EXAMPLES / "working_resnet.py").read_text()
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(working.replace("\n", "\r\n").encode())
    out = runner.invoke(app, ["patch", str(crlf), "--store", str(store_dir)])
    assert out.exit_code == 0, out.output
    assert out.stdout_bytes == crlf.read_bytes()

    missing = (EXAMPLES / "missing_se_droppath.py").read_text()
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + ("from torchvision.ops import SqueezeExcitation as SEBlock\n" + missing).encode())
    out = runner.invoke(app, ["patch", str(bom), "--json", "--store", str(store_dir)])
    data = json.loads(out.stdout)
    assert data["code"].startswith("from torchvision.ops import SqueezeExcitation as SEBlock\n")
    assert "SEBlock" not in [i["name"] for i in data["inserted"]] and not data["stripped_text"]

    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\n# auteur: Ren\xe9\n" + working.encode())
    out = runner.invoke(app, ["patch", str(latin), "--store", str(store_dir)])
    assert out.exit_code == 0 and out.stdout_bytes == latin.read_bytes(), out.output  # written in its cookie's encoding

    prose = runner.invoke(app, ["patch", "-", "--store", str(store_dir)], input="Here is the model:\n\n" + working + "\nIt trains fast.\n")
    assert prose.exit_code == 0 and "prose or markdown fences around it were removed" in prose.stderr


def test_cli_store_without_an_index_is_a_clear_error(tmp_path):
    """A --store directory that holds no index (or none at all) exits 2 naming it, before any sandbox starts."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    for store in (tmp_path, tmp_path / "missing"):
        out = runner.invoke(app, ["patch", str(EXAMPLES / "missing_se_droppath.py"), "--check", "--store", str(store)])
        assert out.exit_code == 2, out.output
        assert f"no index at {store}" in out.output and "Traceback" not in out.output


NN_ATTRIBUTES_TORCH_LACKS = (
    "import torch\nimport torch.nn as nn\n\n\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n        super().__init__()\n"
    "        self.conv = nn.Conv2d(3, 16, 3, padding=1)\n"
    "        self.act = nn.Swish()\n"
    "        self.norm = nn.LayerNorm2d(16)\n"
    "        self.dp = torch.nn.DropPath(0.1)\n"
    "        self.fc = nn.Linear(16, 10)\n\n"
    "    def forward(self, x):\n"
    "        x = self.dp(self.norm(self.act(self.conv(x))))\n"
    "        return self.fc(x.mean((2, 3)))\n"
)


def test_nn_attributes_torch_lacks_become_their_torch_alias_or_a_missing_block(store, pool):
    """``nn.Swish`` is torch's SiLU; ``nn.LayerNorm2d`` and ``torch.nn.DropPath`` are blocks torch never had: they are
    read as free names and inserted, each rewrite reported."""
    result = patch(NN_ATTRIBUTES_TORCH_LACKS, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert "self.act = nn.SiLU()" in result.code and "nn.Swish" not in result.code
    assert "self.norm = LayerNorm2d(16)" in result.code and "self.dp = DropPath(0.1)" in result.code
    assert {"LayerNorm2d", "DropPath"} <= {item["name"] for item in result.inserted}
    assert result.unresolved == []
    assert sum("torch.nn has no" in note for note in result.fixes) == 3, result.fixes


def test_a_misspelt_reference_to_the_files_own_class_is_bound_to_it(store, pool):
    """``SeBlock(64)`` where the file defines ``SEBlock``: the user's class, not a library SE block."""
    code = (
        "import torch\nimport torch.nn as nn\n\n\n"
        "class SEBlock(nn.Module):\n"
        "    def __init__(self, ch, r=16):\n        super().__init__()\n        self.fc = nn.Linear(ch, ch)\n\n"
        "    def forward(self, x):\n        return x * torch.sigmoid(self.fc(x.mean((2, 3))))[:, :, None, None]\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 16, 3, padding=1)\n"
        "        self.se = SeBlock(16, r=8)\n        self.se2 = SE_Blok(16)\n"
        "        self.fc = nn.Linear(16, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.se2(self.se(self.conv(x))).mean((2, 3)))\n"
    )
    result = patch(code, CheckSpec(), store, pool)
    assert result.check is not None and result.check.ok, (result.check, result.code)
    assert result.inserted == [] and result.unresolved == []
    assert "SeBlock = SEBlock\n" in result.code and "SE_Blok = SEBlock\n" in result.code
    assert result.code.index("SeBlock = SEBlock") > result.code.index("class SEBlock")
    assert sum("misspells" in note for note in result.fixes) == 2, result.fixes
    assert added_lines_only(code, result.diff)
    from rag_server.patch import own_spelling

    calls_function = code.replace("self.se2 = SE_Blok(16)", "self.se2 = se_block(16)")
    assert own_spelling(analyze(calls_function).free["se_block"], analyze(calls_function)) is None  # another style


def test_code_over_the_size_limit_is_refused_at_once(store, store_dir, tmp_path):
    """A huge file took 10 GB and minutes; patch refuses it as the server does, and the CLI says so (exit 2)."""
    from typer.testing import CliRunner

    from nnrag.cli import app
    from rag_server.patch import MAX_EDITABLE_CHARS

    huge = "import torch\n" + "x = Missing(1)\n" * (MAX_EDITABLE_CHARS // 15 + 1)
    with pytest.raises(PatchInputError, match="at most"):
        patch(huge, None, store, None)
    path = tmp_path / "huge.py"
    path.write_text(huge)
    out = CliRunner().invoke(app, ["patch", str(path), "--store", str(store_dir)])
    assert out.exit_code == 2 and "error:" in out.output and "at most" in out.output, out.output


def _norm_model(forward_tail: str, fc_in: int) -> str:
    """A model missing its LayerNorm2d (the store has six) whose own code then fails (``fc_in`` wrong) or hangs
    (``forward_tail``)."""
    return (
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 16, 3, padding=1)\n"
        "        self.se = LayerNorm2d(16)\n"
        f"        self.fc = nn.Linear({fc_in}, 10)\n\n"
        "    def forward(self, x):\n"
        "        x = self.se(self.conv(x))\n"
        f"{forward_tail}"
        "        return self.fc(x.mean((2, 3)))\n"
    )


def test_a_failure_in_the_users_own_code_stops_the_swaps(store, pool):
    """The user's Linear is sized wrong: once two norm blocks fail there alike, no third is tried."""
    result = patch(_norm_model("", 17), CheckSpec(), store, pool)
    assert not result.check.ok and result.check.failed_stage == "forward"
    assert "model's own code" in result.stop_reason, (result.stop_reason, result.attempts)
    assert result.tries == 3, result.attempts  # as given (NameError), then two blocks
    assert [i["name"] for i in result.inserted] == ["LayerNorm2d"]


def test_running_out_of_blocks_to_try_is_a_stop_reason(store, pool):
    """A name whose only candidate cannot take the call: Patch stopped after 2 of 5 tries with stop_reason '', which
    reads "did not stop early"."""
    code = _norm_model("", 16).replace("LayerNorm2d(16)", "GlobalResponseNorm(16, channels_last=True)")  # NCHW input: fails
    result = patch(code, CheckSpec(), store, pool)
    assert not result.check.ok and result.tries < 5, result.attempts
    assert result.stop_reason.startswith("no other block to try") and "GlobalResponseNorm" in result.stop_reason, (result.stop_reason, result.attempts)


def test_a_model_missing_only_an_import_does_not_blame_running_out_of_blocks(store, pool):
    """Only ``import torch.nn.functional as F`` was missing and the model's Linear is sized wrong: the stop reason said
    "every candidate the store has for the missing names was tried" where no block was missing."""
    code = ("import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.conv = nn.Conv2d(3, 8, 3, padding=1)\n        self.fc = nn.Linear(8 * 16 * 16, 10)\n\n"
            "    def forward(self, x):\n        x = F.max_pool2d(F.relu(self.conv(x)), 4)\n        return self.fc(torch.flatten(x, 1))\n")
    result = patch(code, CheckSpec(), store, pool)
    assert not result.check.ok and result.check.failed_stage == "forward" and not result.inserted, result.attempts
    assert result.added_imports and "candidate" not in result.stop_reason, result.stop_reason
    assert result.stop_reason == "no block is missing: it fails with the imports it lacked added"


def test_a_model_that_hangs_in_its_own_forward_stops_after_two_timeouts_and_within_the_budget(store, pool):
    hang = "        while x.sum() == x.sum():\n            x = x + 0\n"
    result = patch(_norm_model(hang, 16), CheckSpec(timeout_s=2.0), store, pool, budget_s=120)
    assert result.check.status == "timeout" and result.tries == 3, result.attempts
    assert "timed out" in result.stop_reason
    short = patch(_norm_model(hang, 16), CheckSpec(timeout_s=2.0), store, pool, budget_s=1.5)
    assert "budget" in short.stop_reason and short.tries == 2, (short.stop_reason, short.attempts)
    assert short.elapsed_s < 2.0 * 4, short.elapsed_s


def test_candidates_the_calls_cannot_construct_are_not_tried_when_others_can_be(store):
    """``SqueezeExcitation(16)``: torchvision's class of that name needs ``squeeze_channels`` (compatibility 0), timm's
    SE modules take the call as written; only they are tried. A name whose every candidate is 0 keeps them."""
    from rag_server.candidates import callable_first
    from rag_server.patch import plan

    code = (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.se = SqueezeExcitation(16)\n\n"
        "    def forward(self, x):\n        return self.se(x)\n"
    )
    cands = plan(code, store).candidates["SqueezeExcitation"]
    assert cands and all(c.compat > 0 for c in cands), [(c.qualified_name, c.compat) for c in cands]
    unfit = [c for c in plan(code, store).candidates["SqueezeExcitation"] if c.compat > 0]
    for c in unfit:
        c.compat = 0.0
    assert callable_first(unfit) == unfit


COMBO = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = Conv2dNormActivation(3, 16, kernel_size=3)
        self.se = SqueezeExcite(16)
        self.drop = DropPath(0.1)
        self.grn = GlobalResponseNorm(16)
        self.mlp = Mlp(16, 32, 10)

    def forward(self, x):
        x = self.drop(self.se(self.stem(x)))
        return self.mlp(x.mean((2, 3)))
"""


def test_added_imports_name_each_module_and_each_name_once(store):
    """Blocks from one package import from the same modules: torchvision's Conv2dNormActivation and timm's blocks
    added ``from typing import Any, Callable, Optional, Union`` and then ``from typing import Callable, Optional,
    Type, Union``. Added ``from`` imports are merged per module, each name once."""
    for code in [COMBO] + [(EXAMPLES / name).read_text() for name in ("missing_se_droppath.py", "fenced_reply.md", "missing_convbnact.py")]:
        result = patch(code, CheckSpec(), store, None)
        froms = [line.split(" import ", 1) for line in result.added_imports if line.startswith("from ")]
        modules = [module for module, _ in froms]
        assert len(modules) == len(set(modules)), result.added_imports
        names = [(module, name) for module, names in froms for name in names.split(", ")]
        assert len(names) == len(set(names)), result.added_imports
        assert analyze(result.code).free == {}, result.code


def _block_model(call: str, fc_in: int, fed: str = "self.conv(x)") -> str:
    """A model missing the block ``call`` builds, whose own Linear expects ``fc_in`` features (16 fits); ``fed`` is what
    the block is given."""
    return (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 16, 3, padding=1)\n"
        f"        self.block = {call}\n"
        f"        self.fc = nn.Linear({fc_in}, 10)\n\n"
        "    def forward(self, x):\n"
        f"        x = self.block({fed})\n"
        "        return self.fc(x.mean((2, 3)))\n"
    )


def test_when_every_block_fails_the_one_that_ran_is_returned_and_the_hint_points_at_the_users_line(store, pool):
    """``Mlp(16, 16)`` on a feature map: timm's Mlp (tried first) fails inside itself, a later candidate runs and
    leaves only the user's wrong-sized Linear to fail. That later one is returned (both failed at forward: the one
    that got past the blocks got further), and the hint names the user's own line, not "the model code". (Fed through
    ``F.interpolate``, the map's layout is not read: given a bare conv map, timm's Mlp gets it reshaped to tokens.)"""
    code = _block_model("Mlp(16, 16)", 17, fed="F.interpolate(self.conv(x), size=(32, 32))")
    result = patch(code, CheckSpec(), store, pool)
    assert not result.check.ok and result.check.failed_stage == "forward", result.attempts
    [block] = result.inserted
    first_tried = result.attempts[1]  # [0] is the code as given (NameError)
    assert block["qualified_name"] not in first_tried.split(":")[0], result.attempts
    user_line = code.splitlines().index("        return self.fc(x.mean((2, 3)))") + 1
    hint = result.check.diagnosis.hint
    assert f"your own code (line {user_line} of your code" in hint, hint
    assert "inserted block `" not in hint, hint
    reshaped = patch(_block_model("Mlp(16, 16)", 17), CheckSpec(), store, pool)
    assert "reshaped" in reshaped.inserted[0]["reason"] and reshaped.inserted[0]["qualified_name"] in reshaped.attempts[1], reshaped.attempts


def test_a_failure_inside_an_inserted_block_is_named_in_the_hint(store, pool):
    """The check fails inside the block Patch inserted: the hint names that block and its source, and says the
    user's code is not where the error is (the sandbox alone said "the error is raised in the model code"). A block
    built for 8 channels fed 16 fails inside its forward (GRN's gamma of 8 against 16 channels)."""
    result = patch(_block_model("GlobalResponseNorm(8)", 16), CheckSpec(), store, pool, max_tries=2)
    assert not result.check.ok, result.attempts
    [block] = result.inserted
    hint = result.check.diagnosis.hint
    assert f"inside the inserted block `GlobalResponseNorm` ({block['qualified_name']})" in hint, (hint, result.attempts)
    assert "the model code" not in hint and "your own code" not in hint, hint


GUARDED = (
    "import torch\nimport torch.nn as nn\n\n"
    'if __name__ == "__main__":\n'
    "    class Net(nn.Module):\n"
    "        def __init__(self):\n            super().__init__()\n"
    "            self.body = nn.Sequential(BasicBlock(3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
    "            self.fc = nn.Linear(3, 10)\n\n"
    "        def forward(self, x):\n            return self.fc(self.body(x))\n\n"
    "    print(Net()(torch.randn(2, 3, 32, 32)).shape)\n"
)


def test_a_model_defined_only_under_the_main_guard_is_diagnosed_in_check_and_patch(store, pool):
    """Checks import the code as a module, so a class under ``if __name__ == "__main__":`` never exists: Check said
    "the code defines no nn.Module subclass", and Patch checked the BasicBlock it inserted as the model, swapping
    blocks five times in vain."""
    checked = pool.check(GUARDED, CheckSpec())
    assert checked.error_type == "MainGuardOnly" and "'Net'" in checked.message and "__main__" in checked.message, checked
    assert "out of the `if __name__" in checked.diagnosis.hint, checked.diagnosis

    result = patch(GUARDED, CheckSpec(), store, pool)
    assert [i["name"] for i in result.inserted] == ["BasicBlock"]  # still patched: it runs as a script
    assert result.check.error_type == "MainGuardOnly" and result.check.entry != "BasicBlock", result.check
    assert result.tries == 1 and "`Net`" in result.stop_reason and "__main__" in result.stop_reason, result.attempts


def test_cli_json_keeps_a_crlf_files_line_ends_in_code_and_diff(store_dir, tmp_path):
    """``--json`` gave a CRLF file LF-only ``code`` and ``diff`` while the plain output and the SDK kept CRLF."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    crlf = tmp_path / "crlf.py"
    crlf.write_bytes((EXAMPLES / "missing_se_droppath.py").read_text().replace("\n", "\r\n").encode())
    out = CliRunner().invoke(app, ["patch", str(crlf), "--json", "--store", str(store_dir)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    plain = CliRunner().invoke(app, ["patch", str(crlf), "--store", str(store_dir)])
    assert data["code"].encode() == plain.stdout_bytes and data["code"].count("\r\n") == data["code"].count("\n")
    content = [line for line in data["diff"].split("\n")[2:] if line and not line.startswith("@@")]
    assert content and all(line.endswith("\r") for line in content), content[:3]
    assert any(line.startswith("+class ") for line in content)


def test_a_crlf_text_comes_back_with_crlf_line_ends_only(store):
    """The inserted blocks' docstrings kept their inner "\n" in a CRLF file: the SDK's ``patched_code`` mixed both line
    ends (the CLI mended it afterwards)."""
    text = (EXAMPLES / "missing_se_droppath.py").read_text().replace("\n", "\r\n")
    result = patch(text, CheckSpec(), store, None)
    assert result.inserted and result.code.count("\n") == result.code.count("\r\n"), result.code.count("\n") - result.code.count("\r\n")
    assert any('"""' in line for line in result.code.split("\r\n"))  # docstrings were inserted: the case that mixed


def test_hint_lines_are_lines_of_the_text_the_user_gave(store, pool):
    """LLM text (prose and a fence around the code): "line N of your code" counted lines of the extracted code, and
    "`fc` is built at line M" was a line of the patched code with no label; both now count lines of the submitted text."""
    code = _block_model("GlobalResponseNorm(16)", 999)
    text = f"Sure! Here is the model.\n\nIt uses GRN.\n\n```python\n{code}```\n\nThis should train well.\n"
    result = patch(text, CheckSpec(), store, pool, max_tries=2)
    assert not result.check.ok and result.stripped_text, result.attempts
    lines = text.splitlines()
    fc_line = next(i for i, line in enumerate(lines, 1) if "self.fc = nn.Linear" in line)
    call_line = next(i for i, line in enumerate(lines, 1) if "return self.fc(" in line)
    hint = result.check.diagnosis.hint
    assert f"is built at line {fc_line} of your code (line " in hint and f"line {call_line} of your code" in hint, hint


SEQUENCE_FIRST_BY_DEFAULT = '''import math
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model):
        super().__init__()
        self.scale = math.sqrt(d_model)

    def forward(self, x):
        return x * self.scale


class Net(nn.Module):
    def __init__(self, vocab=50, d_model=32, nhead=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = PositionalEncoding(d_model)
        self.layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.0)
        self.fc = nn.Linear(d_model, 10)

    def forward(self, x):
        h = self.pos(self.embed(x))
        return self.fc(self.layer(h).mean(dim=1))
'''


def test_a_torch_sequence_layer_imported_for_a_batch_first_model_is_made_batch_first(store, pool):
    """Blind audit of Patch outside classification (H1): an LLM's ``TransformerEncoderLayer(d_model, nhead)`` fed token
    embeddings became torch.nn's, which reads (sequence, batch, features): attention ran across the batch and the check
    passed (with only a warning in --json). The model's code does not say what ``self.pos`` returns, so the check
    decides: samples mix sequence-first, not batch-first, and the calls now pass ``batch_first=True``."""
    from sandbox.spec import Example

    spec = CheckSpec(example=Example(inputs=[[2, 12]], input_dtypes=["int64"]))
    result = patch(SEQUENCE_FIRST_BY_DEFAULT, spec, store, pool)
    assert result.check is not None and result.check.ok and not result.check.warnings, (result.check, result.code)
    assert "TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.0, batch_first=True)" in result.code
    assert "+        self.layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward=64, dropout=0.0, batch_first=True)" in result.diff
    assert any("the check found the samples of a batch mixing" in f for f in result.fixes), result.fixes
    # fed straight from the embedding, the layout is read from the code: no second check needed
    direct = SEQUENCE_FIRST_BY_DEFAULT.replace("h = self.pos(self.embed(x))", "h = self.embed(x)")
    result = patch(direct, None, store, None)
    assert "dropout=0.0, batch_first=True)" in result.code and any("the model feeds it (batch, tokens" in f for f in result.fixes)
    # a call that says batch_first is left as written
    said = direct.replace("dropout=0.0)", "dropout=0.0, batch_first=False)")
    assert "batch_first=False)" in patch(said, None, store, None).code
