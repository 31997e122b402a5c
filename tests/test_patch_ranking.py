"""How Patch ranks candidates and picks the one to swap after a failed check: pure functions, no store needed."""

from __future__ import annotations

import textwrap
from types import SimpleNamespace

from rag_server.candidates import (
    Candidate,
    aliases,
    call_compatibility,
    definition_signature,
    rank_by_coherence,
    word_overlap,
)
from rag_server.blame import blamed_names
from rag_server.scope import InstanceCall, analyze, instance_calls

VIT = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=64):
            super().__init__()
            self.patch_embed = PatchEmbed(img_size=32, patch_size=4, embed_dim=dim)
            self.blocks = nn.Sequential(*[Block(dim, 4) for _ in range(2)])
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.patch_embed(x)
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = self.blocks(torch.cat((cls, x), dim=1))
            return self.head(x[:, 0])
    ''')


def test_instance_calls_are_read_from_attributes_and_sequential():
    calls = instance_calls(VIT, {"PatchEmbed", "Block"})
    assert calls == {"Block": [InstanceCall(1, False)], "PatchEmbed": [InstanceCall(1, False)]}
    two_inputs = "class Net:\n    def __init__(self):\n        self.att = Attn(8)\n    def forward(self, x, y):\n        out, w = self.att(x, y)\n        return self.att(x, y)[0]\n"
    assert instance_calls(two_inputs, {"Attn"}) == {"Attn": [InstanceCall(2, True), InstanceCall(2, None)]}
    assert analyze(VIT).free["Block"].instance_calls == [InstanceCall(1, False)]


def test_a_forward_returning_a_tuple_where_the_model_uses_one_tensor_lowers_compatibility():
    tuple_out = "import torch.nn as nn\nclass PatchEmbed(nn.Module):\n    def __init__(self, img_size, patch_size, embed_dim):\n        super().__init__()\n    def forward(self, x):\n        if x is None:\n            return x, (1, 1)\n        return x, (2, 2)\n"
    tensor_out = tuple_out.replace("return x, (1, 1)", "return x").replace("return x, (2, 2)", "return x")
    usage = _usage(VIT, "PatchEmbed")
    assert call_compatibility(definition_signature(tensor_out, "PatchEmbed"), usage) == 1.0
    assert call_compatibility(definition_signature(tuple_out, "PatchEmbed"), usage) < 1.0
    unpacking = VIT.replace("x = self.patch_embed(x)", "x, size = self.patch_embed(x)")
    assert call_compatibility(definition_signature(tuple_out, "PatchEmbed"), _usage(unpacking, "PatchEmbed")) == 1.0


def _usage(code: str, name: str):
    return analyze(code).free[name]


def test_a_forward_that_needs_more_inputs_than_the_model_gives_lowers_compatibility():
    block_needs_size = "import torch.nn as nn\nclass Block(nn.Module):\n    def __init__(self, dim, heads):\n        super().__init__()\n    def forward(self, x, feat_size):\n        return x\n"
    block_plain = block_needs_size.replace("x, feat_size", "x")
    usage = _usage(VIT, "Block")
    assert call_compatibility(definition_signature(block_plain, "Block"), usage) == 1.0
    assert call_compatibility(definition_signature(block_needs_size, "Block"), usage) < 1.0


def test_a_definition_the_call_cannot_construct_scores_zero():
    needs_norm = "class ResidualBlock:\n    def __init__(self, in_planes, planes, *, norm_layer, stride=1):\n        pass\n    def forward(self, x):\n        return x\n"
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.f = nn.Sequential(ResidualBlock(32, 64, stride=2))\n"
    assert call_compatibility(definition_signature(needs_norm, "ResidualBlock"), _usage(code, "ResidualBlock")) == 0.0


def test_a_class_inheriting_init_from_outside_the_block_takes_any_arguments():
    conv = "import torch.nn as nn\nclass Conv2dSame(nn.Conv2d):\n    def forward(self, x):\n        return x\n"
    plain = "import torch.nn as nn\nclass Gate(nn.Module):\n    def forward(self, x):\n        return x\n"
    code = "class Net:\n    def __init__(self):\n        self.c = Conv2dSame(3, 8, 3, stride=2)\n        self.g = Gate(3)\n"
    assert call_compatibility(definition_signature(conv, "Conv2dSame"), _usage(code, "Conv2dSame")) == 1.0
    assert call_compatibility(definition_signature(plain, "Gate"), _usage(code, "Gate")) == 0.0


def test_abbreviated_spellings_are_aliases():
    assert "channelattn" in aliases("ChannelAttention")
    assert "residualblock" in aliases("ResBlock")
    assert "convnormact" in aliases("ConvBnAct")  # alias groups still apply
    assert "channelattention" not in aliases("SpatialAttention")
    assert word_overlap("ResidualBlock", "EdgeResidual") == 0.5
    assert word_overlap("ResBlk", "ResidualBlock") == 1.0


def test_traceback_in_the_users_code_blames_the_block_that_fed_the_failing_line():
    patched = "def PatchEmbed_helper():\n    pass\n\n\nclass PatchEmbed:\n    pass\n\n\nclass Block:\n    pass\n\n\n" + VIT
    offset = 12
    failing = offset + VIT.splitlines().index("        cls = self.cls_token.expand(x.shape[0], -1, -1)") + 1
    traceback = f'Traceback (user code only):\n  File "model.py", line {failing}, in forward\n    cls = ...\nAttributeError: x'
    inserted = [{"name": "PatchEmbed", "symbol": "PatchEmbed"}, {"name": "Block", "symbol": "Block"}]
    assert blamed_names(patched, traceback, inserted) == ["PatchEmbed"]
    on_blocks = failing + 1  # the line calling self.blocks: Block first, then what fed it
    traceback = traceback.replace(f"line {failing}", f"line {on_blocks}")
    assert blamed_names(patched, traceback, inserted) == ["Block", "PatchEmbed"]
    inside_block = 9  # a frame inside an inserted block blames that block alone
    traceback = traceback.replace(f"line {on_blocks}", f"line {inside_block}")
    assert blamed_names(patched, traceback, inserted) == ["Block"]


def _candidate(name: str, module: str, score: float, code: str = "") -> Candidate:
    block = SimpleNamespace(provenance=SimpleNamespace(module=module), qualified_name=f"{module}.{name}", content_hash=module)
    return Candidate(name, name, code or f"def {name}(): pass  # {module}", "helper", score, 1.0, "", block)


def test_candidates_from_the_module_that_offers_the_other_names_rank_first():
    ranked = rank_by_coherence({
        "conv3x3": [_candidate("conv3x3", "timm.models.xcit", 5.70), _candidate("conv3x3", "torchvision.models.resnet", 5.61)],
        "BasicBlock": [_candidate("BasicBlock", "torchvision.models.resnet", 6.4)],
        "conv1x1": [_candidate("conv1x1", "torchvision.models.resnet", 5.9)],
    })
    assert [c.block.provenance.module for c in ranked["conv3x3"]] == ["torchvision.models.resnet", "timm.models.xcit"]
    alone = {"conv3x3": [_candidate("conv3x3", "timm.models.xcit", 5.70)]}
    assert rank_by_coherence(alone)["conv3x3"][0].score == 5.70


def test_the_same_helper_cut_from_two_blocks_is_one_candidate():
    a = _candidate("conv3x3", "torchvision.models.resnet", 5.6, code="def conv3x3(a, b):\n    return a\n")
    b = _candidate("conv3x3", "torchvision.models.resnet", 5.6, code="def conv3x3(a, b):\n    return a\n")
    b.block.content_hash = "another block"
    assert a.identity == b.identity


def test_acronyms_and_initials():
    from indexer.store import name_initials
    from rag_server.candidates import is_acronym

    assert name_initials("GlobalResponseNorm") == "grn" and name_initials("squeeze_excite") == "se"
    assert name_initials("Block") == ""  # one word has no initials to match
    assert is_acronym("GRN") and is_acronym("MHSA") and not is_acronym("Block") and not is_acronym("SE2") and not is_acronym("FC")


def test_a_torch_class_the_calls_do_not_fit_is_not_imported_blindly():
    from rag_server.candidates import torch_refuses

    convnext = "class Net:\n    def __init__(self):\n        self.n = LayerNorm(64, eps=1e-6, data_format='channels_first')\n"
    plain = "class Net:\n    def __init__(self):\n        self.n = LayerNorm(64, eps=1e-6)\n"
    assert torch_refuses(_usage(convnext, "LayerNorm"))
    assert not torch_refuses(_usage(plain, "LayerNorm"))


GHOST = "import torch.nn as nn\nclass GhostModule(nn.Module):\n    def __init__(self, in_chs, out_chs, kernel_size=1, ratio=2, use_act=True):\n        super().__init__()\n"


def test_call_keywords_another_code_base_names_differently_are_renamed():
    from rag_server.candidates import keyword_renames

    sig = definition_signature(GHOST, "GhostModule")
    call = "class Net:\n    def __init__(self):\n        self.m = GhostModule({args})\n"
    assert keyword_renames(sig, _usage(call.format(args="960, 1280, kernel=1, relu=True"), "GhostModule")) == {"kernel": "kernel_size", "relu": "use_act"}
    assert keyword_renames(sig, _usage(call.format(args="in_channels=3, out_channels=8"), "GhostModule")) == {"in_channels": "in_chs", "out_channels": "out_chs"}
    assert keyword_renames(sig, _usage(call.format(args="3, 8, use_act=False"), "GhostModule")) == {}  # fits as written
    assert keyword_renames(sig, _usage(call.format(args="3, 8, padding=1"), "GhostModule")) == {}  # no synonym
    assert keyword_renames(sig, _usage(call.format(args="3, relu=True"), "GhostModule")) == {}  # out_chs still missing
    assert keyword_renames(sig, _usage(call.format(args="3, 8, relu=True, use_relu=True"), "GhostModule")) == {}  # both -> use_act
    se = "class SE:\n    def __init__(self, channels, rd_ratio=0.0625):\n        pass\n"
    # rd_ratio=1/16 is not reduction=16: a different value, so not a synonym
    assert keyword_renames(definition_signature(se, "SE"), _usage(call.format(args="8").replace("GhostModule", "SE") + "        self.s = SE(8, reduction=16)\n", "SE")) == {}


def test_renamed_keywords_reach_the_call_sites_and_a_blocks_helper_of_the_same_name_steps_aside():
    from rag_server.candidates import call_compatibility, keyword_renames
    from rag_server.patch import apply_plan

    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stage = GhostBottleneck(8, 16, 8)
                self.head = GhostModule(8, 32, kernel_size=1, relu=True)
        ''')
    report = analyze(model)
    bottleneck = ("import torch.nn as nn\n\n\nclass GhostModule(nn.Module):\n    def __init__(self, in_chs, out_chs, kernel_size=1, act_layer=nn.ReLU):\n"
                  "        super().__init__()\n\n\nclass GhostBottleneck(nn.Module):\n    def __init__(self, in_chs, mid_chs, out_chs):\n"
                  "        super().__init__()\n        self.ghost = GhostModule(in_chs, mid_chs)\n")
    renames = keyword_renames(definition_signature(GHOST, "GhostModule"), report.free["GhostModule"])
    ghost = Candidate("GhostModule", "GhostModule", GHOST, "exact", 6.0, 1.0, "", None, keyword_renames=renames)
    outer = Candidate("GhostBottleneck", "GhostBottleneck", bottleneck, "exact", 6.0, 1.0, "", None)
    assert call_compatibility(definition_signature(bottleneck, "GhostModule"), report.free["GhostModule"]) == 0.0
    code, inserted, _ = apply_plan(model, report, {}, [outer, ghost])
    assert "GhostModule(8, 32, kernel_size=1, use_act=True)" in code and "relu" not in code
    assert "class GhostModule_2(nn.Module)" in code and "self.ghost = GhostModule_2(in_chs, mid_chs)" in code  # the helper stepped aside
    assert "use_act=True):" in code  # the model's name got the chosen definition
    assert [i["keyword_renames"] for i in inserted] == [{}, {"relu": "use_act"}]
    # a helper that serves the model's calls as well as the chosen definition is shared, not duplicated
    same = Candidate("GhostModule", "GhostModule", GHOST, "exact", 6.0, 1.0, "", None, keyword_renames=renames)
    outer_with_same = Candidate("GhostBottleneck", "GhostBottleneck", GHOST + bottleneck.split("\n\n\nclass GhostModule")[0].replace("import torch.nn as nn", "") +
                                "\n\nclass GhostBottleneck(nn.Module):\n    def __init__(self, a, b, c):\n        super().__init__()\n", "exact", 6.0, 1.0, "", None)
    code, _, _ = apply_plan(model, analyze(model), {}, [outer_with_same, same])
    assert code.count("class GhostModule") == 1 and "use_act=True)" in code


