"""The staged checker through a real CheckerPool (real worker processes, real forks)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.pool import CheckerPool
from sandbox.spec import STAGES, CheckResult, CheckSpec, Diagnosis, Example

SMALL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
'''

LEMUR = '''
import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.body = nn.Sequential(nn.Conv2d(in_shape[1], 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Dropout(prm['dropout']), nn.Linear(8, out_shape[0]))

    def forward(self, x):
        return self.body(x)

    def train_setup(self, prm):
        self.criteria = (nn.CrossEntropyLoss(),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])
        self.steps = 0

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()
            self.steps += 1
        assert self.steps == 2, self.steps
'''

ALL = tuple(STAGES)


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=2, preload=("torch",)) as p:
        yield p


def test_small_model_passes_every_stage_with_measurements(pool):
    result = pool.check(SMALL, CheckSpec(stages=ALL))
    assert result.status == "ok", result.message
    assert all(result.stages[s] == "ok" for s in ALL)
    assert result.entry == "Net"
    assert result.params == 3 * 8 * 9 + 8 + 8 + 8 + 8 * 10 + 10
    assert result.output_shapes == [[2, 10]]
    assert result.flops and result.flops > 2 * 3 * 8 * 9 * 32 * 32  # conv MACs per sample, x2
    assert result.forward_ms is not None and result.forward_ms > 0
    assert result.peak_rss_mb is not None and result.peak_rss_mb > 10
    assert result.failed_stage is None


def test_result_round_trips_through_json(pool):
    result = pool.check(SMALL)
    again = CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


def test_lemur_contract_is_detected_and_train_step_runs_learn(pool):
    result = pool.check(LEMUR, CheckSpec(stages=ALL))
    assert result.status == "ok", (result.message, result.traceback)
    assert result.stages["train_step"] == "ok"
    assert result.output_shapes == [[2, 10]]
    assert result.example.init_args[0] == [2, 3, 32, 32]
    assert result.example.init_args[2]["lr"] > 0


def test_lemur_learn_failure_is_reported_at_train_step(pool):
    broken = LEMUR.replace("self.steps += 1", "self.steps += undefined_counter")
    result = pool.check(broken, CheckSpec(stages=ALL))
    assert result.status == "failed"
    assert result.failed_stage == "train_step"
    assert result.stages["forward"] == "ok" and result.stages["backward"] == "ok"
    assert result.diagnosis.kind == "undefined_name" and result.diagnosis.symbol == "undefined_counter"


NESTED_CALL = """import torch.nn as nn


