"""Strict validation of mined blocks: parse, import, instantiate, forward, backward.

Every block runs in the sandbox (``CheckerPool``), never in this process. For each block
we send one CheckSpec whose ``example`` and ``candidates`` are the static constructor
guesses of ``indexer.examples`` (best first) with ``inputs=None``, so the sandboxed child
tries them in order and infers inputs from the built module (``sandbox.infer_input``):
one round trip per block. The result fills ``block.validation`` (stage -> {"ok", "error"}),
``block.example`` (the working example, with concrete input shapes), ``params``, ``flops``.

Blocks with unresolved names or missing external dependencies fail at ``import`` with
that reason and are not run: the miner already knows they cannot work alone.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from corpus.records import SourceFile
from indexer.examples import CallSiteIndex, constructor_candidates
from indexer.records import Block
from sandbox.spec import CheckResult, CheckSpec

STAGES: tuple[str, ...] = ("parse", "import", "instantiate", "forward", "backward")
TIMEOUT_S = 20.0  # for all candidates of one block together
MAX_PARAMS = 150_000_000  # whole networks try small configs first; VGG-16-sized ones still pass
MEMORY_MB = 3072


def validate_blocks(
    blocks: list[Block],
    pool: Any,
    files_by_source: Mapping[str, list[SourceFile]] | list[SourceFile] | None = None,
    *,
    timeout_s: float = TIMEOUT_S,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Fill ``validation``, ``example``, ``params`` and ``flops`` of every block in place.

    ``pool`` is a ``sandbox.pool.CheckerPool`` (anything with ``check_many``).
    ``files_by_source`` maps a source SPEC to its files (a plain list is taken as the files
    of every source); call sites for constructor guesses are read from the block's own source.
    """
    indexes = _call_site_indexes(files_by_source)
    runnable: list[tuple[Block, CheckSpec]] = []
    for block in blocks:
        reason = static_failure(block)
        if reason is not None:
            block.validation = reason
            block.example, block.params, block.flops = None, None, None
            continue
        index = indexes.get(block.provenance.source) or indexes.get("*") or CallSiteIndex()
        runnable.append((block, build_spec(block, index, timeout_s)))
    total = len(runnable)
    if progress:
        progress(0, total)
    # Identical code and entry validate once (the same block found in two sources).
    unique: dict[tuple[str, str], int] = {}
    jobs: list[tuple[str, CheckSpec]] = []
    for block, spec in runnable:
        key = (block.code, block.name)
        if key not in unique:
            unique[key] = len(jobs)
            jobs.append((block.code, spec))
    results: list[CheckResult] = []
    for done, result in enumerate(pool.check_many(jobs), start=1):
        results.append(result)
        if progress:
            progress(done, len(jobs))
    for block, _spec in runnable:
        apply_result(block, results[unique[(block.code, block.name)]])


def build_spec(block: Block, index: CallSiteIndex, timeout_s: float = TIMEOUT_S) -> CheckSpec:
    candidates = constructor_candidates(block, [], index=index)
    origin, factories = _factories(block, index)
    return CheckSpec(
        entry=block.name,
        lemur=False,
        example=candidates[0],
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


def static_failure(block: Block) -> dict[str, dict[str, Any]] | None:
    """The validation record of a block that must not run: syntax error, unresolved names,
    None when the block should go to the sandbox."""
    try:
        ast.parse(block.code)
    except SyntaxError as exc:
        return _failed_from("parse", f"SyntaxError: {exc.msg} (line {exc.lineno})")
    if block.unresolved:
        return _failed_from("import", "unresolved names: " + ", ".join(sorted(block.unresolved)))
    # Missing external dependencies are not decided here: many sit behind a
    # ``try/except ImportError`` fallback (timm and apex, inplace_abn), so the import stage
    # in the sandbox says whether the block really needs them.
    return None


def apply_result(block: Block, result: CheckResult) -> None:
    """Map the sandbox's stages onto the block's five validation stages."""
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
        else:
            reason = f"not reached: {failed} failed" if failed else f"not run ({result.status})"
            validation[stage] = {"ok": False, "error": reason}
    block.validation = validation
    works = validation["forward"]["ok"]
    block.example = result.example if works else None
    block.params = result.params
    block.flops = result.flops if works else None


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


def _call_site_indexes(files_by_source: Mapping[str, list[SourceFile]] | list[SourceFile] | None) -> dict[str, CallSiteIndex]:
    if not files_by_source:
        return {}
    if isinstance(files_by_source, Mapping):
        return {spec: CallSiteIndex.build(list(files)) for spec, files in files_by_source.items()}
    return {"*": CallSiteIndex.build(list(files_by_source))}


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
