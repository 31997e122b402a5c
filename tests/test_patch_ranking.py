"""How Patch ranks candidates and picks the one to swap after a failed check: pure functions, no store needed."""

from __future__ import annotations

import ast
import textwrap
from dataclasses import replace
from types import SimpleNamespace

import pytest

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
    looped = VIT.replace("self.blocks = nn.Sequential(*[Block(dim, 4) for _ in range(2)])",
                         "self.blocks = nn.ModuleList([Block(dim, 4) for _ in range(2)])\n        self.heads = [Head(dim)]")
    looped = looped.replace("x = self.blocks(torch.cat((cls, x), dim=1))",
                            "x = torch.cat((cls, x), dim=1)\n        for i, blk in enumerate(self.blocks):\n            x = blk(x, i)\n"
                            "        for h in self.heads:\n            x = h(x, x)")
    assert instance_calls(looped, {"PatchEmbed", "Block", "Head"}) == {"Block": [InstanceCall(2, False)], "PatchEmbed": [InstanceCall(1, False)]}


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


def test_a_forward_given_more_inputs_than_it_takes_scores_zero():
    """A UNet's ``up(x4, x3)`` into a block whose ``forward(x)`` takes one tensor scored 0.67-0.75 (the constructor
    fit) and was tried first: the first forward raises TypeError, so it fits nothing."""
    one_input = "import torch.nn as nn\nclass Up(nn.Module):\n    def __init__(self, cin, cout):\n        super().__init__()\n    def forward(self, x):\n        return x\n"
    two_inputs = one_input.replace("def forward(self, x):", "def forward(self, x, skip):")
    unet = ("import torch\nimport torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.up = Up(64, 32)\n    def forward(self, x4, x3):\n        return self.up(x4, x3)\n")
    usage = _usage(unet, "Up")
    assert call_compatibility(definition_signature(one_input, "Up"), usage) == 0.0
    assert call_compatibility(definition_signature(two_inputs, "Up"), usage) == 1.0
    with_mask = one_input.replace("def forward(self, x):", "def forward(self, x, mask=None):")
    assert call_compatibility(definition_signature(with_mask, "Up"), usage) == 1.0


def test_a_definition_the_call_cannot_construct_scores_zero():
    needs_norm = "class ResidualBlock:\n    def __init__(self, in_planes, planes, *, norm_layer, stride=1):\n        pass\n    def forward(self, x):\n        return x\n"
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.f = nn.Sequential(ResidualBlock(32, 64, stride=2))\n"
    assert call_compatibility(definition_signature(needs_norm, "ResidualBlock"), _usage(code, "ResidualBlock")) == 0.0


def test_a_positional_argument_never_lands_in_device_or_dtype():
    patch_embed = ("import torch.nn as nn\nclass PatchEmbed(nn.Module):\n    def __init__(self, dim_in=3, dim_out=768, kernel=(7, 7), "
                   "stride=(4, 4), padding=(3, 3), device=None, dtype=None):\n        super().__init__()\n")
    six = "class Net:\n    def __init__(self):\n        self.b = PatchEmbed(64, 2, 96, 3, 2, 128)\n"  # MobileViTBlock's order
    five = six.replace(", 128)", ")")
    sig = definition_signature(patch_embed, "PatchEmbed")
    assert call_compatibility(sig, _usage(six, "PatchEmbed")) == 0.0
    assert call_compatibility(sig, _usage(five, "PatchEmbed")) == 1.0
    assert call_compatibility(sig, _usage(six.replace(", 128)", ", device='cpu')"), "PatchEmbed")) == 1.0  # by keyword: fine


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
    assert "splitattn" in aliases("SplAtConv2d") and "selectivekernel" in aliases("SKConv")  # paper repos' names / timm's
    assert word_overlap("ResidualBlock", "EdgeResidual") == 0.5
    assert word_overlap("ResBlk", "ResidualBlock") == 1.0
    # a plural word in the singular too (audit of Patch outside classification: denoising-diffusion-pytorch's
    # ``SinusoidalPosEmb`` was never found for a ``SinusoidalPositionEmbeddings``)
    assert "sinusoidalposemb" in aliases("SinusoidalPositionEmbeddings") and "sinusoidalpositionembeddings" in aliases("SinusoidalPositionEmbeddings")
    assert "positionalencoding" in aliases("PositionalEncodings")


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


def test_a_constructor_that_refuses_the_calls_arguments_is_blamed_first():
    """``PositionalEncoding(dim, max_len=64)`` failing with "PositionalEncoding.__init__() got an unexpected keyword
    argument 'max_len'" is raised at the user's line, which blamed the attention block used nearest it: Patch swapped
    that one, failed the same way, and stopped saying other blocks would not help."""
    patched = ("class MHSA:\n    pass\n\n\nclass PositionalEncoding:\n    pass\n\n\n"
               "class Net:\n    def __init__(self):\n        self.pos = PositionalEncoding(8, max_len=64)\n"
               "        self.attn = MHSA(8)\n")
    inserted = [{"name": "PositionalEncoding", "symbol": "PositionalEncoding"},
                {"name": "MultiHeadSelfAttention", "symbol": "MHSA"}]
    traceback = ('Traceback (user code only):\n  File "model.py", line 12, in __init__\n    self.attn = MHSA(8)\n'
                 "TypeError: PositionalEncoding.__init__() got an unexpected keyword argument 'max_len'")
    assert blamed_names(patched, traceback, inserted)[0] == "PositionalEncoding"
    aliased = traceback.replace("PositionalEncoding.__init__() got an unexpected keyword argument 'max_len'",
                                "MHSA.__init__() missing 1 required positional argument: 'heads'")
    assert blamed_names(patched, aliased, inserted)[0] == "MultiHeadSelfAttention"  # the symbol names its free name


def _candidate(name: str, module: str, score: float, code: str = "") -> Candidate:
    block = SimpleNamespace(provenance=SimpleNamespace(module=module), qualified_name=f"{module}.{name}", content_hash=module, name=name)
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
    # the constructor fits nn.Transformer's six positional parameters; its forward(src, tgt) does not take one input
    vit = ("class Net:\n    def __init__(self):\n        self.t = Transformer(64, 2, 4, 16, 128, 0.1)\n"
           "    def forward(self, x):\n        return self.t(x)\n")
    assert torch_refuses(_usage(vit, "Transformer"))
    assert not torch_refuses(_usage(vit.replace("self.t(x)", "self.t(x, x)"), "Transformer"))
    one_input = "class Net:\n    def __init__(self):\n        self.n = LayerNorm(64)\n    def forward(self, x):\n        return self.n(x)\n"
    assert not torch_refuses(_usage(one_input, "LayerNorm"))


GHOST = "import torch.nn as nn\nclass GhostModule(nn.Module):\n    def __init__(self, in_chs, out_chs, kernel_size=1, ratio=2, use_act=True):\n        super().__init__()\n"


def test_call_keywords_another_code_base_names_differently_are_renamed():
    from rag_server.candidates import keyword_edits

    sig = definition_signature(GHOST, "GhostModule")
    call = "class Net:\n    def __init__(self):\n        self.m = GhostModule({args})\n"

    def renamed(args: str, **kw) -> dict:
        edits = keyword_edits(sig, _usage(call.format(args=args), "GhostModule"), **kw)
        assert not edits.dropped and not edits.inverted
        return edits.renamed

    assert renamed("960, 1280, kernel=1, relu=True") == {"kernel": "kernel_size", "relu": "use_act"}
    assert renamed("in_channels=3, out_channels=8") == {"in_channels": "in_chs", "out_channels": "out_chs"}
    assert renamed("c1=3, c2=8") == {"c1": "in_chs", "c2": "out_chs"}  # YOLOv5's names
    assert renamed("3, 8, use_act=False") == {}  # fits as written
    assert renamed("3, 8, padding=1", allow_drops=False) == {}  # no synonym, and dropping not allowed
    assert renamed("3, relu=True") == {}  # out_chs still missing
    assert renamed("3, 8, relu=True, use_relu=True") == {}  # both -> use_act
    assert renamed("3, 8, 1, kernel=3") == {}  # kernel_size is given positionally already
    # a block that keeps its channels takes them as ``channels`` where the call says ``in_planes``
    cam = "class CA:\n    def __init__(self, channels, rd_ratio=1. / 16):\n        pass\n"
    assert keyword_edits(definition_signature(cam, "CA"), _usage(call.replace("GhostModule({args})", "CA(in_planes=64)"), "CA")).renamed == {"in_planes": "channels"}
    # ConvNeXt's ``dim`` is a convolutional block's width
    block = "class Block:\n    def __init__(self, in_chs, ls_init_value=1e-6):\n        pass\n"
    usage = _usage(call.replace("GhostModule({args})", "Block(dim=96, layer_scale_init_value=1e-6)"), "Block")
    assert keyword_edits(definition_signature(block, "Block"), usage).renamed == {"dim": "in_chs", "layer_scale_init_value": "ls_init_value"}


def test_the_layout_a_call_asks_for_is_read_from_its_data_format():
    from rag_server.candidates import data_format

    call = "class Net:\n    def __init__(self):\n{calls}"
    first = "        self.a = LayerNorm(8, data_format='channels_first')\n"
    last = '        self.b = LayerNorm(8, eps=1e-6, data_format="channels_last")\n'
    plain = "        self.c = LayerNorm(8)\n"
    assert data_format(_usage(call.format(calls=first + first), "LayerNorm")) == "channels_first"
    assert data_format(_usage(call.format(calls=last), "LayerNorm")) == "channels_last"
    assert data_format(_usage(call.format(calls=first + plain), "LayerNorm")) is None  # one name, two layouts
    assert data_format(_usage(call.format(calls=plain), "LayerNorm")) is None


def test_a_reduction_divisor_is_inverted_where_the_block_takes_a_fraction():
    from rag_server.candidates import keyword_edits

    call = "class Net:\n    def __init__(self):\n        self.s = SE(8, {kw}=16)\n"
    fraction = definition_signature("class SE:\n    def __init__(self, channels, rd_ratio=1. / 16):\n        pass\n", "SE")
    for kw in ("reduction", "reduction_ratio", "ratio"):
        edits = keyword_edits(fraction, _usage(call.format(kw=kw), "SE"))
        assert edits.inverted == {kw: "rd_ratio"} and not edits.renamed and not edits.dropped, edits
    # a divisor parameter is a plain rename; a "ratio" parameter whose default is not a fraction is not inverted into
    divisor = definition_signature("class SE:\n    def __init__(self, channels, reduction=16):\n        pass\n", "SE")
    assert keyword_edits(divisor, _usage(call.format(kw="reduction_ratio"), "SE")).renamed == {"reduction_ratio": "reduction"}
    whole = definition_signature("class SE:\n    def __init__(self, channels, rd_ratio=4):\n        pass\n", "SE")
    edits = keyword_edits(whole, _usage(call.format(kw="reduction"), "SE"))
    assert not edits.inverted and edits.dropped == ("reduction",)


def test_keywords_a_block_has_no_parameter_for_are_dropped_within_limits():
    from rag_server.candidates import MAX_DROPPED_KEYWORDS, keyword_edits

    sig = definition_signature(GHOST, "GhostModule")
    call = "class Net:\n    def __init__(self):\n        self.m = GhostModule({args})\n"
    edits = keyword_edits(sig, _usage(call.format(args="3, 8, padding=1, relu=True"), "GhostModule"))
    assert edits.dropped == ("padding",) and edits.renamed == {"relu": "use_act"}
    assert not keyword_edits(sig, _usage(call.format(args="3, 8, padding=1"), "GhostModule"), allow_drops=False)
    too_many = ", ".join(f"x{i}=1" for i in range(MAX_DROPPED_KEYWORDS + 1))
    assert not keyword_edits(sig, _usage(call.format(args=f"3, 8, {too_many}"), "GhostModule"))
    assert not keyword_edits(sig, _usage(call.format(args="3, padding=1"), "GhostModule"))  # out_chs still missing
    assert not keyword_edits(sig, _usage(call.format(args="3, 8, stride=2"), "GhostModule"))  # would run, silently unstrided


def test_edited_keywords_reach_the_call_sites_as_the_diff_shows():
    from rag_server.codeops import KeywordEdits, edit_call_keywords, parsed

    code = "m = CBAM(64, reduction_ratio=r + 1, padding=1)\nn = CBAM(\n    32,\n    reduction_ratio=8,\n    relu=True,\n    padding=2,\n)\nk = Other(padding=1)\n"
    edits = KeywordEdits(renamed={"relu": "use_act"}, inverted={"reduction_ratio": "rd_ratio"}, dropped=("padding",))
    out = edit_call_keywords(parsed(code), {"CBAM": edits}).code
    assert out == "m = CBAM(64, rd_ratio=1 / (r + 1))\nn = CBAM(\n    32,\n    rd_ratio=1 / 8,\n    use_act=True,\n)\nk = Other(padding=1)\n", out
    ns: dict = {}
    exec(compile(out, "<edited>", "exec"), {"r": 3, "CBAM": lambda *a, **k: k, "Other": lambda **k: k}, ns)  # still valid Python
    assert ns["m"] == {"rd_ratio": 0.25} and ns["n"] == {"rd_ratio": 0.125, "use_act": True}
    assert edits.describe() == "relu= -> use_act=, reduction_ratio=v -> rd_ratio=1 / v, padding= dropped"