class Block(nn.Module):
    def __init__(self, c_in, c_out, *, norm_layer):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm = norm_layer(c_out)

    def forward(self, x):
        return self.norm(self.conv(x))


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.block = Block(3, 8, stride=2)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.block(x).mean((2, 3)))
"""


def test_a_nested_constructor_call_that_does_not_fit_names_its_line_not_init_kwargs(pool):
    """A block built inside Net.__init__ with arguments its class does not take was diagnosed as the model's own
    constructor missing arguments, with a hint to pass --init-kwargs."""
    result = pool.check(NESTED_CALL, CheckSpec(entry="Net"))
    line = NESTED_CALL.splitlines().index("        self.block = Block(3, 8, stride=2)") + 1
    assert result.failed_stage == "instantiate" and result.diagnosis.kind == "constructor_args"
    assert result.diagnosis.line == line and f"(line {line})" in result.diagnosis.problem
    assert f"the call at line {line}" in result.diagnosis.hint and "--init-kwargs" not in result.diagnosis.hint
    missing = pool.check(NESTED_CALL.replace("num_classes=10", "num_classes"), CheckSpec(entry="Net"))
    assert missing.diagnosis.kind == "constructor_args" and "--init-kwargs" in missing.diagnosis.hint


def test_a_check_waiting_on_a_starting_worker_ends_when_the_pool_closes():
    """The check waited for the worker's imports; the close stopped that worker, and the check spawned a fresh one
    after the close (a server's shutdown waited on such a thread 16 s after "stopped"), then answered "the sandbox
    worker failed: write to closed file", as if the sandbox were broken."""
    import threading

    from sandbox.pool import PoolClosed

    pool = CheckerPool(size=1, preload=("torch", "torchvision"))
    outcome: list[object] = []
    waiting = threading.Thread(target=lambda: outcome.append(_raised(lambda: pool.check(SMALL))))
    waiting.start()
    time.sleep(0.3)  # the check is waiting for the worker's imports
    pool.close()
    waiting.join(timeout=60)
    assert not waiting.is_alive() and len(outcome) == 1
    assert isinstance(outcome[0], PoolClosed), outcome[0]
    with pytest.raises(PoolClosed, match="closed"):
        pool.check(SMALL)


def test_a_pool_never_closed_leaves_no_work_dir_behind(tmp_path):
    """A script that checks code and exits without closing its pool (no ``with``, no close()) left an empty
    nnrag-sandbox-* dir in /tmp per worker, every run."""
    import os
    import subprocess
    import sys

    script = (
        "import pathlib, tempfile\n"
        "from sandbox.pool import CheckerPool\n"
        "pool = CheckerPool(size=1)\n"
        f"assert pool.check({SMALL!r}).ok\n"
        "print(sorted(p.name for p in pathlib.Path(tempfile.gettempdir()).glob('nnrag-sandbox-*')))\n"
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(Path(__file__).resolve().parents[1]))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "nnrag-sandbox-" in done.stdout, "the worker's dir existed while the pool ran"
    assert not list(tmp_path.glob("nnrag-sandbox-*"))


def test_a_killed_owners_work_dir_is_swept_by_the_next_pool_and_a_live_owners_is_not(tmp_path):
    """Processes killed with SIGKILL cannot clean up: their worker's dir stayed in /tmp for good. The next process
    that starts a worker removes the dirs whose owner lock is free, and only those."""
    import os
    import subprocess
    import sys

    from sandbox.pool import claim_fallback_dir, release_fallback_dir

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    repo = str(Path(__file__).resolve().parents[1])

    def run(script: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=repo)

    pool_checks = f"from sandbox.pool import CheckerPool\npool = CheckerPool(size=1)\nassert pool.check({SMALL!r}).ok\n"
    # The worker first (a worker that outlives its caller removes the dir itself when its pipe closes), as when the
    # OOM killer or a cgroup kill takes both.
    killed = run(pool_checks + "import os, signal\nfor pid in pool.worker_pids():\n    os.kill(pid, signal.SIGKILL)\n"
                 "    os.waitpid(pid, 0)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert killed.returncode == -9, killed.stderr[-2000:]
    orphaned = list(tmp_path.glob("nnrag-sandbox-*"))
    assert len(orphaned) == 1, "the killed process left its worker's dir"
    live_dir, live_fd = claim_fallback_dir(str(tmp_path))  # a pool of another process, still running
    try:
        closed = run(pool_checks + "pool.close()\n")
        assert closed.returncode == 0, closed.stderr[-2000:]
        assert not orphaned[0].exists()
        assert Path(live_dir).is_dir()
    finally:
        release_fallback_dir(live_dir, live_fd)
    assert not list(tmp_path.glob("nnrag-sandbox-*"))


def _raised(call) -> object:
    try:
        return call()
    except Exception as exc:  # the outcome under test is the exception itself
        return exc


def test_syntax_error_fails_at_parse_with_line(pool):
    result = pool.check("import torch\nclass Net(:\n    pass\n")
    assert result.status == "failed" and result.failed_stage == "parse"
    assert result.diagnosis.line == 2
    assert result.stages["forward"] == "skipped"


def test_undefined_torch_name_gets_a_concrete_hint(pool):
    code = SMALL.replace("nn.BatchNorm2d(width)", "GroupNorm(2, width)").replace("import torch.nn as nn\n", "import torch.nn as nn\n", 1)
    result = pool.check(code)
    assert result.status == "failed" and result.failed_stage == "instantiate"
    assert result.diagnosis.problem.startswith("GroupNorm is not defined")
    assert "nn.GroupNorm" in result.diagnosis.hint
    assert 'File "model.py"' in result.traceback


def test_undefined_unknown_name_and_hint_provider(pool):
    code = SMALL.replace("F.relu(", "MyBlock(")
    seen: list[Diagnosis] = []

    def provider(diagnosis: Diagnosis) -> str | None:
        seen.append(diagnosis)
        return f"the corpus has {diagnosis.symbol} from timm.layers" if diagnosis.kind == "undefined_name" else None

    result = pool.check(code, hint_provider=provider)
    assert result.failed_stage == "forward"
    assert result.diagnosis.symbol == "MyBlock"
    assert result.diagnosis.hint.startswith("the corpus has MyBlock from timm.layers")
    assert "never defined" in result.diagnosis.hint
    assert seen and seen[0].symbol == "MyBlock"


def test_shape_mismatch_names_the_layer_and_shapes(pool):
    code = SMALL.replace("nn.Linear(width, num_classes)", "nn.Linear(width * 4, num_classes)")
    result = pool.check(code)
    assert result.status == "failed" and result.failed_stage == "forward"
    assert result.diagnosis.kind == "shape_mismatch"
    assert result.diagnosis.symbol == "fc"
    assert "[2, 8]" in result.diagnosis.problem
    assert "in_features=8" in result.diagnosis.hint


def test_candidates_are_tried_in_order_in_one_child(pool):
    code = SMALL.replace("num_classes: int = 10, width: int = 8", "num_classes, width")
    spec = CheckSpec(example=Example(init_args=[10]), candidates=[Example(init_args=[10, "x"]), Example(init_args=[7, 4])])
    result = pool.check(code, spec)
    assert result.status == "ok", result.message
    assert result.example.init_args == [7, 4]
    assert result.output_shapes == [[2, 7]]


def test_all_candidates_failing_reports_the_furthest(pool):
    code = SMALL.replace("num_classes: int = 10, width: int = 8", "num_classes, width")
    spec = CheckSpec(example=Example(init_args=[10]), candidates=[Example(init_args=[10, 8], inputs=[[2, 5, 32, 32]])])
    result = pool.check(code, spec)
    assert result.status == "failed"
    assert result.failed_stage == "forward"  # the second got further than the first (instantiate)
    assert result.example.inputs == [[2, 5, 32, 32]]


COUNTING = '''
import torch
import torch.nn as nn

BUILT = []


class Net(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        BUILT.append(width)
        self.fc = nn.Linear(4, width)

    def forward(self, x):
        if len(BUILT) < 3:  # the third construction in this child would work
            raise RuntimeError(MESSAGE)
        return self.fc(x)
'''


def test_guessing_stops_once_candidates_fail_the_same_way(pool):
    """Two candidates failing with the same stage, exception and message end the guessing:
    the third would have passed here, so a check that tried it would be ok."""
    spec = CheckSpec(example=Example(init_kwargs={"width": 3}, inputs=[[2, 4]]),
                     candidates=[Example(init_kwargs={"width": w}, inputs=[[2, 4]]) for w in (5, 7, 9)])
    same = pool.check(COUNTING.replace("MESSAGE", "'always the same'"), spec)
    assert same.status == "failed" and same.failed_stage == "forward" and same.message == "always the same"
    # failures that differ keep the guessing going, and the third candidate passes
    differing = pool.check(COUNTING.replace("MESSAGE", "f'width {self.fc.out_features}'"), spec)
    assert differing.status == "ok", differing.message
    assert differing.example.init_kwargs == {"width": 7}


COIN_FLIP = """
import random
import torch
import torch.nn as nn


class Flaky(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if random.random() < 0.5 or torch.rand(()) < 0.5:  # an augmentation-style random path
            raise RuntimeError("unlucky draw")
        return self.fc(x)
"""


def test_random_forward_paths_give_the_same_result_every_time(pool):
    """Each attempt starts from seeded RNGs, so a block whose forward fails at random gets the same
    verdict at index time and when its recorded example is re-run (unseeded: 6 equal results of a
    3-in-4 coin flip happen by chance ~18% of the time)."""
    spec = CheckSpec(entry="Flaky", example=Example(inputs=[[2, 4]]))
    results = [pool.check(COIN_FLIP, spec) for _ in range(6)]
    assert len({(r.status, r.failed_stage, r.message) for r in results}) == 1, [r.status for r in results]


def test_expr_arguments_and_expected_output_shape(pool):
    code = SMALL.replace("nn.BatchNorm2d(width)", "norm(width)").replace("width: int = 8", "width: int = 8, norm=None")
    ok = pool.check(code, CheckSpec(example=Example(init_kwargs={"norm": {"__expr__": "nn.BatchNorm2d"}}), expected_output_shape=[2, 10]))
    assert ok.status == "ok", ok.message
    bad = pool.check(code, CheckSpec(example=Example(init_kwargs={"norm": {"__expr__": "nn.BatchNorm2d"}}), expected_output_shape=[2, 100]))
    assert bad.status == "failed" and bad.error_type == "OutputShapeMismatch"


def test_inputs_none_falls_back_or_infers(pool):
    result = pool.check(SMALL, CheckSpec(example=Example(inputs=None)))
    assert result.status == "ok", result.message
    assert result.example.inputs and result.example.inputs[0][1] == 3


def test_param_budget_rejects(pool):
    result = pool.check(SMALL, CheckSpec(max_params=10))
    assert result.status == "rejected" and result.failed_stage == "instantiate"


def test_entry_selection(pool):
    code = SMALL + "\n\nclass Head(nn.Module):\n    def forward(self, x):\n        return x * 2\n"
    assert pool.check(code).entry == "Net"
    result = pool.check(code.replace("class Net(", "class Body("))
    # both classes are top-level and build without arguments: the last one; a model chosen by the checker must have
    # something to train, a block named by the caller (the indexer's) need not
    assert result.entry == "Head" and result.error_type == "NoTrainableParameter" and result.failed_stage == "backward"
    named = pool.check(code.replace("class Net(", "class Body("), CheckSpec(entry="Head"))
    assert named.status == "ok" and named.stages["backward"] == "skipped"
    missing = pool.check(code, CheckSpec(entry="Nope"))
    assert missing.status == "failed" and missing.error_type == "EntryNotFound"


def test_timeout_kills_and_pool_recovers(pool):
    start = time.monotonic()
    result = pool.check(SMALL.replace("return self.fc", "while True:\n            pass\n        return self.fc"), CheckSpec(timeout_s=1.5))
    assert result.status == "timeout"
    assert result.failed_stage == "forward"
    assert result.params is not None  # instantiate finished before the hang
    assert time.monotonic() - start < 10
    assert pool.check(SMALL).status == "ok"


def test_deadline_caps_the_budget(pool):
    start = time.monotonic()
    result = pool.check("while True:\n    pass\n", CheckSpec(timeout_s=30), deadline=time.monotonic() + 1.0)
    assert result.status == "timeout"
    assert time.monotonic() - start < 8


def test_cancel_kills_the_running_check_and_keeps_the_worker(pool):
    import threading

    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    start = time.monotonic()
    result = pool.check("while True:\n    pass\n", CheckSpec(timeout_s=60), cancel=cancel)
    assert result.status == "timeout" and result.error_type == "Cancelled", result.message
    assert time.monotonic() - start < 4
    restarts = pool.restarts
    assert pool.check(SMALL).status == "ok"
    already = pool.check(SMALL, cancel=cancel)  # cancelled before it started: not run at all
    assert already.status == "timeout" and "cancelled" in already.message
    for delay in (0.0, 0.01, 0.05):  # a cancel right behind its request (possibly in the same read) still stops it
        cancel = threading.Event()
        threading.Timer(delay, cancel.set).start()
        start = time.monotonic()
        assert pool.check("while True:\n    pass\n", CheckSpec(timeout_s=60), cancel=cancel).status == "timeout"
        assert time.monotonic() - start < 4
    assert pool.check(SMALL).status == "ok"
    assert pool.restarts == restarts


def test_check_many_keeps_input_order(pool):
    items = [(SMALL.replace("num_classes: int = 10", f"num_classes: int = {n}"), None) for n in range(3, 9)]
    results = list(pool.check_many(items))
    assert [r.output_shapes[0][1] for r in results] == list(range(3, 9))


def test_check_many_stopped_early_kills_the_running_checks(pool):
    """``nnrag audit`` interrupted (the generator closed, or Ctrl-C while waiting) waited for every running and queued
    check to end: sleeping models held it for two wall-clock caps. Now they are killed and dropped at once."""
    sleeper = "import time\ntime.sleep(60)\n" + SMALL
    items = [(SMALL, None)] + [(sleeper, CheckSpec(timeout_s=20)) for _ in range(4)]
    results = pool.check_many(items)
    assert next(results).status == "ok"
    time.sleep(0.5)  # the sleepers are running
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 5
    assert pool.check(SMALL).status == "ok"  # the workers stay usable


def test_stdout_is_captured_and_truncated(pool):
    result = pool.check("print('hello from the model')\nprint('x' * 100000)\n" + SMALL)
    assert result.status == "ok"
    assert result.stdout.startswith("hello from the model")
    assert "more bytes of output dropped" in result.stdout
    assert len(result.stdout) < 20000


def test_stdlib_and_site_packages_not_preloaded_still_import(pool):
    """Checks run under a throwaway uid: the Python installation must stay readable to it."""
    result = pool.check("import http.cookiejar, xml.dom.minidom, email.parser\n" + SMALL, CheckSpec(timeout_s=60))
    assert result.status == "ok", result.message


def test_bad_specs_raise_and_oversized_code_is_rejected_without_running(pool):
    for bad in (CheckSpec(stages=("parse", "fly")), CheckSpec(memory_mb=0), CheckSpec(memory_mb=99999999999999),
                CheckSpec(timeout_s=float("inf")), CheckSpec(timeout_s=float("nan")), CheckSpec(timeout_s=1e20),
                CheckSpec(timeout_s=-1), CheckSpec(timeout_s=0.001), CheckSpec(timeout_s="30"), CheckSpec(max_params=0)):  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="stages|timeout_s|memory_mb|max_params"):
            pool.check(SMALL, bad)
    big = pool.check("x = 1\n" * 600_000)
    assert big.status == "rejected" and "3,600,000 bytes (UTF-8); the limit is" in big.message
    assert big.failed_stage is None and set(big.stages.values()) == {"skipped"}  # nothing ran, so nothing failed
    assert pool.check(SMALL).status == "ok"
    with pytest.raises(TypeError):
        pool.check(b"bytes are not code")  # type: ignore[arg-type]


def test_network_use_is_diagnosed_as_blocked(pool):
    code = SMALL.replace("super().__init__()", "super().__init__()\n        import urllib.request\n        urllib.request.urlopen('http://example.com/weights.pth', timeout=1)")
    result = pool.check(code, CheckSpec(timeout_s=20))
    assert result.status == "failed" and result.failed_stage == "instantiate"
    assert result.diagnosis.kind in ("sandbox_blocked", "network")
    assert "pretrained=False" in result.diagnosis.hint


@pytest.mark.parametrize("message", [
    "Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from "
    "http://www.nvidia.com/Download/index.aspx",  # torch's CUDA build on a machine without a GPU (this one)
    "Torch not compiled with CUDA enabled",  # torch's CPU build
    "No CUDA GPUs are available",
])
def test_code_that_asks_for_a_gpu_is_told_the_checks_run_on_the_cpu(message):
    from sandbox.diagnose import diagnose_exception

    diagnosis = diagnose_exception(RuntimeError(message), "instantiate", lineno=12)
    assert diagnosis.kind == "device" and diagnosis.line == 12
    assert diagnosis.problem.startswith("the code requires CUDA at instantiate (line 12)") and ".cuda()" in diagnosis.hint


def test_a_checkpoint_saved_on_a_gpu_is_still_diagnosed_as_needing_cuda():
    from sandbox.diagnose import diagnose_exception

    message = ("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() is False. If you are running "
               "on a CPU-only machine, please use torch.load with map_location=torch.device('cpu') to map your storages to the CPU.")
    assert diagnose_exception(RuntimeError(message), "instantiate").kind == "device"


def test_an_interrupted_check_never_hands_its_answer_to_the_next(pool):
    """Ctrl-C while waiting: that check's answer is still on its way, so its worker must not serve the next check."""
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    pool.wait_ready()  # interrupted while a check runs, not while a worker still imports torch
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(KeyboardInterrupt):
            pool.check("print('the slow one')\nimport time\ntime.sleep(3)\nraise RuntimeError('slow model is broken')\n", CheckSpec(timeout_s=10))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    for n in range(pool.size + 1):  # every worker in turn, the interrupted one's slot included
        result = pool.check(f"print('check {n}')\n" + SMALL)
        assert result.status == "ok" and result.stdout.strip() == f"check {n}", (result.status, result.message, result.stdout)


def test_a_request_sent_while_a_check_runs_is_answered_not_dropped(pool):
    """The worker keeps what the pool writes during a check (a cancel line stops it, anything else waits its turn)."""
    worker = pool._take_worker(None, None)
    try:
        worker.ensure_ready()
        for code in ("import time\ntime.sleep(1)\nraise ValueError('first')\n", SMALL):
            payload = {"code": code, "spec": CheckSpec().to_dict(), "timeout_s": 10, "wall_s": 40, "audit_hook": True, "output_limit": 1000}
            worker.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            worker.proc.stdin.flush()
            time.sleep(0.3)  # the second arrives while the first runs
        first, second = (json.loads(worker._readline(time.monotonic() + 15)) for _ in range(2))
    finally:
        pool._idle.put(worker)
    assert first["result"]["message"] == "first" and second["result"]["status"] == "ok", (first, second)


@pytest.mark.parametrize("returned", ["logits.argmax(1), logits", '{"pred": logits.argmax(1), "logits": logits}'])
def test_train_step_trains_on_the_output_that_has_a_gradient(pool, returned):
    code = SMALL.replace("return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))",
                         f"logits = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))\n        return {returned}")
    result = pool.check(code, CheckSpec(stages=ALL))
    assert result.status == "ok", result.message  # the loss on the integer predictions failed: no gradient
    assert result.stages["train_step"] == "ok"


def test_an_undefined_einops_name_is_told_to_import_it(pool):
    code = SMALL.replace("return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))",
                         'return self.fc(rearrange(F.adaptive_avg_pool2d(x, 1), "b c h w -> b (c h w)"))')
    result = pool.check(code)
    assert result.diagnosis.kind == "undefined_name" and result.diagnosis.symbol == "rearrange"
    assert "from einops import rearrange" in result.diagnosis.hint and "not installed" not in result.diagnosis.hint


def test_a_file_whose_last_module_is_not_the_model_is_told_about_entry(pool):
    code = SMALL.replace("class Net(", "class Model(") + "\n\nclass PairLoss(nn.Module):\n    def forward(self, a, b):\n        return (a - b).pow(2).mean()\n"
    entry = "Model"
    result = pool.check(code)  # no Net: builds PairLoss, the last nn.Module, and calls it with one input
    assert result.status == "failed" and result.diagnosis.kind == "forward_args"
    assert "--entry" in result.diagnosis.hint
    assert pool.check(code, CheckSpec(entry=entry)).status == "ok"


def test_text_code_starting_with_a_bom_parses(pool):
    result = pool.check("\ufeff" + SMALL)
    assert result.status == "ok", result.message


def test_a_complex_output_that_depends_on_parameters_has_a_gradient(pool):
    code = SMALL.replace("return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))",
                         "y = self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))\n        return torch.view_as_complex(torch.stack([y, y], -1))")
    result = pool.check(code, CheckSpec(stages=ALL))
    assert result.status == "ok", result.message
    assert result.stages["backward"] == "ok" and result.stages["train_step"] == "ok"


def test_a_token_id_model_given_floats_is_a_dtype_problem_and_runs_on_int64(pool):
    code = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.emb = nn.Embedding(100, 16)\n        self.fc = nn.Linear(16, 10)\n\n"
            "    def forward(self, x):\n        return self.fc(self.emb(x).mean(1))\n")
    floats = pool.check(code, CheckSpec(example=Example(inputs=[[2, 16]])))
    assert floats.status == "failed" and floats.diagnosis.kind == "dtype", floats.diagnosis
    assert "int64" in floats.diagnosis.hint
    ids = pool.check(code, CheckSpec(example=Example(inputs=[[2, 16]], input_dtypes=["int64"])))
    assert ids.status == "ok", ids.message
    # a vocabulary under 10 (an embedding of 4 class labels) got ids up to 9: "index out of range in self"
    small = pool.check(code.replace("nn.Embedding(100, 16)", "nn.Embedding(4, 16)"),
                       CheckSpec(stages=ALL, example=Example(inputs=[[2, 16]], input_dtypes=["int64"])))
    assert small.status == "ok", small.message


