"""Strict validation of mined blocks: parse, import, instantiate, forward, backward.

Every block runs in the sandbox (``CheckerPool``), never in this process. For each block
we send one CheckSpec whose ``example`` and ``candidates`` are the static constructor
guesses of ``indexer.examples`` (best first) with ``inputs=None``, so the sandboxed child
tries them in order and infers inputs from the built module (``sandbox.infer_input``):
one round trip per block. The result fills ``block.validation`` (stage -> {"ok", "error"}),
``block.example`` (the working example, with concrete input shapes; when forward failed, the
constructor example that built the module, so the failure can be reproduced), ``params``, ``flops``.
A stage that failed in the block's own code says where: its error ends with
`` [at line N in FUNC: SOURCE LINE]`` and its entry holds ``"line": N`` (a line of ``block.code``).

Blocks with unresolved names that the module or a class body reads when the code is imported
fail at ``import`` with that reason and are not run: the miner already knows they cannot work
alone. Unresolved names read only inside function bodies (an inlined function-local import's
helpers) are no reason to fail unrun: the block goes to the sandbox, and its ``import`` entry
keeps them as a ``"warning"``.
"""

from __future__ import annotations

import ast
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from nnrag import pyparse
from corpus.records import SourceFile
from indexer.examples import CallSiteIndex, constructor_candidates, lemur_contract
from indexer.records import Block
from sandbox.spec import CheckResult, CheckSpec, is_verdict, verdict_error

STAGES: tuple[str, ...] = ("parse", "import", "instantiate", "forward", "backward")
# Bump when a change to validation (input inference, argument guessing, the sandbox's stages) can turn a
# verdict: a store validated by another version sends every block to the sandbox again on its next index
# (vectors and unchanged sources are still reused). "2": graph inputs (sandbox/infer_input.py).
# "3": the LEMUR contract detected, config attribute bags, pretrained weights off (indexer/examples.py).
# "4": an alias (``ConvBnAct = ConvNormAct``) gets its class's arguments; a check the machine, the caller or the
# sandbox ended is no verdict (``sandbox.spec.is_verdict``); integer inputs below the smallest embedding table.
# "5": unresolved names read only inside functions no longer fail a block unrun; a block that instantiated but
# failed forward keeps its constructor example; a failure names its line in the block.
# "6": a parameter-free forward that draws random numbers runs again with other seeds (sandbox.runner:
# _replay_with_other_seeds): 18 of torchvision's transforms had passed on the branch seed 0 took.
# "7": forward's output and backward's gradients must be finite, forward must also run in eval mode, a train step must
# change a parameter (sandbox.soundness); a model taken from a library (timm.create_model) is an entry.
# "8": backward's gradients must not all be zero (sandbox.soundness.check_some_gradient: round, argmax, times zero);
# a LEMUR model's learn() gets masks for a per-pixel output and next-token ids for per-token logits (sandbox.lemur).
VALIDATOR_VERSION = "8"
TIMEOUT_S = 20.0  # for all candidates of one block together
MAX_PARAMS = 150_000_000  # whole networks try small configs first; VGG-16-sized ones still pass
MEMORY_MB = 3072
# The error of a stage the sandbox could not decide (its worker died, the machine was too busy): such a block is
# validated again by the next build (``is_undecided``) instead of being kept as failing.
UNDECIDED = "not decided: "


