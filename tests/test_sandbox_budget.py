"""The check's time budget is CPU time of its process, with a wall-clock cap (sandbox.pool.WALL_FACTOR):
a busy machine slows a check down without failing it, a hang that uses no CPU still ends."""

from __future__ import annotations

import time

import pytest

from sandbox.pool import WALL_FACTOR, CheckerPool
from sandbox.spec import CheckSpec, Example

SLOW_BUT_IDLE = '''
import time
import torch.nn as nn

time.sleep(1.6)  # waiting, not computing: what a starved process looks like from its own clock


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
'''


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=1, preload=("torch",)) as p:
        yield p


def test_wall_time_beyond_the_budget_without_cpu_use_still_passes(pool):
    start = time.monotonic()
    result = pool.check(SLOW_BUT_IDLE, CheckSpec(entry="Net", timeout_s=1.0, example=Example(inputs=[[2, 4]])))
    assert result.status == "ok", (result.error_type, result.message)
    assert time.monotonic() - start > 1.6  # longer than the budget on the wall clock


def test_cpu_spent_beyond_the_budget_times_out_as_cpu(pool):
    start = time.monotonic()
    result = pool.check("while True:\n    pass\n", CheckSpec(timeout_s=1.0))
    assert result.status == "timeout" and result.failed_stage == "import"
    assert "CPU" in result.message, result.message
    assert time.monotonic() - start < 1.0 * WALL_FACTOR + 3


def test_a_hang_without_cpu_use_ends_at_the_wall_clock_cap(pool):
    start = time.monotonic()
    result = pool.check("import time\ntime.sleep(600)\n", CheckSpec(timeout_s=0.5))
    elapsed = time.monotonic() - start
    assert result.status == "timeout" and "wall-clock" in result.message, result.message
    assert 0.5 * WALL_FACTOR - 0.2 <= elapsed < 0.5 * WALL_FACTOR + 3


def test_a_caller_deadline_caps_the_wall_clock(pool):
    start = time.monotonic()
    result = pool.check("import time\ntime.sleep(600)\n", CheckSpec(timeout_s=5.0), deadline=time.monotonic() + 1.0)
    assert result.status == "timeout"
    assert time.monotonic() - start < 3
