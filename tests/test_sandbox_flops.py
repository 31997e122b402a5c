"""FLOPs come from the forward the check runs anyway (no second train-mode pass), and a forward that
only breaks under the FLOP counter still passes (FLOPs then unknown)."""

from __future__ import annotations

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import CheckSpec, Example

# forward works once only in train mode: a second (FLOP-counting) pass would raise; the eval-mode forward (model.eval(),
# no gradients) the check also runs is not counted
ONE_FORWARD = '''
import torch.nn as nn


class Once(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.calls = 0

    def forward(self, x):
        self.calls += self.training
        if self.calls > 1:
            raise RuntimeError(f"forward call {self.calls}")
        return self.fc(x)
'''

# refuses to run under any torch dispatch mode (the FLOP counter is one)
NO_DISPATCH_MODE = '''
import torch.nn as nn
from torch.utils._python_dispatch import _get_current_dispatch_mode


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        if _get_current_dispatch_mode() is not None:
            raise RuntimeError("running under a dispatch mode")
        return self.fc(x)
'''

STAGES = ("parse", "compile", "import", "instantiate", "forward", "backward")


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_flops_are_counted_in_the_single_validation_forward(pool):
    result = pool.check(ONE_FORWARD, CheckSpec(stages=STAGES, example=Example(inputs=[[2, 8]])))
    assert result.status == "ok", (result.message, result.traceback)
    assert result.flops == 2 * 8 * 4  # per sample: 2 per multiply-add of Linear(8, 4)
    assert result.forward_ms is not None and result.forward_ms > 0


def test_a_forward_broken_only_by_the_counter_still_passes(pool):
    result = pool.check(NO_DISPATCH_MODE, CheckSpec(stages=STAGES, example=Example(inputs=[[2, 8]])))
    assert result.status == "ok", (result.message, result.traceback)
    assert result.stages["forward"] == "ok" and result.stages["backward"] == "ok"
    assert result.flops is None


def test_no_flops_when_not_asked(pool):
    result = pool.check(ONE_FORWARD, CheckSpec(stages=STAGES, example=Example(inputs=[[2, 8]]), count_flops=False))
    assert result.status == "ok", (result.message, result.traceback)
    assert result.flops is None


# nn.LSTM runs as one fused op FlopCounterMode has no formula for: only the head was counted
LSTM_MODEL = '''
import torch.nn as nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.{cls}(16, 32, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(64, 5)

    def forward(self, x):
        out = self.rnn(x)[0]
        return self.head(out)
'''


@pytest.mark.parametrize("cls, gates", [("LSTM", 4), ("GRU", 3)])
def test_recurrent_layers_are_counted_once(pool, cls, gates):
    """Per sample of (2, 10, 16): 10 tokens; per token, layer and direction 2 * gates * 32 * (in + 32); GRU is
    counted by torch itself (decomposed into mm/addmm) and must not be counted a second time."""
    result = pool.check(LSTM_MODEL.replace("{cls}", cls), CheckSpec(stages=STAGES, example=Example(inputs=[[2, 10, 16]])))
    assert result.status == "ok", (result.message, result.traceback)
    recurrent = 10 * 2 * (2 * gates * 32 * (16 + 32) + 2 * gates * 32 * (64 + 32))
    head = 10 * 2 * 64 * 5
    assert result.flops == recurrent + head


# F.scaled_dot_product_attention on CPU runs aten._scaled_dot_product_flash_attention_for_cpu, which FlopCounterMode has
# no formula for: only the two projections were counted (33.5M where nn.MultiheadAttention's same maths gave 302M)
SDPA_MODEL = '''
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, d=16, h=2):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.h = h

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v)
        return self.out(y.transpose(1, 2).reshape(B, T, D))
'''

MHA_MODEL = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, d=16, h=2):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, h, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]
'''


def test_scaled_dot_product_attention_is_counted_like_multihead_attention(pool):
    """Per sample of (2, 12, 16), 2 heads of 8: projections 2 * 12 * 16 * (48 + 16); attention 2 * 2 * 12 * 12 * 8 for
    q @ k^T and as much for weights @ v (2 per multiply-add)."""
    spec = CheckSpec(stages=STAGES, example=Example(inputs=[[2, 12, 16]]))
    sdpa, mha = pool.check(SDPA_MODEL, spec), pool.check(MHA_MODEL, spec)
    assert sdpa.status == "ok" and mha.status == "ok", (sdpa.message, mha.message)
    projections = 2 * 12 * 16 * (3 * 16 + 16)
    attention = 2 * (2 * 2 * 12 * 12 * 8)
    assert sdpa.flops == projections + attention
    assert mha.flops == sdpa.flops