def test_renamed_keywords_reach_the_call_sites_and_a_blocks_helper_of_the_same_name_steps_aside():
    from rag_server.candidates import call_compatibility, keyword_edits
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
    edits = keyword_edits(definition_signature(GHOST, "GhostModule"), report.free["GhostModule"])
    ghost = Candidate("GhostModule", "GhostModule", GHOST, "exact", 6.0, 1.0, "", None, edits=edits)
    outer = Candidate("GhostBottleneck", "GhostBottleneck", bottleneck, "exact", 6.0, 1.0, "", None)
    assert call_compatibility(definition_signature(bottleneck, "GhostModule"), report.free["GhostModule"]) == 0.0
    code, inserted, _ = apply_plan(model, report, {}, [outer, ghost])
    assert "GhostModule(8, 32, kernel_size=1, use_act=True)" in code and "relu" not in code
    assert "class GhostModule_2(nn.Module)" in code and "self.ghost = GhostModule_2(in_chs, mid_chs)" in code  # the helper stepped aside
    assert "use_act=True):" in code  # the model's name got the chosen definition
    assert [i["keyword_renames"] for i in inserted] == [{}, {"relu": "use_act"}]
    # a helper that serves the model's calls as well as the chosen definition is shared, not duplicated
    same = Candidate("GhostModule", "GhostModule", GHOST, "exact", 6.0, 1.0, "", None, edits=edits)
    outer_with_same = Candidate("GhostBottleneck", "GhostBottleneck", GHOST + bottleneck.split("\n\n\nclass GhostModule")[0].replace("import torch.nn as nn", "") +
                                "\n\nclass GhostBottleneck(nn.Module):\n    def __init__(self, a, b, c):\n        super().__init__()\n", "exact", 6.0, 1.0, "", None)
    code, _, _ = apply_plan(model, analyze(model), {}, [outer_with_same, same])
    assert code.count("class GhostModule") == 1 and "use_act=True)" in code


def test_the_demo_and_cli_show_the_keywords_edited_at_the_calls():
    from corpus.records import Provenance
    from rag_server.client import InsertedBlock
    from rag_server.demo import _inserted

    mlp = InsertedBlock("Mlp", "timm.layers.mlp.Mlp", "h", "", "exact", "pkg:timm", keyword_renames={"dropout": "drop"})
    assert _inserted(mlp) == "Mlp <- timm (dropout= -> drop=)"
    assert _inserted(InsertedBlock("Mlp", "timm.layers.mlp.Mlp", "h", "", "exact", "pkg:timm")) == "Mlp <- timm"
    cbam = InsertedBlock("CBAM", "timm.layers.cbam.CbamModule", "h", "", "alias", "pkg:timm", keyword_inverted={"reduction_ratio": "rd_ratio"},
                         keyword_dropped=["padding"], defaults_set={"norm_layer": "nn.BatchNorm2d"})
    assert _inserted(cbam) == "CBAM <- timm CbamModule (reduction_ratio=v -> rd_ratio=1 / v, padding= dropped, set in the block: norm_layer=nn.BatchNorm2d)"
    block = InsertedBlock("Bottleneck", "ultralytics.nn.modules.block.Bottleneck", "h", "", "exact", "pypi:ultralytics==8.4.190",
                          defaults_set={"downsample": "1x1 conv + BatchNorm2d when the stride or the width changes"})
    assert _inserted(block) == "Bottleneck <- ultralytics (set in the block: downsample: 1x1 conv + BatchNorm2d when the stride or the width changes)"
    # a license that is not a known permissive one is named: the inserted code comes under it
    for license, note in (("AGPL-3.0", " (copyleft license: AGPL-3.0)"), ("", " (no license declared)"), ("BSD", "")):
        prov = Provenance("pypi:ultralytics==8.4.190", "ultralytics", "8.4.190", "ultralytics/nn/modules/conv.py", "ultralytics.nn.modules.conv", license=license)
        conv = InsertedBlock("Conv", "ultralytics.nn.modules.conv.Conv", "h", "", "exact", prov.source, provenance=prov)
        assert _inserted(conv) == f"Conv <- ultralytics{note}" and conv.license == license


BOTTLE = textwrap.dedent('''\
    import torch.nn as nn


    class Bottle(nn.Module):
        def __init__(self, inplanes, planes, stride=1, downsample=None, act_layer=nn.ReLU, norm_layer=None, attn_layer=None, extra=None):
            super().__init__()
            self.bn1 = norm_layer(planes)
            self.act = act_layer(inplace=True)
            self.se = attn_layer(planes) if attn_layer is not None else nn.Identity()
            self.downsample = downsample
            extra = extra or nn.Identity
            self.extra = extra()
    ''')


def test_a_none_default_layer_the_block_calls_unguarded_gets_a_default():
    from rag_server.candidates import layer_defaults
    from rag_server.codeops import set_parameter_defaults

    sig = definition_signature(BOTTLE, "Bottle")
    assert sig.unset_callables == ["norm_layer"] and sig.init_owner == "Bottle"  # attn_layer is tested, extra rebound, downsample never called
    assert layer_defaults(sig, BOTTLE) == {"norm_layer": "nn.BatchNorm2d"}
    example = {"norm_layer": {"__expr__": "nn.GroupNorm"}}  # the block's validated example says which layer it took
    assert layer_defaults(sig, BOTTLE, example) == {"norm_layer": "nn.GroupNorm"}
    assert layer_defaults(sig, BOTTLE, {"norm_layer": {"__expr__": "partial(nn.GroupNorm, 8)"}}) == {"norm_layer": "nn.BatchNorm2d"}
    odd = BOTTLE.replace("norm_layer", "block_fn")
    assert layer_defaults(definition_signature(odd, "Bottle"), odd) == {}  # no convention for that name
    no_nn = BOTTLE.replace("import torch.nn as nn", "from torch import nn as tnn")
    assert layer_defaults(definition_signature(no_nn, "Bottle"), no_nn) == {}  # the default would name an unbound nn

    child = BOTTLE + "\n\nclass Child(Bottle):\n    def forward(self, x, norm_layer=None):\n        return x\n"
    child_sig = definition_signature(child, "Child")
    assert child_sig.init_owner == "Bottle" and child_sig.unset_callables == ["norm_layer"]
    out = set_parameter_defaults(child, {child_sig.init_owner}, {"norm_layer": "nn.BatchNorm2d"})
    assert "norm_layer=nn.BatchNorm2d, attn_layer=None" in out and "def forward(self, x, norm_layer=None)" in out
    ns: dict = {}
    exec(compile(out, "<block>", "exec"), ns)
    assert isinstance(ns["Child"](8, 8).bn1, ns["nn"].BatchNorm2d)  # runs as the model calls it, without the layer


REGNET_BLOCK = textwrap.dedent('''\
    import torch.nn as nn


    class ResBlock(nn.Module):
        def __init__(self, width_in, width_out, stride, norm_layer, activation_layer, group_width=1):
            super().__init__()
            self.conv = nn.Conv2d(width_in, width_out, 3, stride, 1, groups=width_out // group_width)
            self.norm = norm_layer(width_out)
            self.act = activation_layer()

        def forward(self, x):
            return self.act(self.norm(self.conv(x)))
    ''')


def test_required_layer_parameters_at_the_end_of_the_required_ones_get_defaults():
    from rag_server.candidates import layer_defaults, with_defaults
    from rag_server.codeops import set_parameter_defaults
    from rag_server.scope import analyze

    sig = definition_signature(REGNET_BLOCK, "ResBlock")
    assert sig.required == 5 and sig.required_layers == ["norm_layer", "activation_layer"]
    defaults = layer_defaults(sig, REGNET_BLOCK)
    assert defaults == {"norm_layer": "nn.BatchNorm2d", "activation_layer": "nn.ReLU"}
    usage = analyze("y = ResBlock(8, 16, stride=2, group_width=4)\n").free["ResBlock"]
    assert call_compatibility(sig, usage) == 0.0  # as the library defines it: two arguments missing
    assert call_compatibility(with_defaults(sig, defaults), usage) == 1.0
    out = set_parameter_defaults(REGNET_BLOCK, {"ResBlock"}, defaults)
    assert "stride, norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU, group_width=1)" in out
    ns: dict = {}
    exec(compile(out, "<block>", "exec"), ns)
    assert isinstance(ns["ResBlock"](8, 16, stride=2, group_width=4).norm, ns["nn"].BatchNorm2d)

    middle = REGNET_BLOCK.replace("stride, norm_layer, activation_layer,", "norm_layer, activation_layer, stride,")
    assert definition_signature(middle, "ResBlock").required_layers == []  # a required parameter follows: no default possible
    odd = REGNET_BLOCK.replace("activation_layer", "block_fn")
    assert layer_defaults(definition_signature(odd, "ResBlock"), odd) == {}  # all of them or none


TV_BOTTLENECK = textwrap.dedent('''\
    import torch.nn as nn


    class Bottleneck(nn.Module):
        """A block that leaves its shortcut to the network."""

        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.conv3(self.conv2(self.conv1(x)))
            if self.downsample is not None:
                identity = self.downsample(x)
            return out + identity
    ''')


def test_a_block_that_leaves_its_shortcut_to_the_network_gets_a_projection_when_the_shape_changes():
    import torch

    from rag_server.candidates import projection_shortcut
    from rag_server.codeops import prepend_to_init

    statements = projection_shortcut(definition_signature(TV_BOTTLENECK, "Bottleneck"), TV_BOTTLENECK)
    assert "stride != 1 or inplanes != planes * self.expansion" in statements
    out = prepend_to_init(TV_BOTTLENECK, {"Bottleneck"}, statements)
    ns: dict = {}
    exec(compile(out, "<block>", "exec"), ns)
    block = ns["Bottleneck"]
    assert block(16, 8, 2)(torch.randn(1, 16, 8, 8)).shape == (1, 32, 4, 4)  # projected: stride 2, width 16 -> 32
    assert block(32, 8).downsample is None  # shapes match: the identity shortcut, as before
    given = torch.nn.Identity()
    assert block(16, 8, 2, given).downsample is given  # the model's own shortcut is kept
    exec(compile(TV_BOTTLENECK, "<block>", "exec"), ns)
    try:
        ns["Bottleneck"](16, 8, 2)(torch.randn(1, 16, 8, 8))
        raise AssertionError("the library block itself cannot change the shape without a downsample")
    except RuntimeError:
        pass

    no_test = TV_BOTTLENECK.replace("if self.downsample is not None:", "if True:")
    assert projection_shortcut(definition_signature(no_test, "Bottleneck"), no_test) == ""  # downsample used as given
    no_stride = TV_BOTTLENECK.replace("stride=1, ", "").replace("3, stride, 1", "3, 1, 1")
    assert projection_shortcut(definition_signature(no_stride, "Bottleneck"), no_stride) == ""
    basic = TV_BOTTLENECK.replace("    expansion = 4\n", "").replace(" * self.expansion", "")
    assert "inplanes != planes)" in projection_shortcut(definition_signature(basic, "Bottleneck"), basic)


def test_blocks_passed_to_a_builder_function_get_its_calls_and_attributes():
    from rag_server.scope import parameter_calls

    code = textwrap.dedent('''\
        import torch.nn as nn


        def stage(block_fn, n, width):
            return nn.Sequential(*[block_fn(width, width) for _ in range(n)])


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.in_planes = 16
                self.layer1 = self._make_layer(PreActBlock, 32, 2, stride=1)
                self.layer2 = self._make_layer(planes=64, block=PreActBlock, num_blocks=2, stride=2)
                self.tail = stage(Tail, 2, 64)
                self.fc = nn.Linear(64 * PreActBlock.expansion, 10)

            def _make_layer(self, block, planes, num_blocks, stride):
                layers = []
                for s in [stride] + [1] * (num_blocks - 1):
                    layers.append(block(self.in_planes, planes, s))
                    self.in_planes = planes * block.expansion
                return nn.Sequential(*layers)
        ''')
    found = parameter_calls(code, {"PreActBlock", "Tail", "nn"})
    calls, attributes = found["PreActBlock"]
    assert [c.n_positional for c in calls] == [3] and calls[0].text == "block(self.in_planes, planes, s)"
    assert attributes == {"expansion"}  # read from the parameter inside the builder
    assert [(c.n_positional, c.keywords) for c in found["Tail"][0]] == [(2, [])]
    assert "nn" not in found
    usage = analyze(code).free["PreActBlock"]
    assert len(usage.calls) == 1 and not usage.only_attributes  # not mistaken for a module alias any more


