"""indexer.validate: blocks run in a real sandbox pool; stages, example and failures recorded."""

import textwrap

import pytest

from corpus.records import Provenance
from indexer.records import Block
from indexer.validate import STAGES, validate_blocks
from sandbox.pool import CheckerPool

HEADER = "import torch\nfrom torch import nn\n\n"


def _block(name: str, body: str, **extra) -> Block:
    prov = Provenance(source="dir:/fixture", package="fixture", version="0", path="fixture/m.py", module="fixture.m")
    return Block(name=name, qualified_name=f"fixture.m.{name}", code=HEADER + textwrap.dedent(body), provenances=[prov], **extra)


@pytest.fixture(scope="module")
def pool():
    with CheckerPool(size=2, preload=("torch",)) as p:
        yield p


SE = """
class SqueezeExcite(nn.Module):
    def __init__(self, in_chs, rd_ratio=0.25, act_layer=nn.ReLU):
        super().__init__()
        rd = max(1, int(in_chs * rd_ratio))
        self.fc1 = nn.Conv2d(in_chs, rd, 1)
        self.act = act_layer()
        self.fc2 = nn.Conv2d(rd, in_chs, 1)

    def forward(self, x):
        s = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))
        return x * s.sigmoid()
"""

ATTN = """
class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        x = torch.softmax(q @ k.transpose(-2, -1) * (C // self.num_heads) ** -0.5, -1) @ v
        return self.proj(x.transpose(1, 2).reshape(B, N, C))
"""

NET = """
class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(inplanes, planes, 3, stride, 1)
        self.short = nn.Conv2d(inplanes, planes, 1, stride) if stride != 1 or inplanes != planes else nn.Identity()

    def forward(self, x):
        return torch.relu(self.conv(x) + self.short(x))


class TinyResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, in_chans=3):
        super().__init__()
        self.stem = nn.Conv2d(in_chans, 8, 3, 1, 1)
        chs, stages = 8, []
        for i, n in enumerate(layers):
            for j in range(n):
                stages.append(block(chs, 8 * 2 ** i, 2 if (j == 0 and i > 0) else 1))
                chs = 8 * 2 ** i
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(chs, num_classes)

    def forward(self, x):
        return self.fc(self.stages(self.stem(x)).mean((2, 3)))
"""

BROKEN_FORWARD = """
class Broken(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x) + undefined_helper(x)
"""


def test_blocks_validate_with_inferred_args_and_inputs(pool):
    se, attn, net = _block("SqueezeExcite", SE), _block("Attention", ATTN), _block("TinyResNet", NET)
    validate_blocks([se, attn, net], pool, [])
    for block in (se, attn, net):
        assert set(block.validation) == set(STAGES)
        assert all(block.passed(s) for s in STAGES), (block.name, block.validation)
        assert block.example is not None and block.example.inputs, block.name
        assert block.params and block.params > 0
        assert block.flops and block.flops > 0
    assert se.example.inputs[0][1] == se.example.init_kwargs["in_chs"]
    assert len(attn.example.inputs[0]) == 3 and attn.example.inputs[0][-1] == attn.example.init_kwargs["dim"]
    assert net.example.init_kwargs["block"] == {"__expr__": "BasicBlock"}
    assert net.example.init_kwargs["num_classes"] == 10


def test_failures_name_their_stage_and_reason(pool):
    broken = _block("Broken", BROKEN_FORWARD)
    unresolved = _block("SqueezeExcite", SE, unresolved=["make_divisible"])
    syntax = _block("Bad", "class Bad(nn.Module:\n    pass\n")
    validate_blocks([broken, unresolved, syntax], pool, [])

    assert broken.passed("instantiate") and not broken.passed("forward")
    assert "undefined_helper" in broken.validation["forward"]["error"]
    assert not broken.passed("backward") and broken.example is not None  # it was built: the example says how

    assert not unresolved.passed("import") and "make_divisible" in unresolved.validation["import"]["error"]
    assert unresolved.passed("parse") and not unresolved.passed("forward")

    assert not syntax.passed("parse") and "SyntaxError" in syntax.validation["parse"]["error"]