def validate_blocks(
    blocks: list[Block],
    pool: Any,
    files_by_source: Mapping[str, list[SourceFile]] | list[SourceFile] | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Fill ``validation``, ``example``, ``params`` and ``flops`` of every block in place.

    ``pool`` is a ``sandbox.pool.CheckerPool`` (anything with ``check`` and ``size``).
    ``files_by_source`` maps a source SPEC to its files (a plain list is taken as the files
    of every source); call sites for constructor guesses are read from the block's own source.
    """
    validator = BackgroundValidator(pool, timeout_s=timeout_s, progress=progress)
    try:
        if isinstance(files_by_source, Mapping):
            by_source: dict[str, list[Block]] = {}
            for block in blocks:
                by_source.setdefault(block.provenance.source, []).append(block)
            for spec, group in by_source.items():
                validator.submit(group, files_by_source.get(spec))
        else:
            validator.submit(blocks, files_by_source)
    finally:
        validator.wait()


class BackgroundValidator:
    """Validates blocks on every sandbox worker while the caller goes on with other work
    (mining the next source, embedding): ``submit`` queues checks and returns, ``wait``
    fills in the results.

    Why not ``CheckerPool.check_many``: it yields results in input order and stops
    submitting while its oldest check runs, so a worker sits idle behind one slow block.
    Here each worker takes the next queued check the moment it is free. Identical code
    with the same entry class is checked once (the result goes to every such block);
    static failures (syntax errors, unresolved names) never reach the sandbox.
    """

    def __init__(self, pool: Any, *, timeout_s: float = TIMEOUT_S, progress: Callable[[int, int], None] | None = None):
        self.pool = pool
        self.timeout_s = timeout_s
        self.progress = progress
        self._executor = ThreadPoolExecutor(max_workers=max(1, int(getattr(pool, "size", 1))), thread_name_prefix="nnrag-validate")
        self._checks: dict[tuple[str, str], Future] = {}
        self._blocks: list[tuple[Block, tuple[str, str]]] = []
        self._queued = 0  # checks sent to the sandbox
        self._finished = 0
        self._lock = threading.Lock()

    @property
    def submitted(self) -> int:
        """Blocks submitted so far (static failures included)."""
        return len(self._blocks)

    def submit(self, blocks: Iterable[Block], files: Iterable[SourceFile] | None = None) -> None:
        """Queue ``blocks`` (all from the source whose ``files`` are given, for call-site
        guesses). Specs are built here, one block at a time, so the first checks start
        while the rest are still being prepared."""
        index = CallSiteIndex.build(list(files)) if files else CallSiteIndex()
        for block in blocks:
            key = (block.code, block.name)
            self._blocks.append((block, key))
            if key in self._checks:
                continue
            future: Future = Future()
            tree = parse_block(block)  # parsed once: the static check and the constructor guesses share it
            reason = static_failure(block, tree)
            if reason is not None:
                future.set_result(reason)
            else:
                spec = build_spec(block, index, self.timeout_s, tree=tree)
                future = self._executor.submit(check_decided, self.pool, block.code, spec)
                self._queued += 1
                future.add_done_callback(self._one_done)
            self._checks[key] = future
        self._report()

    def _one_done(self, _future: Future) -> None:
        with self._lock:
            self._finished += 1
        self._report()

    def _report(self) -> None:
        if self.progress:
            self.progress(self._finished, self._queued)

    def cancel(self) -> None:
        """Drop the checks still queued (the running ones finish); for a build that failed."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def wait(self) -> None:
        """Block until every submitted check is answered and fill in the blocks."""
        try:
            for block, key in self._blocks:
                outcome = self._checks[key].result()
                if isinstance(outcome, dict):  # a static failure
                    block.validation = outcome
                    block.example, block.params, block.flops = None, None, None
                else:
                    apply_result(block, outcome)
        finally:
            self._executor.shutdown(wait=True, cancel_futures=True)


def check_decided(pool: Any, code: str, spec: CheckSpec) -> CheckResult:
    """``pool.check``, once more when the first outcome is no verdict on the code (``sandbox.spec.is_verdict``: a
    worker killed from outside, a wall-clock cap passed on a busy machine). Why: those were stored as the block's
    failure at its first unpassed stage and never checked again."""
    result = pool.check(code, spec)
    return result if is_verdict(result) else pool.check(code, spec)


def build_spec(block: Block, index: CallSiteIndex, timeout_s: float = TIMEOUT_S, tree: ast.Module | None = None) -> CheckSpec:
    """The sandbox check of ``block``; ``tree`` is its parsed code when the caller has it
    (a timm block is ~35 KB: parsing it twice cost ~15 CPU-s per cold index)."""
    # LEMUR's ``Net(in_shape, out_shape, prm, device)``: no example, so the sandbox supplies the
    # contract's arguments (and retries larger images) exactly as ``nnrag check`` does
    candidates = [] if lemur_contract(block, tree) else constructor_candidates(block, [], index=index, tree=tree)
    origin, factories = _factories(block, index)
    return CheckSpec(
        entry=block.name,
        lemur=None,  # detected in the sandbox from the built class's signature, like ``nnrag check``
        example=candidates[0] if candidates else None,
        candidates=candidates[1:],
        stages=("parse", "compile", "import", "instantiate", "forward", "backward"),
        max_params=MAX_PARAMS,
        timeout_s=timeout_s,
        memory_mb=MEMORY_MB,
        count_flops=True,
        origin=origin,
        factories=factories,
    )


def _factories(block: Block, index: CallSiteIndex) -> tuple[str | None, list[str]]:
    """The block's home module and the source's functions that construct it, for an installed
    package (``pkg:`` sources only: the sandbox imports the real package to run them)."""
    if not block.provenance.source.startswith("pkg:") or "." not in block.qualified_name:
        return None, []
    module = block.qualified_name.rsplit(".", 1)[0]
    return module, index.factories(module, block.name)


def parse_block(block: Block) -> ast.Module | SyntaxError:
    """The block's code parsed, or the SyntaxError it raises."""
    try:
        return pyparse.parse(block.code)
    except SyntaxError as exc:
        return exc


def static_failure(block: Block, tree: ast.Module | SyntaxError | None = None) -> dict[str, dict[str, Any]] | None:
    """The validation record of a block that must not run: syntax error, unresolved names,
    None when the block should go to the sandbox. ``tree`` is ``parse_block(block)`` when
    the caller already has it."""
    tree = parse_block(block) if tree is None else tree
    if isinstance(tree, SyntaxError):
        return _failed_from("parse", f"SyntaxError: {tree.msg} (line {tree.lineno})")
    at_import = unresolved_at_import(block, tree)
    if at_import:
        return _failed_from("import", "unresolved names: " + ", ".join(at_import))
    # Missing external dependencies are not decided here: many sit behind a
    # ``try/except ImportError`` fallback (timm and apex, inplace_abn), so the import stage
    # in the sandbox says whether the block really needs them.
    return None


def unresolved_at_import(block: Block, tree: ast.Module) -> list[str]:
    """The block's unresolved names that importing its code would read (sorted): at module level, in a class
    body, a decorator, a default argument or an eagerly evaluated annotation, or not seen read at all. Why: an
    inlined function-local import (kornia's ``RANSAC``) brings helpers whose bodies name modules the closure
    could not carry; the block itself imports and runs, so only the sandbox can say whether it works."""
    if not block.unresolved:
        return []
    eager, anywhere = names_read(tree)
    return sorted(n for n in set(block.unresolved) if n in eager or n not in anywhere)


def names_read(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names read when the module is executed, names read anywhere) of a parsed module, imported modules by their
    dotted names (``from p import m`` reads "p" and "p.m"). A function's body runs only when called; its decorators, defaults and (unless ``from __future__ import annotations``, or
    Python 3.14's deferred annotations) its annotations run where it is defined."""
    lazy_annotations = sys.version_info >= (3, 14) or any(
        isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
        for n in tree.body)
    eager: set[str] = set()
    anywhere: set[str] = set()

    def read(name: str, now: bool) -> None:
        anywhere.add(name)
        if now:
            eager.add(name)

    def visit(node: ast.AST, now: bool) -> None:
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Store):
                read(node.id, now)
            return
        if isinstance(node, ast.Import):  # a module the closure could not carry is unresolved by its dotted name
            for alias in node.names:
                read(alias.name, now)
            return
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            read(module, now)
            for alias in node.names:
                read(f"{module}.{alias.name}" if node.module else f"{module}{alias.name}", now)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
                visit(default, now)
            if not isinstance(node, ast.Lambda):
                for decorator in node.decorator_list:
                    visit(decorator, now)
                every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
                for annotation in [*(a.annotation for a in every), node.returns]:
                    if annotation is not None:
                        visit(annotation, now and not lazy_annotations)
            for child in (node.body if isinstance(node.body, list) else [node.body]):
                visit(child, False)
            return
        if isinstance(node, ast.AnnAssign):
            visit(node.target, now)
            if node.value is not None:
                visit(node.value, now)
            visit(node.annotation, now and not lazy_annotations)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, now)

    visit(tree, True)
    return eager, anywhere


