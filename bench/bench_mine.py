"""Mining benchmark: blocks mined from the default corpus, time, unresolved names, and
coverage of the dev target list.

    .venv/bin/python bench/bench_mine.py [--source SPEC ...] [--lemur] [--exec-sample N]

Baseline measured in the same run: ``ast.parse`` of the same files (the floor any
miner pays), so ``mine / parse`` says how much the import-graph resolution, closure and
emission cost on top of parsing. Times are process CPU seconds (one core) and wall
seconds (the machine is shared). ``--exec-sample N`` executes N blocks (module level
only, no instantiation) in ONE separate python process, never in this one.
Writes ``bench/results/mine.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from corpus.sources import open_source  # noqa: E402
from indexer.mine import MineReport, mine_files  # noqa: E402
from nnrag.settings import default_home  # noqa: E402

DEFAULT_SOURCES = ["pkg:torch.nn", "pkg:torchvision", "pkg:timm"]
TARGETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "nnrag_targets_dev.json"
RESULTS = Path(__file__).resolve().parent / "results" / "mine.json"

EXEC_SCRIPT = """
import json, sys, torch
torch.set_num_threads(1)
blocks = json.load(open(sys.argv[1]))
failed = {}
for qual, name, code in blocks:
    ns = {"__name__": "blk_" + qual.replace(".", "_").replace("-", "_"), "__file__": "block.py"}
    try:
        exec(compile(code, qual, "exec"), ns)
        if name not in ns:
            raise NameError(name)
    except BaseException as exc:
        failed[qual] = f"{type(exc).__name__}: {str(exc)[:200]}"
print(json.dumps(failed))
"""


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def exec_sample(blocks, n: int, seed: int = 0) -> dict:
    """Run the module level of n random blocks in a separate python process."""
    sample = random.Random(seed).sample(blocks, min(n, len(blocks)))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "blocks.json"
        data.write_text(json.dumps([[b.qualified_name, b.name, b.code] for b in sample]))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        proc = subprocess.run([sys.executable, "-c", EXEC_SCRIPT, str(data)], capture_output=True, text=True, timeout=1800, env=env, cwd=tmp)
    failed = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"<runner>": proc.stderr[-500:]}
    return {"n": len(sample), "ok": len(sample) - len(failed), "failed": failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", action="append", help="source specs (default: torch.nn, torchvision, timm)")
    ap.add_argument("--lemur", action="store_true", help="also mine LEMUR (10,483 files, ~1.5 CPU-minutes)")
    ap.add_argument("--exec-sample", type=int, default=0, help="execute N blocks' module level in a subprocess")
    ap.add_argument("--cache", type=Path, default=default_home() / "cache")
    args = ap.parse_args()
    specs = args.source or list(DEFAULT_SOURCES)
    if args.lemur:
        specs.append("lemur")
    console = Console(width=200)
    rows, result = [], {"sources": {}}
    all_blocks = []
    for spec in specs:
        src, w_open, _ = timed(lambda: open_source(spec, args.cache))
        files, w_read, _ = timed(lambda: list(src.files()))
        _, w_fp, _ = timed(src.fingerprint)
        _, w_parse, c_parse = timed(lambda: [ast.parse(f.text) for f in files])
        report = MineReport()
        blocks, w_mine, c_mine = timed(lambda: mine_files(files, report))
        all_blocks += blocks
        unresolved = sum(1 for b in blocks if b.unresolved)
        missing = sum(1 for b in blocks if b.missing_deps)
        stats = {
            "files": len(files),
            "blocks": len(blocks),
            "mine_cpu_s": round(c_mine, 2),
            "mine_wall_s": round(w_mine, 2),
            "parse_cpu_s": round(c_parse, 2),
            "mine_over_parse": round(c_mine / max(c_parse, 1e-9), 2),
            "fingerprint_ms": round(1000 * w_fp, 1),
            "blocks_with_unresolved": unresolved,
            "pct_unresolved": round(100 * unresolved / max(len(blocks), 1), 2),
            "blocks_with_missing_deps": missing,
            "compile_errors": len(report.compile_errors),
            "parse_errors": len(report.parse_errors),
            "mean_lines": round(sum(b.code.count("\n") for b in blocks) / max(len(blocks), 1), 1),
        }
        result["sources"][spec] = stats
        rows.append((spec, stats))

    total_cpu = sum(s["mine_cpu_s"] for k, s in result["sources"].items() if k in DEFAULT_SOURCES)
    result["default_corpus_mine_cpu_s"] = round(total_cpu, 2)
    if TARGETS.exists():
        targets = json.loads(TARGETS.read_text())
        wanted = [t["name"] for t in targets if t["class_in_timm_pkg"] or t["class_in_torchvision_pkg"] or t["class_in_torch_pkg"]]
        names = {b.name for b in all_blocks}
        found = [n for n in wanted if n in names]
        result["dev_targets"] = {"in_torch_torchvision_timm": len(wanted), "found": len(found), "pct_found": round(100 * len(found) / max(len(wanted), 1), 1), "missing": sorted(set(wanted) - names)}
    if args.exec_sample:
        result["exec_sample"] = exec_sample(all_blocks, args.exec_sample)

    table = Table(title="nnrag mining")
    for col in ("source", "files", "blocks", "mine CPU s", "wall s", "parse CPU s", "mine/parse", "fingerprint ms", "% unresolved", "compile errs", "mean lines"):
        table.add_column(col, justify="right")
    for spec, s in rows:
        table.add_row(spec, str(s["files"]), str(s["blocks"]), f"{s['mine_cpu_s']:.1f}", f"{s['mine_wall_s']:.1f}", f"{s['parse_cpu_s']:.1f}", f"{s['mine_over_parse']:.2f}x", f"{s['fingerprint_ms']:.1f}", f"{s['pct_unresolved']:.1f}", str(s["compile_errors"]), f"{s['mean_lines']:.0f}")
    console.print(table)
    console.print(f"default corpus mining: {total_cpu:.1f} CPU-s")
    if "dev_targets" in result:
        d = result["dev_targets"]
        console.print(f"dev targets in torch/torchvision/timm found as blocks: {d['found']}/{d['in_torch_torchvision_timm']} ({d['pct_found']}%)")
    if "exec_sample" in result:
        e = result["exec_sample"]
        console.print(f"module level executes (separate process): {e['ok']}/{e['n']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