def test_a_block_bound_to_a_local_alias_is_read_through_it():
    """``block = PreActBlock`` then ``block.expansion`` and ``self._make_layer(block, ...)``: neither the call nor the
    attribute was seen, so a block without ``expansion`` was inserted and failed with AttributeError."""
    from rag_server.scope import parameter_calls

    code = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                block = PreActBlock
                head = Head
                self.in_planes = 16
                self.layer1 = self._make_layer(block, 32, 2, stride=1)
                self.fc = nn.Linear(64 * block.expansion, 10)
                self.head = head(64, classes=10)

            def _make_layer(self, block, planes, num_blocks, stride):
                return nn.Sequential(*[block(self.in_planes, planes, s) for s in [stride] + [1] * (num_blocks - 1)])

            def forward(self, x):
                block = 3  # another function's local of the same name is no alias
                return block.real
        ''')
    found = parameter_calls(code, {"PreActBlock", "Head"})
    calls, attributes = found["PreActBlock"]
    assert [c.text for c in calls] == ["block(self.in_planes, planes, s)"] and attributes == {"expansion"}
    assert [(c.n_positional, c.keywords) for c in found["Head"][0]] == [(1, ["classes"])]
    usage = analyze(code).free["PreActBlock"]
    assert usage.attributes == {"expansion"} and len(usage.calls) == 1


def test_imports_from_modules_that_do_not_exist_are_dropped_and_named():
    from rag_server.codeops import drop_missing_imports

    present = lambda module: module.split(".")[0] in {"torch", "timm", "os"}  # noqa: E731 - importable(dotted module)
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
    assert not module_lacks("torch", "Anything")  # a module __getattr__ (and a star import of an extension): cannot tell
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


def test_a_call_that_hands_a_named_argument_to_another_parameter_does_not_fit():
    from rag_server.candidates import misplaced_arguments

    code = "class Net:\n    def __init__(self, stride):\n        self.b = Block(self.in_planes, planes, stride)\n        self.c = Block(64, 64, 2)\n"
    usage = analyze(code).free["Block"]
    assert [c.positional_names for c in usage.calls] == [["in_planes", "planes", "stride"], ["", "", ""]]
    video = "class Block:\n    def __init__(self, inplanes, planes, conv_builder, stride=1):\n        pass\n"
    plain = "class Block:\n    def __init__(self, inplanes, planes, stride=1, downsample=None):\n        pass\n"
    assert misplaced_arguments(definition_signature(video, "Block"), usage.calls[0]) == ["stride"]
    assert misplaced_arguments(definition_signature(plain, "Block"), usage.calls[0]) == []
    assert call_compatibility(definition_signature(plain, "Block"), usage) == 1.0
    assert call_compatibility(definition_signature(video, "Block"), usage) == 0.5  # one of the two calls misplaces
    mixer = "class Block:\n    def __init__(self, dim, seq_len, mlp_ratio=4.0, mlp_layer=None, norm_layer=None):\n        pass\n"
    call = analyze("y = Block(dim, n, token_dim, channel_dim, my_norm_layer)\n").free["Block"].calls[0]
    assert misplaced_arguments(definition_signature(mixer, "Block"), call) == ["channel_dim"]  # a width into mlp_layer
    stem = "class Stem:\n    def __init__(self, width_in, width_out, norm_layer, activation_layer):\n        pass\n"
    call = analyze("y = Stem(3, 32, norm_layer, activation)\n").free["Stem"].calls[0]
    assert misplaced_arguments(definition_signature(stem, "Stem"), call) == []  # a layer by any name is fine there


def test_a_count_passed_where_a_block_takes_a_fraction_does_not_fit():
    from rag_server.candidates import counts_into_fractions

    ratio = "class SqueezeExcitation:\n    def __init__(self, dim, shrinkage_rate=0.25, drop=0.1, mlp_ratio=4.0):\n        pass\n"
    count = "class SqueezeExcitation:\n    def __init__(self, input_channels, squeeze_channels, scale=0.5):\n        pass\n"
    sig, other = definition_signature(ratio, "SqueezeExcitation"), definition_signature(count, "SqueezeExcitation")

    def calls(line: str):
        return analyze(f"y = {line}\n").free["SqueezeExcitation"].calls[0]

    assert counts_into_fractions(sig, calls("SqueezeExcitation(64, 16)")) == ["shrinkage_rate"]
    assert counts_into_fractions(sig, calls("SqueezeExcitation(c, c // 4)")) == ["shrinkage_rate"]
    assert counts_into_fractions(sig, calls("SqueezeExcitation(c, drop=2)")) == ["drop"]  # by keyword too
    assert counts_into_fractions(sig, calls("SqueezeExcitation(64, 0.25, 1, 8)")) == []  # 1 is no count; 4.0 no fraction
    assert counts_into_fractions(sig, calls("SqueezeExcitation(64, rate)")) == []  # a name may hold a fraction
    assert counts_into_fractions(other, calls("SqueezeExcitation(64, 16)")) == []
    usage = analyze("class Net:\n    def __init__(self):\n        self.se = SqueezeExcitation(64, 16)\n").free["SqueezeExcitation"]
    assert call_compatibility(sig, usage) == 0.0 and call_compatibility(other, usage) == 1.0


def test_a_meaning_match_keeps_the_kind_of_the_name():
    from rag_server.candidates import _same_kind

    assert _same_kind("TripletAttention", "Attention2d")
    assert not _same_kind("TripletAttention", "TripletMarginLoss")  # a loss stands only for a loss
    assert _same_kind("FocalLoss", "SigmoidFocalLoss")
    assert not _same_kind("conv_bn", "ConvBN")  # a function for a class


def test_a_class_attribute_the_model_reads_must_exist_on_the_candidate():
    from rag_server.candidates import lacks_attributes

    usage = analyze("class Net:\n    def __init__(self):\n        self.w = 64 * Block.expansion\n        self.b = Block(3, 64)\n").free["Block"]
    with_it = "import torch.nn as nn\nclass Block(nn.Module):\n    expansion = 4\n    def __init__(self, a, b):\n        super().__init__()\n"
    without = with_it.replace("    expansion = 4\n", "")
    subclass = "import torch.nn as nn\nclass Base(nn.Module):\n    expansion = 1\nclass Block(Base):\n    def __init__(self, a, b):\n        super().__init__()\n"
    outside = without.replace("class Block(nn.Module)", "class Block(nn.Conv2d)")
    assert not lacks_attributes(Candidate("Block", "Block", with_it, "semantic"), usage)
    assert lacks_attributes(Candidate("Block", "Block", without, "semantic"), usage)
    assert not lacks_attributes(Candidate("Block", "Block", subclass, "semantic"), usage)  # found on a base beside it
    assert not lacks_attributes(Candidate("Block", "Block", outside, "semantic"), usage)  # a torch base: cannot tell


def test_a_meaning_match_for_a_block_is_never_a_whole_classifier():
    from rag_server.candidates import is_whole_network

    usage = analyze("y = ShuffleV2Block(24, 48, mid_channels=24, ksize=3, stride=2)\n").free["ShuffleV2Block"]
    network = "class ShuffleTransformer:\n    def __init__(self, img_size=224, embed_dim=96, num_classes=1000):\n        pass\n"
    block = "class ShuffleBlock:\n    def __init__(self, inp, oup, mid_channels, ksize, stride):\n        pass\n"
    assert is_whole_network(Candidate("ShuffleV2Block", "ShuffleTransformer", network, "semantic"), usage)
    assert not is_whole_network(Candidate("ShuffleV2Block", "ShuffleBlock", block, "semantic"), usage)
    asked = analyze("y = Backbone(3, num_classes=10)\n").free["Backbone"]  # the model asks for a classifier itself
    assert not is_whole_network(Candidate("Backbone", "ShuffleTransformer", network, "semantic"), asked)


def test_a_block_with_kwargs_still_gets_its_own_parameter_for_a_synonym_but_nothing_dropped():
    from rag_server.candidates import keyword_edits

    split_attn = "class SplitAttn:\n    def __init__(self, in_channels, out_channels=None, radix=2, rd_ratio=0.25, groups=1, **kwargs):\n        pass\n"
    usage = analyze("y = SplAtConv2d(64, 64, radix=2, reduction_factor=4, G=2, norm_layer=None)\n").free["SplAtConv2d"]
    edits = keyword_edits(definition_signature(split_attn, "SplitAttn"), usage)
    assert edits.inverted == {"reduction_factor": "rd_ratio"} and edits.renamed == {"G": "groups"}
    assert edits.dropped == ()  # norm_layer stays: **kwargs takes it
    sknet = analyze("y = SKConv(features=64, M=2, G=8, r=16, L=32)\n").free["SKConv"]
    selective = "class SelectiveKernel:\n    def __init__(self, in_channels, out_channels=None, stride=1, groups=1, rd_ratio=1. / 16):\n        pass\n"
    edits = keyword_edits(definition_signature(selective, "SelectiveKernel"), sknet)
    assert (edits.renamed, edits.inverted, set(edits.dropped)) == ({"features": "in_channels", "G": "groups"}, {"r": "rd_ratio"}, {"M", "L"})


def test_a_failure_is_the_users_only_in_code_the_users_file_defines():
    """A block's helper (an ``Attention`` brought along with ``Block``) is not the user's code, though no inserted
    record names it: a failure there must not stop Patch from trying other blocks."""
    from rag_server.blame import fails_in_user_code

    code = textwrap.dedent('''\
        import torch.nn as nn


        class Attention(nn.Module):
            def forward(self, x):
                B, H, W, C = x.shape
                return x


        class Block(nn.Module):
            def forward(self, x):
                return Attention()(x)


        class Net(nn.Module):
            def forward(self, x):
                return self.fc(Block()(x))
        ''')
    frame = 'File "model.py", line {}, in forward\n'
    in_helper = frame.format(17) + frame.format(12) + frame.format(6) + "ValueError: not enough values to unpack\n"
    in_user = frame.format(17) + "RuntimeError: mat1 and mat2 shapes cannot be multiplied\n"
    user_names = {"nn", "Net"}
    assert not fails_in_user_code(code, in_helper, user_names)
    assert fails_in_user_code(code, in_user, user_names)
    assert not fails_in_user_code(code, 'File "/x/site-packages/torch/nn/functional.py", line 3\n', user_names)


def test_a_failure_in_a_layer_an_inserted_block_holds_is_the_blocks():
    """Audit of Patch outside classification (F6): torchvision's ``ASPPConv`` (an ``nn.Sequential`` without a forward of
    its own) given an ``ASPP``'s list of rates failed inside its ``nn.Conv2d``; the sandbox's traceback (user code only)
    ended at the user's ``self.aspp(x)``, so Patch stopped saying the model's own code was at fault and other blocks
    would not help. The diagnosis names the layer that raised (``aspp.0``): inside the inserted block."""
    from rag_server.blame import failure_site, fails_in_user_code
    from rag_server.patch import where_it_fails

    code = textwrap.dedent("""\
        import torch.nn as nn


        class ASPPConv(nn.Sequential):
            def __init__(self, in_channels, out_channels, dilation):
                super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=dilation))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.aspp = ASPPConv(64, 64, [6, 12, 18])
                self.fc = nn.Linear(64, 10)

            def forward(self, x):
                x = self.aspp(x)
                return self.fc(x)
        """)
    inserted = [{"name": "ASPP", "symbol": "ASPPConv", "qualified_name": "torchvision.models.segmentation.deeplabv3.ASPPConv"}]
    user_names = {"nn", "Net"}
    at_aspp = 'Traceback (user code only):\n  File "model.py", line 16, in forward\n    x = self.aspp(x)\nRuntimeError: expected padding\n'
    assert fails_in_user_code(code, at_aspp, user_names, inserted)  # nothing says where below the line it raised
    assert not fails_in_user_code(code, at_aspp, user_names, inserted, failing_layer="aspp.0")
    site = failure_site(code, at_aspp, inserted, user_names, failing_layer="aspp.0")
    assert site is not None and site.block == "ASPP" and site.called
    assert "raised inside the inserted block `ASPP` (torchvision.models.segmentation.deeplabv3.ASPPConv)" in where_it_fails(site, code, code)
    # the user's own layer raising at the user's line is the user's
    at_fc = 'Traceback (user code only):\n  File "model.py", line 17, in forward\n    return self.fc(x)\nRuntimeError: mat1 and mat2\n'
    assert fails_in_user_code(code, at_fc, user_names, inserted, failing_layer="fc")
    assert failure_site(code, at_fc, inserted, user_names, failing_layer="fc").block is None
    # a layer path naming no attribute the line calls says nothing
    assert fails_in_user_code(code, at_aspp, user_names, inserted, failing_layer="fc")


def test_a_package_with_many_copies_leaves_room_for_another_packages_candidate():
    """timm copies window_partition into five model files, all taking a (height, width) tuple; they filled every
    place of the candidate list, and a model passing an int had nothing to fall back to when the first failed."""
    from rag_server.candidates import Candidate, package_diverse

    def cand(package: str, score: float) -> Candidate:
        block = SimpleNamespace(provenance=SimpleNamespace(package=package))
        return Candidate("window_partition", "window_partition", f"# {package} {score}", "helper", score, 1.0, block=block)

    ranked = [cand("timm", 6.8), cand("timm", 6.6), cand("timm", 6.4), cand("timm", 6.3), cand("fightingcv", 6.2),
              cand("ultralytics", 5.9), cand("timm", 5.8)]
    top = package_diverse(ranked, 4)
    assert [c.block.provenance.package for c in top] == ["timm", "timm", "fightingcv", "ultralytics"]
    assert [c.score for c in top] == [6.8, 6.6, 6.2, 5.9]  # the best of each, in score order
    assert package_diverse(ranked[:4], 4) == ranked[:4]  # one package only: nothing to make room for


def test_the_same_class_cut_out_of_a_bigger_block_is_one_candidate_and_one_choice():
    """A class stored alone and the same class cut out of a bigger block (which keeps that block's unused imports) is
    one candidate; two checks of it that fail alike are one choice, not two blocks failing in the model's code."""
    from rag_server.patch import _users_fault
    from sandbox.spec import CheckResult

    alone = "import torch\nfrom torch import nn\n\n\nclass Gate(nn.Module):\n    def forward(self, x):\n        return x * 2\n"
    cut = "import torch\nfrom torch import Tensor, nn  # the bigger block's imports\nfrom typing import Any\n\n" + alone.split("\n\n\n", 1)[1]
    other = alone.replace("x * 2", "x * torch.sigmoid(x)")
    a, b = (_candidate("Gate", "m", 5.0, code=code) for code in (alone, cut))
    c = _candidate("Gate", "n", 5.0, code=other)
    assert a.identity == b.identity and a.identity != c.identity

    user = "class Net:\n    def forward(self, x):\n        return self.gate(x) @ x\n"
    failed = CheckResult(status="error", failed_stage="forward", error_type="RuntimeError", message="shapes",
                         traceback='File "model.py", line 3, in forward\nRuntimeError: shapes\n')
    assert _users_fault(failed, failed, user, {"Net"}, [a], [b]) == ""  # one class, offered twice
    assert "model's own code" in _users_fault(failed, failed, user, {"Net"}, [a], [c])
    # the class cut with other helpers of its bigger block (pytorch-tcn's ``TemporalBlock`` out of ``TCN``): other code,
    # the same class: still one choice (the blind audit's m11 read "two different blocks" for it)
    bigger = _candidate("Gate", "m", 5.0, code=alone + "\n\ndef helper():\n    return 1\n")
    assert bigger.identity != a.identity
    assert _users_fault(failed, failed, user, {"Net"}, [a], [bigger]) == ""


def test_a_tuple_where_the_model_uses_one_tensor_is_not_the_models_fault():
    """Two attention blocks returning (output, weights) failed alike at the model's ``h + self.attn(h, h, h)``; Patch
    said "two different blocks both failed in the model's own code ... other blocks would not fix it" and stopped,
    where a block returning one tensor runs."""
    from rag_server.patch import _users_fault
    from sandbox.spec import CheckResult

    user = "class Net:\n    def forward(self, h):\n        return h + self.attn(h, h, h)\n"
    a = _candidate("MultiHeadAttention", "m", 5.0, code="def MultiHeadAttention():\n    return 1\n")
    b = _candidate("MultiHeadAttention", "n", 4.0, code="def MultiHeadAttention():\n    return 2\n")
    for message in ("unsupported operand type(s) for +: 'Tensor' and 'tuple'", "'tuple' object has no attribute 'shape'",
                    "linear(): argument 'input' (position 1) must be Tensor, not tuple"):
        failed = CheckResult(status="error", failed_stage="forward", error_type="TypeError", message=message,
                             traceback=f'File "model.py", line 3, in forward\nTypeError: {message}\n')
        assert _users_fault(failed, failed, user, {"Net"}, [a], [b]) == "", message
    for message in ("mat1 and mat2 shapes cannot be multiplied", "zeros(): argument 'size' (position 1) must be tuple of ints, not Tensor"):
        other = CheckResult(status="error", failed_stage="forward", error_type="RuntimeError", message=message,
                            traceback=f'File "model.py", line 3, in forward\nRuntimeError: {message}\n')
        assert "model's own code" in _users_fault(other, other, user, {"Net"}, [a], [b]), message  # other errors still are


def test_a_block_that_refuses_the_call_and_could_not_be_swapped_is_named_as_the_reason_to_stop():
    """``PositionalEncoding(dim, max_len=64)`` got torchvision's video PositionalEncoding, the store's only block of that
    name, which has no ``max_len``; the attention block was swapped, failed the same way, and Patch said "two different
    blocks both failed in the model's own code ... other blocks would not fix it"."""
    from rag_server.patch import _users_fault
    from sandbox.spec import CheckResult

    user = "class Net:\n    def __init__(self):\n        self.pos = PositionalEncoding(8, max_len=64)\n"
    message = "PositionalEncoding.__init__() got an unexpected keyword argument 'max_len'"
    failed = CheckResult(status="failed", failed_stage="instantiate", error_type="TypeError", message=message,
                         traceback=f'File "model.py", line 3, in __init__\nTypeError: {message}\n')
    position = _candidate("PositionalEncoding", "torchvision.models.video.mvit", 5.0)
    first = _candidate("MHSA", "timm.models.convit", 5.0, code="def MHSA():\n    return 1\n")
    second = _candidate("MHSA", "timm.models.tnt", 4.0, code="def MHSA():\n    return 2\n")
    swapped = _candidate("PositionalEncoding", "other", 4.0, code="def PositionalEncoding():\n    return 3\n")  # it was swapped
    for cand in (position, first, second, swapped):
        cand.block.name = cand.name
    reason = _users_fault(failed, failed, user, {"Net"}, [position, first], [position, second])
    assert reason.startswith("PositionalEncoding: torchvision.models.video.mvit.PositionalEncoding does not take the model's call")
    assert "model's own code" not in reason
    assert not _users_fault(failed, failed, user, {"Net"}, [position, first], [swapped, first]).startswith("PositionalEncoding")


def test_a_block_failing_in_its_own_constructor_that_could_not_be_swapped_is_the_reason_to_stop():
    """heldout17/14: neuralforecast's ``_MultiheadAttention``, the store's only block for an encoder's
    ``MultiHeadAttention(n_head, d_model, d_k, d_v)``, failed in a helper its constructor builds (``head_dim ** -0.5``
    with ``head_dim`` 0), and Patch swapped the unrelated ``PositionwiseFeedForward`` three times."""
    from rag_server.blame import failing_block
    from rag_server.patch import _users_fault
    from sandbox.spec import CheckResult

    patched = ("class _Scaled:\n    def __init__(self, head_dim):\n        self.scale = head_dim ** -0.5\n\n\n"
               "class _MultiheadAttention:\n    def __init__(self, d_model, n_heads):\n        self.sdp = _Scaled(d_model // n_heads)\n\n\n"
               "class FeedForward:\n    def __init__(self, dim):\n        self.dim = dim\n\n\n"
               "class Net:\n    def __init__(self):\n        self.attn = _MultiheadAttention(8, 64)\n        self.ff = FeedForward(8)\n")
    message = "0.0 cannot be raised to a negative power"
    frames = 'File "model.py", line 18, in __init__\nFile "model.py", line 8, in __init__\nFile "model.py", line 3, in __init__\n'
    failed = CheckResult(status="failed", failed_stage="instantiate", error_type="ZeroDivisionError", message=message,
                         traceback=frames + f"ZeroDivisionError: {message}\n")
    inserted = [{"name": "MultiHeadAttention", "symbol": "_MultiheadAttention"}, {"name": "PositionwiseFeedForward", "symbol": "FeedForward"}]
    assert failing_block(patched, failed.traceback, inserted, {"Net"}) == "MultiHeadAttention"  # the helper's frame counts for it
    assert failing_block(patched, 'File "model.py", line 18, in __init__\n', inserted, {"Net"}) is None  # the model's own line

    attention = _candidate("MultiHeadAttention", "neuralforecast.models.patchtst", 5.0)
    first = _candidate("PositionwiseFeedForward", "torchvision.models.vision_transformer", 5.0, code="def F():\n    return 1\n")
    second = _candidate("PositionwiseFeedForward", "vit_pytorch.mobile_vit", 4.0, code="def F():\n    return 2\n")
    swapped = _candidate("MultiHeadAttention", "other", 4.0, code="def MultiHeadAttention():\n    return 3\n")
    reason = _users_fault(failed, failed, patched, {"Net"}, [attention, first], [attention, second], inserted)
    assert reason.startswith("MultiHeadAttention: neuralforecast.models.patchtst.MultiHeadAttention fails in its own constructor"), reason
    assert not _users_fault(failed, failed, patched, {"Net"}, [attention, first], [swapped, first], inserted).startswith("MultiHeadAttention")
    at_forward = CheckResult(status="failed", failed_stage="forward", error_type="ZeroDivisionError", message=message,
                             traceback=failed.traceback)
    assert not _users_fault(at_forward, at_forward, patched, {"Net"}, [attention, first], [attention, second], inserted).startswith(
        "MultiHeadAttention")  # at forward its input comes from the other blocks


def test_a_misspelt_local_variable_is_reported_not_fetched():
    from rag_server.patch import local_typo, plan

    code = textwrap.dedent('''\
        import torch.nn as nn


        def pool(x):
            return x


        class Net(nn.Module):
            def forward(self, x, scale=2):
                hidden = self.conv(x)
                out = self.head(hiden) * scal
                y = drop_pth(out) + Blok
                return out + [v for v in hidden if v is not valu][0] + y


        LIMIT = limt
        ''')
    report = analyze(code)
    assert local_typo(report.free["hiden"]) == ["hidden"]
    assert local_typo(report.free["scal"]) == ["scale"]  # a parameter
    assert local_typo(report.free["valu"]) == []  # four letters: one edit at most, ``v`` is three away
    assert local_typo(report.free["drop_pth"]) == []  # called: a helper, fetched as before
    assert local_typo(report.free["Blok"]) == []  # no local in that case style
    assert local_typo(report.free["limt"]) == []  # read at module level
    found = plan(code, None)
    assert {"hiden", "scal"} <= set(found.unresolved)
    line = code.splitlines().index("        out = self.head(hiden) * scal") + 1
    note = next(n for n in found.notes if "`hiden`" in n)
    assert "`hidden`" in note and f"line {line}" in note, found.notes


def test_a_required_keyword_only_layer_parameter_gets_a_default():
    """torchvision's RAFT ``ResidualBlock(in_channels, out_channels, *, norm_layer, stride=1)`` called as an LLM calls
    a residual block, ``ResidualBlock(32, 64, stride=2)``."""
    from rag_server.candidates import layer_defaults, with_defaults
    from rag_server.codeops import set_parameter_defaults

    block = textwrap.dedent('''\
        from torch import nn


        class ResBlock(nn.Module):
            def __init__(self, in_channels, out_channels, *, norm_layer, act_fn, stride=1, extra_fn):
                super().__init__()
                self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
                self.norm = norm_layer(out_channels)
                self.act = act_fn()

            def forward(self, x):
                return self.act(self.norm(self.conv(x)))
        ''')
    sig = definition_signature(block, "ResBlock")
    usage = analyze("y = ResBlock(32, 64, stride=2, extra_fn=None)\n").free["ResBlock"]
    assert call_compatibility(sig, usage) == 0.0
    defaults = layer_defaults(sig, block)
    assert defaults == {"norm_layer": "nn.BatchNorm2d", "act_fn": "nn.ReLU"}  # extra_fn: no convention, left required
    assert call_compatibility(with_defaults(sig, defaults), usage) == 1.0
    assert with_defaults(sig, defaults).kwonly_required == ["extra_fn"]
    out = set_parameter_defaults(block, {"ResBlock"}, defaults)
    ns: dict = {}
    exec(compile(out, "<block>", "exec"), ns)
    built = ns["ResBlock"](32, 64, stride=2, extra_fn=None)
    assert isinstance(built.norm, ns["nn"].BatchNorm2d) and isinstance(built.act, ns["nn"].ReLU)


def test_names_a_star_import_shim_does_not_offer_are_dropped_from_its_import():
    """``torch.nn`` reads its layers through ``from .modules import *`` (as timm's deprecated ``timm.models.layers``
    does through ``timm.layers``): the star import is followed, so an imagined name there is treated like one from any
    other library module."""
    from rag_server.candidates import installed, module_lacks
    from rag_server.codeops import drop_missing_imports

    assert module_lacks("torch.nn", "Swish") and module_lacks("torch.nn.modules", "DropPath")
    assert not module_lacks("torch.nn", "Conv2d") and not module_lacks("torch.nn", "functional")
    assert not module_lacks("torch.nn", "__version__")  # dunders are never judged
    new, notes = drop_missing_imports("from torch.nn import Conv2d, Swish\n", installed, module_lacks)
    assert new == "from torch.nn import Conv2d\n"
    assert notes == ["removed Swish from the import from 'torch.nn', which does not define it"]


class _NamedBlocksStore:
    """A store that knows blocks by exact name only (lookups by spelling and meaning find nothing)."""

    def __init__(self, blocks: list) -> None:
        self.blocks = blocks

    def blocks_named(self, name: str) -> list:
        return [b for b in self.blocks if b.name == name]

    def lookup_symbol(self, name: str, k: int = 10) -> list:
        from rag_server.candidates import normalize

        return [SimpleNamespace(block=b) for b in self.blocks if normalize(b.name) == normalize(name)][:k]

    def lookup_initials(self, name: str, k: int = 10) -> list:
        return []

    def search(self, query: str, k: int = 10, **kw) -> list:
        return []

    def blocks_binding(self, name: str, k: int = 20) -> list:
        return []


def _stored(name: str, module: str, init: str, body: str, example_input: list[int], padding: int = 0):
    """A validated block of an installed library whose class ``name`` takes ``init`` and whose validation ran forward on
    a tensor of shape ``example_input``; ``padding`` characters of comment make its code that much longer."""
    code = (f"import torch.nn as nn\n\n\nclass {name}(nn.Module):\n    def __init__(self, {init}):\n        super().__init__()\n"
            f"        {body}\n        self.source = {module!r}\n\n    def forward(self, x):\n        return x\n" + "#" * padding + "\n")
    stages = {s: {"ok": True} for s in ("parse", "import", "instantiate", "forward", "backward")}
    return SimpleNamespace(
        name=name, code=code, qualified_name=f"{module}.{name}", missing_deps=[], unresolved=[], content_hash=module + name,
        validation=stages, passed=lambda stage: True,
        example=SimpleNamespace(init_kwargs={}, inputs=[example_input]),
        provenance=SimpleNamespace(source="pkg:timm", module=module, package="timm"))


TOKENS_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=96):
            super().__init__()
            self.patch = nn.Conv2d(3, dim, 4, 4)
            self.blocks = nn.Sequential(*[Block(dim, num_heads=4, mlp_ratio=2.0) for _ in range(2)])
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = self.blocks(x)
            return self.head(x.mean(1))
    ''')