LOOKUP = """
class Lookup(nn.Module):
    def __init__(self, dim, table_size=1):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.table = {i: 1.0 for i in range(table_size)}

    def forward(self, x):
        y = self.fc(x)
        return y * self.table[2]
"""


def test_a_forward_failure_keeps_the_example_that_built_the_module_and_names_its_line(pool):
    """Instantiate passed, forward failed: the constructor example is stored so the failure can be reproduced from
    the record, and the error says which line of the block raised (the message alone, "KeyError: 2", did not)."""
    from sandbox.spec import CheckSpec

    block = _block("Lookup", LOOKUP)
    validate_blocks([block], pool, [])
    assert block.passed("instantiate") and not block.passed("forward")
    assert block.example is not None and isinstance(block.example.init_kwargs.get("dim"), int)
    forward = block.validation["forward"]
    line = forward["line"]
    assert block.code.splitlines()[line - 1].strip() == "return y * self.table[2]"
    assert forward["error"].startswith("KeyError: 2") and f"[at line {line} in forward: return y * self.table[2]]" in forward["error"]
    assert block.flops is None and block.params and block.params > 0
    again = pool.check(block.code, CheckSpec(entry=block.name, lemur=False, example=block.example))
    assert again.failed_stage == "forward" and again.error_type == "KeyError"


FITTER = """
class Fitter(nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x)

    def solve(self, points):
        from kit import _solvers  # an inlined function-local import whose module the closure could not carry
        return _solvers.fit(points, _metrics)
"""


def test_unresolved_names_read_only_inside_functions_do_not_fail_the_block_unrun(pool):
    """kornia's RANSAC: names only a method reads cannot break the import; the sandbox decides, the names stay on
    the record as a warning. Names the import itself reads (class body, decorator, default) still fail unrun."""
    lazy = _block("Fitter", FITTER, unresolved=["_metrics", "kit._solvers"])
    at_class = _block("Fitter", FITTER.replace("    def __init__", "    scale = _metrics.SCALE\n\n    def __init__"),
                      unresolved=["_metrics"])
    at_decorator = _block("Fitter", FITTER.replace("    def solve", "    @_metrics.register\n    def solve"), unresolved=["_metrics"])
    at_default = _block("Fitter", FITTER.replace("def solve(self, points)", "def solve(self, points, m=_metrics)"),
                        unresolved=["_metrics"])
    validate_blocks([lazy, at_class, at_decorator, at_default], pool, [])
    assert all(lazy.passed(s) for s in STAGES), lazy.validation
    assert "_metrics" in lazy.validation["import"]["warning"] and "kit._solvers" in lazy.validation["import"]["warning"]
    for eager in (at_class, at_decorator, at_default):
        assert eager.validation["import"] == {"ok": False, "error": "unresolved names: _metrics"}, eager.validation
        assert eager.example is None


def test_only_annotations_that_run_at_import_count_as_read_there():
    import ast

    from indexer.validate import names_read

    code = "def f(x: Hint = dflt) -> Ret:\n    return body\n"
    eager, anywhere = names_read(ast.parse(code))
    assert {"Hint", "dflt", "Ret"} <= eager and "body" not in eager and "body" in anywhere
    eager, _ = names_read(ast.parse("from __future__ import annotations\n" + code))
    assert "dflt" in eager and not {"Hint", "Ret", "body"} & eager


def test_parameterless_blocks_pass_backward_with_a_note(pool):
    act = _block("HardMish", """
        class HardMish(nn.Module):
            def forward(self, x):
                return 0.5 * x * (x + 2).clamp(min=0, max=2)
    """)
    validate_blocks([act], pool, [])
    assert act.passed("forward") and act.passed("backward")
    assert act.validation["backward"].get("note")


