"""Diagnoses a check gives beyond the plain exception, through a real CheckerPool: a model with nothing to train, the
inputs a failing inferred forward was fed, and input-rank hints that name an --input-shape which then runs."""

from __future__ import annotations

import re

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import STAGES, CheckSpec, Example

FROZEN = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 10)
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))
'''

NO_PARAMETERS = '''
import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        return x.relu()
'''

TWO_INPUTS = '''
import torch.nn as nn


class Fuse(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(5, 4)

    def forward(self, x, y):
        return self.a(x) + self.b(y)
'''

IMAGE = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3)))
'''

AUDIO = '''
import torch.nn as nn


class AudioNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 9, stride=4)
        self.fc = nn.Linear(4, 3)

    def forward(self, wav):  # (batch, samples)
        return self.fc(self.conv(wav.unsqueeze(1)).mean(-1))
'''

TRAIN = STAGES  # up to train_step


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


@pytest.mark.parametrize("code", [FROZEN, NO_PARAMETERS], ids=["frozen", "no-parameters"])
def test_a_model_with_nothing_to_train_fails_at_backward(pool, code):
    for stages in (None, TRAIN):
        result = pool.check(code, CheckSpec() if stages is None else CheckSpec(stages=stages))
        assert result.status == "failed" and result.failed_stage == "backward", (stages, result.stages)
        assert result.error_type == "NoTrainableParameter"
        assert "no trainable parameter" in result.diagnosis.problem and "optimizer" in result.diagnosis.problem
        assert result.stages["forward"] == "ok"
    only_forward = pool.check(code, CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward")))
    assert only_forward.status == "ok", only_forward.message


def test_a_named_parameter_free_block_passes_backward_but_cannot_train(pool):
    """A block checked by name (the indexer's activations and pools) has nothing to reach in backward; a train step
    still cannot build its optimizer."""
    block = pool.check(NO_PARAMETERS, CheckSpec(entry="Net"))
    assert block.status == "ok" and block.stages["backward"] == "skipped", block.message
    trained = pool.check(NO_PARAMETERS, CheckSpec(entry="Net", stages=TRAIN))
    assert trained.status == "failed" and trained.failed_stage == "train_step"
    assert trained.error_type == "NoTrainableParameter"


def test_a_failing_inferred_forward_names_the_inputs_it_was_fed(pool):
    result = pool.check(TWO_INPUTS, CheckSpec(example=Example(inputs=None)))
    assert result.status == "failed" and result.failed_stage == "forward"
    assert result.example is not None and result.example.inputs, result.example
    fed = result.example.inputs
    assert len(fed) == 2, fed  # forward takes two tensors: what was fed, not the (2, 3, 32, 32) default
    assert str(fed) in result.diagnosis.problem, result.diagnosis.problem
    layer_input = re.search(r"on input (\[\[.*?\]\])", result.diagnosis.problem).group(1)
    assert layer_input == str([fed[1]])  # layer `b` is given the second input


def _suggested_shape(hint: str) -> list[int]:
    match = re.search(r"--input-shape (\d+(?:,\d+)*)", hint)
    assert match, hint
    return [int(d) for d in match.group(1).split(",")]


def test_an_input_missing_a_dimension_gets_a_rank_hint_that_runs(pool):
    result = pool.check(IMAGE, CheckSpec(example=Example(inputs=[[2, 3, 32]])))
    assert result.status == "failed" and result.diagnosis.kind == "input_rank", result.diagnosis
    assert "in_channels" not in result.diagnosis.hint
    shape = _suggested_shape(result.diagnosis.hint)
    assert len(shape) == 4
    assert pool.check(IMAGE, CheckSpec(example=Example(inputs=[shape]))).status == "ok"


def test_a_model_fed_the_default_image_gets_the_rank_its_first_layer_wants(pool):
    result = pool.check(AUDIO)
    assert result.status == "failed" and result.diagnosis.kind == "input_rank", result.diagnosis
    shape = _suggested_shape(result.diagnosis.hint)
    assert len(shape) == 2  # the model adds the channel dimension itself
    fixed = pool.check(AUDIO, CheckSpec(example=Example(inputs=[shape])))
    assert fixed.status == "ok", fixed.message


def test_recursion_while_compiling_or_running_is_named_not_left_to_the_traceback(pool):
    """A 2,900-term sum overflows Python's compiler, and a forward that calls itself overflows at run time: both said
    only "see the traceback" (a compile-time one has no traceback in the model's code)."""
    terms = " + ".join(["x.sum()"] * 2900)
    deep = ("import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
            f"        return x.mean((2, 3))[:, :1].repeat(1, 10) + {terms}\n")
    result = pool.check(deep, CheckSpec())
    assert (result.failed_stage, result.diagnosis.kind) == ("compile", "too_deep"), result.diagnosis
    assert "split long expressions" in result.diagnosis.hint
    looping = "import torch\nfrom torch import nn\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return self(x)\n"
    result = pool.check(looping, CheckSpec())
    assert (result.error_type, result.diagnosis.kind, result.diagnosis.line) == ("RecursionError", "recursion", 6), result.diagnosis
    assert "calls itself" in result.diagnosis.hint


def test_a_name_used_before_its_definition_is_told_to_move_not_to_be_defined(pool):
    """``BLOCK = ResUnit`` above ``class ResUnit``: the hint said "define ResUnit in this file ... it is referenced but
    never defined" of a class the file defines 6 lines below."""
    code = ("import torch.nn as nn\n\nBLOCK = ResUnit\n\n\nclass ResUnit(nn.Module):\n    def forward(self, x):\n        return x\n\n\n"
            "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(3, 10)\n\n"
            "    def forward(self, x):\n        return self.fc(BLOCK()(x).mean((2, 3)))\n")
    result = pool.check(code, CheckSpec())
    assert result.failed_stage == "import" and result.diagnosis.kind == "undefined_name", result.message
    assert result.diagnosis.hint == ("ResUnit is defined at line 6, after line 3, which uses it while the module loads: move the "
                                     "definition of ResUnit above line 3"), result.diagnosis.hint
