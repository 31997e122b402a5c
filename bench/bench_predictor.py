"""Predictor accuracy on family-grouped hold-outs: every model, every dataset, every k, runs >= 3 epochs and
50-epoch runs.

    .venv/bin/python bench/bench_predictor.py [--grouping stem|strict] [--seed 7] [--split FILE] [--lora DIR] [--datasets cifar-10]

Writes bench/results/predictor.json (stem grouping, seed 0) or predictor_<split file name>.json and prints a rich table. The ratio
column compares each model's RMSE with the code-free LightGBM measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _env import REPO as ROOT  # noqa: E402  (offline hub, one thread, this checkout first on sys.path)

from rich.console import Console
from rich.table import Table

from predictor.evaluate import TARGETS
from predictor.train import evaluate_split, load_or_build_split


def cell(row: dict) -> tuple:
    """A metrics row's (dataset, k, subset): rows of one cell are comparable."""
    return row["dataset"], row["k"], row["subset"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", type=Path, default=None, help="split file; default the (seed, grouping) split in predictor/splits/")
    ap.add_argument("--grouping", choices=("stem", "strict"), default="stem", help="family grouping of the default split")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="last_value,curve_fit,gbm_nocode,gbm_code,gbm_stack")
    ap.add_argument("--lora", type=Path, default=None, help="a trained LoRA regressor directory to include (and the ensemble)")
    ap.add_argument("--datasets", default="", help="comma-separated; default every dataset with enough held-out runs")
    ap.add_argument("--target", choices=TARGETS, default="final", help="the metric after the last epoch, or the best over epochs")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    split_path, train, test = load_or_build_split(args.split, args.seed, args.grouping)
    datasets = tuple(ds for ds in args.datasets.split(",") if ds)
    rows, timings = evaluate_split(train, test, args.models.split(","), lora_dir=args.lora, split_path=split_path, datasets=datasets,
                                   target=args.target)
    base = {cell(r): r["rmse"] for r in rows if r["model"] == "gbm_nocode"}
    table = Table(title=f"predictor ({args.target} metric) on {split_path.name} (test models {len(test)})")
    for col in ("dataset", "subset", "model", "k", "n", "rmse", "vs nocode", "mae", "pearson", "spearman", "kendall", "cov80"):
        table.add_column(col)
    for r in rows:
        ratio = r["rmse"] / base[cell(r)] if cell(r) in base else float("nan")
        table.add_row(r["dataset"], r["subset"], r["model"], str(r["k"]), str(r["n"]), f"{r['rmse']:.4f}", f"{ratio:.2f}", f"{r['mae']:.4f}",
                      f"{r['pearson']:.3f}", f"{r['spearman']:.3f}", f"{r['kendall']:.3f}", f"{r['coverage80']:.3f}")
    Console().print(table)
    name = "predictor" if (args.seed, args.grouping, args.split) == (0, "stem", None) else f"predictor_{split_path.stem}"
    out = args.out or ROOT / "bench" / "results" / f"{name}{'_best' if args.target == 'best' else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"split": str(split_path.relative_to(ROOT) if split_path.is_relative_to(ROOT) else split_path),
                               "grouping": args.grouping if args.split is None else "split file", "train_models": len(train), "test_models": len(test), "seconds": round(time.time() - t0, 1),
                               "fit_seconds": timings, "target": args.target, "metrics": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
