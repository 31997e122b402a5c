"""Validation benchmark: strict validation of the default corpus and the dev-list rates.

    python bench/bench_validate.py [--workers 2] [--sources pkg:torch.nn pkg:torchvision pkg:timm] [--no-baseline] [--dev-only]
                                   [--names NAME ...]

``--dev-only`` validates only the blocks whose names are dev targets (a quick measure of the
dev-list rates; the corpus figures then cover those blocks only) and writes
``bench/results/validate_dev.json`` unless ``--out`` is given. ``--names`` validates only the
blocks of those class names (to iterate on failures; ``validate_names.json``).

Mines the sources (``indexer.mine.mine_files``), validates every block in a
``CheckerPool`` (``indexer.validate.validate_blocks``) and reports:

- validation wall time for the whole corpus, and per-stage pass rates over all blocks;
- on the dev-list names that live in torch/torchvision/timm
  (``/work/shared/data/nnrag_targets_dev.json`` or ``$NNRAG_TARGETS``): % found, and % whose
  best block passes import / instantiate / forward / backward (a name counts once, by its
  best-validated block, as ``nnrag block NAME`` returns it);
- the top failure reasons.

Baseline measured in the same run (unless ``--no-baseline``): the same dev blocks checked
with no constructor arguments and the default input (2, 3, 32, 32), i.e. without
``indexer.examples`` and ``sandbox.infer_input``. Writes ``bench/results/validate.json``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import tempfile
import time
from pathlib import Path

from _env import REPO, TARGETS  # noqa: E402  (offline hub, one thread, repo on sys.path)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402


from corpus.sources import open_source  # noqa: E402
from indexer.mine import mine_files  # noqa: E402
from indexer.records import Block  # noqa: E402
from indexer.validate import STAGES, apply_result, validate_blocks  # noqa: E402
from sandbox.pool import CheckerPool  # noqa: E402
from sandbox.spec import CheckSpec, Example  # noqa: E402

DEFAULT_SOURCES = ("pkg:torch.nn", "pkg:torchvision", "pkg:timm")
DEV_STAGES = ("import", "instantiate", "forward", "backward")


def dev_names() -> list[str]:
    rows = json.loads(TARGETS.read_text())
    return [r["name"] for r in rows if r.get("class_in_timm_pkg") or r.get("class_in_torchvision_pkg") or r.get("class_in_torch_pkg")]


def passes_through(block: Block, stage: str) -> bool:
    """Passed ``stage`` and every stage before it."""
    return all(block.passed(s) for s in STAGES[: STAGES.index(stage) + 1])


def dev_rates(blocks: list[Block], names: list[str]) -> dict[str, float]:
    by_name: dict[str, list[Block]] = collections.defaultdict(list)
    for block in blocks:
        by_name[block.name].append(block)
    counts = collections.Counter()
    for name in names:
        found = by_name.get(name, [])
        counts["found"] += bool(found)
        for stage in DEV_STAGES:
            counts[stage] += any(passes_through(b, stage) for b in found)
    return {k: 100.0 * counts[k] / max(len(names), 1) for k in ("found", *DEV_STAGES)}


def failure_reasons(blocks: list[Block], top: int = 12) -> list[tuple[str, int]]:
    reasons = collections.Counter()
    for block in blocks:
        for stage in STAGES:
            entry = block.validation.get(stage, {})
            if not entry.get("ok"):
                reasons[f"{stage}: " + re.sub(r"\d+", "N", entry.get("error", ""))[:90]] += 1
                break
    return reasons.most_common(top)


def naive_baseline(blocks: list[Block], pool: CheckerPool) -> list[Block]:
    """Copies of ``blocks`` checked with no constructor arguments and a (2, 3, 32, 32) input."""
    copies = [Block(name=b.name, qualified_name=b.qualified_name, code=b.code, provenances=b.provenances,
                    unresolved=list(b.unresolved)) for b in blocks]
    spec_for = lambda b: CheckSpec(entry=b.name, lemur=False, example=Example(), timeout_s=20.0, max_params=60_000_000)  # noqa: E731
    runnable = [b for b in copies if not b.unresolved]
    for block, result in zip(runnable, pool.check_many((b.code, spec_for(b)) for b in runnable)):
        apply_result(block, result)
    for block in copies:
        if block.unresolved:
            block.validation = {s: {"ok": s == "parse", "error": "" if s == "parse" else "unresolved"} for s in STAGES}
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sources", nargs="+", default=list(DEFAULT_SOURCES))
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--dev-only", action="store_true", help="validate only blocks named like a dev target")
    parser.add_argument("--names", nargs="+", default=None, help="validate only blocks with these class names (iterating on failures)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.out is None:
        name = "validate_names.json" if args.names else "validate_dev.json" if args.dev_only else "validate.json"
        args.out = REPO / "bench" / "results" / name
    console = Console()

    load_before = os.getloadavg()
    start = time.perf_counter()
    files_by_source, blocks = {}, []
    with tempfile.TemporaryDirectory() as cache:
        for spec in args.sources:
            files = list(open_source(spec, Path(cache)).files())
            files_by_source[spec] = files
            blocks += mine_files(files)
    mine_s = time.perf_counter() - start
    console.print(f"mined {len(blocks)} blocks from {', '.join(args.sources)} in {mine_s:.1f} s")

    names = dev_names()
    if args.dev_only:
        wanted = set(names)
        blocks = [b for b in blocks if b.name in wanted]
        console.print(f"--dev-only: validating the {len(blocks)} blocks named like a dev target")
    if args.names:
        wanted = set(args.names)
        blocks = [b for b in blocks if b.name in wanted]
        console.print(f"--names: validating the {len(blocks)} blocks named {', '.join(sorted(wanted))}")
    with CheckerPool(size=args.workers) as pool:
        pool.wait_ready()
        start = time.perf_counter()
        validate_blocks(blocks, pool, files_by_source)
        validate_s = time.perf_counter() - start
        baseline = None
        if not args.no_baseline:
            wanted = set(names)
            baseline = dev_rates(naive_baseline([b for b in blocks if b.name in wanted], pool), names)

    rates = dev_rates(blocks, names)
    all_rates = {s: 100.0 * sum(b.passed(s) for b in blocks) / max(len(blocks), 1) for s in STAGES}
    no_params = sum(1 for b in blocks if b.validation.get("backward", {}).get("note"))
    reasons = failure_reasons(blocks)

    table = Table(title=f"Dev-list names in torch/torchvision/timm ({len(names)})")
    table.add_column("metric")
    table.add_column("nnrag", justify="right")
    if baseline:
        table.add_column("no-args baseline", justify="right")
        table.add_column("ratio", justify="right")
    for key in ("found", *DEV_STAGES):
        row = [f"% {key}", f"{rates[key]:.1f}"]
        if baseline:
            row += [f"{baseline[key]:.1f}", f"{rates[key] / baseline[key]:.2f}x" if baseline[key] else "-"]
        table.add_row(*row)
    console.print(table)
    corpus = Table(title=f"{'Dev blocks' if args.dev_only else 'Whole corpus'}: {len(blocks)} blocks, validation {validate_s:.1f} s "
                   f"on {args.workers} workers (load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f})")
    corpus.add_column("stage")
    corpus.add_column("% pass", justify="right")
    for stage in STAGES:
        corpus.add_row(stage, f"{all_rates[stage]:.1f}")
    console.print(corpus)
    console.print(f"backward passes with no trainable parameters (activations, pools, transforms): {no_params}")
    fails = Table(title="Top failure reasons (first failed stage)")
    fails.add_column("count", justify="right")
    fails.add_column("reason")
    for reason, count in reasons:
        fails.add_row(str(count), reason)
    console.print(fails)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "sources": args.sources, "workers": args.workers, "dev_only": args.dev_only,
        "load_before": list(load_before), "load_after": list(os.getloadavg()), "blocks": len(blocks), "mine_s": round(mine_s, 1),
        "validate_s": round(validate_s, 1), "dev_names": len(names), "dev_rates": rates, "dev_baseline": baseline,
        "corpus_stage_rates": all_rates, "backward_no_params": no_params,
        "top_failures": [{"reason": r, "count": c} for r, c in reasons],
        "dev_failures": sorted({b.name for b in blocks if b.name in set(names)} - {
            b.name for b in blocks if passes_through(b, "backward")}),
    }, indent=1))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