def test_a_crash_that_printed_a_refused_thread_is_a_thread_limit():
    from sandbox.diagnose import diagnose_status

    output = "libgomp: Thread creation failed: Resource temporarily unavailable\n"
    diagnosis = diagnose_status("crashed", "forward", exit_code=1, output=output)
    assert diagnosis.kind == "thread_limit" and "os._exit" not in diagnosis.hint
    assert diagnose_status("crashed", "forward", exit_code=1, output="bye\n").kind == "exit"


BAD_STR_EXCEPTION = '''
import torch.nn as nn


class ShapeError(Exception):
    def __init__(self, shape):
        self.shape = shape

    def __str__(self):
        return f"bad shape {self.shap}"
'''


def test_an_exception_whose_str_raises_fails_the_code_not_the_checker(pool):
    """A typo in the checked code's own ``__str__`` made the checker report itself (SandboxInternalError)."""
    at_forward = BAD_STR_EXCEPTION + "\n\nclass Net(nn.Module):\n    def forward(self, x):\n        raise ShapeError(x.shape)\n"
    at_import = BAD_STR_EXCEPTION + "\n\nraise ShapeError(3)\n"
    for code, stage in ((at_forward, "forward"), (at_import, "import")):
        result = pool.check(code, CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward")))
        assert (result.status, result.failed_stage, result.error_type) == ("failed", stage, "ShapeError"), result.message
        assert "its __str__ raised AttributeError" in result.message and "shap" in result.message
        assert result.diagnosis.kind != "internal" and "ShapeError" in result.traceback


def test_a_forward_returning_very_many_tensors_passes_with_its_count(pool):
    """700,000 output shapes made a result line over the worker's limit, read as "the code called os._exit()"."""
    from sandbox.spec import MAX_OUTPUT_SHAPES

    code = "import torch\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return [x[:1, :1, 0, 0]] * 700_000\n"
    result = pool.check(code, CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward")))
    assert result.status == "ok", (result.error_type, result.message)
    assert result.output_count == 700_000 and len(result.output_shapes) == MAX_OUTPUT_SHAPES


def test_a_result_line_the_worker_cannot_read_is_the_checkers_error(pool):
    """A result cut at the worker's limit (here: the code floods the result pipe) is no os._exit() of the code."""
    from sandbox.guard import RESULT_FD
    from sandbox.spec import is_verdict

    code = f"import os\nos.write({RESULT_FD}, b'R ' + b'x' * (9 << 20))\n"
    result = pool.check(code, CheckSpec(stages=("parse", "compile", "import")))
    assert (result.status, result.error_type) == ("crashed", "SandboxInternalError"), (result.error_type, result.message)
    assert result.diagnosis.kind != "exit" and not is_verdict(result)


SECOND_CALL_FAILS = '''
import random
import torch
import torch.nn as nn


class Augment(nn.Module):
    calls = 0

    def __init__(self, draw=True, weight=False):
        super().__init__()
        self.draw = draw
        self.w = nn.Parameter(torch.ones(1)) if weight else None

    def forward(self, x):
        if self.draw:
            random.random()
        Augment.calls += 1
        if Augment.calls > 2:  # what the first (counted) forward does not meet: another draw of a random branch
            raise RuntimeError("Only torch.uint8 image tensors are supported")
        return x * 1.0 if self.w is None else x * self.w
'''


def test_a_random_forward_without_parameters_must_pass_with_other_seeds_too(pool):
    """18 of torchvision's transforms (RandomErasing, AutoAugment, ...) were validated to backward by the branch seed 0
    took, and failed in 35-60% of other draws. A parameter-free forward that draws is run again with other seeds; one
    that draws nothing, or a model with parameters (its dropout draws too), is not."""
    spec = CheckSpec(stages=("parse", "import", "instantiate", "forward"), entry="Augment", count_flops=False)
    drawn = pool.check(SECOND_CALL_FAILS, spec)
    assert drawn.status == "failed" and drawn.failed_stage == "forward" and drawn.error_type == "RandomForward", drawn
    assert "forward failed with seed 2 (it draws at random; seed 0 passed): RuntimeError: Only torch.uint8" in drawn.message
    plain = replace(spec, example=Example(init_kwargs={"draw": False}))
    assert pool.check(SECOND_CALL_FAILS, plain).status == "ok"
    weighted = replace(spec, example=Example(init_kwargs={"weight": True}))
    assert pool.check(SECOND_CALL_FAILS, weighted).status == "ok"


def test_a_worker_killed_during_a_check_says_how_it_ended(caplog):
    """A worker killed mid-check answered "worker 0 exited (code None): " (not yet reaped, and nothing on stderr), and
    the server's log had no line saying a worker had died and been replaced."""
    import os
    import signal
    import threading

    sleeper = "import time\nimport torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
              "        time.sleep(30)\n"
    with CheckerPool(size=1, preload=("torch",)) as pool:
        pool.check(SMALL)  # started and warm
        killer = threading.Timer(1.5, lambda: [os.kill(pid, signal.SIGKILL) for pid in pool.worker_pids()])
        killer.start()
        result = pool.check(sleeper, CheckSpec(timeout_s=20))
        killer.join()
        assert (result.status, result.error_type) == ("crashed", "WorkerError"), (result.status, result.message)
        assert "worker 0 was killed by SIGKILL" in result.message and "code None" not in result.message, result.message
        replaced = [r for r in caplog.records if r.getMessage() == "sandbox worker replaced"]
        assert replaced and "killed by SIGKILL" in replaced[0].fields["why"], [r.getMessage() for r in caplog.records]
        assert pool.check(SMALL).status == "ok"  # a fresh worker took its place