def test_a_timeout_without_stage_information_is_blamed_on_the_first_unpassed_stage():
    from indexer.validate import apply_result
    from sandbox.spec import CheckResult

    block = _block("SqueezeExcite", SE)
    skipped = {s: "skipped" for s in ("parse", "compile", "import", "instantiate", "forward", "backward")}
    apply_result(block, CheckResult(status="timeout", stages=skipped, error_type="Timeout", message="the check exceeded its 20 s CPU budget"))
    assert block.passed("parse") and not block.passed("import")
    assert "Timeout" in block.validation["import"]["error"]
    assert block.validation["forward"]["error"].startswith("not reached")
    assert block.example is None


@pytest.fixture(scope="module")
def tv_pool():
    with CheckerPool(size=1, preload=("torch", "torchvision")) as p:
        yield p


def test_constructor_arguments_are_recorded_from_the_packages_own_builders(tv_pool):
    """torchvision's VGG takes a ``features`` module no name-based guess can build; its
    builders (vgg11, ...) construct it. The sandbox runs them and renders the arguments,
    including the Sequential of layers, as an expression over the block's own names."""
    import inspect
    import torchvision.models.vgg as vgg_module

    from corpus.records import SourceFile
    from indexer.examples import CallSiteIndex
    from indexer.validate import build_spec

    code = "import torch\nimport torch.nn as nn\nfrom torchvision.utils import _log_api_usage_once\n\n\n" + inspect.getsource(vgg_module.VGG)
    prov = Provenance(source="pkg:torchvision", package="torchvision", version="x", path="torchvision/models/vgg.py",
                      module="torchvision.models.vgg")
    source = SourceFile(module="torchvision.models.vgg", text=inspect.getsource(vgg_module), provenance=prov)
    index = CallSiteIndex.build([source])
    traced = Block(name="VGG", qualified_name="torchvision.models.vgg.VGG", code=code, provenances=[prov])
    spec = build_spec(traced, index)
    assert spec.origin == "torchvision.models.vgg" and spec.factories and spec.factories[0].startswith("torchvision.models.vgg:vgg")
    validate_blocks([traced], tv_pool, [source], timeout_s=60.0)  # VGG-11 sized: room for a loaded machine
    assert all(traced.passed(s) for s in STAGES), traced.validation
    features = traced.example.init_kwargs["features"]["__expr__"]
    assert features.startswith("nn.Sequential(nn.Conv2d(") and "__import__" not in features
    assert traced.example.init_kwargs["num_classes"] == 10

    # a directory source is not importable in the sandbox: nothing to run there
    local = Block(name="VGG", qualified_name="torchvision.models.vgg.VGG", code=code,
                  provenances=[Provenance(**{**prov.to_dict(), "source": "dir:/somewhere"})])
    assert build_spec(local, index).factories == []


def test_identical_blocks_check_once_and_a_slow_block_holds_back_no_other(pool):
    from indexer.validate import BackgroundValidator

    class Recording:  # the real pool, with the order checks finish in
        size = pool.size

        def __init__(self):
            self.finished: list[str] = []

        def check(self, code, spec):
            result = pool.check(code, spec)
            self.finished.append(spec.entry)
            return result

    slow = _block("Slow", """
        import time

        class Slow(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                time.sleep(6)
                return self.fc(x)
    """)
    fast = [_block(f"Act{i}", f"""
        class Act{i}(nn.Module):
            def forward(self, x):
                return x.clamp(min={i})
    """) for i in range(4)]
    twin = _block("Act0", fast[0].code[len(HEADER):])
    recording = Recording()
    seen: list[tuple[int, int]] = []
    validator = BackgroundValidator(recording, progress=lambda done, total: seen.append((done, total)))
    validator.submit([slow, *fast, twin])
    validator.wait()
    assert sorted(recording.finished) == sorted(["Slow", "Act0", "Act1", "Act2", "Act3"])  # the twin is not checked again
    assert recording.finished[-1] == "Slow"  # the second worker went through every fast block meanwhile
    assert seen[-1] == (5, 5)
    assert all(b.passed("forward") for b in [slow, *fast, twin]) and twin.example == fast[0].example


