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
