"""Early stop on replayed LEMUR 50-epoch CIFAR-10 runs: the predictor's rule vs Optuna's pruners, same runs, same orders.

    .venv/bin/python bench/bench_early_stop.py [--seeds 0,1,2] [--orders 10] [--p-min 0.02]
    .venv/bin/python bench/bench_early_stop.py --split-file SPLIT.json [--split-file ...] --pool-size 0
    .venv/bin/python bench/bench_early_stop.py --grouping stem --seeds 0,1 --pool-size 0 --dataset svhn --as-new-dataset 50 --brief

Without ``--split-file`` the splits are the built family-grouped ones of ``--seeds`` (``--grouping``, strict by
default: ``predictor/splits/cifar10_seed<seed>.json``); with it, each given split file (the JSON
``{"train_models": [...], "test_models": [...]}`` that ``nnrag eval-predictor --split-file`` reads).

The replay pool is the 50-epoch CIFAR-10 runs of each split's *test* models (predictions come from
the estimator trained on that split's train models); with several seeds the pools are merged
(a run keeps the prediction of the first split that held it out). Each order replays the whole pool.
Each replay draws ``--pool-size`` runs at random (a study of that many trials) in random order.
Writes bench/results/early_stop.json and prints a rich table; "vs median" is the epochs-saved ratio
against Optuna's MedianPruner measured in the same run.

``--train-replays`` replays the 50-epoch runs of each split's *train* models instead, predicted out of
fold (the train families cut in two halves; each half predicted by an estimator fitted on the other):
the pool the recommended policy (and the rung rule before it) was chosen on, so the test replays stay untouched by
the choice. There the
rungs are calibrated on the replayed pool (``--rung-epochs``, ``--coverage``; see early_stop.calibrate_rungs) and
replayed with and without the probability rule, the guard and the rank confidence; the JSON keeps them under
"calibrated_rungs". The test replays use the fixed rungs of RUNGS_POLICY and SAVINGS_MATCHED_RUNGS only.
Every replay knows each run's code (its LEMUR model): the recommended policy corrects a prediction by the study's
earlier runs of the same code.

``--dataset`` replays another LEMUR dataset's 50-epoch runs, predicted by its own estimator; with ``--as-new-dataset N``
they are predicted as a new dataset's would be once N of its runs are reported: CIFAR-10's estimator recalibrated on N
of the dataset's train runs drawn at random (``models.Recalibrated``; ``predictor.datasets``). ``--brief`` replays only
the recommended policy and Optuna's pruners.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from _env import REPO as ROOT  # noqa: E402  (offline hub, one thread, this checkout first on sys.path)

import numpy as np
import optuna
from rich.console import Console
from rich.table import Table

from predictor.early_stop import LATE_THRESHOLD, PREVIOUS_POLICY, RECOMMENDED_POLICY, RUNGS_POLICY, STUDY_SIZE_POLICY, StopPolicy, calibrate_rungs
from predictor.evaluate import training_views, usable, view_of
from predictor.families import family_split, read_split
from predictor.models import GBM, GBMParams, Recalibrated
from predictor.replay import replay_optuna, replay_predictor
from predictor.train import corpus, fitted_for_split, load_or_build_split, runs_of
from bench_unseen_dataset import recalibrated_from  # noqa: E402  (the same draw and fit of a new dataset's reported runs)

EPOCHS = 50
DATASET = "cifar-10"  # the replayed studies: LEMUR's 50-epoch CIFAR-10 runs

# Rungs alone at lower coverages, for savings-matched comparisons with Optuna's pruners: calibrate_rungs(coverage=c)
# on the unique train-pool curves of split seeds 0 and 1, as `--train-replays --seeds 0,1` prints them in
# "calibrated_rungs" (curves only: the predictor's version does not move them).
SAVINGS_MATCHED_RUNGS = {
    0.8: ((2, 0.373), (4, 0.287), (6, 0.275), (8, 0.182), (12, 0.14), (16, 0.14), (20, 0.129), (25, 0.129), (30, 0.129),
          (35, 0.052), (40, 0.043), (45, 0.043)),
    0.5: ((2, 0.16), (4, 0.112), (6, 0.078), (8, 0.058), (12, 0.055), (16, 0.055), (20, 0.046), (25, 0.044), (30, 0.032),
          (35, 0.027), (40, 0.027), (45, 0.027)),
}


Pool = tuple[list[list[float]], list[list[tuple[float, float, float]]], list[str], list[str]]  # curves, predictions, run ids, models
Split = tuple[Path, list[str], list[str]]  # split file, train models, test models


def load_splits(seeds: list[int], split_files: list[Path], grouping: str) -> list[Split]:
    """The given split files (a ``.py`` suffix on a model name dropped, as eval-predictor reads them), else the built
    split of each seed and grouping; a ValueError for a missing or malformed file."""
    if not split_files:
        return [load_or_build_split(None, seed, grouping) for seed in seeds]
    splits = []
    for path in split_files:
        if not path.is_file():
            raise ValueError(f"split file {path} does not exist")
        train, test = read_split(path)
        train, test = ([n.removesuffix(".py") for n in names] for names in (train, test))
        splits.append((path, train, test))
    return splits


def as_new_dataset(path: Path, train: list[str], model: str, dataset: str, runs: int, seed: int = 0) -> Recalibrated:
    """What answers ``dataset`` once ``runs`` of its runs are reported as a new dataset's: CIFAR-10's estimator
    recalibrated on that many of its train runs (drawn with ``seed``, whole curves, as reported runs are)."""
    base = fitted_for_split(path, train, [model], (DATASET,))[model].by_dataset[DATASET]
    return recalibrated_from(dataset, runs_of(train, corpus()), runs, base, seed)


def pool_with_predictions(splits: list[Split], model: str, dataset: str = DATASET, new_dataset_runs: int = 0) -> Pool:
    c = corpus()
    curves, preds, ids, models, seen = [], [], [], [], set()
    for path, train, test in splits:
        if new_dataset_runs:
            est = as_new_dataset(path, train, model, dataset, new_dataset_runs)
        else:
            est = fitted_for_split(path, train, [model], (dataset,))[model]
        runs = [r for r in runs_of(test, c) if usable(r) and r.dataset == dataset and r.epochs == EPOCHS and r.run_id not in seen]
        for r in runs:
            views = [view_of(r, k, c.features.get(r.model), c.codes.get(r.model)) for k in range(1, EPOCHS)]
            e = est.predict(views)
            curves.append(list(r.accuracy))
            preds.append(list(zip(e.point.tolist(), e.lo.tolist(), e.hi.tolist())))
            ids.append(r.run_id)
            models.append(r.model)
            seen.add(r.run_id)
    return curves, preds, ids, models


def train_pool_out_of_fold(splits: list[Split], model: str, seeds: list[int], dataset: str = DATASET) -> Pool:
    """50-epoch runs of each split's train models, each predicted by a GBM fitted on the other half of the train families
    (halved with seed 100 + the split's seed; with split files, 100 + its position)."""
    c = corpus()
    curves, preds, ids, models = [], [], [], []
    for i, (_, train, _) in enumerate(splits):
        seed = seeds[i] if i < len(seeds) else i
        runs = runs_of(train, c, (dataset,))
        weights: dict[str, float] = {}
        for r in runs:  # both halves should hold long runs: a 50-epoch run weighs 6, another >= 3-epoch run 1
            weights[r.model] = weights.get(r.model, 0.0) + (6.0 if r.epochs == EPOCHS else 1.0 if r.epochs >= 3 else 0.0)
        half_a, half_b = family_split({m: c.models[m].family for m in weights}, weights, seed=100 + seed, test_fraction=0.5)
        for fit_on, predict_on in ((half_a, half_b), (half_b, half_a)):
            fit_set, predict_set = set(fit_on), set(predict_on)
            views, targets, groups = training_views([r for r in runs if r.model in fit_set], c)
            est = GBM(use_code=model == "gbm_code", params=GBMParams()).fit(views, targets, groups)
            for r in runs:
                if r.model in predict_set and r.epochs == EPOCHS:
                    e = est.predict([view_of(r, k, c.features.get(r.model)) for k in range(1, EPOCHS)])
                    curves.append(list(r.accuracy))
                    preds.append(list(zip(e.point.tolist(), e.lo.tolist(), e.hi.tolist())))
                    ids.append(r.run_id)
                    models.append(r.model)
    return curves, preds, ids, models


def optuna_pruners() -> dict:
    return {
        "optuna Median (default)": lambda: optuna.pruners.MedianPruner(),
        "optuna Median (5 runs, 5 ep warm-up)": lambda: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5),
        "optuna SuccessiveHalving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "optuna Hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS, reduction_factor=3),
    }