def test_a_block_is_parsed_once_for_the_static_check_and_the_constructor_guesses(monkeypatch):
    """static_failure and build_spec share one parse of the block (timm blocks are ~35 KB)."""
    import ast

    from indexer.examples import CallSiteIndex
    from indexer.validate import build_spec, parse_block, static_failure

    block = _block("SqueezeExcite", SE)
    expected = build_spec(block, CallSiteIndex())
    tree = parse_block(block)
    parses: list[int] = []
    real_parse = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: parses.append(1) or real_parse(*a, **k))
    assert static_failure(block, tree) is None
    shared = build_spec(block, CallSiteIndex(), tree=tree)
    assert parses == []
    assert shared.to_dict() == expected.to_dict()
    assert shared.example.init_kwargs.get("in_chs")  # the guesses still read the class

    broken = _block("Broken", "class Broken(nn.Module:\n    pass\n")
    failed = static_failure(broken, parse_block(broken))
    assert failed["parse"]["ok"] is False and "SyntaxError" in failed["parse"]["error"]
    assert failed["import"]["error"] == "not reached: parse failed"


def test_outcomes_of_the_sandbox_are_not_decided_and_checked_again():
    """A worker killed from outside or a wall-clock cap on a busy machine was stored as the block's failure at its
    first unpassed stage (and never checked again); now the stages it did not pass are "not decided"."""
    from indexer.validate import apply_result, is_undecided
    from sandbox.spec import CheckResult

    block = _block("SqueezeExcite", SE)
    died = CheckResult(status="crashed", error_type="WorkerError", message="worker 0 exited (code -9): ")
    apply_result(block, died)
    assert is_undecided(block.validation) and not block.passed("parse") and block.example is None
    assert all(v["error"].startswith("not decided: WorkerError") for v in block.validation.values())
    stages = {"parse": "ok", "compile": "ok", "import": "ok", "instantiate": "ok", "forward": "failed", "backward": "skipped"}
    busy = CheckResult(status="timeout", stages=stages, failed_stage="forward", error_type="WallTimeout", message="the check passed its wall-clock cap")
    apply_result(block, busy)
    assert block.passed("instantiate") and not block.passed("forward") and is_undecided(block.validation)
    real = CheckResult(status="timeout", stages=stages, failed_stage="forward", error_type="Timeout", message="the check exceeded its 20 s CPU budget")
    apply_result(block, real)
    assert not is_undecided(block.validation) and block.validation["forward"]["error"].startswith("Timeout")
    # stored by an earlier version: the same outcomes as failures
    legacy = {"parse": {"ok": True, "error": ""}, "import": {"ok": False, "error": "WorkerError: worker 0 exited (code -9): "}}
    assert is_undecided(legacy)
    legacy["import"]["error"] = "Timeout: the check exceeded its wall-clock cap of 80 s during forward"
    assert is_undecided(legacy)
    legacy["import"]["error"] = "unresolved names: Missing"
    assert not is_undecided(legacy)


def test_validation_checks_an_undecided_outcome_once_more():
    """A pool whose workers never start answers WorkerError twice: the block ends up not decided, never failed."""
    from indexer.validate import is_undecided

    block = _block("SqueezeExcite", SE)
    with CheckerPool(size=1, preload=("torch",), start_timeout_s=0.001) as broken:
        validate_blocks([block], broken, [])
        assert broken.restarts >= 3  # checked twice (each check of a pool that never starts replaces its worker twice)
    assert is_undecided(block.validation) and "WorkerError" in block.validation["forward"]["error"]
