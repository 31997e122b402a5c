"""The call signature Patch reads from a stored definition: the ``__init__`` a ``@dataclass`` or ``NamedTuple``
generates from its fields, and "accept anything" where the ``__init__`` cannot be read for sure, so that no keyword
the model passes is dropped at its calls (s22 C (2): ``NetConfig(widths=(8, 16), num_classes=100)`` became
``NetConfig()`` and the model put out 10 classes)."""

from __future__ import annotations

import textwrap

import pytest

from rag_server.candidates import call_compatibility, definition_signature, keyword_edits
from rag_server.scope import analyze

CONFIGS = textwrap.dedent('''\
    import dataclasses
    from dataclasses import KW_ONLY, dataclass, field
    from typing import ClassVar, NamedTuple, Tuple


    @dataclass
    class NetConfig:
        in_chans: int = 3
        num_classes: int = 10
        widths: Tuple[int, ...] = (16, 32, 64)


    @dataclasses.dataclass(frozen=True)
    class BlockConfig:
        dim: int
        heads: int = 4
        registry: ClassVar[dict] = {}
        cache: list = field(init=False, default_factory=list)
        layers: list = field(default_factory=list)
        drop: float = field(default=0.1)


    @dataclass(frozen=True)
    class WideConfig(BlockConfig):
        width: int = 2


    @dataclass
    class KeywordConfig:
        dim: int
        _: KW_ONLY
        eps: float = 1e-5


    class Size(NamedTuple):
        height: int
        width: int = 1
    ''')


def _call(name: str, args: str):
    return analyze(f"class Net:\n    def __init__(self):\n        self.cfg = {name}({args})\n").free[name]


def test_a_dataclass_takes_its_fields_in_order_and_keeps_every_keyword_the_model_passes():
    sig = definition_signature(CONFIGS, "NetConfig")
    assert (sig.params, sig.required) == (["in_chans", "num_classes", "widths"], 0)
    usage = _call("NetConfig", "widths=(8, 16), num_classes=100")
    assert call_compatibility(sig, usage) == 1.0
    assert not keyword_edits(sig, usage)  # nothing dropped: the model keeps its 100 classes

    frozen = definition_signature(CONFIGS, "BlockConfig")  # ClassVar and init=False are no parameters
    assert (frozen.params, frozen.required) == (["dim", "heads", "layers", "drop"], 1)
    assert frozen.number_defaults == {"heads": 4.0, "drop": 0.1}
    assert call_compatibility(frozen, _call("BlockConfig", "64, heads=8, drop=0.0")) == 1.0
    assert call_compatibility(frozen, _call("BlockConfig", "heads=8")) == 0.0  # ``dim`` missing

    inherited = definition_signature(CONFIGS, "WideConfig")  # a dataclass base's fields come first
    assert inherited.params == ["dim", "heads", "layers", "drop", "width"]
    keyword_only = definition_signature(CONFIGS, "KeywordConfig")
    assert (keyword_only.params, keyword_only.kwonly) == (["dim"], ["eps"])
    assert call_compatibility(keyword_only, _call("KeywordConfig", "8, 1e-6")) == 0.0  # eps is keyword-only

    size = definition_signature(CONFIGS, "Size")
    assert (size.params, size.required) == (["height", "width"], 1)
    assert call_compatibility(size, _call("Size", "height=4, width=2")) == 1.0


UNREADABLE = {
    "attrs": "import attr\n\n@attr.s\nclass Cfg:\n    dim = attr.ib(default=8)\n",
    "attrs define": "from attrs import define\n\n@define\nclass Cfg:\n    dim: int = 8\n",
    "pydantic": "from pydantic import BaseModel\n\nclass Cfg(BaseModel):\n    dim: int = 8\n",
    "unknown base": "from somewhere import Base\n\nclass Cfg(Base):\n    dim: int = 8\n",
    "unknown decorator": "from registry import configurable\n\n@configurable\nclass Cfg:\n    dim: int = 8\n",
    "metaclass": "class Meta(type):\n    pass\n\nclass Cfg(metaclass=Meta):\n    dim: int = 8\n",
    "dataclass of an unknown base": "from dataclasses import dataclass\nfrom elsewhere import Base\n\n"
                                    "@dataclass\nclass Cfg(Base):\n    dim: int = 8\n",
}


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_init_that_cannot_be_read_for_sure_accepts_anything_and_nothing_is_dropped(kind: str):
    sig = definition_signature(UNREADABLE[kind], "Cfg")
    usage = _call("Cfg", "4, dim=16, num_classes=100, padding=1")
    assert call_compatibility(sig, usage) == 1.0
    assert not keyword_edits(sig, usage)