def test_blocks_of_one_name_rank_by_the_input_the_model_feeds_and_their_family_module():
    """p36 of sweep P: ``Block(dim, num_heads, mlp_ratio)`` on tokens tried visformer's [B, C, H, W] block and SAM's
    [B, H, W, C] one first; timm's ``vision_transformer.Block`` (the family's own, longer code) was never tried."""
    from rag_server.candidates import store_candidates

    init, body = "dim, num_heads=8, mlp_ratio=4.0", "self.norm = nn.LayerNorm(dim)"
    store = _NamedBlocksStore([
        _stored("Block", "timm.models.visformer", init, body, [2, 32, 8, 8]),
        _stored("Block", "timm.models.vision_transformer_sam", init, body, [2, 8, 8, 32], padding=300),
        _stored("Block", "timm.models.vision_transformer", init, body, [2, 16, 32], padding=9000),
        _stored("Block", "timm.models.convit", init, body, [2, 16, 32], padding=2000),
    ])
    ranked = store_candidates(analyze(TOKENS_MODEL).free["Block"], store, TOKENS_MODEL)
    assert [c.qualified_name for c in ranked[:2]] == ["timm.models.vision_transformer.Block", "timm.models.convit.Block"]
    assert {c.qualified_name for c in ranked[2:]} == {"timm.models.visformer.Block", "timm.models.vision_transformer_sam.Block"}
    from rag_server.call_layout import fed_layout

    assert fed_layout(ast.parse(TOKENS_MODEL), "Block") == "tokens"
    # nothing said about the input: no layout penalty, and the family's module still comes first
    unsaid = TOKENS_MODEL.replace("x = self.patch(x).flatten(2).transpose(1, 2)", "x = x * 2")
    assert fed_layout(ast.parse(unsaid), "Block") is None
    assert store_candidates(analyze(unsaid).free["Block"], store, unsaid)[0].qualified_name == "timm.models.vision_transformer.Block"