_USER_FRAME = re.compile(r'File "[^"]*", line (\d+), in ([^\n]+)\n[ \t]+([^\n]*)')


def failure_location(result: CheckResult) -> tuple[int, str] | None:
    """(line in the block, " [at line N in FUNC: SOURCE]") of the innermost frame of the checked code in the
    result's traceback, else of its diagnosis; None when the failure has no line in the code (a budget refused
    the module, or the sandbox's own input inference raised). Why: the stored error alone ("KeyError: 2") named
    no place, and the block's failure could not be found without re-running it by hand."""
    frames = _USER_FRAME.findall(result.traceback or "")
    if frames:
        line, func, source = frames[-1]
        source = source.strip()
        source = source if len(source) <= 100 else source[:97] + "..."
        return int(line), f" [at line {line} in {func.strip()}: {source}]"
    line = getattr(result.diagnosis, "line", None)
    if isinstance(line, int) and line > 0:
        return line, f" [at line {line}]"
    return None


def apply_result(block: Block, result: CheckResult) -> None:
    """Map the sandbox's stages onto the block's five validation stages. An outcome that is no verdict on the
    code leaves the stages it did not pass "not decided" (``undecided_validation``), never failed."""
    if not is_verdict(result):
        block.validation = undecided_validation(result)
        _warn_unresolved(block, block.validation)
        block.example, block.params, block.flops = None, None, None
        return
    validation: dict[str, dict[str, Any]] = {}
    error = f"{result.error_type}: {result.message}".strip(": ") if result.failed_stage else ""
    failed = result.failed_stage
    if failed == "compile":
        failed = "parse"
    if failed is None and result.status != "ok":
        # a timeout or a crashed worker without stage information: blame the first stage not passed
        parsed = static_failure(block) is None  # only parsable blocks are sent to the sandbox
        failed = next((st for st in STAGES if result.stages.get(st) != "ok" and not (st == "parse" and parsed)), None)
        error = f"{result.error_type or result.status}: {result.message}".strip(": ")
    for stage in STAGES:
        state = result.stages.get(stage)
        if stage == "parse" and result.stages.get("compile") == "failed":
            state = "failed"
        elif stage == "parse" and state != "ok" and failed != "parse":
            state = "ok"
        if state == "ok":
            validation[stage] = {"ok": True, "error": ""}
        elif state == "skipped" and stage == "backward" and result.stages.get("forward") == "ok":
            # Nothing trainable (activations, pools, transforms): backward has nothing to reach.
            validation[stage] = {"ok": True, "error": "", "note": "no trainable parameters"}
        elif stage == failed:
            validation[stage] = {"ok": False, "error": error or result.status}
            where = failure_location(result) if result.failed_stage else None
            if where is not None:
                validation[stage] = {"ok": False, "error": (error or result.status) + where[1], "line": where[0]}
        else:
            reason = f"not reached: {failed} failed" if failed else f"not run ({result.status})"
            validation[stage] = {"ok": False, "error": reason}
    _warn_unresolved(block, validation)
    block.validation = validation
    works = validation["forward"]["ok"]
    # a module that was built keeps the example that built it, also when forward then failed: the failure can be
    # reproduced from the record (``inputs`` None: the sandbox inferred them from the built module)
    block.example = result.example if validation["instantiate"]["ok"] else None
    block.params = result.params
    block.flops = result.flops if works else None