def test_a_plain_class_with_no_init_still_takes_no_arguments():
    sig = definition_signature("class Cfg:\n    dim: int = 8\n", "Cfg")
    assert call_compatibility(sig, _call("Cfg", "dim=16")) == 0.0
    subclass = "class Base:\n    def __init__(self, dim, depth=2):\n        pass\n\n@register\nclass Cfg(Base):\n    pass\n"
    assert definition_signature(subclass, "Cfg").params == ["dim", "depth"]  # the base's __init__, in the block


REPVGG = textwrap.dedent('''
    class RepVggBlock(nn.Module):
        def __init__(self, in_chs, out_chs, kernel_size=3, stride=1, group_size=None, inference_mode=False):
            super().__init__()
    ''')


def test_keywords_at_their_neutral_value_are_dropped_without_counting_against_the_limit():
    """RepVGG's RepVGGBlock(in_channels=, out_channels=, padding=1, groups=1, deploy=flag) for timm's RepVggBlock:
    groups is never dropped in general (groups=4 computes something else), so no edit was made and the call failed on
    in_channels=; groups=1 is what every convolution does without it."""
    sig = definition_signature(REPVGG, "RepVggBlock")
    usage = _call("RepVggBlock", "in_channels=3, out_channels=8, kernel_size=3, stride=1, padding=1, groups=1, deploy=self.deploy")
    edits = keyword_edits(sig, usage)
    assert edits.renamed == {"in_channels": "in_chs", "out_channels": "out_chs"}
    assert set(edits.dropped) == {"padding", "groups", "deploy"}
    for meaningful in ("groups=4", "groups=g", "dilation=2", "groups=True"):  # another value: still never dropped
        usage = _call("RepVggBlock", f"in_channels=3, out_channels=8, padding=1, {meaningful}")
        assert "groups" not in keyword_edits(sig, usage).dropped and "dilation" not in keyword_edits(sig, usage).dropped, meaningful


RECORDS = textwrap.dedent('''\
    from dataclasses import dataclass
    from typing import NamedTuple, Tuple


    @dataclass
    class RegCfg:
        depth: int = 21
        w0: int = 80
        stem_width: int = 32
        downsample: str = 'conv1x1'


    class StemConfig(NamedTuple):
        out_channels: int
        kernel_size: int
        stride: int


    @dataclass
    class AttnCfg:
        dim_head: int = 32
        window_size: Tuple[int, int] = (7, 7)


    class PlainCfg:
        def __init__(self, depth=21, w0=80, stem_width=32, downsample='conv1x1'):
            self.depth = depth
    ''')


def test_a_config_records_keywords_are_never_dropped_only_renamed_to_a_field():
    """s23 V (1): RegNetCfg(depth=6, width_init=16, ...) lost width_init (the model ran with the default w0),
    ConvStemConfig(..., padding=1) lost padding (then s.padding raised AttributeError): a record's fields are what the
    model reads back, so a keyword it has no field for makes it no fit."""
    reg = definition_signature(RECORDS, "RegCfg")
    assert reg.is_record
    for args in ("depth=6, width_init=16, stem_width=16", "depth=6, groups=1"):  # a neutral value is kept too
        usage = _call("RegCfg", args)
        assert not keyword_edits(reg, usage), args
        assert call_compatibility(reg, usage) == 0.0, args
    stem = definition_signature(RECORDS, "StemConfig")
    assert stem.is_record
    usage = _call("StemConfig", "out_channels=16, kernel_size=3, stride=2, padding=1")
    assert not keyword_edits(stem, usage) and call_compatibility(stem, usage) == 0.0
    # a synonym field takes the value under its own name
    attn = definition_signature(RECORDS, "AttnCfg")
    edits = keyword_edits(attn, _call("AttnCfg", "head_dim=8, window_size=(4, 4)"))
    assert edits.renamed == {"head_dim": "dim_head"} and not edits.dropped
    # a class with a written __init__ is a block, not a record: its extra keyword may still be dropped
    plain = definition_signature(RECORDS, "PlainCfg")
    assert not plain.is_record
    assert keyword_edits(plain, _call("PlainCfg", "depth=6, width_init=16")).dropped == ("width_init",)


BASIC_BLOCK = textwrap.dedent('''\
    from typing import Optional

    import torch.nn as nn


    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample: Optional[nn.Module] = None):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.downsample = downsample

        def forward(self, x):
            shortcut = x
            out = self.conv1(x)
            if self.downsample is not None:
                shortcut = self.downsample(x)
            return out + shortcut
    ''')