def test_a_block_comes_from_the_module_named_after_it_and_a_whole_network_is_never_its_alias():
    """p26 of sweep P: maxxvit's copy of ``ConvNeXtBlock`` (a longer file; the size penalty saturates) ranked above
    convnext's own, and the whole ``ConvNeXt`` network was offered as an alias of ``ConvNeXtBlock``."""
    from rag_server.candidates import store_candidates

    init, body = "in_chs, drop_path=0.0", "self.conv = nn.Conv2d(in_chs, in_chs, 7, padding=3, groups=in_chs)"
    store = _NamedBlocksStore([
        _stored("ConvNeXtBlock", "timm.models.maxxvit", init, body, [2, 32, 8, 8], padding=30000),
        _stored("ConvNeXtBlock", "timm.models.convnext", init, body, [2, 32, 8, 8], padding=40000),
        _stored("ConvNeXt", "timm.models.convnext", "in_chans=3, num_classes=1000, drop_path_rate=0.0", body, [2, 3, 32, 32]),
    ])
    model = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.b = ConvNeXtBlock(64, drop_path=0.1)\n"
    ranked = store_candidates(analyze(model).free["ConvNeXtBlock"], store, model)
    assert [c.qualified_name for c in ranked] == ["timm.models.convnext.ConvNeXtBlock", "timm.models.maxxvit.ConvNeXtBlock"]
    # only blocks of the name asked for: torchvision's ``InceptionB`` found by meaning for a ``NonLocalBlock`` is not
    # the canonical anything (p34 of sweep P tried it first once it was)
    from rag_server.candidates import family_module

    inception = _candidate("InceptionB", "torchvision.models.inception", 5.0)
    assert family_module(replace(inception, match="exact"), []) and not family_module(replace(inception, match="semantic"), [])


def test_a_boolean_activation_flag_becomes_the_blocks_activation_layer():
    """p09 of sweep P: ``GhostModule(..., relu=False)`` against timm's ``GhostModule(..., act_layer=nn.ReLU)``: the flag
    was dropped and the block applied the ReLU the model had turned off."""
    import libcst as cst

    from rag_server.candidates import keyword_edits
    from rag_server.codeops import edit_call_keywords

    timm_ghost = GHOST.replace("use_act=True", "act_layer=nn.ReLU")
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = GhostModule(16, 32, ratio=2, relu=True)
                self.b = GhostModule(32, 64, ratio=2, relu=False)
        ''')
    usage = _usage(model, "GhostModule")
    edits = keyword_edits(definition_signature(timm_ghost, "GhostModule"), usage)
    assert edits.flag_layers == {"relu": "act_layer"} and not edits.dropped
    edited = edit_call_keywords(cst.parse_module(model), {"GhostModule": edits}).code
    assert "GhostModule(16, 32, ratio=2)" in edited and "GhostModule(32, 64, ratio=2, act_layer=nn.Identity)" in edited
    # a block with its own switch gets the flag renamed, as before
    assert keyword_edits(definition_signature(GHOST, "GhostModule"), usage).renamed == {"relu": "use_act"}
    # a flag whose value the code computes cannot be mapped: dropped, as before (and Patch says so in its fixes)
    computed = _usage(model.replace("relu=False", "relu=self.training"), "GhostModule")
    assert keyword_edits(definition_signature(timm_ghost, "GhostModule"), computed).dropped == ("relu",)
    from rag_server.codeops import KeywordEdits
    from rag_server.patch import activation_note

    mapped = Candidate("GhostModule", "GhostModule", timm_ghost, "exact", edits=edits)
    assert "act_layer=nn.Identity" in activation_note(mapped)
    dropped = Candidate("GhostModule", "GhostModule", timm_ghost, "exact", edits=KeywordEdits(dropped=("relu",)))
    assert "relu=" in activation_note(dropped) and activation_note(Candidate("X", "X", "", "exact")) == ""


def test_global_pooling_torch_nn_lacks_becomes_torch_adaptive_pooling():
    """p21 of sweep P: ``nn.GlobalAvgPool2d()`` was read as a missing block and got timm's ``AdaptiveAvgMaxPool2d``,
    the mean of average and max pooling; torch.nn computes it as ``nn.AdaptiveAvgPool2d(1)``."""
    import torch

    from rag_server.candidates import free_what_is_missing

    code = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.pool = nn.GlobalAvgPool2d()
                self.peak = nn.GlobalMaxPool2d()
                self.fc = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc(self.pool(x).flatten(1) + self.peak(x).flatten(1))
        ''')
    source, notes, rewrites = free_what_is_missing(code)
    assert "self.pool = nn.AdaptiveAvgPool2d(1)" in source and "self.peak = nn.AdaptiveMaxPool2d(1)" in source
    assert rewrites == {"nn.GlobalAvgPool2d()": "nn.AdaptiveAvgPool2d(1)", "nn.GlobalMaxPool2d()": "nn.AdaptiveMaxPool2d(1)"}
    assert any("GlobalAvgPool2d" in n and "AdaptiveAvgPool2d(1)" in n for n in notes)
    ns: dict = {}
    exec(compile(source, "<patched>", "exec"), ns)
    x = torch.arange(2 * 8 * 4 * 4, dtype=torch.float32).reshape(2, 8, 4, 4)
    net = ns["Net"]()
    assert torch.equal(net.pool(x).flatten(1), x.mean((2, 3))) and net(x).shape == (2, 2)
    # a use that is not an argument-less call is still read as a missing block, as before
    other = "import torch.nn as nn\npool = nn.GlobalAvgPool2d(flatten=True)\n"
    assert free_what_is_missing(other)[0] == "import torch.nn as nn\npool = GlobalAvgPool2d(flatten=True)\n"


SE_ON_A_MAP = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, dim=32, num_classes=10):
            super().__init__()
            self.conv = nn.Conv2d(3, dim, 3, padding=1)
            self.bn = nn.BatchNorm2d(dim)
            self.se = SEModule(dim)
            self.fc = nn.Linear(dim, num_classes)

        def forward(self, x):
            x = self.se(torch.relu(self.bn(self.conv(x))))
            return self.fc(x.mean((2, 3)))
    ''')


def _fed(forward: str, init: str = "") -> str | None:
    """``fed_layout`` of ``SEModule`` in a model whose ``__init__`` adds ``init`` and whose forward is ``forward``."""
    from rag_server.call_layout import fed_layout

    code = SE_ON_A_MAP.replace("        self.fc = nn.Linear(dim, num_classes)\n",
                               "        self.fc = nn.Linear(dim, num_classes)\n" + textwrap.indent(textwrap.dedent(init), " " * 8))
    code = code.replace("        x = self.se(torch.relu(self.bn(self.conv(x))))\n", textwrap.indent(textwrap.dedent(forward), " " * 8))
    return fed_layout(ast.parse(code), "SEModule")


def test_a_conv_output_stays_a_map_through_norms_activations_dropout_and_residual_adds():
    """s22 (2): ``self.se(torch.relu(self.bn(self.conv(x))))`` said nothing of its layout (only a bare ``self.conv(x)``
    did), and Patch inserted fightingcv TnT's token ``SE`` (a ``LayerNorm`` on the last axis) over timm's ``SEModule``."""
    act = "self.act = nn.ReLU(inplace=True)\nself.drop = nn.Dropout(0.1) if dim > 8 else nn.Identity()\n"
    assert _fed("x = self.se(torch.relu(self.bn(self.conv(x))))\n") == "channels_first"
    assert _fed("x = self.se(F.relu(self.bn(self.conv(x)), inplace=True))\n") == "channels_first"
    assert _fed("x = self.se(self.drop(self.act(self.bn(self.conv(x)))))\n", act) == "channels_first"
    assert _fed("y = self.conv(x)\ny = self.bn(y)\ny = self.act(y)\nx = self.se(y)\n", act) == "channels_first"
    assert _fed("x = self.act(self.conv(x))\nx = self.se(x + self.drop(x))\n", act) == "channels_first"
    assert _fed("x = self.se(self.conv(x).relu().contiguous())\n") == "channels_first"
    assert _fed("x = self.se(F.max_pool2d(x, 2))\n") == "channels_first"
    # the model's own layer parameters: ``self.act = act_layer()``
    assert _fed("x = self.se(self.act(self.conv(x)))\n", "self.act = act_layer()\n") == "channels_first"
    # one call says it, another says nothing: one instance takes one layout
    assert _fed("x = self.se(self.conv(x))\nx = self.se(x * 2)\n") == "channels_first"
    # tokens stay tokens through a LayerNorm
    assert _fed("x = self.se(self.act(x.flatten(2).transpose(1, 2)))\n", act) == "tokens"
    # what changes the layout, or is unknown, says nothing
    assert _fed("x = self.se(self.fc(self.conv(x)))\n") is None
    assert _fed("x = self.se(self.head(self.conv(x)))\n", "self.head = Mystery(dim)\n") is None
    assert _fed("x = self.se(x)\n") is None
    assert _fed("x = self.se(torch.relu(x))\n") is None
    # a tensor method's argument is not its input: ``x.to(y)`` is ``x`` moved
    assert _fed("y = self.conv(x)\nx = self.se(x.flatten(1).to(y))\n") is None


def test_an_exact_name_block_of_the_models_layout_beats_a_token_alias_with_a_closer_signature():
    """s22 (2): TnT's ``SE(dim)`` (its parameter named like the model's variable, shorter code) outranked timm's
    ``SEModule(channels)``: the model's map reached it through a BatchNorm and a ReLU, so no layout was read."""
    from rag_server.candidates import store_candidates

    token_se = _stored("SE", "fightingcv_attention.backbone.TnT", "dim, hidden_ratio=None",
                       "self.norm = nn.LayerNorm(dim)", [2, 16, 32])
    token_se.provenance = SimpleNamespace(source="pypi:fightingcv-attention==1.0.0", module="fightingcv_attention.backbone.TnT",
                                          package="fightingcv-attention")
    timm_se = _stored("SEModule", "timm.layers.squeeze_excite",
                      "channels, rd_ratio=1. / 16, rd_channels=None, rd_divisor=8, bias=True, act_layer=nn.ReLU",
                      "self.fc1 = nn.Conv2d(channels, channels // 16, 1)", [2, 32, 8, 8], padding=13000)
    timm_se.code += "# " + " ".join(f"helper_{i}" for i in range(120)) + "\n"  # a library file's many other names
    store = _NamedBlocksStore([token_se, timm_se])
    ranked = store_candidates(analyze(SE_ON_A_MAP).free["SEModule"], store, SE_ON_A_MAP)
    assert [c.qualified_name for c in ranked] == ["timm.layers.squeeze_excite.SEModule", "fightingcv_attention.backbone.TnT.SE"]
    assert "channels-first" in ranked[1].reason


RESIDUAL_WRAPPER = textwrap.dedent('''\
    from typing import Optional

    import torch.nn as nn


    class ResidualBlock(nn.Module):
        def __init__(self, main: Optional[nn.Module], shortcut: Optional[nn.Module] = None):
            super().__init__()
            self.main = main
            self.shortcut = shortcut

        def forward(self, x):
            return self.main(x) + self.shortcut(x)
    ''')


def test_a_number_passed_where_the_block_takes_a_module_or_a_function_does_not_fit():
    """s22 (6): ``ResidualBlock(64, 64)`` scored 1.00 against timm's efficientvit ``ResidualBlock(main: nn.Module,
    shortcut: nn.Module)``; Suggest offered it first and Patch spent three of five checks on such wrappers."""
    model = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.res = ResidualBlock(64, 64)\n"
    usage = _usage(model, "ResidualBlock")

    def compat(code: str, name: str = "ResidualBlock", on=usage) -> float:
        return call_compatibility(definition_signature(code, name), on)

    assert compat(RESIDUAL_WRAPPER) == 0.0
    annotated = RESIDUAL_WRAPPER.replace("return self.main(x) + self.shortcut(x)", "return x")  # only the annotation says
    assert compat(annotated) == 0.0
    assert compat(annotated.replace("Optional[nn.Module]", "'nn.Module'")) == 0.0  # a quoted annotation
    assert compat(annotated.replace("Optional[nn.Module]", "Callable[..., torch.Tensor]")) == 0.0
    # no annotation: the block keeps the argument and calls it (LeViT's ``Residual(m, drop)``)
    assert compat(RESIDUAL_WRAPPER.replace(": Optional[nn.Module]", "")) == 0.0
    # a default that is a layer class, or None where the block calls it (guarded or not)
    layered = "import torch.nn as nn\nclass ResidualBlock(nn.Module):\n    def __init__(self, dim, act_layer=nn.GELU):\n        super().__init__()\n"
    assert compat(layered) == 0.0
    guarded = ("import torch.nn as nn\nclass ResidualBlock(nn.Module):\n    def __init__(self, dim, norm_layer=None):\n"
               "        super().__init__()\n        self.norm = norm_layer(dim) if norm_layer else nn.Identity()\n")
    assert compat(guarded) == 0.0
    # numbers where numbers go fit; modules where modules go fit
    plain = RESIDUAL_WRAPPER.replace("main: Optional[nn.Module], shortcut: Optional[nn.Module] = None", "in_channels: int, out_channels: int")
    assert compat(plain) == 1.0
    assert compat(annotated.replace("Optional[nn.Module]", "Union[int, nn.Module]")) == 1.0
    assert compat(layered.replace("act_layer=nn.GELU", "eps=EPS")) == 1.0  # an UPPER_CASE default is a constant
    wrapping = model.replace("ResidualBlock(64, 64)", "ResidualBlock(nn.Conv2d(64, 64, 3, padding=1), nn.Identity())")
    assert compat(RESIDUAL_WRAPPER, on=_usage(wrapping, "ResidualBlock")) == 1.0
    # a variable named like a number where the block takes a module is an argument in the wrong slot
    named = model.replace("ResidualBlock(64, 64)", "ResidualBlock(channels, channels)")
    assert compat(RESIDUAL_WRAPPER, on=_usage(named, "ResidualBlock")) < 1.0


def test_blocks_that_take_modules_are_not_offered_for_a_call_that_passes_widths():
    """s22 (6), through the store: the wrapper (shorter, closer in context) ranked above RAFT's ``ResidualBlock(in_channels,
    out_channels)``; a block the call cannot construct right is no candidate while another fits."""
    from rag_server.candidates import store_candidates

    wrapper = _stored("ResidualBlock", "timm.models.efficientvit_mit", "main: nn.Module, shortcut: nn.Module = None",
                      "self.main = main", [2, 32, 8, 8])
    wrapper.code = wrapper.code.replace("return x\n", "return self.main(x)\n")
    raft = _stored("ResidualBlock", "torchvision.models.optical_flow.raft", "in_channels, out_channels, stride=1",
                   "self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)", [2, 32, 8, 8], padding=8000)
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 64, 3, padding=1)
                self.res = ResidualBlock(64, 64)

            def forward(self, x):
                return self.res(self.stem(x))
        ''')
    ranked = store_candidates(analyze(model).free["ResidualBlock"], _NamedBlocksStore([wrapper, raft]), model)
    assert [c.qualified_name for c in ranked] == ["torchvision.models.optical_flow.raft.ResidualBlock"]