def _warn_unresolved(block: Block, validation: dict[str, dict[str, Any]]) -> None:
    """Names the closure could not resolve but that only functions read (``unresolved_at_import``): the block was
    run anyway; its ``import`` entry says they would fail if those functions are called."""
    if block.unresolved and "import" in validation:
        validation["import"]["warning"] = "unresolved names, read only inside functions: " + ", ".join(sorted(block.unresolved))


def undecided_validation(result: CheckResult) -> dict[str, dict[str, Any]]:
    """Stages the check passed stay passed; the rest are marked not decided, with what ended the check."""
    why = f"{UNDECIDED}{result.error_type}: {result.message}"[:2000]
    passed = {stage for stage in STAGES if result.stages.get(stage) == "ok"}
    if result.stages.get("compile") == "ok":
        passed.add("parse")
    return {stage: {"ok": True, "error": ""} if stage in passed else {"ok": False, "error": why, "undecided": True} for stage in STAGES}


def is_undecided(validation: dict[str, dict[str, Any]]) -> bool:
    """Whether a stored validation holds a stage the sandbox did not decide, so the block must be checked again.
    Also true of verdicts stored before this was told apart ("WorkerError: ...", a wall-clock cap as "Timeout")."""
    for entry in validation.values():
        error = str(entry.get("error") or "")
        if entry.get("ok") or not error:
            continue
        error_type, _, message = error.partition(": ")
        if entry.get("undecided") or error.startswith(UNDECIDED) or not verdict_error(error_type, message):
            return True
    return False


def _failed_from(stage: str, error: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    reached = False
    for s in STAGES:
        if s == stage:
            out[s] = {"ok": False, "error": error}
            reached = True
        elif reached:
            out[s] = {"ok": False, "error": f"not reached: {stage} failed"}
        else:
            out[s] = {"ok": True, "error": ""}
    return out


def pass_rates(blocks: Iterable[Block]) -> dict[str, float]:
    """Share of blocks that passed each stage (for stats and benchmarks)."""
    blocks = list(blocks)
    if not blocks:
        return {s: 0.0 for s in STAGES}
    return {s: sum(b.passed(s) for b in blocks) / len(blocks) for s in STAGES}


def timed_validate(blocks: list[Block], pool: Any, files_by_source: Any = None) -> float:
    """validate_blocks, returning the wall time in seconds (benchmarks)."""
    start = time.perf_counter()
    validate_blocks(blocks, pool, files_by_source)
    return time.perf_counter() - start
