"""Patch keeps finding what fits when a store fills with near-copies that do not.

Session 42: adding pytorchcv (710 blocks) to a store cost three benchmark models. Its ``round_channels(channels,
divisor=8)``, which dozens of its blocks carry, was the only helper the searches reached for a model calling
``round_channels(256, multiplier=width, divisor=8)`` (timm's signature); its blocks took the 30 places nearest an
SE-ResNet's ``BottleneckResidualSEBlock`` by meaning, none with the ``expansion`` the model reads; and its BAM
``ChannelGate(channels, reduction_ratio=16, num_layers=1)`` was built with a CBAM's ``['avg', 'max']`` as its layer
count.
"""

from __future__ import annotations

import textwrap

import pytest

from helpers_index import helper_searches_read, written_block
from indexer.build import store_blocks
from indexer.records import Block
from indexer.store import BlockStore


def _block(name: str, code: str, module: str) -> Block:
    return written_block("crowd", module, name, code)


def _crowd_host(i: int) -> Block:
    """A block carrying the short ``round_channels(channels, divisor=8)``, worded to rank first for the name."""
    code = textwrap.dedent(f'''\
        import torch.nn as nn


        def round_channels(channels, divisor=8):
            """Round channels to a multiple of the divisor."""
            return max(divisor, int(channels + divisor / 2) // divisor * divisor)


        class RoundChannelsConv{i}(nn.Module):
            """Convolution with round channels: the round channels of a width times a multiplier (variant {i})."""

            def __init__(self, channels, multiplier=1.0, divisor=8):
                super().__init__()
                width = round_channels(channels * multiplier, divisor)
                self.conv = nn.Conv2d(3, width, 3, padding=1)

            def forward(self, x):
                return self.conv(x)
        ''')
    return _block(f"RoundChannelsConv{i}", code, f"round{i}")


TIMM_STYLE_HOST = textwrap.dedent('''\
    import torch.nn as nn


    def round_channels(channels, multiplier=1.0, divisor=8, channel_min=None):
        if not multiplier:
            return channels
        channels *= multiplier
        new_channels = max(channel_min or divisor, int(channels + divisor / 2) // divisor * divisor)
        if new_channels < 0.9 * channels:
            new_channels += divisor
        return int(new_channels)


    class EfficientStem(nn.Module):
        """The stem of an image classifier."""

        def __init__(self, width=1.0):
            super().__init__()
            self.conv = nn.Conv2d(3, round_channels(32, width), 3, stride=2, padding=1)

        def forward(self, x):
            return self.conv(x)
    ''')

