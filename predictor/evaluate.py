"""Training views, family-grouped splits and the metrics table (RMSE, MAE, Pearson, Spearman, Kendall, coverage).

Evaluation follows the issue: CIFAR-10 runs with at least 3 epochs of held-out models, the target
being the metric after the run's last epoch, seen up to epoch k; plus the 50-epoch runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import stats

from corpus.lemur_stats import Run
from predictor.data import Corpus
from predictor.families import GROUPINGS, family_split, write_split
from predictor.features import RunView
from predictor.models import Estimate

SPLIT_DIR = Path(__file__).parent / "splits"
LONG_KS = (5, 6, 7, 8, 10, 12, 15, 20, 25, 30, 35, 40, 45, 49)


def usable(run: Run) -> bool:
    """Runs the predictor learns from: image classification accuracy in [0, 1]."""
    return run.task == "img-classification" and run.metric == "acc" and all(0.0 <= a <= 1.0 for a in run.accuracy)


def view_of(run: Run, k: int, code_features: dict | None, code: str | None = None) -> RunView:
    return RunView(
        dataset=run.dataset, hparams=run.hparams, transform=run.transform, epochs=run.epochs,
        accuracy=list(run.accuracy[:k]), duration_s=list(run.duration_s[:k]), code_features=code_features, code=code,
    )


def train_ks(epochs: int) -> list[int]:
    return [k for k in (0, 1, 2, 3, 4, *LONG_KS) if k < epochs]


TARGETS = ("final", "best")  # the metric after the run's last epoch, or its best over epochs (LEMUR's "best accuracy")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"target {target!r}: expected one of {', '.join(TARGETS)}")


def target_value(run: Run, target: str = "final") -> float:
    check_target(target)
    return run.final if target == "final" else run.best


def at_least_seen(estimate: Estimate, views: list[RunView], target: str) -> Estimate:
    """For the best-over-epochs target, nothing below the best epoch already seen: that much is known."""
    if target != "best":
        return estimate
    seen = np.array([max(v.accuracy) if v.k else 0.0 for v in views])
    return Estimate(np.maximum(estimate.point, seen), np.maximum(estimate.lo, seen), np.maximum(estimate.hi, seen))


# The horizons each longer training run is also cut to: LEMUR's usual 5 epochs, seen by the buckets of k = 1-4, and
# longer ones, seen by the shared k >= 5 bucket (``horizon_cuts``).
SHORT_CUT = 5
LONG_CUTS = (10, 20, 30, 40)
REPORTED_MODEL_PREFIX = "reported-"  # the model name of a run reported through the service (api.reported_training_runs)


def horizon_cuts(run: Run) -> list[Run]:
    """``run`` cut short at ``SHORT_CUT`` and each of ``LONG_CUTS`` below its length: the run it would have been,
    planned that long.

    Why: 860 of LEMUR's 11,800 CIFAR-10 training runs (stem seed 0) are 50-epoch runs of 41 families and ~100 have 6-49
    epochs, so the k >= 5 bucket learns how far a run still climbs between epoch k and its last epoch from horizon 50
    almost alone, and the 5-epoch runs of the short buckets miss the families that only ran long. The first 20 epochs
    of a 50-epoch run are a 20-epoch run of the same code and hyperparameters: no LEMUR schedule reads the planned
    epochs (1,265 long CIFAR-10 runs: StepLR, CosineAnnealing and MultiStep set fixed steps in the code). Point RMSE of
    ``gbm_code``, mean of six stem splits, CIFAR-10: k = 2 0.0460 -> 0.0456 (better on all six), 50-epoch runs at k = 2
    / 5 / 10 / 20 0.0754 -> 0.0746, 0.0719 -> 0.0697, 0.0566 -> 0.0545, 0.0397 -> 0.0384; k = 1 unchanged. Where each
    cut is seen (``cut_ks``) was measured too: long cuts in the short buckets drew them towards the few long-run
    families (k = 1 0.0572 -> 0.0586 over four splits), and a 5-epoch cut at k = 0 made ``gbm_stack`` worse on all six
    splits (0.0758 -> 0.0774): with no curve, the copies only weigh the long-run families more. Only the GBMs' point
    models read the cuts (``RunView.horizon_cut``; ``models.GBM._fit_models``): quantile models and calibration fitted
    on them too narrowed the 50-epoch intervals, and the recommended early-stop rule kept 85% of the top-10 on strict
    seed 0's whole train pool instead of 98% (93% without cuts). A run reported through the service is not cut: its
    schedule may read the planned epochs (a cosine down to the last one), and then its first 20 epochs are no
    20-epoch run."""
    if run.model.startswith(REPORTED_MODEL_PREFIX):
        return []
    return [replace(run, accuracy=list(run.accuracy[:h]), duration_s=list(run.duration_s[:h]))
            for h in (SHORT_CUT, *LONG_CUTS) if h < run.epochs]


def cut_ks(horizon: int) -> list[int]:
    """The epochs seen at which a run cut to ``horizon`` is a training view: 1-4 for the ``SHORT_CUT``, the shared
    k >= 5 bucket's for a long cut (``horizon_cuts`` says why)."""
    if horizon == SHORT_CUT:
        return [k for k in train_ks(horizon) if k >= 1]
    return [k for k in train_ks(horizon) if k >= SHORT_CUT]


