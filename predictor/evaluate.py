"""Training views, family-grouped splits and the metrics table (RMSE, MAE, Pearson, Spearman, Kendall, coverage).

Evaluation follows the issue: CIFAR-10 runs with at least 3 epochs of held-out models, the target
being the metric after the run's last epoch, seen up to epoch k; plus the 50-epoch runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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


def training_views(runs: list[Run], corpus: Corpus, grouping: str = "stem",
                   target: str = "final") -> tuple[list[RunView], np.ndarray, list[str]]:
    """Views at every training k, targets (``target_value``), and each view's family under ``grouping`` (the
    calibration groups)."""
    views, targets, groups = [], [], []
    for run in runs:
        feats = corpus.features.get(run.model)
        info = corpus.models[run.model]
        family = info.strict_family if grouping == "strict" else info.family
        for k in train_ks(run.epochs):
            views.append(view_of(run, k, feats))
            targets.append(target_value(run, target))
            groups.append(family)
    return views, np.asarray(targets, dtype=float), groups


def training_codes(runs: list[Run]) -> list[str]:
    """Each training view's code (its LEMUR model name: one per content hash), in ``training_views``' order."""
    return [run.model for run in runs for _ in train_ks(run.epochs)]


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
