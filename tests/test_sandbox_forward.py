"""sandbox.runner forward/backward on outputs and modes beyond a plain tensor, in a real sandbox."""

from __future__ import annotations

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import CheckSpec, Example

RECORD_OUTPUT = '''
import torch
import torch.nn as nn


class Batch:
    """A plain holder class (no dataclass, no namedtuple), like torchvision's ImageList."""

    def __init__(self, tensors, sizes):
        self.tensors = tensors
        self.sizes = sizes


class Wrap(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return Batch(self.conv(x), [tuple(x.shape[-2:])] * x.shape[0]), None
'''


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_tensors_held_by_a_plain_object_count_as_output_and_get_gradients(pool):
    result = pool.check(RECORD_OUTPUT, CheckSpec(entry="Wrap", example=Example(inputs=[[2, 3, 8, 8]])))
    assert result.status == "ok", (result.error_type, result.message)
    assert result.stages["forward"] == "ok" and result.stages["backward"] == "ok"
    assert result.output_shapes == [[2, 4, 8, 8]]


FIXED_SIZE = '''
import torch
import torch.nn as nn


class RelTable(nn.Module):
    def __init__(self, feat_size):
        super().__init__()
        self.height, self.width = feat_size
        self.rel = nn.Parameter(torch.zeros(2 * self.height - 1))


class FixedSizeAttn(nn.Module):
    """Keeps its feature size only inside a child (like timm's BottleneckAttn)."""

    def __init__(self, dim, feat_size=None):
        super().__init__()
        assert feat_size is not None, "a concrete feature size is required"
        self.qkv = nn.Conv2d(dim, dim * 3, 1)
        self.pos = RelTable(feat_size)

    def forward(self, x):
        assert x.shape[-2:] == (self.pos.height, self.pos.width), "input size does not match feat_size"
        q, k, v = self.qkv(x).chunk(3, dim=1)
        return v * self.pos.rel.sum() + q
'''


def test_inferred_input_takes_the_spatial_size_the_constructor_was_given(pool):
    spec = CheckSpec(entry="FixedSizeAttn", example=Example(init_kwargs={"dim": 8, "feat_size": [12, 12]}, inputs=None))
    result = pool.check(FIXED_SIZE, spec)
    assert result.status == "ok", (result.error_type, result.message)
    assert result.example.inputs == [[2, 8, 12, 12]]
    as_expr = CheckSpec(entry="FixedSizeAttn", example=Example(init_kwargs={"dim": 8, "feat_size": {"__expr__": "(10, 10)"}}, inputs=None))
    assert pool.check(FIXED_SIZE, as_expr).example.inputs == [[2, 8, 10, 10]]


LAZY = '''
import torch.nn as nn


class LazyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.LazyConv1d(8, 3)
        self.fc = nn.LazyLinear(4)

    def forward(self, x):
        return self.fc(self.conv(x).mean(-1))
'''


def test_lazy_layers_pass_and_count_their_parameters_once_shaped(pool):
    result = pool.check(LAZY, CheckSpec(entry="LazyNet", example=Example(inputs=None)))
    assert result.status == "ok", (result.error_type, result.message)
    c = result.example.inputs[0][1]  # the inferred input width the lazy conv took
    assert len(result.example.inputs[0]) == 3
    assert result.params == (8 * c * 3 + 8) + (4 * 8 + 4)


LAZY_NORM_FIRST = '''
import torch.nn as nn


class LazyNormNet(nn.Module):
    """A lazy 1-d norm first: a 4-d guess shapes it (3 channels) before it fails on the input's rank."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LazyBatchNorm1d()
        self.fc = nn.LazyLinear(2)

    def forward(self, x):
        return self.fc(self.norm(x))
'''


def test_each_input_guess_gets_a_lazy_model_that_has_seen_nothing(pool):
    result = pool.check(LAZY_NORM_FIRST, CheckSpec(entry="LazyNormNet", example=Example(inputs=None)))
    assert result.status == "ok", (result.error_type, result.message)
    shape = result.example.inputs[0]
    assert len(shape) in (2, 3)
    assert result.params == 2 * shape[1] + (2 * shape[-1] + 2)  # the norm's affine + the head, at the width that ran
