"""Patch time against the number of blocks a model forgot, with and without the parsed-block cache.

    .venv/bin/python bench/bench_patch_scaling.py [--store DIR] [--sizes 5 20 40] [--baseline-sizes 5 20 40]

Each case is a model that uses N undefined blocks (``Block0()`` ... ``Block<N-1>()``): the patcher finds a
store block for each by name, inserts them all, and retries with runner-up blocks while the sandbox check
fails (five tries). Every insertion reads a block's source three or four times (imports, statements, renames);
inside a patch ``rag_server.codeops.parsed`` keeps each parsed tree (``parse_once``), so a block is parsed once
per patch instead. The baseline, measured in the same run on the same cases, parses on every read. Both must
give the same patched code.
Writes ``bench/results/patch_scaling.json`` and prints a rich table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)

import libcst as cst  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import rag_server.codeops as codeops  # noqa: E402
from indexer.store import BlockStore  # noqa: E402
from nnrag.settings import get_settings  # noqa: E402
from rag_server.patch import patch  # noqa: E402
from sandbox.pool import CheckerPool  # noqa: E402


def forgetful_model(n: int) -> str:
    calls = " + ".join(f"Block{i}()" for i in range(n))
    return f"import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.a = {calls}\n"


def timed_patch(code: str, store: BlockStore, pool: CheckerPool, cached: bool) -> dict:
    """One patch; ``cached=False`` swaps the parse cache for a plain parse (the baseline)."""
    original = codeops.parsed
    if not cached:
        codeops.parsed = cst.parse_module
    try:
        start = time.perf_counter()
        result = patch(code, None, store, pool)
        seconds = time.perf_counter() - start
    finally:
        codeops.parsed = original
    digest = hashlib.sha256(result.code.encode()).hexdigest()[:16]
    return {"seconds": seconds, "tries": result.tries, "inserted": len(result.inserted), "code_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 40, 100])
    parser.add_argument("--baseline-sizes", type=int, nargs="+", default=[5, 20, 40])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "patch_scaling.json")
    args = parser.parse_args()
    store = BlockStore(args.store or get_settings().store_path)
    rows = []
    with CheckerPool(size=1) as pool:
        for n in args.sizes:
            code = forgetful_model(n)
            row = {"missing_blocks": n, "cached": timed_patch(code, store, pool, cached=True)}
            if n in args.baseline_sizes:
                row["baseline"] = timed_patch(code, store, pool, cached=False)
                row["speedup"] = row["baseline"]["seconds"] / row["cached"]["seconds"]
                row["same_code"] = row["baseline"]["code_sha256"] == row["cached"]["code_sha256"]
            rows.append(row)
    table = Table(title="patch time by blocks to insert (5 tries, one sandbox worker)")
    for col in ("missing blocks", "inserted", "tries", "cached s", "baseline s", "speedup", "same code"):
        table.add_column(col, justify="right")
    for r in rows:
        base = r.get("baseline")
        table.add_row(str(r["missing_blocks"]), str(r["cached"]["inserted"]), str(r["cached"]["tries"]), f"{r['cached']['seconds']:.1f}",
                      f"{base['seconds']:.1f}" if base else "-", f"{r['speedup']:.1f}x" if base else "-", str(r.get("same_code", "-")))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"store": str(args.store or get_settings().store_path), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
