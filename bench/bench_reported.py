"""How much the reported runs of a code improve the next prediction for it (``Predictor.corrected_by_reports``).

A hyperparameter study trains one code many times. Replayed on the held-out families of a split: each held-out
code's runs on a dataset arrive in a random order, every run finished and reported before the next; each run is
predicted at epoch k by the estimator alone ("alone") and corrected by the earlier reported runs of its code
("corrected": their mean error at k, at k = 0 weighted by how close each run's hyperparameters are
(``models.hparam_similarity``, ``api.HPARAM_WEIGHTS_UNTIL``), times n / (n + lambda), lambda learned in training, the calibrated interval stretched to hold the point;
``models.code_corrected``), as ``Predictor.predict`` does; "corrected, plain mean" weighs every earlier run the same (the
rule up to session 16), on the same orders. Runs whose code had no earlier run are the same in all three.

    .venv/bin/python bench/bench_reported.py [--seeds 0,1] [--orders 5] [--model gbm_stack] [--datasets cifar-10 | --datasets all]

Writes bench/results/predictor_reported.json (``--datasets all``: predictor_reported_all.json) and prints a table (RMSE / Pearson / 80% coverage, all runs and the
runs that had at least one earlier run of their code).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from _env import REPO as ROOT  # noqa: E402  (offline hub, one thread, this checkout first on sys.path)

import numpy as np
from rich.console import Console
from rich.table import Table

from predictor.evaluate import metrics, usable, view_of
from predictor.api import HPARAM_WEIGHTS_UNTIL
from predictor.models import code_corrected, code_shrink_of, hparam_similarity
from predictor.train import corpus, eval_datasets, fitted_for_split, load_or_build_split, runs_of

KS = (0, 1, 2, 3, 4)
LONG_KS = (5, 10, 20)  # the 50-epoch runs only
MIN_RUNS = 30  # fewer held-out runs than this at a k: no row


def corrected(point: np.ndarray, lo: np.ndarray, hi: np.ndarray, y: np.ndarray, codes: list[str], shrink: np.ndarray,
              rng: np.random.Generator, hparams: list[dict] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each run corrected by the runs of its code that came before it in a random order (their errors weighted by
    ``hparam_similarity`` when ``hparams`` are given, as ``Predictor.corrected_by_reports`` does); and each run's count
    of them."""
    out = [point.copy(), lo.copy(), hi.copy()]
    earlier = np.zeros(len(y), dtype=int)
    by_code: dict[str, list[int]] = defaultdict(list)
    for i, code in enumerate(codes):
        by_code[code].append(i)
    for idx in by_code.values():
        order = rng.permutation(idx)
        for pos, i in enumerate(order):
            before = order[:pos]
            earlier[i] = len(before)
            if len(before) and np.isfinite(shrink[i]):
                residuals = (y[before] - point[before]).tolist()
                weights = [hparam_similarity(hparams[i], hparams[j]) for j in before] if hparams is not None else None
                out[0][i], out[1][i], out[2][i] = code_corrected(point[i], lo[i], hi[i], residuals, float(shrink[i]), weights)
    return *out, earlier


def rows_for(seed: int, model: str, orders: int, wanted: tuple[str, ...]) -> list[dict]:
    """Every evaluated dataset of the seed's stem split (``wanted``; empty: each with enough held-out runs)."""
    split_path, train, test = load_or_build_split(None, seed, "stem")
    c = corpus()
    datasets = eval_datasets(runs_of(test, c), wanted)
    est = fitted_for_split(split_path, train, [model], datasets)[model]
    return [row for dataset in datasets for row in dataset_rows(est, c, test, dataset, seed, orders)]


def dataset_rows(est, c, test: list[str], dataset: str, seed: int, orders: int) -> list[dict]:
    runs = [r for r in runs_of(test, c, (dataset,)) if usable(r) and r.epochs >= 3]
    rows = []
    for subset, ks, chosen in (("runs>=3ep", KS, runs), ("runs==50ep", (0, 2, *LONG_KS), [r for r in runs if r.epochs == 50])):
        for k in ks:
            at_k = [r for r in chosen if r.epochs > k]
            if len(at_k) < MIN_RUNS:  # e.g. a dataset with few 50-epoch runs
                continue
            views = [view_of(r, k, c.features.get(r.model)) for r in at_k]
            e = est.predict(views)
            y = np.array([r.final for r in at_k])
            shrink = code_shrink_of(est, views)
            codes, hparams = [r.model for r in at_k], [r.hparams for r in at_k] if k < HPARAM_WEIGHTS_UNTIL else None
            found = {name: [corrected(e.point, e.lo, e.hi, y, codes, shrink, np.random.default_rng(order), hp)
                            for order in range(orders)]
                     for name, hp in (("corrected", hparams), ("corrected, plain mean", None))}  # the same orders
            for runs_name, pick in (("all", lambda n: n >= 0), ("had earlier runs", lambda n: n > 0)):
                alone = [metrics("alone", dataset, k, y[m], e.point[m], e.lo[m], e.hi[m], subset)
                         for *_, earlier in found["corrected"] for m in [pick(earlier)]]
                fixed = [[metrics(name, dataset, k, y[m], point[m], lo[m], hi[m], subset)
                          for point, lo, hi, earlier in runs for m in [pick(earlier)]] for name, runs in found.items()]
                for cells in (alone, *fixed):
                    rows.append({"seed": seed, "dataset": dataset, "subset": subset, "k": k, "runs": runs_name, "estimate": cells[0].model,
                                 "lambda": float(np.median(shrink)),
                                 **{key: float(np.mean([getattr(m, key) for m in cells])) for key in ("rmse", "pearson", "coverage80", "n")}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1", help="stem split seeds")
    ap.add_argument("--orders", type=int, default=5, help="random orders of each code's runs")
    ap.add_argument("--model", default="gbm_stack")
    ap.add_argument("--datasets", default="cifar-10", help="comma-separated, or 'all': every dataset with enough held-out runs")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    wanted = () if args.datasets == "all" else tuple(ds for ds in args.datasets.split(",") if ds)
    out = args.out or ROOT / "bench" / "results" / ("predictor_reported_all.json" if args.datasets == "all" else "predictor_reported.json")
    rows = [row for seed in (int(s) for s in args.seeds.split(",")) for row in rows_for(seed, args.model, args.orders, wanted)]
    table = Table(title=f"{args.model}: alone vs corrected by the earlier reported runs of the same code (stem splits)")
    for col in ("seed", "dataset", "subset", "k", "lambda", "runs", "n", "alone rmse / pearson / cov", "corrected (plain mean)",
                "corrected", "ratio"):
        table.add_column(col)
    cells = defaultdict(dict)
    for r in rows:
        cells[(r["seed"], r["dataset"], r["subset"], r["k"], r["runs"])][r["estimate"]] = r
    for (seed, dataset, subset, k, runs), pair in cells.items():
        a, plain, b = pair["alone"], pair["corrected, plain mean"], pair["corrected"]
        table.add_row(str(seed), dataset, subset, str(k), f"{a['lambda']:.1f}", runs, f"{a['n']:.0f}",
                      *(f"{m['rmse']:.4f} / {m['pearson']:.3f} / {m['coverage80']:.2f}" for m in (a, plain, b)),
                      f"{b['rmse'] / a['rmse']:.2f}")
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": args.model, "orders": args.orders, "seconds": round(time.time() - t0, 1), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