LINEAR_EMBED_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, num_classes=10, dim=64):
            super().__init__()
            self.embed = nn.Linear(48, dim)
            self.attn = Attention(dim, num_heads=8, qkv_bias=True)
            self.head = nn.Linear(dim, num_classes)

        def forward(self, x):
            x = self.embed(x)
            x = x + self.attn(x)
            return self.head(x.mean(1))
    ''')


def test_a_linear_or_layernorm_output_is_token_input_and_blocks_validated_on_maps_rank_below():
    """s22 C (10): ``self.attn(self.embed(x))`` with ``self.embed = nn.Linear(48, dim)`` said nothing of its layout, and
    Patch spent all five tries on nest/volo/metaformer ``Attention`` (validated on 4-D maps) before timm's token one."""
    from rag_server.call_layout import fed_layout
    from rag_server.candidates import store_candidates

    assert fed_layout(ast.parse(LINEAR_EMBED_MODEL), "Attention") == "tokens"
    normed = LINEAR_EMBED_MODEL.replace("self.embed = nn.Linear(48, dim)", "self.embed = nn.LayerNorm(48)")
    assert fed_layout(ast.parse(normed), "Attention") == "tokens"
    functional = LINEAR_EMBED_MODEL.replace("x = self.embed(x)", "x = F.linear(x, self.w)")
    assert fed_layout(ast.parse(functional), "Attention") == "tokens"
    assert _fed("x = self.se(self.fc(x))\n") == "tokens"
    assert _fed("x = self.se(self.fc(x.permute(0, 2, 3, 1)))\n") == "channels_last"  # a Linear keeps what it is given
    assert _fed("x = self.se(self.fc(self.conv(x)))\n") is None  # a map fed to a Linear: no layout worth reading

    init = "dim, num_heads=8, qkv_bias=False"
    store = _NamedBlocksStore([
        _stored("Attention", "timm.models.metaformer", init, "self.qkv = nn.Linear(dim, dim * 3)", [2, 32, 8, 8]),
        _stored("Attention", "timm.models.nest", init, "self.qkv = nn.Linear(dim, dim * 3)", [2, 4, 16, 32], padding=200),
        _stored("Attention", "timm.layers.attention", init, "self.qkv = nn.Linear(dim, dim * 3)", [2, 16, 32], padding=4000),
    ])
    ranked = store_candidates(analyze(LINEAR_EMBED_MODEL).free["Attention"], store, LINEAR_EMBED_MODEL)
    assert ranked[0].qualified_name == "timm.layers.attention.Attention", [c.qualified_name for c in ranked]
    assert all("validated on 4-D input" in c.reason for c in ranked[1:])


QK_NORM_ATTENTION = textwrap.dedent('''\
    import torch.nn as nn


    class Attention(nn.Module):
        def __init__(self, dim, num_heads=8, qk_norm=False, norm_layer=None):
            super().__init__()
            self.head_dim = dim // num_heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.q_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()

        def forward(self, x):
            return x
    ''')


def test_a_norm_layer_default_follows_the_layout_the_model_feeds_the_block():
    """s23 V (2): ``Attention(64, num_heads=4, qk_norm=True)`` after an ``nn.Linear`` (tokens) got ``norm_layer =
    nn.BatchNorm2d`` written in: "running_mean should contain 4 elements not 16", or with 8 heads of 8 a batch norm over
    the heads axis that passed the check."""
    from rag_server.candidates import layer_defaults, store_candidates

    sig = definition_signature(QK_NORM_ATTENTION, "Attention")
    assert sig.unset_callables == ["norm_layer"]
    assert layer_defaults(sig, QK_NORM_ATTENTION) == {"norm_layer": "nn.BatchNorm2d"}  # nothing said: as before
    assert layer_defaults(sig, QK_NORM_ATTENTION, layout="channels_first") == {"norm_layer": "nn.BatchNorm2d"}
    for layout in ("tokens", "channels_last"):
        assert layer_defaults(sig, QK_NORM_ATTENTION, layout=layout) == {"norm_layer": "nn.LayerNorm"}, layout
        # a 2-D norm from a validated example is no norm for tokens either; another layer it names is kept
        assert layer_defaults(sig, QK_NORM_ATTENTION, {"norm_layer": {"__expr__": "nn.BatchNorm2d"}}, layout) == {"norm_layer": "nn.LayerNorm"}
        assert layer_defaults(sig, QK_NORM_ATTENTION, {"norm_layer": {"__expr__": "nn.RMSNorm"}}, layout) == {"norm_layer": "nn.RMSNorm"}
    # the activation convention does not depend on the layout
    act = QK_NORM_ATTENTION.replace("norm_layer", "act_layer")
    assert layer_defaults(definition_signature(act, "Attention"), act, layout="tokens") == {"act_layer": "nn.ReLU"}

    model = LINEAR_EMBED_MODEL.replace("Attention(dim, num_heads=8, qkv_bias=True)", "Attention(dim, num_heads=4, qk_norm=True)")
    store = _NamedBlocksStore([_stored("Attention", "timm.layers.attention", "dim, num_heads=8, qk_norm=False, norm_layer=None",
                                       "self.q_norm = norm_layer(dim // num_heads) if qk_norm else nn.Identity()", [2, 16, 32])])
    ranked = store_candidates(analyze(model).free["Attention"], store, model)
    assert ranked[0].defaults == {"norm_layer": "nn.LayerNorm"}, ranked[0].reason
    on_a_map = model.replace("self.embed = nn.Linear(48, dim)", "self.embed = nn.Conv2d(3, dim, 3)")
    assert store_candidates(analyze(on_a_map).free["Attention"], store, on_a_map)[0].defaults == {"norm_layer": "nn.BatchNorm2d"}


def test_an_embedding_output_is_token_input():
    """s23 V (4): ``self.blocks(self.tok(idx))`` with ``self.tok = nn.Embedding(vocab, 64)`` said nothing of its
    layout, and three 4-D conv blocks were checked before ViT's token ``Block``."""
    from rag_server.call_layout import fed_layout
    from rag_server.candidates import store_candidates

    model = LINEAR_EMBED_MODEL.replace("self.embed = nn.Linear(48, dim)", "self.embed = nn.Embedding(100, dim)")
    assert fed_layout(ast.parse(model), "Attention") == "tokens"
    positions = model.replace("self.embed = nn.Embedding(100, dim)",
                              "self.embed = nn.Embedding(100, dim)\n        self.pos = nn.Embedding(16, dim)")
    positions = positions.replace("x = self.embed(x)", "x = self.embed(x) + self.pos(torch.arange(x.shape[1]))")
    assert fed_layout(ast.parse(positions), "Attention") == "tokens"
    functional = model.replace("x = self.embed(x)", "x = F.embedding(x, self.table)")
    assert fed_layout(ast.parse(functional), "Attention") == "tokens"

    init = "dim, num_heads=8, qkv_bias=False"
    store = _NamedBlocksStore([
        _stored("Attention", "timm.models.metaformer", init, "self.qkv = nn.Linear(dim, dim * 3)", [2, 32, 8, 8]),
        _stored("Attention", "timm.layers.attention", init, "self.qkv = nn.Linear(dim, dim * 3)", [2, 16, 32], padding=4000),
    ])
    ranked = store_candidates(analyze(model).free["Attention"], store, model)
    assert ranked[0].qualified_name == "timm.layers.attention.Attention", [c.qualified_name for c in ranked]


GPT_WITH_A_BLOCK_LIST = textwrap.dedent('''\
    import torch
    import torch.nn as nn


    class GPTLite(nn.Module):
        def __init__(self, vocab_size=10, dim=32, depth=2, heads=4, max_len=32):
            super().__init__()
            self.tok = nn.Embedding(vocab_size, dim)
            self.pos = nn.Parameter(torch.zeros(1, max_len, dim))
            self.blocks = nn.ModuleList([TransformerBlock(dim, heads, mlp_ratio=4.0) for _ in range(depth)])
            self.lm_head = nn.Linear(dim, vocab_size)

        def forward(self, idx):
            x = self.tok(idx) + self.pos[:, :idx.shape[1]]
            for blk in self.blocks:
                x = blk(x)
            return self.lm_head(x)
''')


def test_blocks_held_in_a_module_list_are_fed_what_the_loop_over_it_passes():
    """Audit of Patch outside classification (F4): ``for blk in self.blocks: x = blk(x)`` over a ModuleList of
    ``TransformerBlock`` after ``nn.Embedding`` said nothing of its layout, and all four tries went to blocks validated on
    4-D maps (volo's ``Transformer``, nest's ``TransformerLayer``) while ViT's token ``Block`` fits."""
    from rag_server.call_layout import fed_channels_last, fed_layout

    tree = ast.parse(GPT_WITH_A_BLOCK_LIST)
    assert fed_layout(tree, "TransformerBlock") == "tokens"
    assert fed_channels_last(tree, "TransformerBlock")
    indexed = GPT_WITH_A_BLOCK_LIST.replace("for blk in self.blocks:\n            x = blk(x)", "x = self.blocks[0](x)")
    assert fed_layout(ast.parse(indexed), "TransformerBlock") == "tokens"
    enumerated = GPT_WITH_A_BLOCK_LIST.replace("for blk in self.blocks:", "for i, blk in enumerate(self.blocks):")
    assert fed_layout(ast.parse(enumerated), "TransformerBlock") == "tokens"
    on_a_map = GPT_WITH_A_BLOCK_LIST.replace("self.tok = nn.Embedding(vocab_size, dim)", "self.tok = nn.Conv2d(3, dim, 3)")
    assert fed_layout(ast.parse(on_a_map.replace(" + self.pos[:, :idx.shape[1]]", "")), "TransformerBlock") == "channels_first"
    # a sequence-first permute is no [B, N, C] token input
    seq_first = GPT_WITH_A_BLOCK_LIST.replace("for blk in self.blocks:", "x = x.permute(1, 0, 2)\n        for blk in self.blocks:")
    assert fed_layout(ast.parse(seq_first), "TransformerBlock") is None
    # a loop over another container says nothing of these blocks
    other = GPT_WITH_A_BLOCK_LIST.replace("for blk in self.blocks:", "for blk in self.others:")
    assert fed_layout(ast.parse(other), "TransformerBlock") is None


def test_a_bool_downsample_is_dropped_where_the_block_builds_its_projection_shortcut():
    """s23 V (3), through the store: ``BasicBlock(32, 64, stride=2, downsample=True)`` kept ``downsample=True`` and
    failed with "'bool' object is not callable"; dropped, the inserted projection shortcut serves it."""
    from rag_server.candidates import store_candidates

    block = _stored("BasicBlock", "torchvision.models.resnet", "inplanes, planes, stride=1, downsample=None",
                    "self.downsample = downsample", [2, 32, 8, 8])
    block.code = block.code.replace("return x\n", "if self.downsample is not None:\n            x = self.downsample(x)\n        return x\n")
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = nn.Conv2d(3, 32, 3, padding=1)
                self.layer1 = BasicBlock(32, 64, stride=2, downsample=True)

            def forward(self, x):
                return self.layer1(self.stem(x))
        ''')
    ranked = store_candidates(analyze(model).free["BasicBlock"], _NamedBlocksStore([block]), model)
    assert ranked and ranked[0].edits.dropped == ("downsample",) and ranked[0].shortcut and ranked[0].compat == 1.0, ranked
    mixed = model.replace("self.layer1 = BasicBlock(32, 64, stride=2, downsample=True)",
                          "self.layer1 = BasicBlock(32, 64, stride=2, downsample=True)\n"
                          "        self.layer2 = BasicBlock(64, 64, downsample=nn.Identity())")
    ranked = store_candidates(analyze(mixed).free["BasicBlock"], _NamedBlocksStore([block]), mixed)
    assert all(c.compat == 0.0 and not c.edits for c in ranked), ranked  # one call's module may not be dropped


GRN = textwrap.dedent('''\
    import torch
    from torch import nn


    class GlobalResponseNorm(nn.Module):
        def __init__(self, dim, eps=1e-6, channels_last=True):
            super().__init__()
            self.spatial_dim, self.channel_dim = ((1, 2), -1) if channels_last else ((2, 3), 1)
    ''')


def test_a_layout_flag_default_follows_the_map_the_model_feeds():
    """timm's GlobalResponseNorm(dim, channels_last=True) after an nn.Conv2d normalised over the width as if it were
    the channels, and passed the check whenever width == channels: its default is switched in the inserted block."""
    from rag_server.candidates import layout_switches
    from rag_server.codeops import set_parameter_defaults

    sig = definition_signature(GRN, "GlobalResponseNorm")
    fed_map = analyze("class Net:\n    def __init__(self):\n        self.grn = GlobalResponseNorm(32)\n").free["GlobalResponseNorm"]
    assert layout_switches(sig, "channels_first", fed_map) == {"channels_last": "False"}
    assert layout_switches(sig, "channels_last", fed_map) == {}  # the default already fits
    assert layout_switches(sig, None, fed_map) == {} and layout_switches(sig, "tokens", fed_map) == {}
    said = analyze("class Net:\n    def __init__(self):\n        self.grn = GlobalResponseNorm(32, channels_last=True)\n").free["GlobalResponseNorm"]
    assert layout_switches(sig, "channels_first", said) == {}  # the model's own keyword is kept
    switched = set_parameter_defaults(GRN, {"GlobalResponseNorm"}, {"channels_last": "False"})
    assert "channels_last=False" in switched and "channels_last=True" not in switched
    convnext_ln = "class LayerNorm(nn.Module):\n    def __init__(self, normalized_shape, eps=1e-6, data_format='channels_last'):\n        pass\n"
    assert layout_switches(definition_signature(convnext_ln, "LayerNorm"), "channels_first", fed_map) == {"data_format": "'channels_first'"}