def _training_items(runs: list[Run], cuts: bool = True) -> Iterator[tuple[Run, int, bool]]:
    """(run or a cut of it, k, is a cut) of each training view: every run at ``train_ks``, each of its horizon cuts at
    ``cut_ks`` (with ``cuts``)."""
    for run in runs:
        for k in train_ks(run.epochs):
            yield run, k, False
        for cut in horizon_cuts(run) if cuts else []:
            for k in cut_ks(cut.epochs):
                yield cut, k, True


def training_views(runs: list[Run], corpus: Corpus, grouping: str = "stem", target: str = "final",
                   cuts: bool = True) -> tuple[list[RunView], np.ndarray, list[str]]:
    """Views at every training k (with ``cuts``, the runs' horizon cuts too), targets (``target_value``), and each
    view's family under ``grouping`` (the calibration groups)."""
    views, targets, groups = [], [], []
    for run, k, is_cut in _training_items(runs, cuts):
        info = corpus.models[run.model]
        view = view_of(run, k, corpus.features.get(run.model))
        view.horizon_cut = is_cut
        views.append(view)
        targets.append(target_value(run, target))
        groups.append(info.strict_family if grouping == "strict" else info.family)
    return views, np.asarray(targets, dtype=float), groups


def training_codes(runs: list[Run], cuts: bool = True) -> list[str]:
    """Each training view's code (its LEMUR model name: one per content hash), in ``training_views``' order."""
    return [run.model for run, _, _ in _training_items(runs, cuts)]


def split_weights(corpus: Corpus) -> dict[str, float]:
    """Per model: its CIFAR-10 runs with >= 3 epochs (what the split balances); 0 for other used models."""
    weights: Counter[str] = Counter()
    for run in corpus.runs:
        if usable(run):
            weights[run.model] += 1.0 if (run.dataset == "cifar-10" and run.epochs >= 3) else 0.0
    return dict(weights)


def build_split(corpus: Corpus, seed: int, test_fraction: float = 0.2, path: Path | None = None,
                grouping: str = "stem") -> tuple[list[str], list[str]]:
    """A family-grouped split of the models with usable runs; ``grouping`` as in ``predictor.families``."""
    if grouping not in GROUPINGS:
        raise ValueError(f"family grouping {grouping!r}: expected one of {GROUPINGS}")
    family_of = (lambda info: info.family) if grouping == "stem" else (lambda info: info.strict_family)
    families = {name: family_of(corpus.models[name]) for name in split_weights(corpus)}
    train, test = family_split(families, split_weights(corpus), seed=seed, test_fraction=test_fraction)
    if path is not None:
        how = "name stem + identical code" if grouping == "stem" else "name stem + identical code + constant-blind AST hash"
        write_split(path, train, test, meta={"seed": seed, "test_fraction": test_fraction, "grouping": grouping, "families": how})
    return train, test


def default_split_path(seed: int, grouping: str) -> Path:
    """``splits/cifar10_seed<N>.json`` (strict grouping, the first splits) or ``splits/cifar10_stem_seed<N>.json``."""
    return SPLIT_DIR / (f"cifar10_seed{seed}.json" if grouping == "strict" else f"cifar10_{grouping}_seed{seed}.json")


@dataclass
class Metrics:
    model: str
    dataset: str
    k: int
    rmse: float
    mae: float
    pearson: float
    spearman: float
    kendall: float
    coverage80: float
    n: int
    subset: str = "runs>=3ep"
    target: str = "final"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def metrics(name: str, dataset: str, k: int, y: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray, subset: str,
            target: str = "final") -> Metrics:
    err = point - y
    def corr(fn) -> float:
        if len(y) < 3 or np.ptp(point) == 0 or np.ptp(y) == 0:  # exact: a constant's std can be 1e-17, not 0
            return float("nan")
        return float(fn(point, y)[0])
    return Metrics(
        model=name, dataset=dataset, k=k,
        rmse=float(np.sqrt(np.mean(err**2))), mae=float(np.mean(np.abs(err))),
        pearson=corr(stats.pearsonr), spearman=corr(stats.spearmanr), kendall=corr(stats.kendalltau),
        coverage80=float(np.mean((y >= lo) & (y <= hi))), n=int(len(y)), subset=subset, target=target,
    )


def evaluate(estimators: dict, runs: list[Run], corpus: Corpus, ks: tuple[int, ...], dataset: str = "cifar-10",
             min_epochs: int = 3, exact_epochs: int | None = None, min_runs: int = 1, target: str = "final") -> list[Metrics]:
    """Rows per (estimator, k) on ``dataset``'s runs of >= ``min_epochs`` (or exactly ``exact_epochs``); none when
    fewer than ``min_runs`` runs qualify. ``target``: what the estimators were fitted to predict (``TARGETS``)."""
    chosen = [r for r in runs if usable(r) and r.dataset == dataset and r.epochs >= min_epochs and (exact_epochs is None or r.epochs == exact_epochs)]
    if len(chosen) < min_runs:
        return []
    subset = f"runs=={exact_epochs}ep" if exact_epochs else f"runs>={min_epochs}ep"
    rows = []
    for k in ks:
        at_k = [r for r in chosen if r.epochs > k]
        if not at_k:
            continue
        views = [view_of(r, k, corpus.features.get(r.model), corpus.codes.get(r.model)) for r in at_k]
        y = np.array([target_value(r, target) for r in at_k])
        for name, est in estimators.items():
            e = at_least_seen(est.predict(views), views, target)
            rows.append(metrics(name, dataset, k, y, e.point, e.lo, e.hi, subset, target))
    return rows