def _thresholds(policy: StopPolicy) -> str:
    """The policy's stop probability as the rows name it: "p<0.06" or "p<0.04 before epoch 10, then p<0.06"."""
    late = f", p<{policy.p_min_late} from {policy.late_share:.0%} of the epochs" if policy.p_min_late is not None else ""
    if policy.bar_risk is not None and policy.p_min_sized is not None:  # the replays know the study's size
        early, later = policy.p_min_sized
        return f"study size known: bar at risk {policy.bar_risk}, p<{early} before epoch {policy.early_until}, then p<{later}{late}"
    if policy.p_min_early is None:
        return f"p<{policy.p_min}{late}"
    return f"p<{policy.p_min_early} before epoch {policy.early_until}, then p<{policy.p_min}{late}"


def summarize(scores: list) -> dict:
    return {
        "epochs_saved": float(np.mean([s.epochs_saved for s in scores])),
        "regret": float(np.mean([s.regret for s in scores])),
        "regret_max": float(np.max([s.regret for s in scores])),
        "top10_kept": float(1.0 - np.mean([s.top10_killed for s in scores])),
        "top10_kept_min": float(1.0 - np.max([s.top10_killed for s in scores])),
        "best_found": float(np.mean([s.best_found for s in scores])),
        "orders": len(scores),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0", help="build (or reuse) the family-grouped split of each seed")
    ap.add_argument("--grouping", default="strict", choices=("strict", "stem"), help="family grouping of the seeds' splits")
    ap.add_argument("--split-file", type=Path, action="append", default=[],
                    help="replay this split file's test models instead of the seeds' splits (repeatable; pools merged)")
    ap.add_argument("--orders", type=int, default=10)
    ap.add_argument("--pool-size", type=int, default=200, help="runs per replay (a random subset in random order); 0 = all")
    ap.add_argument("--model", default="gbm_code")
    ap.add_argument("--p-min", default="0.02,0.05")
    ap.add_argument("--train-replays", action="store_true", help="replay train models' runs predicted out of fold (policy choice)")
    ap.add_argument("--rung-epochs", default="2,4,6,8,12,16,20,25,30,35,40,45", help="with --train-replays: rungs calibrated on the replayed pool")
    ap.add_argument("--coverage", default="0.5,0.8,0.95,1.0", help="with --train-replays: calibration coverages to replay")
    ap.add_argument("--dataset", default=DATASET, help="replay this LEMUR dataset's 50-epoch runs")
    ap.add_argument("--as-new-dataset", type=int, default=0, metavar="N",
                    help="predict them as a new dataset's once N runs of it are reported (CIFAR-10's estimator recalibrated)")
    ap.add_argument("--brief", action="store_true", help="only the recommended policy and Optuna's pruners")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    seeds = [] if args.split_file else [int(s) for s in args.seeds.split(",")]
    try:
        splits = load_splits(seeds, args.split_file, args.grouping)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.train_replays:
        curves, preds, ids, models = train_pool_out_of_fold(splits, args.model, seeds, args.dataset)
    else:
        curves, preds, ids, models = pool_with_predictions(splits, args.model, args.dataset, args.as_new_dataset)
    if len(curves) < 2:
        raise SystemExit(f"error: the splits' {'train' if args.train_replays else 'test'} models have {len(curves)} "
                         f"{EPOCHS}-epoch {args.dataset} runs: nothing to replay")
    stem = "early_stop_train_replays" if args.train_replays else "early_stop"
    if args.dataset != DATASET or args.as_new_dataset:
        stem += f"_{args.dataset}" + (f"_as_new_{args.as_new_dataset}" if args.as_new_dataset else "")
    out = args.out or ROOT / "bench" / "results" / f"{stem}.json"
    print(f"replay pool: {len(curves)} runs of {EPOCHS} epochs ({time.time() - t0:.0f} s to fit/predict)")
    rng = np.random.default_rng(12345)
    size = len(curves) if args.pool_size <= 0 else min(args.pool_size, len(curves))
    orders = [rng.choice(len(curves), size=size, replace=False).tolist() for _ in range(args.orders)]
    results: dict[str, dict] = {}

    def replays(policy: StopPolicy, name: str) -> dict:
        return summarize([replay_predictor(curves, preds, o, policy, name, groups=models) for o in orders])

    calibrated: dict[str, list] = {}
    if not args.brief:  # the variants the recommended policy was chosen among
        for p_min in (float(p) for p in args.p_min.split(",")):
            name = f"nnrag predictor ({args.model}, p<{p_min})"
            results[name] = replays(StopPolicy(top_k=10, p_min=p_min), name)
            name = f"nnrag predictor + top-10 envelope ({args.model}, p<{p_min})"
            policy = StopPolicy(top_k=10, p_min=p_min, envelope_guard=True)
            results[name] = replays(policy, name)
        for p_min in (float(p) for p in args.p_min.split(",")):
            for patience in (2, 3):
                policy = StopPolicy(top_k=10, p_min=p_min, envelope_guard=True, patience=patience, bar="predicted")
                name = f"nnrag predictor, predicted bar + envelope ({args.model}, p<{p_min}, patience {patience})"
                results[name] = replays(policy, name)
        old = StopPolicy(top_k=10, p_min=0.10, envelope_guard=True, patience=2)
        name = f"nnrag predictor, final bar + envelope ({args.model}, p<0.1, patience 2; default before the predicted bar)"
        results[name] = replays(old, name)
        previous = StopPolicy(**PREVIOUS_POLICY)
        name = f"nnrag predictor, predicted bar + envelope ({args.model}, p<{previous.p_min}, patience {previous.patience}; default before rungs)"
        results[name] = replays(previous, name)
        if args.train_replays:  # rungs measured on this pool (in sample: the choice is then checked on the test replays)
            epochs = [int(e) for e in args.rung_epochs.split(",")]
            for cov in (float(c) for c in args.coverage.split(",")):
                for rank_by in ("best", "trend"):
                    unique = list({run_id: c for run_id, c in zip(ids, curves)}.values())  # seeds' train pools overlap
                    rungs = calibrate_rungs(unique, epochs, rank_by, coverage=cov)
                    calibrated[f"{rank_by}, coverage {cov}"] = [list(r) for r in rungs]
                    for prob, guard, confidence in ((False, False, 0.0), (True, False, 0.0), (True, True, 0.0), (True, True, 0.8)):
                        policy = replace(previous, rungs=rungs, rank_by=rank_by, probability_rule=prob, rung_guard=guard,
                                         rank_confidence=confidence)
                        name = (f"nnrag rungs ({rank_by}, calibrated coverage {cov}){' + probability rule' if prob else ''}"
                                f"{' + guard' if guard else ''}{f', confidence {confidence}' if confidence else ''}")
                        results[name] = replays(policy, name)
        for cov, rungs in SAVINGS_MATCHED_RUNGS.items():
            policy = StopPolicy(rungs=rungs, probability_rule=False)
            name = f"nnrag rungs alone, savings-matched (train coverage {cov}, no guard, no probability rule)"
            results[name] = replays(policy, name)
        rungs_policy = StopPolicy(**RUNGS_POLICY)
        name = "nnrag rungs alone (rungs of the rung rule, no probability rule)"
        results[name] = replays(replace(rungs_policy, probability_rule=False), name)
        policy = StopPolicy(**RECOMMENDED_POLICY)
        name = (f"nnrag predictor, rung rule ({args.model}, {len(rungs_policy.rungs)} rungs by {rungs_policy.rank_by}, confidence "
                f"{rungs_policy.rank_confidence}, guard + {rungs_policy.bar} bar, p<{rungs_policy.p_min}, envelope, "
                f"patience {rungs_policy.patience}; recommended before the study's correction)")
        results[name] = replays(rungs_policy, name)
        name = f"nnrag predictor, without the study's correction ({args.model}, {policy.bar} bar, {_thresholds(policy)}, patience {policy.patience})"
        results[name] = replays(replace(policy, sibling_shrink=0.0), name)
        one = dict(p_min_early=None)  # one threshold at every epoch (the rule up to session 14 had p < 0.05)
        variants = (dict(one, p_min=0.05), dict(one, p_min=0.06), dict(one, p_min=0.07), dict(one, p_min=0.1),
                    dict(p_min_early=0.03, p_min=0.1), LATE_THRESHOLD, STUDY_SIZE_POLICY, dict(sibling_shrink=3.0), dict(min_finished=10))
        for change in variants:
            variant = replace(policy, **change)
            name = (f"nnrag predictor, corrected by earlier runs of the same code ({args.model}, shrink {variant.sibling_shrink}, "
                    f"{_thresholds(variant)}, bar from {variant.min_finished} finished runs on)")
            results[name] = replays(variant, name)
    policy = StopPolicy(**RECOMMENDED_POLICY)
    name = (f"nnrag predictor, recommended ({args.model}, corrected by earlier runs of the same code, shrink "
            f"{policy.sibling_shrink}, {policy.bar} bar, {_thresholds(policy)}, patience {policy.patience}, "
            f"bar from {policy.min_finished} finished runs on)")
    results[name] = replays(policy, name)
    for name, make in optuna_pruners().items():
        t = time.time()
        results[name] = summarize([replay_optuna(curves, o, make, name) for o in orders])
        print(f"{name}: {time.time() - t:.0f} s")
    base = results["optuna Median (default)"]["epochs_saved"]
    side = "train (out-of-fold)" if args.train_replays else "held-out"
    table = Table(title=f"early stop: {args.orders} replays of {size} runs drawn from {len(curves)} {side} LEMUR 50-epoch {args.dataset} runs"
                  f"{f' predicted as a new dataset from {args.as_new_dataset} runs' if args.as_new_dataset else ''}")
    for col in ("policy", "epochs saved", "vs median", "top-10 kept (mean/min)", "true best found", "regret (mean/max)"):
        table.add_column(col)
    for name, r in results.items():
        table.add_row(name, f"{r['epochs_saved']:.3f}", f"{r['epochs_saved'] / base:.2f}", f"{r['top10_kept']:.3f} / {r['top10_kept_min']:.2f}",
                      f"{r['best_found']:.2f}", f"{r['regret']:.4f} / {r['regret_max']:.4f}")
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pool": "train models, out of fold" if args.train_replays else "test models",
                               "dataset": args.dataset, "as_new_dataset_runs": args.as_new_dataset,
                               "pool_runs": len(curves), "runs_per_replay": size, "orders": args.orders, "seeds": args.seeds,
                               "splits": [str(path) for path, _, _ in splits],
                               "recommended_policy": {k: v for k, v in RECOMMENDED_POLICY.items()}, "calibrated_rungs": calibrated,
                               "results": results, "seconds": round(time.time() - t0, 1)}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