def test_the_demo_and_cli_show_the_keywords_renamed_at_the_calls():
    from rag_server.candidates import describe_renames
    from rag_server.demo import _inserted

    assert describe_renames({"dropout": "drop", "relu": "use_act"}) == "dropout= -> drop=, relu= -> use_act="
    item = SimpleNamespace(name="Mlp", source="pkg:timm", qualified_name="timm.layers.mlp.Mlp", keyword_renames={"dropout": "drop"})
    assert _inserted(item) == "Mlp <- timm (dropout= -> drop=)"
    assert _inserted(SimpleNamespace(**{**item.__dict__, "keyword_renames": {}})) == "Mlp <- timm"


def test_imports_from_modules_that_do_not_exist_are_dropped_and_named():
    from rag_server.codeops import drop_missing_imports

    present = {"torch", "timm", "os"}.__contains__
    code = textwrap.dedent('''\
        from __future__ import annotations
        import torch; from .blocks import SEBlock; import os
        from models.common import Conv, C3 as CSP
        from timm.layers import DropPath
        from nowhere import *
        try:
            from fast_ops import fused
        except ImportError:
            fused = None
        ''')
    new, notes = drop_missing_imports(code, present)
    assert "import torch; import os\n" in new and "SEBlock" not in new and "models.common" not in new
    assert "from timm.layers import DropPath" in new and "from __future__ import annotations" in new
    assert "from nowhere import *" in new and "from fast_ops import fused" in new  # a star or guarded import stays
    assert notes == ["removed the import of SEBlock from '.blocks', a module that does not exist here",
                     "removed the import of Conv, CSP from 'models.common', a module that does not exist here"]
    assert drop_missing_imports("import torch\n", present) == ("import torch\n", [])


