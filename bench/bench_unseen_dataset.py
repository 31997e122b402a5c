"""What the predictor could say about a dataset it has no run of: why Predict refuses an unknown dataset name, and how
many reported runs a new dataset needs before its own estimator answers it (``predictor.datasets``).

    python bench/bench_unseen_dataset.py [--seed 0] [--pooled] [--runs-per-dataset 1000] [--reported-runs 50,150,400]
        [--recalibrated-runs 10,20,50,150,400] [--draws 1]

Each LEMUR dataset but CIFAR-10 plays the unseen dataset in turn. Its held-out runs (stem split, runs of >= 3 epochs
and 50-epoch runs) are answered four ways, measured on the same runs:
- ``own``: its own estimator (``gbm_stack``, fitted on its train runs): what the served predictor does;
- ``cifar-10 as unseen``: CIFAR-10's estimator, the dataset name hidden (what answering a new name with the estimator
  of the dataset with the most runs would give);
- ``pooled, left out`` (``--pooled``): ``gbm_code`` fitted on the other datasets' train runs together, with no
  dataset column (up to ``--runs-per-dataset`` runs each), so that nothing of the left-out dataset is known; CIFAR-10
  is left out too;
- ``own from n reported runs`` (``--reported-runs``): ``gbm_stack`` fitted on n of the dataset's train runs drawn at
  random, the name hidden: what ``train-predictor`` fits for a new dataset once n runs of it are reported;
- ``recalibrated from n reported runs`` (``--recalibrated-runs``): CIFAR-10's estimator recalibrated on the same n runs
  (``models.Recalibrated``, their whole curves, no horizon cuts, as reported runs are): what ``train-predictor`` fits
  a new dataset with fewer than ``NEW_DATASET_OWN_RUNS`` runs;
- the baselines ``curve_fit`` and ``last_value`` (at k = 0 the dataset's median, which a new dataset has no runs for).
Writes ``bench/results/unseen_dataset.json`` and prints RMSE / Pearson / 80%-interval coverage.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from predictor.evaluate import evaluate, training_codes, training_views  # noqa: E402
from predictor.features import CLASSIFICATION_DATASETS  # noqa: E402
from predictor.models import GBMParams, PerDataset, Recalibrated, make_estimator  # noqa: E402
from predictor.train import EVAL_MIN_RUNS, corpus, eval_datasets, fitted_for_split, load_or_build_split, runs_of  # noqa: E402

KS = (0, 1, 2, 3, 5, 10)
HIDDEN = "unseen-dataset"  # no LEMUR name: the dataset column is missing, as for a name the predictor never saw


def pooled_without(left_out: str, train_runs: list, per_dataset: int, seed: int = 0):
    """``gbm_code`` fitted on every other classification dataset's train runs, the dataset hidden."""
    rng = np.random.default_rng(seed)
    chosen = []
    for ds in CLASSIFICATION_DATASETS:
        runs = [r for r in train_runs if r.dataset == ds] if ds != left_out else []
        if len(runs) > per_dataset:
            runs = [runs[i] for i in rng.choice(len(runs), per_dataset, replace=False)]
        chosen += [replace(r, dataset=HIDDEN) for r in runs]
    c = corpus()
    views, targets, groups = training_views(chosen, c, "stem")
    return make_estimator("gbm_code", GBMParams()).fit(views, targets, groups, codes=training_codes(chosen))


def drawn(dataset: str, train_runs: list, n: int, seed: int = 0) -> list:
    """``n`` of ``dataset``'s train runs drawn at random, the name hidden: the runs a user reported."""
    runs = [r for r in train_runs if r.dataset == dataset]
    return [replace(runs[i], dataset=HIDDEN) for i in np.random.default_rng(seed).choice(len(runs), min(n, len(runs)), replace=False)]


def own_from(dataset: str, train_runs: list, n: int, seed: int = 0):
    """``gbm_stack`` fitted on ``n`` of ``dataset``'s train runs drawn at random, the name hidden, as ``train-predictor``
    fits a new dataset's from ``NEW_DATASET_OWN_RUNS`` runs (``models.PerDataset``: its own estimator, its own
    conformal level while it has few views)."""
    chosen = drawn(dataset, train_runs, n, seed)
    views, targets, groups = training_views(chosen, corpus(), "stem")
    return PerDataset("gbm_stack", GBMParams()).fit(views, targets, groups, codes=training_codes(chosen))