def test_a_block_named_for_another_layout_ranks_below_the_one_named_for_the_map():
    """PartitionAttentionCl (channels-last) took PartitionAttention2d's place on a conv feature map by meaning and
    validation, and passed the check computing over the wrong axis: a name that states another layout costs it."""
    from rag_server.candidates import Candidate, name_layout, weigh_layout_and_family

    assert (name_layout("PartitionAttentionCl"), name_layout("LayerNorm2d"), name_layout("Mlp")) == ("channels_last", "channels_first", None)
    cl = Candidate(name="PartitionAttention2d", symbol="PartitionAttentionCl", code="", match="semantic", score=5.0)
    first = Candidate(name="PartitionAttention2d", symbol="PartitionAttention2d", code="", match="exact", score=4.5)
    weigh_layout_and_family([cl, first], "channels_first")
    assert first.score > cl.score and "named for channels-last input" in cl.reason
    unknown = Candidate(name="PartitionAttention2d", symbol="PartitionAttentionCl", code="", match="semantic", score=5.0)
    weigh_layout_and_family([unknown], None)  # no layout read: the model's own name says 2d
    assert unknown.score == 4.0
    tokens = Candidate(name="Block", symbol="LayerNorm2d", code="", match="semantic", score=5.0)
    weigh_layout_and_family([tokens], "tokens")
    assert tokens.score == 4.0


def test_a_function_name_is_looked_for_even_when_a_class_of_its_letters_fits():
    """heldout10/16 with segmentation_models_pytorch indexed: ``adaptive_avgmax_pool2d(x, 1).flatten(1)`` got smp's
    ``AdaptiveAvgMaxPool2d`` class (the same letters in CapWords, a module built from ``x``), and timm's function of that
    exact name, defined beside timm's class, was never looked for: a class match hid every helper."""
    from rag_server.candidates import names_a_function, store_candidates

    assert names_a_function("adaptive_avgmax_pool2d") and names_a_function("conv3x3") and names_a_function("h_swish")
    assert not names_a_function("AdaptiveAvgMaxPool2d") and not names_a_function("SE_Block") and not names_a_function("__")
    smp_class = _stored("AdaptiveAvgMaxPool2d", "segmentation_models_pytorch.encoders._dpn", "output_size=1, pool_type='avg'",
                        "self.k = output_size", [2, 8, 4, 4])
    timm_block = _stored("AdaptiveAvgMaxPool2d", "timm.layers.adaptive_avgmax_pool", "output_size=1", "self.k = output_size",
                         [2, 8, 4, 4])
    function = ("import torch.nn.functional as F\n\n\ndef adaptive_avgmax_pool2d(x, output_size=1):\n"
                "    return 0.5 * (F.adaptive_avg_pool2d(x, output_size) + F.adaptive_max_pool2d(x, output_size))\n\n\n")
    timm_block.code = function + timm_block.code
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.fc = nn.Linear(8, 10)

            def forward(self, x):
                return self.fc(adaptive_avgmax_pool2d(self.conv(x), 1).flatten(1))
        ''')
    usage = analyze(model).free["adaptive_avgmax_pool2d"]
    ranked = store_candidates(usage, _NamedBlocksStore([smp_class, timm_block]), model)
    helpers = [c for c in ranked if c.match == "helper"]
    assert helpers and helpers[0].qualified_name == "timm.layers.adaptive_avgmax_pool.adaptive_avgmax_pool2d", ranked
    assert "def adaptive_avgmax_pool2d(" in helpers[0].code
    # a CapWords name keeps the old rule: a class of its letters that fits the call hides the helpers
    camel = model.replace("adaptive_avgmax_pool2d(self.conv(x), 1)", "AdaptiveAvgmaxPool2d(1)(self.conv(x))")
    ranked = store_candidates(analyze(camel).free["AdaptiveAvgmaxPool2d"], _NamedBlocksStore([smp_class, timm_block]), camel)
    assert ranked and not [c for c in ranked if c.match == "helper"], ranked


class _SearchingStore(_NamedBlocksStore):
    """``_NamedBlocksStore`` whose search by meaning returns every block whose code holds a word of the query."""

    def search(self, query: str, k: int = 10, **kw) -> list:
        return [SimpleNamespace(block=b) for b in self.blocks if any(w in b.code for w in query.split())][:k]


def test_a_helper_of_the_exact_name_is_kept_even_when_it_builds_a_classifier():
    """heldout13/14: ``global_pool, fc = create_classifier(nf, self.num_classes, pool_type='avg')`` stayed undefined.
    timm's function, found inside the ``ClassifierHead`` block, was dropped as a whole network: it takes
    ``num_classes``, which the model passes by position. That filter is for blocks found by meaning."""
    from rag_server.candidates import store_candidates

    head = _stored("ClassifierHead", "timm.layers.classifier", "in_features, num_classes, pool_type='avg'",
                   "self.global_pool, self.fc = create_classifier(in_features, num_classes, pool_type)", [2, 8, 4, 4])
    head.code = ("import torch.nn as nn\n\n\ndef create_classifier(num_features, num_classes, pool_type='avg'):\n"
                 "    return nn.AdaptiveAvgPool2d(1), nn.Linear(num_features, num_classes)\n\n\n") + head.code
    model = textwrap.dedent('''\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, num_classes=10):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.global_pool, self.fc = create_classifier(8, num_classes, pool_type='avg')

            def forward(self, x):
                return self.fc(self.global_pool(self.conv(x)).flatten(1))
        ''')
    usage = analyze(model).free["create_classifier"]
    ranked = store_candidates(usage, _SearchingStore([head]), model)
    assert [(c.symbol, c.match) for c in ranked] == [("create_classifier", "helper")], ranked
    assert ranked[0].code.count("def create_classifier(") == 1 and "class ClassifierHead" not in ranked[0].code


def test_parsed_trees_are_cached_within_a_budget_of_code():
    """A tree takes ~38x its code in memory: a count-bounded cache (4,096 trees) could hold 2.5 GB of the default blocks'.
    The cache holds at most ``PARSED_CODE_BUDGET`` characters of code, and code over the budget is parsed, not kept."""
    from rag_server import candidates

    candidates._parsed_sized.cache.clear()
    block = "import torch.nn as nn\n\n\nclass Block{i}(nn.Module):\n    pass\n" + "# padding\n" * 20_000
    for i in range(2 * candidates.PARSED_CODE_BUDGET // len(block) + 2):
        assert candidates._parsed(block.format(i=i)) is not None
    assert candidates._parsed_sized.cache.currsize <= candidates.PARSED_CODE_BUDGET
    huge = "x = 1\n" * (candidates.PARSED_CODE_BUDGET // 6 + 1)
    before = candidates._parsed_sized.cache.currsize
    assert candidates._parsed(huge) is not None and candidates._parsed_sized.cache.currsize == before


def test_a_guess_never_outranks_a_fitting_block_of_the_models_own_name():
    """``DepthwiseSeparableConv(32, 64, stride=2)`` got xception's ``SeparableConv2d`` (an alias, default kernel 1x1)
    over timm's ``DepthwiseSeparableConv`` that takes the call as written: the size penalty and the shared-identifier
    term outweighed the name. A fitting block of the name that ran forward now caps every alias and meaning match."""
    from rag_server.candidates import names_before_guesses
    from rag_server.codeops import KeywordEdits

    def cand(name: str, symbol: str, match: str, score: float, compat: float = 1.0, ran: bool = True,
             edits: KeywordEdits | None = None) -> Candidate:
        block = SimpleNamespace(provenance=SimpleNamespace(module="m"), qualified_name=f"m.{symbol}", content_hash=symbol,
                                name=symbol, passed=lambda stage: ran)
        return Candidate(name, symbol, f"class {symbol}: pass", match, score, compat, "", block, edits=edits or KeywordEdits())

    exact = cand("DepthwiseSeparableConv", "DepthwiseSeparableConv", "exact", 6.35)
    alias = cand("DepthwiseSeparableConv", "SeparableConv2d", "alias", 6.61)
    names_before_guesses([exact, alias])
    assert alias.score < exact.score and "ranked below" in alias.reason
    for unfit in (cand("X", "X", "exact", 6.35, compat=0.5), cand("X", "X", "exact", 6.35, ran=False),
                  cand("X", "X", "exact", 6.35, edits=KeywordEdits(dropped=("k",)))):
        guess = cand("X", "Y", "alias", 6.61)
        names_before_guesses([unfit, guess])
        assert guess.score == 6.61  # a block of the name that needs edits, fits partly or never ran does not cap it
    # a function's name: a class whose name normalises to it is no block of that name, and the helper function cut out
    # of a block (``adaptive_avgmax_pool2d``) is not a guess
    helper = cand("adaptive_avgmax_pool2d", "adaptive_avgmax_pool2d", "helper", 6.6)
    klass = cand("adaptive_avgmax_pool2d", "AdaptiveAvgMaxPool2d", "normalized", 6.5)
    names_before_guesses([helper, klass])
    assert (helper.score, klass.score) == (6.6, 6.5)


def test_the_layers_a_name_states():
    """Audit of Patch outside classification (F1): the words of a name that state a layer the block must have."""
    from rag_server.stated_layers import lacking_layers, stated_layers

    def labels(name: str) -> list[str]:
        return [layer.label for layer in stated_layers(name)]

    assert labels("ConvBNSiLU") == ["SiLU", "batch norm"]
    assert labels("conv_bn_gelu") == ["GELU", "batch norm"]
    assert labels("ConvBnRelu") == ["ReLU", "batch norm"] and labels("LeakyReLU") == ["ReLU"]
    assert labels("ResBlockUp") == labels("Up") == labels("UpsampleBlock") == labels("DeconvBlock") == ["upsampling"]
    assert labels("SpectralNormConv") == labels("SNConv") == ["spectral norm"]
    # words inside other words state nothing (``Group``, ``Setup``), nor do names of no layer
    assert labels("GroupConv") == labels("Setup") == labels("DoubleConv") == labels("Bottleneck") == []

    relu_block = "class ConvNormAct(nn.Module):\n    def __init__(self, c, act_layer=nn.ReLU):\n        self.bn = nn.BatchNorm2d(c)\n"
    assert [layer.label for layer in lacking_layers("ConvBNSiLU", relu_block, "ConvNormAct")] == ["SiLU"]
    assert lacking_layers("ConvBNSiLU", relu_block, "ConvNormAct", {"act_layer": "nn.SiLU"}) == []
    # an activation in a helper beside the class is another block's: looked for in the class itself
    helper = "def swish(x):\n    return x\n\n\n" + relu_block
    assert [layer.label for layer in lacking_layers("ConvBNSiLU", helper, "ConvNormAct")] == ["SiLU"]
    # upsampling through a helper class counts: looked for in every definition inserted
    up = "class Interp(nn.Module):\n    def forward(self, x):\n        return F.interpolate(x, scale_factor=2)\n\n\nclass Block(nn.Module):\n    pass\n"
    assert lacking_layers("ResBlockUp", up, "Block") == []
    assert [layer.label for layer in lacking_layers("ResBlockUp", "class Block(nn.Module):\n    pass\n", "Block")] == ["upsampling"]


CONV_BN_SILU_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Neck(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = ConvBNSiLU(3, 16, 3, 1)
            self.head = nn.Conv2d(16, 8, 1)

        def forward(self, x):
            return self.head(self.stem(x))
    ''')


def test_a_block_found_under_another_name_has_the_layers_its_name_states():
    """Audit of Patch outside classification (F1): ``ConvBNSiLU`` got nextvit's ``ConvNormAct`` (ReLU) and passed the
    check. Now a block that takes its activation as a parameter gets the stated one as its default, one that cannot
    ranks below the blocks that have it, and the one inserted carries a doubt saying what it lacks."""
    from rag_server.candidates import store_candidates

    init = "in_chs, out_chs, kernel_size=3, stride=1"
    store = _NamedBlocksStore([
        _stored("ConvNormAct", "timm.models.nextvit", init + ", act_layer=nn.ReLU",
                "self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride)\n        self.norm = nn.BatchNorm2d(out_chs)\n"
                "        self.act = act_layer()", [2, 3, 8, 8]),
        _stored("ConvBnAct", "timm.models.other", init, "self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride)\n"
                "        self.bn = nn.BatchNorm2d(out_chs)\n        self.act = nn.ReLU()", [2, 3, 8, 8]),
        _stored("ConvBnSwish", "timm.models.third", init, "self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride)\n"
                "        self.bn = nn.BatchNorm2d(out_chs)\n        self.act = nn.SiLU()", [2, 3, 8, 8], padding=30000),
    ])
    ranked = store_candidates(analyze(CONV_BN_SILU_MODEL).free["ConvBNSiLU"], store, CONV_BN_SILU_MODEL)
    by_name = {c.qualified_name: c for c in ranked}
    settable = by_name["timm.models.nextvit.ConvNormAct"]
    assert settable.defaults == {"act_layer": "nn.SiLU"} and not settable.lacking and not settable.doubts
    from rag_server.candidates import with_block_edits

    assert "act_layer=nn.SiLU" in with_block_edits(settable)
    fixed = by_name["timm.models.other.ConvBnAct"]
    assert fixed.lacking == ("SiLU",) and fixed.doubts == ["its name states SiLU, which ConvBnAct lacks"]
    assert "lacks the SiLU its name states" in fixed.reason
    assert ranked[-1] is fixed, [c.qualified_name for c in ranked]  # below a much longer block that has it
    # torchvision's blocks bind ``torch``, not ``nn``: the default is spelled through it
    from rag_server.candidates import definition_signature, stated_activation
    from rag_server.stated_layers import SILU

    torchvision_style = ("import torch\n\n\nclass ConvNormActivation(torch.nn.Sequential):\n"
                         "    def __init__(self, in_channels, out_channels, activation_layer=torch.nn.ReLU):\n        pass\n")
    sig = definition_signature(torchvision_style, "ConvNormActivation")
    assert stated_activation(sig, torchvision_style, [SILU]) == {"activation_layer": "torch.nn.SiLU"}
    # a block of the very name is what the model means: nothing is held against it
    exact = _stored("ConvBNSiLU", "timm.models.other", init, "self.act = nn.ReLU()", [2, 3, 8, 8])
    own = store_candidates(analyze(CONV_BN_SILU_MODEL).free["ConvBNSiLU"], _NamedBlocksStore([exact]), CONV_BN_SILU_MODEL)
    assert own[0].lacking == () and own[0].doubts == []


