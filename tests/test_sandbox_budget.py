"""The check's time budget is CPU time of its process, with a wall-clock cap (sandbox.pool.WALL_FACTOR):
a busy machine slows a check down without failing it, a hang that uses no CPU still ends."""

from __future__ import annotations

import time

import pytest

from sandbox.pool import WALL_FACTOR, CheckerPool
from sandbox.spec import CheckResult, CheckSpec, Example

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


SLEEPS_IN_FORWARD = '''
import time
import torch.nn as nn


class Net(nn.Module):
    def forward(self, x):
        time.sleep(600)
        return x
'''


def test_a_model_that_sleeps_is_its_own_hang_with_the_cpu_it_used(pool):
    """Wall time with no CPU use and no wait for a CPU: the code waited, so the timeout is the model's (a verdict)."""
    from sandbox.spec import is_verdict

    result = pool.check(SLEEPS_IN_FORWARD, CheckSpec(timeout_s=0.5))
    assert (result.status, result.error_type, result.failed_stage) == ("timeout", "Timeout", "forward"), result.message
    assert is_verdict(result) and result.diagnosis.kind == "timeout"
    assert result.cpu_s is not None and result.cpu_s < 0.5  # the CPU it had used is reported
    assert "wall-clock cap" in result.message and "CPU" in result.message


def test_a_cpu_budget_timeout_reports_the_cpu_used(pool):
    from sandbox.spec import is_verdict

    result = pool.check("while True:\n    pass\n", CheckSpec(timeout_s=0.5))
    assert result.error_type == "Timeout" and is_verdict(result)
    assert result.cpu_s is not None and result.cpu_s >= 0.45


def test_a_wall_cap_passed_on_a_busy_machine_is_no_verdict():
    """The figures a starved check leaves (little CPU, most of the wall time waiting for a CPU) give "WallTimeout":
    not the model's failure, so stores check it again. Built from figures: a test cannot load the machine."""
    from sandbox.spec import CheckSpec as Spec
    from sandbox.spec import is_verdict
    from sandbox.worker import _assemble, wall_cause

    assert wall_cause(cpu_s=0.4, wait_s=1.5, elapsed_s=2.0) == "busy"
    assert wall_cause(cpu_s=0.0, wait_s=0.01, elapsed_s=2.0) == "idle"
    assert wall_cause(cpu_s=0.5, wait_s=None, elapsed_s=2.0) == "busy"  # no run-queue figures: a fair share of CPU reads as busy
    assert wall_cause(cpu_s=0.01, wait_s=None, elapsed_s=2.0) == "unknown"
    outcome = {"final": None, "partial": {"status": "crashed", "current_stage": "forward"}, "timed_out": True, "cancelled": False,
               "wait_status": 9, "limit": "wall", "cpu_s": 0.4, "wait_s": 1.5, "worker_ms": 2000.0, "stdout": ""}
    request = {"spec": Spec(timeout_s=0.5).to_dict(), "timeout_s": 0.5, "wall_s": 2.0, "budget_s": 0.5}
    result = CheckResult.from_dict(_assemble(outcome, request))
    assert (result.status, result.error_type, result.cpu_s) == ("timeout", "WallTimeout", 0.4)
    assert not is_verdict(result) and result.diagnosis.kind == "machine_busy"
    assert result.diagnosis.problem.startswith("the machine was busy: 0.40 s of CPU used of the 0.5 s budget"), result.diagnosis.problem


def test_the_callers_deadline_is_named_not_blamed_on_the_model(pool):
    from sandbox.spec import is_verdict

    for code in (SLEEPS_IN_FORWARD, "while True:\n    pass\n"):  # ended by the wall-clock cap and by the shortened CPU budget
        result = pool.check(code, CheckSpec(timeout_s=30), deadline=time.monotonic() + 1.5)
        assert (result.status, result.error_type) == ("timeout", "DeadlineExceeded"), result.message
        assert "deadline" in result.message and result.diagnosis.kind == "deadline" and not is_verdict(result)


def test_waiting_for_a_worker_ends_as_cancelled_or_deadline(pool):
    """A cancel before the check ran reads "Cancelled", like one during the run (it read "Timeout", blaming the code)."""
    import threading

    from sandbox.spec import is_verdict

    busy = threading.Thread(target=pool.check, args=(SLEEPS_IN_FORWARD, CheckSpec(timeout_s=30)), kwargs={"deadline": time.monotonic() + 2.5})
    busy.start()
    time.sleep(0.3)  # the only worker is taken
    try:
        waited = pool.check(SLOW_BUT_IDLE, CheckSpec(), deadline=time.monotonic() + 0.3)
        assert (waited.status, waited.error_type) == ("timeout", "DeadlineExceeded") and not is_verdict(waited), waited.message
        cancel = threading.Event()
        threading.Timer(0.2, cancel.set).start()
        cancelled = pool.check(SLOW_BUT_IDLE, CheckSpec(), cancel=cancel)
        assert (cancelled.status, cancelled.error_type) == ("timeout", "Cancelled") and not is_verdict(cancelled), cancelled.message
    finally:
        busy.join()


def test_a_completed_check_reports_the_cpu_it_used(pool):
    """cpu_s was filled only when a time limit ended a check, null on every ok or failed one (``nnrag check --json``),
    though the README calls it the CPU the check had used."""
    ok = pool.check(SLOW_BUT_IDLE.replace("time.sleep(1.6)", "sum(range(10**6))"), CheckSpec(entry="Net", example=Example(inputs=[[2, 4]])))
    failed = pool.check(SLOW_BUT_IDLE.replace("time.sleep(1.6)", "pass"), CheckSpec(entry="Net", example=Example(inputs=[[2, 5]])))
    assert ok.status == "ok" and failed.status == "failed", (ok.message, failed.message)
    assert ok.cpu_s is not None and 0 < ok.cpu_s < 60, ok.cpu_s  # it computed for tens of ms
    assert failed.cpu_s is not None and 0 <= failed.cpu_s < 60, failed.cpu_s  # under a clock tick can read 0.0