WIDTH_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, width=1.0):
            super().__init__()
            channels = round_channels(32, multiplier=width, divisor=8)
            self.conv = nn.Conv2d(3, channels, 3, padding=1)
            self.head = nn.Linear(channels, 10)

        def forward(self, x):
            return self.head(self.conv(x).mean((2, 3)))
    ''')


@pytest.fixture(scope="module")
def helper_crowd(tmp_path_factory) -> BlockStore:
    path = tmp_path_factory.mktemp("store")
    store_blocks([_crowd_host(i) for i in range(45)] + [_block("EfficientStem", TIMM_STYLE_HOST, "stem")], path)
    return BlockStore(path)


def test_the_searches_reach_only_the_crowd(helper_crowd):
    """The premise: the host of the signature the model calls ranks below the 20 the searches read."""
    read = helper_searches_read(helper_crowd, WIDTH_MODEL, "round_channels")
    assert read and "EfficientStem" not in read


def test_blocks_binding_gives_each_definition_once(helper_crowd):
    """45 blocks carry one definition line, one block another: two blocks, not the first 20 copies."""
    bound = helper_crowd.blocks_binding("round_channels")
    assert len(bound) == 2 and "EfficientStem" in [b.name for b in bound], [b.name for b in bound]


def test_a_helper_the_model_can_call_as_written_is_looked_for_past_the_crowd(helper_crowd):
    """The crowd's helper takes the call only with ``multiplier=`` dropped; the one that takes it as written comes first."""
    from rag_server.patch import plan

    cands = plan(WIDTH_MODEL, helper_crowd).candidates.get("round_channels", [])
    assert cands and cands[0].block.name == "EfficientStem" and not cands[0].edits, \
        [(c.block.name if c.block else c.import_line, c.match, round(c.score, 2), c.edits) for c in cands]


def _se_crowd_block(i: int) -> Block:
    """A squeeze-and-excitation bottleneck close in meaning to the model's block, without ``expansion``."""
    code = textwrap.dedent(f'''\
        import torch.nn as nn


        class ResidualSEBottleneck{i}(nn.Module):
            """Bottleneck residual block with squeeze and excitation, SE block (variant {i})."""

            def __init__(self, in_channels, out_channels, stride=1):
                super().__init__()
                self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
                self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(out_channels, out_channels, 1), nn.Sigmoid())

            def forward(self, x):
                y = self.conv(x)
                return y * self.se(y)
        ''')
    return _block(f"ResidualSEBottleneck{i}", code, f"se{i}")


EXPANDING_BOTTLENECK = textwrap.dedent('''\
    import torch.nn as nn


    class Bottleneck(nn.Module):
        """ResNet bottleneck: 1x1 reduce, 3x3, 1x1 expand, with a projection shortcut."""

        expansion = 4

        def __init__(self, in_planes, planes, stride=1):
            super().__init__()
            width = planes * self.expansion
            self.body = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                nn.Conv2d(planes, width, 1, bias=False), nn.BatchNorm2d(width))
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width))
            self.relu = nn.ReLU()

        def forward(self, x):
            return self.relu(self.body(x) + self.shortcut(x))
    ''')

EXPANSION_MODEL = textwrap.dedent('''\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            block = BottleneckResidualSEBlock
            self.in_channels = 16
            self.stage = nn.Sequential(block(self.in_channels, 16, 1), block(16 * block.expansion, 16, 2))
            self.head = nn.Linear(16 * block.expansion, 10)

        def forward(self, x):
            return self.head(self.stage(x).mean((2, 3)))
    ''')


def test_a_meaning_search_reads_past_thirty_blocks_that_lack_what_the_model_reads(tmp_path):
    from rag_server.candidates import semantic_hits, usage_query
    from rag_server.patch import plan
    from rag_server.scope import analyze

    store_blocks([_se_crowd_block(i) for i in range(40)] + [_block("Bottleneck", EXPANDING_BOTTLENECK, "resnet")], tmp_path)
    store = BlockStore(tmp_path)
    usage = analyze(EXPANSION_MODEL).free["BottleneckResidualSEBlock"]
    near = [hit.block.name for hit, _ in semantic_hits(store, usage_query(usage), k=30)]
    assert len(near) == 30 and "Bottleneck" not in near  # the premise: the 30 nearest are the crowd
    cands = plan(EXPANSION_MODEL, store).candidates.get("BottleneckResidualSEBlock", [])
    assert [c.block.name for c in cands] == ["Bottleneck"], [(c.block.name, round(c.score, 2)) for c in cands]


CBAM_CALL = "import torch.nn as nn\n\n\ndef f(planes):\n    return ChannelGate(planes, 16, ['avg', 'max'])\n"


@pytest.mark.parametrize("definition, fits", [
    ("class ChannelGate:\n    def __init__(self, channels, reduction_ratio=16, num_layers=1): pass\n", False),  # BAM's
    ("class ChannelGate:\n    def __init__(self, gate_channels, reduction_ratio=16, pool_types=None): pass\n", True),
    ("class ChannelGate:\n    def __init__(self, gate_channels, reduction_ratio=16, pool_types=('avg', 'max')): pass\n", True),
])
def test_words_into_a_number_do_not_fit(definition, fits):
    from rag_server.candidates import call_compatibility, definition_signature
    from rag_server.scope import analyze

    usage = analyze(CBAM_CALL).free["ChannelGate"]
    assert (call_compatibility(definition_signature(definition, "ChannelGate"), usage) == 1.0) is fits


@pytest.mark.parametrize("argument, words", [
    ("'avg'", True),
    ("['avg', 'max']", True),
    ("('avg', 1)", True),
    ("{'p': 1}", True),
    ("(3, 3)", False),  # a kernel size as a pair: what ``kernel_size=3`` also takes
    ("[1, 2]", False),
    ("size", False),  # a name: unknown
    ("3", False),
])
def test_words_into_numbers(argument, words):
    from rag_server.candidates import definition_signature, words_into_numbers
    from rag_server.scope import analyze

    sig = definition_signature("def conv(channels, kernel_size=3):\n    return channels\n", "conv")
    usage = analyze(f"def f():\n    return conv(8, {argument})\n").free["conv"]
    assert bool(words_into_numbers(sig, usage.calls[0])) is words
