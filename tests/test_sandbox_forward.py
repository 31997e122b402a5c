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
