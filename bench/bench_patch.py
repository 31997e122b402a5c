"""Patch benchmark: restore models whose helpers an LLM "forgot", on two seeded ablation sets.

    python bench/bench_patch.py [--store DIR] [--seeds 0 1] [--n-lemur 15] [--n-store 15] [--n-llm 10]

The store should hold timm/torchvision and, for LEMUR helpers, LEMUR code. The recorded run:
    python bench/ablation.py --write-lemur-subset /tmp/lemur_subset
    nnrag index --store /tmp/bench_store --no-validate -s pkg:timm.layers -s pkg:torchvision.models \
        -s pkg:torchvision.ops -s dir:/tmp/lemur_subset
    python bench/bench_patch.py --store /tmp/bench_store --seeds 0 1 --n-lemur 10 --n-store 8 --n-llm 2 --n-idempotence 6

For each seed (``bench/ablation.py``): working models (LEMUR models with helpers, blocks
mined from timm / torchvision model files) with 1-3 helper definitions and/or a standard
import deleted, plus real LLM-written LEMUR models that fail with NameError. Measures: %
restored to forward + backward passing, % of deleted helpers whose inserted replacement is
the original or an equivalent (same content or alpha-renamed structure hash), seconds
per patch, sandbox checks per patch; idempotence (patching each working original must give
it back byte-identical). Baseline in the same run: the first candidate combination only
(no check-guided retries), read from each patch's attempt log. Writes
``bench/results/patch.json`` and prints a rich table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)


from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.ablation import AblationCase, build_cases  # noqa: E402
from rag_server.patch import PatchResult, patch  # noqa: E402

console = Console(width=170)


def open_resources(store_dir: Path | None, workers: int = 2) -> tuple[Any, Any, Path | None]:
    """The block store, a sandbox pool, and the LEMUR wheel when it is cached (None otherwise)."""
    from corpus.lemur import LEMUR_VERSION
    from indexer.store import BlockStore
    from nnrag.settings import get_settings
    from sandbox.pool import CheckerPool

    settings = get_settings()
    store = BlockStore(Path(store_dir or settings.store_path))
    found = sorted((settings.cache_path / "wheels").glob(f"nn_dataset-{LEMUR_VERSION}-*.whl"))
    wheel = found[0] if found else None
    if wheel is None:
        try:
            from corpus.lemur import lemur_wheel

            wheel = lemur_wheel(settings.cache_path)
        except Exception as exc:  # noqa: BLE001 - no network: run without LEMUR and say so
            console.print(f"[yellow]no LEMUR wheel ({exc}); LEMUR cases skipped[/yellow]")
    return store, CheckerPool(size=workers), wheel


def _definition_hashes(code: str) -> dict[str, tuple[str, str]]:
    """Top-level class/def name -> (content_hash, struct_hash) of that one statement."""
    import ast

    from indexer.dedup import content_hash, struct_hash

    out: dict[str, tuple[str, str]] = {}
    tree = ast.parse(code)
    lines = code.splitlines(keepends=True)
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            text = "".join(lines[start - 1 : node.end_lineno])
            try:
                out[node.name] = (content_hash(text), struct_hash(text))
            except Exception:  # noqa: BLE001 - a hash failure counts as "not equivalent"
                continue
    return out


def equivalence(case: AblationCase, result: PatchResult) -> tuple[int, int]:
    """(deleted definitions replaced by the original or an equivalent, deleted definitions)."""
    deleted = {n: s for n, s in case.deleted_defs.items() if s.lstrip().startswith(("class ", "def ", "@"))}
    if not deleted:
        return 0, 0
    from indexer.dedup import content_hash, struct_hash

    patched = _definition_hashes(result.code)
    symbol_of = {item["name"]: item["symbol"] for item in result.inserted}
    same = 0
    for name, text in deleted.items():
        got = patched.get(symbol_of.get(name, name)) or patched.get(name)
        if got is None:
            continue
        try:
            if got[0] == content_hash(text) or got[1] == struct_hash(text):
                same += 1
        except Exception:  # noqa: BLE001
            continue
    return same, len(deleted)


def run_seed(seed: int, store: Any, pool: Any, wheel: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    cases, originals = build_cases(seed, store, pool, wheel, args.n_lemur, args.n_store, args.n_llm,
                                   log=lambda m: console.print(f"[dim]{m}[/dim]") if args.verbose else None)
    build_s = time.perf_counter() - t0
    rows = []
    for case in cases:
        started = time.perf_counter()
        try:
            result = patch(case.code, case.check_spec(), store, pool, max_tries=args.max_tries)
        except Exception as exc:  # noqa: BLE001 - a crash is a failed case, recorded
            rows.append({"case": case.case_id, "origin": case.origin, "kind": case.kind, "restored": False,
                         "error": f"{type(exc).__name__}: {exc}", "seconds": time.perf_counter() - started})
            continue
        seconds = time.perf_counter() - started
        same, total = equivalence(case, result)
        patched_attempts = [a for a in result.attempts if not a.startswith("as given:")]
        first_ok = bool(patched_attempts) and patched_attempts[0].endswith(": ok")
        rows.append({
            "case": case.case_id, "origin": case.origin, "kind": case.kind, "deleted": case.deleted,
            "restored": bool(result.check and result.check.ok), "first_try_ok": first_ok,
            "equivalent": same, "deleted_defs": total, "seconds": seconds, "checks": result.tries,
            "inserted": [f"{i['name']}<-{i['qualified_name']} ({i['match']})" for i in result.inserted],
            "added_imports": result.added_imports, "unresolved": result.unresolved,
            "failure": "" if result.check is None or result.check.ok else
            f"{result.check.failed_stage}: {result.check.error_type}: {(result.check.message or '')[:200]}",
        })
        if args.verbose:
            mark = "ok " if rows[-1]["restored"] else "BAD"
            console.print(f"{mark} {case.origin} -{case.deleted} {rows[-1]['inserted']} {rows[-1]['failure']}")
    idem = []
    for item in originals[: args.n_idempotence]:
        from sandbox.spec import CheckSpec

        out = patch(item["code"], CheckSpec.from_dict(item["spec"]), store, pool)
        idem.append(out.code == item["code"])
    return {"seed": seed, "cases": rows, "idempotent": idem, "build_seconds": build_s}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0}
    restored = sum(r["restored"] for r in rows)
    first = sum(r.get("first_try_ok", False) for r in rows)
    eq = sum(r.get("equivalent", 0) for r in rows)
    defs = sum(r.get("deleted_defs", 0) for r in rows)
    secs = [r["seconds"] for r in rows]
    return {
        "n": len(rows),
        "restored_pct": 100.0 * restored / len(rows),
        "first_try_pct": 100.0 * first / len(rows),
        "equivalent_pct": 100.0 * eq / defs if defs else None,
        "deleted_defs": defs,
        "median_s": statistics.median(secs),
        "p90_s": sorted(secs)[int(0.9 * (len(secs) - 1))],
        "mean_checks": statistics.mean(r.get("checks", 0) for r in rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--n-lemur", type=int, default=15)
    parser.add_argument("--n-store", type=int, default=15)
    parser.add_argument("--n-llm", type=int, default=10)
    parser.add_argument("--n-idempotence", type=int, default=10)
    parser.add_argument("--max-tries", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "patch.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    store, pool, wheel = open_resources(args.store, args.workers)
    results = []
    with pool:
        for seed in args.seeds:
            results.append(run_seed(seed, store, pool, wheel, args))

    table = Table(title=f"patch: restore forgotten helpers (store {store.version}, {len(store)} blocks)")
    for col in ("seed", "set", "n", "restored %", "1st try % (baseline)", "equivalent %", "median s", "p90 s", "checks/patch", "idempotent"):
        table.add_column(col, justify="right")
    summary = []
    for res in results:
        groups = {
            "ablated LEMUR": [r for r in res["cases"] if r["origin"].startswith("lemur:")],
            "ablated timm/tv": [r for r in res["cases"] if r["origin"].startswith("store:")],
            "all ablated": [r for r in res["cases"] if r["kind"] == "ablated"],
            "LLM NameError": [r for r in res["cases"] if r["kind"] == "llm"],
        }
        idem = f"{sum(res['idempotent'])}/{len(res['idempotent'])}"
        for label, rows in groups.items():
            s = summarize(rows)
            summary.append({"seed": res["seed"], "set": label, **s})
            if not s["n"]:
                table.add_row(str(res["seed"]), label, "0", *["-"] * 7)
                continue
            eq = f"{s['equivalent_pct']:.0f}" if s["equivalent_pct"] is not None else "-"
            table.add_row(str(res["seed"]), label, str(s["n"]), f"{s['restored_pct']:.1f}", f"{s['first_try_pct']:.1f}",
                          eq, f"{s['median_s']:.2f}", f"{s['p90_s']:.2f}", f"{s['mean_checks']:.1f}",
                          idem if label == "all ablated" else "")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "store": {"path": str(store.store_dir), "version": store.version, "blocks": len(store),
                  "sources": sorted(store.source_fingerprints())},
        "lemur_wheel": str(wheel) if wheel else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "args": {k: str(v) for k, v in vars(args).items()},
        "summary": summary,
        "runs": results,
    }, indent=1))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