def test_a_bool_passed_where_the_block_takes_a_module_is_dropped_for_its_default_shortcut_or_does_not_fit():
    """s23 V (3): BasicBlock(32, 64, stride=2, downsample=True) failed on every candidate with "'bool' object is not
    callable" while the reason claimed the 1x1 conv + BN shortcut."""
    from rag_server.candidates import edited_usage

    sig = definition_signature(BASIC_BLOCK, "BasicBlock")
    for flag in ("True", "False"):
        usage = _call("BasicBlock", f"32, 64, stride=2, downsample={flag}")
        edits = keyword_edits(sig, usage, shortcut=True)
        assert edits.dropped == ("downsample",), flag
        assert call_compatibility(sig, edited_usage(usage, edits)) == 1.0, flag
    # no shortcut built by default: True cannot be dropped, and a bool into a module parameter does not fit
    usage = _call("BasicBlock", "32, 64, stride=2, downsample=True")
    assert not keyword_edits(sig, usage, shortcut=False)
    assert call_compatibility(sig, usage) == 0.0
    assert call_compatibility(sig, _call("BasicBlock", "32, 64, 2, True")) == 0.0  # positional: no edit can reach it
    # False into a module parameter that defaults to None is that None
    edits = keyword_edits(sig, usage := _call("BasicBlock", "32, 64, stride=2, downsample=False"), shortcut=False)
    assert edits.dropped == ("downsample",) and call_compatibility(sig, edited_usage(usage, edits)) == 1.0
    # the model's own module stays; a flag that is no literal is not read as one
    assert not keyword_edits(sig, _call("BasicBlock", "32, 64, stride=2, downsample=nn.Identity()"), shortcut=True)
    assert not keyword_edits(sig, _call("BasicBlock", "32, 64, stride=2, downsample=flag"), shortcut=True)
    # a bool where the block takes a bool is a bool
    flagged = BASIC_BLOCK.replace("downsample: Optional[nn.Module] = None", "downsample: bool = False")
    flagged = flagged.replace("shortcut = self.downsample(x)", "shortcut = x")
    assert call_compatibility(definition_signature(flagged, "BasicBlock"), usage) == 1.0


YOLOX_BOTTLENECK = textwrap.dedent('''\
    import torch.nn as nn


    class Bottleneck(nn.Module):
        def __init__(self, in_channels, out_channels, shortcut=True, expansion=0.5, depthwise=False, act="silu",
                     padding="same", pad_type: Union[str, int] = "", mode="nearest"):
            super().__init__()
    ''')


def test_a_number_where_the_block_takes_a_name_does_not_fit():
    """YOLOX's ``Bottleneck(in, out, shortcut, expansion, depthwise, act="silu")`` was tried first for an ultralytics-style
    ``Bottleneck(c1, c2, shortcut, g, k, 0.5)`` and failed building itself ("Unsupported act type: 0.5"). A string
    default takes a name; a padding, or a parameter annotated as a number too, may take a number."""
    sig = definition_signature(YOLOX_BOTTLENECK, "Bottleneck")
    assert call_compatibility(sig, _call("Bottleneck", "c_, c_, True, 1, (3, 3), 0.5")) == 0.0
    assert call_compatibility(sig, _call("Bottleneck", "64, 64, act=0.5")) == 0.0
    assert call_compatibility(sig, _call("Bottleneck", "64, 64, True, 0.5, False, 'relu'")) == 1.0
    assert call_compatibility(sig, _call("Bottleneck", "64, 64, padding=1, pad_type=1")) == 1.0
    assert call_compatibility(sig, _call("Bottleneck", "64, 64, act=act_name")) == 1.0  # a variable may hold a name


DROP_PATH = textwrap.dedent('''\
    import torch.nn as nn


    class DropPath(nn.Module):
        def __init__(self, drop_prob: float = 0., scale_by_keep: bool = True):
            super().__init__()
            self.drop_prob = drop_prob


    class Block(nn.Module):
        def __init__(self, dim, num_heads, proj_drop=0., attn_drop=0., drop_path=0.):
            super().__init__()
    ''')


@pytest.mark.parametrize("keyword", ["p", "prob", "dropout", "drop", "drop_rate", "drop_path_rate", "drop_path", "dropout_rate"])
def test_a_drop_rate_under_a_guessed_name_reaches_drop_paths_drop_prob(keyword):
    """timm's ``DropPath`` takes ``drop_prob`` (default 0): ``DropPath(p=0.2)`` lost its ``p=`` and ran with stochastic
    depth off, and the check said ok. Any name of a drop rate now becomes ``drop_prob``."""
    sig = definition_signature(DROP_PATH, "DropPath")
    edits = keyword_edits(sig, _call("DropPath", f"{keyword}=0.2"))
    assert edits.renamed == {keyword: "drop_prob"} and not edits.dropped, edits


def test_a_blocks_dropout_is_its_projection_dropout_not_its_drop_path():
    sig = definition_signature(DROP_PATH, "Block")
    assert keyword_edits(sig, _call("Block", "64, 4, dropout=0.1")).renamed == {"dropout": "proj_drop"}
    assert keyword_edits(sig, _call("Block", "64, 4, drop_path_rate=0.1")).renamed == {"drop_path_rate": "drop_path"}