def test_a_network_hiding_num_classes_behind_kwargs_or_named_as_a_network_is_never_a_guess():
    """Audit of Patch outside classification (F2): by meaning, vit-pytorch's ``CCT`` (its ``**kwargs`` reach
    ``TransformerClassifier(num_classes=...)``) was inserted for a ``FiLM`` and fightingcv's ``CoAtNet`` for a UNet's
    ``OutConv``."""
    from rag_server.candidates import is_whole_network, passes_on_network_parameters

    code = textwrap.dedent('''\
        import torch.nn as nn


        class Classifier(nn.Module):
            def __init__(self, dim, num_classes=1000):
                super().__init__()


        class Wrapper(nn.Module):
            def __init__(self, dim, *args, **kwargs):
                super().__init__()
                self.classifier = Classifier(dim, *args, **kwargs)


        class Distilled(Classifier):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)


        class Twice(nn.Module):
            def __init__(self, **kw):
                super().__init__()
                self.inner = Wrapper(8, **kw)


        class Film(nn.Module):
            def __init__(self, dim, **kwargs):
                super().__init__()
                self.proj = nn.Linear(dim, dim, **kwargs)
        ''')
    assert passes_on_network_parameters(code, "Wrapper") and passes_on_network_parameters(code, "Distilled")
    assert passes_on_network_parameters(code, "Twice") and not passes_on_network_parameters(code, "Film")
    usage = analyze("class M(nn.Module):\n    def __init__(self):\n        self.f = FiLM(16)\n").free["FiLM"]
    assert is_whole_network(Candidate("FiLM", "Wrapper", code, "semantic", block=SimpleNamespace()), usage)
    assert not is_whole_network(Candidate("FiLM", "Film", code, "semantic", block=SimpleNamespace()), usage)
    net = "import torch.nn as nn\n\n\nclass CoAtNet(nn.Module):\n    def __init__(self, in_ch, image_size):\n        super().__init__()\n"
    assert is_whole_network(Candidate("FiLM", "CoAtNet", net, "semantic", block=SimpleNamespace()), usage)
    # the model asks for a network by name: the name says nothing against it
    asked = analyze("class M(nn.Module):\n    def __init__(self):\n        self.f = TinyNet(16)\n").free["TinyNet"]
    assert not is_whole_network(Candidate("TinyNet", "CoAtNet", net, "semantic", block=SimpleNamespace()), asked)


def test_a_conv_block_with_a_fixed_padding_does_not_fit_another_kernel_size():
    """Audit of Patch outside classification (F1): ``ConvBNSiLU(32, 16, 1, 1)`` got nextvit's ``ConvNormAct``, which
    builds ``nn.Conv2d(..., kernel_size=kernel_size, padding=1)``: every 1x1 layer grew the map by 2 (16x16 came out
    20x20) and the check passed. Now a kernel size the fixed padding does not keep the size for makes the call not fit."""
    from rag_server.candidates import call_compatibility, definition_signature, pads_for_another_kernel

    block = ("import torch.nn as nn\n\n\nclass ConvNormAct(nn.Module):\n"
             "    def __init__(self, in_chs, out_chs, kernel_size=3, stride=1):\n        super().__init__()\n"
             "        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size=kernel_size, stride=stride, padding=1)\n")
    sig = definition_signature(block, "ConvNormAct")
    assert sig.fixed_paddings == {"kernel_size": 1}
    pointwise = analyze("class M(nn.Module):\n    def __init__(self):\n        self.a = ConvBNSiLU(32, 16, 1, 1)\n").free["ConvBNSiLU"]
    assert pads_for_another_kernel(sig, pointwise.calls[0]) == ["kernel_size=1 with padding 1"]
    assert call_compatibility(sig, pointwise) == 0.0
    by_keyword = analyze("class M(nn.Module):\n    def __init__(self):\n        self.a = ConvBNSiLU(32, 16, kernel_size=5)\n").free["ConvBNSiLU"]
    assert call_compatibility(sig, by_keyword) == 0.0
    for fits in ("ConvBNSiLU(32, 16, 3, 2)", "ConvBNSiLU(32, 16)", "ConvBNSiLU(32, 16, k, 1)"):  # 3x3, the default, unknown
        usage = analyze(f"class M(nn.Module):\n    def __init__(self, k):\n        self.a = {fits}\n").free["ConvBNSiLU"]
        assert call_compatibility(sig, usage) == 1.0, fits
    # a padding that follows the kernel size is no fixed padding
    same = block.replace("padding=1", "padding=kernel_size // 2")
    assert definition_signature(same, "ConvNormAct").fixed_paddings == {}
    # nor is padding 0: the block may pad by itself first (timm's ``CecaModule``, a circular ``F.pad``)
    assert definition_signature(block.replace("padding=1", "padding=0"), "ConvNormAct").fixed_paddings == {}


def test_an_abstract_class_is_no_candidate():
    """By meaning, pytorch-forecasting's abstract ``RNN`` (validation: "Can't instantiate abstract class RNN with
    abstract methods ...") was tried for a ``PositionalEncoding``: no call can build it."""
    from rag_server.candidates import store_candidates

    model = "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.r = RNN(8, 16)\n"
    abstract = _stored("RNN", "pytorch_forecasting.models.nn.rnn", "input_size, hidden_size", "pass", [2, 8, 4])
    abstract.validation = {**abstract.validation, "instantiate": {"ok": False, "error": "TypeError: Can't instantiate abstract class RNN with abstract methods init_hidden_state"}}
    concrete = _stored("RNN", "torch.nn.modules.rnn", "input_size, hidden_size", "pass", [2, 8, 4])
    ranked = store_candidates(analyze(model).free["RNN"], _NamedBlocksStore([abstract, concrete]), model)
    assert [c.qualified_name for c in ranked] == ["torch.nn.modules.rnn.RNN"]


def test_a_count_or_a_channel_count_in_a_slot_for_a_rate_or_a_size_does_not_fit():
    """Blind audit of Patch outside classification (H2): a diffusion model's ``ResBlock(ch, ch, time_dim)`` went into
    pytorch-forecasting's ``ResidualBlock(in_size, out_size, dropout_rate)`` (dropout 128), a U-Net's
    ``ConvBlock(in_ch, out_ch)`` into timm's ``ConvBlock(dim, kernel_size)`` (a 32x32 kernel), and ``Upsample(ch * 2)``
    became ``nn.Upsample(size=64)``: each call fitted by arity alone."""
    from rag_server.candidates import call_compatibility, channels_into_sizes, counts_into_fractions, definition_signature, torch_refuses

    def usage(call: str):
        text = f"class M(nn.Module):\n    def __init__(self, ch, in_ch, out_ch, time_dim, p):\n        self.a = {call}\n"
        return analyze(text).free[call.split("(")[0]]

    residual = definition_signature("class ResidualBlock:\n    def __init__(self, in_size, out_size, dropout_rate):\n        pass\n", "ResidualBlock")
    assert counts_into_fractions(residual, usage("ResBlock(ch, ch, time_dim)").calls[0]) == ["dropout_rate"]
    assert call_compatibility(residual, usage("ResBlock(ch, ch, time_dim)")) == 0.0
    assert call_compatibility(residual, usage("ResBlock(ch, ch, 0.1)")) == 1.0
    assert call_compatibility(residual, usage("ResBlock(ch, ch, p)")) == 1.0  # a name that says nothing
    conv = definition_signature("class ConvBlock:\n    def __init__(self, dim, kernel_size=3):\n        pass\n", "ConvBlock")
    assert channels_into_sizes(conv, usage("ConvBlock(in_ch, out_ch)").calls[0]) == ["kernel_size"]
    assert call_compatibility(conv, usage("ConvBlock(in_ch, out_ch)")) == 0.0
    assert call_compatibility(conv, usage("ConvBlock(in_ch, 5)")) == 1.0
    assert call_compatibility(conv, usage("ConvBlock(1, 32)")) == 0.0  # 32 channels, no 32x32 kernel
    assert call_compatibility(conv, usage("ConvBlock(1, 7)")) == 1.0
    assert torch_refuses(usage("Upsample(ch * 2)")) and not torch_refuses(usage("Upsample(scale_factor=2)"))


def test_a_block_for_data_of_other_dimensions_than_the_name_states_ranks_below():
    """Blind audit of Patch outside classification (M2): an audio model's ``SqueezeExcite1d`` / ``SEBlock1D`` and a
    video model's ``ConvBlock3d`` got 2-D image blocks first."""
    from rag_server.candidates import layout_misfit, stated_dimensions

    assert (stated_dimensions("SEBlock1D"), stated_dimensions("ConvBlock3d"), stated_dimensions("SEBlock")) == (1, 3, None)
    from rag_server.candidates import Candidate, weigh_layout_and_family

    image = _stored("SEModule", "timm.models.a", "channels", "pass", [2, 32, 8, 8])
    audio = _stored("SEModule", "timm.models.b", "channels", "pass", [2, 32, 50])
    guesses = [Candidate("SEBlock1D", "SEModule", b.code, "alias", 5.0, block=b) for b in (image, audio)]
    weigh_layout_and_family(guesses, None)
    assert [c.score for c in guesses] == [4.0, 5.0]
    assert layout_misfit(guesses[0], None) == "validated on 4-D input where the model's name says 1-D data"
    named = _stored("SqueezeExcite2d", "timm.models.c", "channels", "pass", [2, 32, 8, 8])

    assert layout_misfit(Candidate("SEBlock1D", "SqueezeExcite2d", named.code, "alias", block=named), None) == \
        "named for 2-D data where the model's name says 1-D"
    # a block named for 1-D data is taken at its name, whatever input its validation guessed (neuralforecast's
    # ``Chomp1d`` slices the last axis of any input, and was validated on a 4-D one)
    chomp = _stored("Chomp1d", "neuralforecast.common._modules", "horizon", "pass", [2, 4, 8, 8])
    assert layout_misfit(Candidate("Chomp1d", "Chomp1d", chomp.code, "exact", block=chomp), None) is None


def test_a_whole_network_of_the_models_very_name_ranks_below_a_block_when_no_class_count_is_passed():
    """Blind audit of Patch outside classification (H3): ``FPN(in_channels_list=[...], out_channels=128)`` got smp's whole
    ``FPN`` segmentation model (an encoder that downloads weights; 6,707 lines), never torchvision's
    ``FeaturePyramidNetwork``; a DCGAN's ``DiscriminatorBlock`` got lightning-bolts' MLP ``Discriminator`` network."""
    from rag_server.candidates import NETWORK_NAME, store_candidates

    model = ("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
             "        self.fpn = FPN(in_channels_list=[64, 128], out_channels=128)\n")
    network = _stored("FPN", "segmentation_models_pytorch.decoders.fpn.model", "encoder_name='resnet34', classes=1, **kwargs", "pass", [2, 3, 64, 64])
    neck = _stored("FeaturePyramidNetwork", "torchvision.ops.feature_pyramid_network", "in_channels_list, out_channels", "pass", [2, 8, 8, 8])

    class _Store(_NamedBlocksStore):
        def lookup_initials(self, name: str, k: int = 10) -> list:
            return [SimpleNamespace(block=neck)] if name == "FPN" else []

    ranked = store_candidates(analyze(model).free["FPN"], _Store([network, neck]), model)
    assert [c.qualified_name for c in ranked] == ["torchvision.ops.feature_pyramid_network.FeaturePyramidNetwork",
                                                  "segmentation_models_pytorch.decoders.fpn.model.FPN"]
    assert ranked[1].whole_network and "is a whole network" in ranked[1].doubts[0]
    assert NETWORK_NAME.search("Discriminator") and not NETWORK_NAME.search("DiscriminatorBlock")
    assert not NETWORK_NAME.search("FeaturePyramidNetwork") and not NETWORK_NAME.search("GatedResidualNetwork")


ENCODER = textwrap.dedent('''\
    import torch.nn as nn


    class EncoderLayer(nn.Module):
        def __init__(self, d_model, n_head):
            super().__init__()
            self.slf_attn = MultiHeadAttention(d_model, n_head)

        def forward(self, x, mask=None):
            out, attn = self.slf_attn(x, x, x, mask=mask)
            return out
    ''')


@pytest.mark.parametrize("forward, serves", [
    ("def forward(self, q, k, v, mask=None):\n        return q, None", True),
    ("def forward(self, q, k, v, **kwargs):\n        return q, None", True),
    ("def forward(self, q, k, v, *, mask):\n        return q, None", True),  # a required keyword, given
    ("def forward(self, q, k, v, key_padding_mask=None):\n        return q, None", False),  # no ``mask``
    ("def forward(self, q, k, v, mask):\n        return q, None", True),  # required, given by name
    ("def forward(self, q, k, mask=None, v=None):\n        return q, None", False),  # ``mask`` given twice
    ("def forward(self, q, k, v, m, mask=None):\n        return q, None", False),  # ``m`` never given
])
def test_an_instance_call_must_find_its_keywords_in_forward(forward, serves):
    """An encoder's ``self.slf_attn(x, x, x, mask=mask)`` into a ``forward(Q, K, V, key_padding_mask=None)`` is a
    TypeError at the first forward (heldout17/14's attention-is-all-you-need encoder)."""
    from rag_server.candidates import call_compatibility, definition_signature

    block = f"import torch.nn as nn\n\n\nclass MultiHeadAttention(nn.Module):\n    def __init__(self, d_model, n_head):\n" \
            f"        super().__init__()\n\n    {forward}\n"
    usage = analyze(ENCODER).free["MultiHeadAttention"]
    assert [c.keywords for c in usage.instance_calls] == [("mask",)]
    compat = call_compatibility(definition_signature(block, "MultiHeadAttention"), usage)
    assert (compat == 1.0) is serves, compat