def test_names_a_library_module_does_not_define_are_dropped_from_its_import():
    from rag_server.candidates import installed, module_lacks
    from rag_server.codeops import drop_missing_imports

    assert module_lacks("torchvision.ops", "ConvBNActivation") and module_lacks("torchvision.models.resnet", "BasicBlok")
    assert not module_lacks("torchvision.ops", "SqueezeExcitation") and not module_lacks("torchvision", "models")  # a submodule
    assert not module_lacks("torch.nn", "Anything")  # star imports: cannot tell, so never dropped
    assert not module_lacks("antigravity", "x")  # not a library package: never looked into (finding it would import it)
    code = "from torchvision.ops import ConvBNActivation, SqueezeExcitation as SE\nfrom torchvision.models.resnet import BasicBlok\n"
    new, notes = drop_missing_imports(code, installed, module_lacks)
    assert new == "from torchvision.ops import SqueezeExcitation as SE\n"
    assert notes == ["removed ConvBNActivation from the import from 'torchvision.ops', which does not define it",
                     "removed BasicBlok from the import from 'torchvision.models.resnet', which does not define it"]


def test_a_module_import_of_a_module_that_does_not_exist_is_read_through():
    from rag_server.codeops import drop_missing_imports

    present = {"torch", "os"}.__contains__
    code = textwrap.dedent('''\
        import torch.nn as nn
        import models.blocks as mb, os
        import utils.layers
        import helpers as h


        class Conv:
            pass


        def build():
            return mb.SEBlock(8), utils.layers.ConvBNAct(3, 8), os.sep, h.Conv(), h.other
        ''')
    new, notes = drop_missing_imports(code, present)
    assert "import os\n" in new and "models" not in new and "utils" not in new
    assert "return SEBlock(8), ConvBNAct(3, 8), os.sep, h.Conv(), h.other" in new
    assert "import helpers as h" in new  # h.Conv would become the model's own Conv: left as written
    assert notes == ["removed `import models.blocks as mb`, a module that does not exist here, and read mb.X as X",
                     "removed `import utils.layers`, a module that does not exist here, and read utils.layers.X as X"]
