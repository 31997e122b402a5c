"""Which entry a check builds when none is named (``CheckSpec.entry`` None), through a real CheckerPool.

Order (sandbox.runner.CheckRun._entry_class): ``Net``; else a module-level model instance (``model = Classifier()``) or a
zero-argument factory function returning a model (``def resnet10(): return ResNet(...)``); else the nn.Module classes no
other class uses, preferring the last one buildable with the example's arguments; else the last class."""

from __future__ import annotations

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import CheckSpec

BLOCK = '''
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.c(x)
'''

MODEL_THEN_HELPER = BLOCK + '''

class Model(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.b = Block(3)
        self.fc = nn.Linear(3, classes)

    def forward(self, x):
        return self.fc(self.b(x).mean((2, 3)))


class Helper(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.l = nn.Linear(dim, dim)

    def forward(self, x):
        return self.l(x)
'''

INSTANCE = BLOCK + '''

class Classifier(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.b = Block(3)
        self.fc = nn.Linear(3, width)

    def forward(self, x):
        return self.fc(self.b(x).mean((2, 3)))


class Head(nn.Module):
    def __init__(self, dim, n):
        super().__init__()
        self.l = nn.Linear(dim, n)

    def forward(self, x):
        return self.l(x)


act = nn.ReLU()
model = Classifier(7)
'''

FACTORY = BLOCK + '''

class ResNet(nn.Module):
    def __init__(self, block, widths, num_classes=10):
        super().__init__()
        self.blocks = nn.Sequential(*[block(3) for _ in widths])
        self.fc = nn.Linear(3, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(x).mean((2, 3)))


def conv_layer(c):
    return Block(c)


def resnet10():
    net = ResNet(Block, [1, 1])
    return net
'''


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_a_helper_class_after_the_model_is_not_built(pool):
    result = pool.check(MODEL_THEN_HELPER)
    assert result.status == "ok", (result.entry, result.message)
    assert result.entry == "Model"


def test_a_module_level_model_instance_is_what_the_file_means(pool):
    result = pool.check(INSTANCE)
    assert result.status == "ok", (result.entry, result.message)
    assert result.entry == "model" and result.output_shapes == [[2, 7]]  # built as the file builds it: Classifier(7)
    again = pool.check(INSTANCE, CheckSpec(entry="model"))  # the entry a result names can be named back
    assert again.status == "ok" and again.entry == "model", again.message


def test_a_zero_argument_factory_builds_a_model_whose_class_needs_arguments(pool):
    result = pool.check(FACTORY)
    assert result.status == "ok", (result.entry, result.message)
    assert result.entry == "resnet10"


def test_net_still_wins_and_entry_still_overrides(pool):
    code = MODEL_THEN_HELPER.replace("class Model(", "class Net(")
    assert pool.check(code).entry == "Net"
    named = pool.check(MODEL_THEN_HELPER, CheckSpec(entry="Block"))
    assert named.entry == "Block" and named.status == "failed" and named.failed_stage == "instantiate"