def recalibrated_from(dataset: str, train_runs: list, n: int, base, seed: int = 0) -> Recalibrated:
    """CIFAR-10's ``base`` recalibrated on the same ``n`` runs as ``own_from``'s, as ``train-predictor`` fits a new
    dataset below ``NEW_DATASET_OWN_RUNS`` runs (whole curves: a reported run gets no horizon cuts)."""
    views, targets, _ = training_views(drawn(dataset, train_runs, n, seed), corpus(), "stem", cuts=False)
    return Recalibrated(base, "cifar-10").fit(views, targets)


class NameHidden:
    """An estimator asked with the dataset's name hidden: what it answers for a dataset it never saw."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def predict(self, views: list):
        return self.estimator.predict([replace(v, dataset=HIDDEN) for v in views])


def rows_for(dataset: str, test_runs: list, answerers: dict) -> list[dict]:
    """Metric rows of each answerer on ``dataset``'s held-out runs of >= 3 epochs and of 50 epochs (as
    ``nnrag eval-predictor`` scores them)."""
    c = corpus()
    rows = evaluate(answerers, test_runs, c, KS, dataset, min_epochs=3)
    rows += evaluate(answerers, test_runs, c, KS, dataset, exact_epochs=50, min_runs=EVAL_MIN_RUNS)
    return [r.as_dict() for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0, help="stem split seed")
    ap.add_argument("--pooled", action="store_true", help="also fit a pooled estimator per left-out dataset (about 2 min each)")
    ap.add_argument("--runs-per-dataset", type=int, default=1000)
    ap.add_argument("--reported-runs", default="", help="comma-separated n: also the estimator fitted on n of the dataset's runs")
    ap.add_argument("--recalibrated-runs", default="", help="comma-separated n: also CIFAR-10's estimator recalibrated on n runs")
    ap.add_argument("--draws", type=int, default=1, help="random draws of the n runs (seeds seed, seed + 1, ...)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "unseen_dataset.json"))
    args = ap.parse_args()
    t0 = time.time()
    split_path, train, test = load_or_build_split(None, args.seed, "stem")
    c = corpus()
    test_runs = runs_of(test, c)
    datasets = eval_datasets(test_runs, None)
    fitted = fitted_for_split(split_path, train, ["last_value", "curve_fit", "gbm_stack"], datasets)
    cifar = fitted["gbm_stack"].by_dataset["cifar-10"]
    reported = [int(n) for n in args.reported_runs.split(",") if n.strip()]
    recalibrated = [int(n) for n in args.recalibrated_runs.split(",") if n.strip()]
    train_runs = runs_of(train, c) if args.pooled or reported or recalibrated else []
    draws = [args.seed + d for d in range(args.draws)]
    suffix = lambda seed: "" if seed == args.seed else f", draw {seed - args.seed + 1}"  # noqa: E731
    rows = []
    for dataset in datasets:
        answerers = {} if dataset == "cifar-10" else {"own gbm_stack": fitted["gbm_stack"], "cifar-10 gbm_stack as unseen": NameHidden(cifar)}
        if args.pooled:
            answerers["pooled gbm_code, left out"] = NameHidden(pooled_without(dataset, train_runs, args.runs_per_dataset))
        for n, seed in [(n, seed) for n in reported for seed in draws] if answerers else []:
            answerers[f"own from {n} reported runs{suffix(seed)}"] = NameHidden(own_from(dataset, train_runs, n, seed))
        for n, seed in [(n, seed) for n in recalibrated for seed in draws] if answerers else []:
            answerers[f"recalibrated from {n} reported runs{suffix(seed)}"] = recalibrated_from(dataset, train_runs, n, cifar, seed)
        if answerers:
            answerers.update({"curve_fit": fitted["curve_fit"], "last_value": fitted["last_value"]})
            rows += rows_for(dataset, test_runs, answerers)
    table = Table(title=f"a dataset the predictor never saw ({split_path.name})")
    for col in ("dataset", "subset", "k", "n", "answered by", "rmse", "pearson", "cov80"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["dataset"], r["subset"], str(r["k"]), str(r["n"]), r["model"], f"{r['rmse']:.4f}", f"{r['pearson']:.3f}",
                      f"{r['coverage80']:.2f}")
    Console(width=140).print(table)
    with open(args.out, "w") as fh:
        json.dump({"split": split_path.name, "pooled_runs_per_dataset": args.runs_per_dataset if args.pooled else None,
                   "reported_runs": reported, "recalibrated_runs": recalibrated, "draws": args.draws,
                   "seconds": round(time.time() - t0, 1), "metrics": rows}, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
