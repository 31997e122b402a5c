"""How well the predictor answers a new dataset, measured on the runs reported of it (``predictor.datasets``).

A user who taught the predictor a dataset of their own (ReportResult ``new_dataset``) has no held-out split to read
its error from: ``nnrag eval-predictor`` scores LEMUR's datasets only. Here the estimator ``train-predictor`` fits for
the dataset (``models.PerDataset.fit_new_dataset``) is refitted K times, each time without one fold of the dataset's
reported runs (every run of a code in the same fold, as the splits keep a family on one side), and scored on the runs
it did not see, at each k: the same metric rows as ``eval-predictor``'s.
"""

from __future__ import annotations

import numpy as np

from corpus.lemur_stats import Run
from predictor.data import Corpus
from predictor.datasets import NEW_DATASET_MIN_RUNS
from predictor.evaluate import Metrics, metrics, training_codes, training_views, usable, view_of
from predictor.features import DATASETS
from predictor.models import PerDataset, family_folds
from predictor.train import LONG_EVAL_KS, add_reported_model

MIN_EPOCHS = 3  # runs scored, as eval-predictor's first subset: at k = 0-2 a run of 1-2 epochs is nearly over
MIN_SCORED = 5  # a k with fewer runs scored (a few long runs past k = 5) gets no row: its figures would be noise


def cross_validate_new_dataset(estimator: PerDataset, reported: list[tuple[Run, str]], dataset: str,
                               dynamic: dict[str, dict[str, float]] | None = None, folds: int = 5,
                               seed: int = 0) -> list[Metrics]:
    """Rows per k of the ``folds``-fold cross-validated estimator of new ``dataset`` on its reported (run, code)
    pairs (``api.reported_training_runs``); ``estimator``: the served ``PerDataset`` (its fallback is the base a
    recalibration starts from). A ValueError says what is missing."""
    if not isinstance(estimator, PerDataset):
        raise ValueError("this predictor was not fitted per dataset (the demo default): retrain it (nnrag train-predictor)")
    if dataset in DATASETS:
        raise ValueError(f"{dataset} is LEMUR's: eval-predictor scores it on a held-out split (--datasets {dataset})")
    runs = [(run, code) for run, code in reported if usable(run) and run.dataset == dataset]
    if len(runs) < NEW_DATASET_MIN_RUNS:
        raise ValueError(f"{len(runs)} finished image-classification runs of {dataset} reported with their curves; "
                         f"cross-validation needs the {NEW_DATASET_MIN_RUNS} train-predictor needs")
    if folds < 2:
        raise ValueError(f"folds: {folds}; cross-validation needs at least 2")
    corpus = Corpus(runs=[], models={}, codes={}, features={})
    for run, code in runs:
        add_reported_model(corpus, run.model, code, dynamic or {})
    fold_of = family_folds(np.array([run.model for run, _ in runs]), folds, seed)
    scored: dict[int, list[tuple[float, float, float, float]]] = {}
    for fold in range(folds):
        fitted_on = [run for (run, _), f in zip(runs, fold_of) if f != fold]
        held_out = [run for (run, _), f in zip(runs, fold_of) if f == fold and run.epochs >= MIN_EPOCHS]
        if not held_out or not fitted_on:
            continue
        views, targets, groups = training_views(fitted_on, corpus)
        fitted = estimator.fit_new_dataset(dataset, views, targets, groups, training_codes(fitted_on), runs=len(runs))
        for k in LONG_EVAL_KS:
            at_k = [run for run in held_out if run.epochs > k]
            if at_k:
                e = fitted.predict([view_of(run, k, corpus.features.get(run.model)) for run in at_k])
                scored.setdefault(k, []).extend(zip((run.final for run in at_k), e.point, e.lo, e.hi))
    name = f"{estimator.name} ({folds}-fold cross-validated on {len(runs)} reported runs)"
    return [metrics(name, dataset, k, *np.array(rows).T, subset=f"runs>={MIN_EPOCHS}ep")
            for k, rows in sorted(scored.items()) if len(rows) >= MIN_SCORED]
