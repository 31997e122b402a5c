"""Estimators of a run's final metric from what is known at epoch k, each with an 80% interval.

All share one interface: ``fit(views, targets, groups, codes=None)`` and ``predict(views) -> Estimate``.
- ``LastValue``: the last observed value (k = 0: the training median of the dataset).
- ``CurveFit``: parametric learning-curve extrapolation (pow3 ``a - b t^-c`` for k >= 3, log fit for k = 2).
- ``GBM``: LightGBM per k-bucket, point (L2) + quantiles 10/90, with or without code features; from k = 1 on the
  point is the mean of two models, one of the gain over the last epoch and one of the share of the headroom
  (1 - last) that the run will close;
  intervals calibrated by conformalized quantile regression on family-grouped out-of-fold predictions
  inside train (every family weighs the same), one correction per cell of planned horizon
  (< or >= 10 epochs) x epochs seen (Mondrian CQR).
- ``gbm_stack``: the code GBM with one more column, a forecast from hyperparameters and the optimiser kind only
  (out of fold by family in train), so the trees start from what the training setup and the horizon say and
  let the rest of the code correct it.
Intervals of the baselines are split-conformal on their training residuals, per k-bucket.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from predictor.datasets import NEW_DATASET_CONFORMAL_LEVEL, NEW_DATASET_OWN_RUNS
from predictor.features import DATASETS, FeatureSpace, RunView, as_float, row

K_BUCKETS = (0, 1, 2, 3, 4)  # one model each; k >= 5 shares the "long" bucket
COVERAGE = 0.8


def bucket_of(k: int) -> int:
    return k if k in K_BUCKETS else max(K_BUCKETS) + 1


@dataclass
class Estimate:
    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def clip(self) -> "Estimate":
        point = np.clip(self.point, 0.0, 1.0)
        return Estimate(point, np.clip(np.minimum(self.lo, point), 0.0, 1.0), np.clip(np.maximum(self.hi, point), 0.0, 1.0))


def conformal_quantile(scores: np.ndarray, coverage: float = COVERAGE) -> float:
    """The finite-sample-corrected ``coverage`` quantile of conformity scores."""
    scores = np.sort(np.asarray(scores, dtype=float))
    if len(scores) == 0:
        return 0.0
    rank = min(len(scores) - 1, int(math.ceil((len(scores) + 1) * coverage)) - 1)
    return float(scores[max(rank, 0)])


def weighted_conformal_quantile(scores: np.ndarray, weights: np.ndarray, coverage: float = COVERAGE) -> float:
    """The ``coverage`` quantile of conformity scores where score i counts ``weights[i]``.

    Why weights: calibration rows come from families of very different sizes (one LEMUR family holds
    45% of CIFAR-10 runs); weighting each row by 1/(its family's row count) calibrates for a new
    *family*, which is what a family-grouped hold-out asks. The finite-sample correction uses the
    effective number of families, sum(w)^2 / sum(w^2).
    """
    scores = np.asarray(scores, dtype=float)
    weights = np.asarray(weights, dtype=float)
    if len(scores) == 0 or weights.sum() <= 0:
        return 0.0
    order = np.argsort(scores)
    scores, weights = scores[order], weights[order] / weights.sum()
    n_eff = 1.0 / float(np.sum(weights**2))
    level = min(1.0, coverage * (n_eff + 1) / n_eff)
    cum = np.cumsum(weights)
    return float(scores[min(int(np.searchsorted(cum, level - 1e-12)), len(scores) - 1)])


CALIBRATION_WEIGHTINGS = ("row", "family", "sqrt")


def calibration_weights(groups: np.ndarray, weighting: str) -> np.ndarray:
    """Weight of each calibration row: 1 ("row"), 1 / family rows ("family"), 1 / sqrt(family rows) ("sqrt").

    Why: a family-grouped hold-out draws whole families, so a family of 5,000 runs and one of 20 runs
    are equally likely to be held out, but the metric then counts runs. "row" lets the largest families
    set the interval width; "family" lets the many small, unusual ones set it.
    """
    if weighting not in CALIBRATION_WEIGHTINGS:
        raise ValueError(f"calibration weighting {weighting!r}: expected one of {CALIBRATION_WEIGHTINGS}")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    power = {"row": 0.0, "family": 1.0, "sqrt": 0.5}[weighting]
    return 1.0 / counts[inverse].astype(float) ** power


LONG_RUN_EPOCHS = 10  # runs planned this long or longer are calibrated apart (their errors are larger)
K_RANGES = (10, 20)  # inside the shared k >= 5 bucket errors shrink with k: calibrate k < 10, 10-19, >= 20 apart
MIN_STRATUM_FAMILIES = 5  # fewer calibration families than this in a stratum: use the bucket's pooled correction


def calibration_stratum(view: RunView) -> int:
    """Mondrian CQR cell: planned horizon (short / long) x seen-epochs range."""
    k_range = sum(view.k >= edge for edge in K_RANGES)
    return int(view.epochs >= LONG_RUN_EPOCHS) * (len(K_RANGES) + 1) + k_range


def _indices_by(keys: list) -> dict:
    """Row indices grouped by key, keys in first-seen order."""
    index: dict = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    return index


def _runs_in(views: list[RunView]) -> int:
    """Runs among training views, counted by their k = 0 views: one per run, horizon cuts have none."""
    return sum(v.k == 0 for v in views)


def _buckets(views: list[RunView]) -> dict[int, np.ndarray]:
    return {b: np.array(idx) for b, idx in _indices_by([bucket_of(v.k) for v in views]).items()}


MIN_SHRINK_CODES = 20  # codes with >= 2 runs needed at a k to estimate how much of the error a code shares


def code_shrink_ratio(residuals: np.ndarray, codes: np.ndarray) -> float:
    """lambda = within-code / between-code variance of prediction errors (one-way random effects, ANOVA estimator).

    Why: runs of the same code share part of the predictor's error (an unseen family it under-forecasts). Given n
    earlier runs of a code with mean error m, the best shift for the next run of that code is m * n / (n + lambda)
    (the random-effects posterior mean). With no curve the code decides much of the error (LEMUR CIFAR-10, lambda
    about 2.6 at k = 0); two epochs in, the run's own curve has said more of it (7-10 at k = 2, 20-100 or none at
    k = 3-4). inf when the errors show no shared part or too few codes repeat.
    """
    residuals, codes = np.asarray(residuals, dtype=float), np.asarray(codes)
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    n, groups = len(residuals), len(counts)
    if groups < 2 or int(np.sum(counts >= 2)) < MIN_SHRINK_CODES:
        return math.inf
    means = np.bincount(inverse, weights=residuals) / counts
    within = float(np.sum((residuals - means[inverse]) ** 2)) / (n - groups)
    between = float(np.sum(counts * (means - residuals.mean()) ** 2)) / (groups - 1)
    n0 = (n - float(np.sum(counts**2)) / n) / (groups - 1)
    tau2 = (between - within) / n0
    return within / tau2 if tau2 > 0 else math.inf


def code_corrected(point: float, lo: float, hi: float, residuals: list[float], shrink: float,
                   weights: list[float] | None = None) -> tuple[float, float, float]:
    """A prediction (point, 10% and 90% quantiles) corrected by the errors ``residuals`` that the estimator made, at
    the same epoch, on n earlier runs of the same code: the point shifted by their mean times n / (n + lambda), the
    calibrated interval kept and stretched only as far as it must to hold the new point; clipped to [0, 1].
    ``weights`` (``hparam_similarity`` of each earlier run to this one) make the mean a weighted one; n stays the count.

    Why the interval is not moved or narrowed with the point: within one code the errors are far from normal (on SVHN
    and CelebA runs stuck at chance sit beside runs that learn), so an interval shifted by the mean error and narrowed
    by the random-effects variance ratio covered 0.57-0.59 instead of 0.80 there at k = 0 (CIFAR-10: 0.79-0.84)
    (``bench/bench_reported.py --datasets all``).
    """
    n = len(residuals)
    if n == 0 or not math.isfinite(shrink):
        return point, lo, hi
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    mean = float(np.dot(w, residuals) / w.sum()) if w.sum() > 0 else float(np.mean(residuals))
    shifted = point + mean * n / (n + shrink)
    return tuple(float(min(max(v, 0.0), 1.0)) for v in (shifted, min(lo, shifted), max(hi, shifted)))


# Within one code, how far apart two runs' hyperparameters are, per unit of their typical spread inside a code (LEMUR's
# 50-epoch CIFAR-10 runs: log10 lr 1.0, log2 batch 2.3, momentum 0.25, dropout 0.12), and the kernel's bandwidth.
SIMILARITY_SCALES = {"lr": 1.0, "batch": 2.25, "momentum": 0.25, "dropout": 0.12}
SIMILARITY_BANDWIDTH = 1.0


def _similarity_coordinates(hparams: dict) -> dict[str, float]:
    """The hyperparameters a run sets that ``hparam_similarity`` reads, in units of ``SIMILARITY_SCALES``."""
    out = {}
    for name, scale in SIMILARITY_SCALES.items():
        raw = hparams.get(name, hparams.get("batch_size") if name == "batch" else None)
        value = float("nan") if isinstance(raw, bool) else as_float(raw)
        if name in ("lr", "batch"):  # log scales: 0.01 -> 0.1 is as far as 0.001 -> 0.01
            value = (math.log10 if name == "lr" else math.log2)(value) if value > 0 else float("nan")
        if math.isfinite(value):
            out[name] = value / scale
    return out


def hparam_similarity(a: dict, b: dict) -> float:
    """exp(-d^2 / 2h^2) over the hyperparameters both runs set (lr and batch on log scales). Why: runs of one code with
    similar hyperparameters share more of the estimator's error than runs of that code in general - at epochs 3-20 of
    LEMUR's held-out 50-epoch CIFAR-10 runs (strict seed 0) a run's error correlates 0.34-0.47 with its nearest
    sibling's (in these coordinates) and 0.17-0.22 with a random sibling's - so the reported runs nearest to a run say
    more about its error (``api.HPARAM_WEIGHTS_UNTIL``: used where no curve says it yet)."""
    ca, cb = _similarity_coordinates(a), _similarity_coordinates(b)
    d2 = sum((ca[k] - cb[k]) ** 2 for k in ca.keys() & cb.keys())
    return math.exp(-0.5 * d2 / SIMILARITY_BANDWIDTH**2)


def code_shrink_by_k(residuals: np.ndarray, codes: np.ndarray, ks: np.ndarray) -> dict[int, float]:
    """``code_shrink_ratio`` at each epoch count k (the errors of one run at different k are not independent runs)."""
    return {int(k): code_shrink_ratio(residuals[ks == k], codes[ks == k]) for k in np.unique(ks)}


def code_shrink_of(estimator, views: list[RunView]) -> np.ndarray:
    """Each view's lambda from ``estimator`` (inf: no code-level correction, e.g. the LoRA regressor)."""
    method = getattr(estimator, "code_shrink", None)
    return method(views) if method is not None else np.full(len(views), math.inf)


def adapted_of(estimator, dataset: str) -> str:
    """How ``estimator`` answers ``dataset`` when by another dataset's estimator recalibrated (``PerDataset.adapted``),
    else "" (every other estimator answers with its own)."""
    method = getattr(estimator, "adapted", None)
    return method(dataset) if method is not None else ""


def nearest_k(table: dict[int, float], k: int) -> float:
    """The value at the nearest k of ``table`` (inf when empty: no correction)."""
    return table[min(table, key=lambda key: (abs(key - k), key))] if table else math.inf


class _Symmetric:
    """Shared fit for baselines: per-bucket conformal half-widths of |residual| and dataset medians for k = 0."""

    name = "base"

    def __init__(self) -> None:
        self.halfwidth: dict[int, float] = {}
        self.median_by_dataset: dict[str, float] = {}
        self.median_all = 0.5
        self.shrink_by_bucket: dict[int, dict[int, float]] = {}  # bucket -> k -> lambda (code_shrink_ratio)

    def _raw(self, view: RunView) -> float:
        raise NotImplementedError

    def _prior(self, view: RunView) -> float:
        return self.median_by_dataset.get(view.dataset, self.median_all)

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str] | None = None,
            codes: list[str] | None = None) -> "_Symmetric":
        """``codes``: each view's code; with them each bucket also learns how much of its error runs of one code
        share (``code_shrink_ratio``; a baseline fits nothing per code, so its own residuals serve). Horizon cuts
        (``RunView.horizon_cut``) are left out: a baseline learns nothing from them, and its intervals are for whole runs."""
        whole = [i for i, v in enumerate(views) if not v.horizon_cut]
        if len(whole) < len(views):
            views, targets = [views[i] for i in whole], np.asarray(targets)[whole]
            codes = [codes[i] for i in whole] if codes is not None else None
        zero = [(v.dataset, t) for v, t in zip(views, targets) if v.k == 0]
        self.median_all = float(np.median([t for _, t in zero])) if zero else float(np.median(targets))
        by_ds: dict[str, list[float]] = {}
        for ds, t in zero:
            by_ds.setdefault(ds, []).append(t)
        self.median_by_dataset = {ds: float(np.median(ts)) for ds, ts in by_ds.items()}
        rng = np.random.default_rng(0)
        for b, idx in _buckets(views).items():
            idx = idx if len(idx) <= 4000 else rng.choice(idx, 4000, replace=False)  # residual quantiles need no more
            preds = np.array([self._raw(views[i]) for i in idx])
            self.halfwidth[b] = conformal_quantile(np.abs(targets[idx] - preds))
            if codes is not None:
                ks = np.array([views[i].k for i in idx])
                self.shrink_by_bucket[b] = code_shrink_by_k(targets[idx] - preds, np.asarray(codes)[idx], ks)
        return self

    def code_shrink(self, views: list[RunView]) -> np.ndarray:
        tables = getattr(self, "shrink_by_bucket", {})  # baselines pickled before it have none
        return np.array([nearest_k(tables.get(bucket_of(v.k), {}), v.k) for v in views])

    def predict(self, views: list[RunView]) -> Estimate:
        point = np.array([self._raw(v) for v in views])
        half = np.array([self.halfwidth.get(bucket_of(v.k), max(self.halfwidth.values(), default=0.1)) for v in views])
        return Estimate(point, point - half, point + half).clip()


class LastValue(_Symmetric):
    name = "last_value"

    def _raw(self, view: RunView) -> float:
        return float(view.accuracy[-1]) if view.k else self._prior(view)


POW3_EXPONENTS = np.array([0.15, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0])


def pow3_extrapolate(acc: np.ndarray, target: float) -> float:
    """Least-squares fit of ``a - b * t^-c`` (c on a grid, a and b linear) to acc[t-1], evaluated at ``target``.

    A grid over c with a closed-form (a, b) is as good as an iterative fit on 3-50 points and ~1000x faster.
    """
    t = np.arange(1, len(acc) + 1, dtype=float)
    best_sse, best_value = np.inf, float(acc[-1])
    for c in POW3_EXPONENTS:
        basis = np.stack([np.ones_like(t), -np.power(t, -c)], axis=1)
        coef, *_ = np.linalg.lstsq(basis, acc, rcond=None)
        sse = float(np.sum((basis @ coef - acc) ** 2))
        if sse < best_sse:
            best_sse, best_value = sse, float(coef[0] - coef[1] * target ** -c)
    return best_value


class CurveFit(_Symmetric):
    """Parametric extrapolation of the observed curve to the planned last epoch."""

    name = "curve_fit"

    def _raw(self, view: RunView) -> float:
        k = view.k
        if k == 0:
            return self._prior(view)
        acc = np.asarray(view.accuracy, dtype=float)
        target = float(view.epochs)
        if k == 1 or target <= k:
            return float(acc[-1])
        if k == 2:
            slope = (acc[1] - acc[0]) / math.log(2.0)
            return float(np.clip(acc[-1] + slope * math.log(target / k), 0.0, 1.0))
        value = pow3_extrapolate(acc, target)
        # A fit on a few noisy points can run away: stay within the observed range plus a margin.
        return float(np.clip(value, acc.min() - 0.05, min(1.0, acc.max() + 0.3)))


@dataclass
class GBMParams:
    # 400 trees at 0.045 with leaves of >= 40 rows: on the stem-grouped seed-0 split RMSE at k = 0 / 2 went
    # 0.124 / 0.050 -> 0.119 / 0.046 (50-epoch runs at k = 2: 0.086 -> 0.073) against 250 at 0.06 with 20.
    n_estimators: int = 400
    learning_rate: float = 0.045
    num_leaves: int = 31
    min_child_samples: int = 40
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    num_threads: int = 1  # OpenMP threads spin on oversubscribed shared cores: one is faster there
    # Datasets fitted at once by PerDataset, each in its own thread (LightGBM releases the GIL while it trains).
    # Out of the comparison and the repr (the fit cache key): every fit is the same whatever runs beside it.
    fit_workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1), compare=False, repr=False)
    # How calibration rows count: "row" (each run), "family" (1 / family rows: every family the same) or
    # "sqrt" (1 / sqrt(family rows), between the two). See calibration_weights.
    # "family" with 5 folds: the CIFAR-10 hold-outs of split seeds 0 and 1 then cover 0.75-0.82 at k = 0-4
    # (per row with one 20% holdout: 0.61-0.78 on seed 0, 0.72-0.94 on seed 1).
    calibration_weighting: str = "family"
    # The level of the conformal correction (the quantile models stay at 10% / 90%). Why below the 80% the interval
    # claims: the conformity scores come from fold models fitted on 80% of the train families, which miss more than
    # the model fitted on all of them, so at 0.80 the CIFAR-10 hold-outs covered 0.79-0.85 at k = 0-4 (stem seeds
    # 2-5, mean 0.82; seed 1's k = 0 0.848, seed 7's k = 2 0.852, over the 0.85 the issue allows). At 0.78 the same
    # fits covered 0.77-0.83 (seeds 4 / 5; 0.77: 0.76-0.81, 0.75: 0.74-0.80), centred on 0.80.
    conformal_level: float = 0.78
    cv_folds: int = 5  # 0: calibrate on one 20% family-grouped holdout instead of out-of-fold predictions
    seed: int = 0
    # The k = 0 point models (and gbm_stack's forecast) minimise Huber loss with this delta (0: squared loss). Why:
    # with no curve, a run that diverges or stalls at chance is an outlier nothing in the code or hyperparameters
    # foretells, and squared loss lets those few runs pull a whole family's forecast. k = 0 RMSE of gbm_stack on six
    # stem splits (one 20% calibration holdout): squared 0.0773 mean; Huber 0.1 / 0.15 / 0.2: 0.0763 / 0.0754 /
    # 0.0766 (0.15: 5 of 6 splits better, seed 1 0.0815 -> 0.0762). At k = 2 Huber 0.1 was 0.0470 vs 0.0468: not used.
    k0_huber_delta: float = 0.15
    # From k = 1 on, the point is the mean of the gain model and a model of the share of the headroom that the run
    # closes, (final - last) / (1 - last) (``headroom``). Why: the two targets split the same runs into
    # different leaves - a gain is in accuracy points, a share is scale-free, so a run at 0.85 and one at 0.45 that
    # each close a third of their gap share a leaf - and their errors are far from the same. Six stem splits,
    # CIFAR-10, mean RMSE of three LightGBM seeds (gain alone -> averaged): k = 1 0.0576 -> 0.0565, k = 2 0.0468 ->
    # 0.0460, k = 3 0.0394 -> 0.0390, 50-epoch runs at k = 10 0.0563 -> 0.0558; better on 6, 6, 5 and 5 of the six
    # splits, where two gain models of different seeds averaged gained 0.5% at k = 2. The share alone was worse than
    # the gain on four of the six splits at k = 10, the gain in logit space alone on some split at every k. Costs one
    # more point model per bucket and fold (k >= 1: 4 fits instead of 3).
    headroom_point: bool = True


HEADROOM_FLOOR = 0.02  # the share is taken of at least this much headroom (a run at 0.999 would divide by ~0)


def headroom(offset: np.ndarray) -> np.ndarray:
    """What a run seen at ``offset`` (its last accuracy) can still gain, floored at ``HEADROOM_FLOOR``."""
    return np.maximum(1.0 - np.asarray(offset, dtype=float), HEADROOM_FLOOR)


# Where the gain model's gain passes this share of the run's headroom it is extrapolating (LightGBM's gain is flat above
# the accuracies its training runs had), and the answer moves to the share model over the next EXTRAPOLATION_SPAN.
EXTRAPOLATION_START = 1.0
EXTRAPOLATION_SPAN = 0.5


def within_headroom(gain: np.ndarray, share: np.ndarray, q_lo: np.ndarray, q_hi: np.ndarray, corr: np.ndarray,
                    offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, lo, hi) gains over the last epoch: the mean of the gain and share models with the quantile models'
    interval widened by ``corr``, as long as the gain model's gain stays within the run's headroom 1 - last.

    Why: the gain models learn absolute gains from runs that were mostly far from 1. A run already at 0.9 after one
    CIFAR-10 epoch (a pretrained backbone, an easy dataset answered by CIFAR-10's estimator) got the gain of a run at
    0.7, +0.22, for the point and both quantiles: final 1.0 with the interval [1.0, 1.0]. Past the headroom the point
    moves to the share model (scale-free: a share of what is left), and the interval keeps the quantile models' width
    around it; below it nothing changes."""
    room = headroom(offset)
    mean = (gain + room * share) / 2
    w = np.clip((gain / room - EXTRAPOLATION_START) / EXTRAPOLATION_SPAN, 0.0, 1.0)
    point = (1 - w) * mean + w * room * share
    half = (q_hi - q_lo) / 2 + corr
    return point, (1 - w) * (q_lo - corr) + w * (point - half), (1 - w) * (q_hi + corr) + w * (point + half)


def predicted_gain(point, headroom_model, x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """The point estimate of final - last: the gain model's, averaged with the headroom model's share times the
    run's headroom where the bucket has one (``GBMParams.headroom_point``)."""
    gain = point.predict(x)
    if headroom_model is None:
        return gain
    return (gain + headroom(offset) * headroom_model.predict(x)) / 2


@dataclass
class _Bucket:
    space: FeatureSpace
    point: object
    q_lo: object
    q_hi: object
    correction: float = 0.0  # CQR widening (may be negative)
    stratum_correction: dict[int, float] = field(default_factory=dict)  # per horizon stratum, where calibrated
    stack_space: FeatureSpace | None = None  # gbm_stack: the forecast's columns and model
    stack_model: object = None
    code_shrink: dict[int, float] = field(default_factory=dict)  # k -> lambda (code_shrink_ratio); empty: none
    headroom_point: object = None  # the share-of-headroom point model (GBMParams.headroom_point); None at k = 0


def family_folds(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index of each row, whole families per fold (shuffled with ``seed``, dealt round-robin)."""
    uniq = np.unique(groups)
    np.random.default_rng(seed).shuffle(uniq)
    fold_of = {g: i % folds for i, g in enumerate(uniq)}
    return np.array([fold_of[g] for g in groups], dtype=int)


STACK_FOLDS = 5


class GBM:
    """LightGBM per k-bucket; predicts final (k = 0) or final - last observed (k >= 1).

    With ``stack`` (code features only) the k = 0 bucket first fits a code-free point model and takes its
    prediction as a feature. Why: with no curve, the code trees learn the planned horizon only inside the few
    families that ran 50 epochs, and under-forecast a new family's long runs by 0.2-0.4 (stem split seed 0);
    started from the code-free forecast, which carries the horizon effect across families, they keep it
    (k = 0 RMSE on stem seeds 0 / 1: gbm_code 0.119 / 0.095, code-free 0.094 / 0.100, stacked 0.091 / 0.091).
    The forecast also reads which optimiser the code builds (``features.optimizer_features``): the learning rate
    means something else under Adam than under SGD, and the horizon effect differs with it (stacked, six stem
    splits: 0.078 -> 0.0765 mean). From k = 1 on the curve carries that signal and a stacked column made 50-epoch
    runs worse (k = 2: 0.073 -> 0.079 on stem seed 0), so the other buckets are plain ``gbm_code``.
    """

    def __init__(self, use_code: bool, params: GBMParams | None = None, stack: bool = False) -> None:
        if stack and not use_code:
            raise ValueError("a stacked GBM adds code features to a code-free forecast: use_code must be True")
        self.use_code = use_code
        self.stack = stack
        self.params = params or GBMParams()
        self.buckets: dict[int, _Bucket] = {}
        self.name = "gbm_stack" if stack else "gbm_code" if use_code else "gbm_nocode"

    def _lgbm(self, objective: str, alpha: float | None = None, seed_offset: int = 0):
        import lightgbm as lgb

        p = self.params
        kwargs = dict(
            n_estimators=p.n_estimators, learning_rate=p.learning_rate, num_leaves=p.num_leaves,
            min_child_samples=p.min_child_samples, subsample=p.subsample, subsample_freq=1,
            colsample_bytree=p.colsample_bytree, reg_lambda=p.reg_lambda, n_jobs=p.num_threads,
            random_state=p.seed + seed_offset, verbose=-1,
        )
        if objective in ("quantile", "huber"):  # alpha: the quantile, or Huber's delta
            return lgb.LGBMRegressor(objective=objective, alpha=alpha, **kwargs)
        return lgb.LGBMRegressor(objective="regression", **kwargs)

    def _point(self, bucket: int):
        """The point model of a k-bucket: Huber loss at k = 0 (``GBMParams.k0_huber_delta``), squared loss otherwise."""
        delta = self.params.k0_huber_delta
        return self._lgbm("huber", delta) if bucket == 0 and delta > 0 else self._lgbm("regression")

    def _rows(self, views: list[RunView], forecast: bool = False) -> list[dict[str, float]]:
        """This estimator's rows; ``forecast``: the stacked forecast's (hyperparameters and the optimiser columns, no
        other code column)."""
        if forecast:
            return [row(v, use_code=False, use_curve=v.k > 0, use_optimizer=True) for v in views]
        return [row(v, use_code=self.use_code, use_curve=v.k > 0) for v in views]

    def _fit_stack(self, sub: list[RunView], y: np.ndarray, groups: np.ndarray) -> tuple[FeatureSpace, object, np.ndarray]:
        """The forecast's point model (hyperparameters + optimiser kind) on all rows, and its family out-of-fold
        predictions for the training rows."""
        rows = self._rows(sub, forecast=True)
        space = FeatureSpace.from_rows(rows)
        x = space.matrix(rows)
        fold = family_folds(groups, STACK_FOLDS, self.params.seed + 7)
        oof = np.zeros(len(y))
        for f in range(STACK_FOLDS):
            test = fold == f
            if test.any() and (~test).any():
                oof[test] = self._point(0).fit(x[~test], y[~test]).predict(x[test])
        full = self._point(0).fit(x, y)
        if len(np.unique(groups)) < 2:  # one family: no out-of-fold forecast exists, use the in-sample one
            oof = full.predict(x)
        return space, full, oof

    def _matrix(self, bucket: _Bucket, views: list[RunView]) -> np.ndarray:
        x = bucket.space.matrix(self._rows(views))
        if bucket.stack_model is None:
            return x
        forecast = bucket.stack_model.predict(bucket.stack_space.matrix(self._rows(views, forecast=True)))
        return np.column_stack([x, forecast])

    @staticmethod
    def _offset(views: list[RunView]) -> np.ndarray:
        return np.array([float(v.accuracy[-1]) if v.k else 0.0 for v in views])

    def _fit_quantiles(self, x: np.ndarray, y: np.ndarray):
        lo_q, hi_q = (1 - COVERAGE) / 2, 1 - (1 - COVERAGE) / 2
        return self._lgbm("quantile", lo_q, 1).fit(x, y), self._lgbm("quantile", hi_q, 2).fit(x, y)

    def _fit_headroom(self, x: np.ndarray, y: np.ndarray, offset: np.ndarray, bucket: int):
        """The share-of-headroom point model, or None (k = 0, or switched off). Weighted by headroom squared, its
        squared loss is the gain's squared loss: the share model is fitted to the same error, split differently."""
        if bucket == 0 or not self.params.headroom_point:
            return None
        room = headroom(offset)
        return self._lgbm("regression", seed_offset=3).fit(x, y / room, sample_weight=room**2)

    def _fit_models(self, x: np.ndarray, y: np.ndarray, offset: np.ndarray, bucket: int, whole: np.ndarray):
        """(gain point, headroom point or None, 10% quantile, 90% quantile) for one bucket's rows. The point models
        learn from every row, the quantile models from the ``whole`` runs' rows only: a horizon cut says how far a run
        climbs, but its rows repeat a run several times over, and the interval is asked for a run."""
        quantiles = self._fit_quantiles(x[whole], y[whole])
        return (self._point(bucket).fit(x, y), self._fit_headroom(x, y, offset, bucket), *quantiles)

    def _stacks_at(self, bucket: int) -> bool:
        return self.stack and bucket == 0

    def _check_shared(self, shared: "GBM") -> None:
        if not isinstance(shared, GBM) or (shared.use_code, shared.params) != (self.use_code, self.params):
            raise ValueError(f"{self.name} can share buckets only with a GBM of the same features and params")

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str], shared: "GBM | None" = None,
            codes: list[str] | None = None) -> "GBM":
        """Fit one bucket per k. ``shared``: a GBM of the same features and params already fitted on the same views;
        each bucket that neither stacks is taken from it as it is (gbm_code and gbm_stack differ only at k = 0, so
        an evaluation of both fits k >= 1 once). ``codes``: each view's code (LEMUR model name); with them each bucket
        also learns how much of its out-of-fold error runs of one code share (``code_shrink_ratio``)."""
        if shared is not None:
            self._check_shared(shared)
        groups_arr = np.asarray(groups)
        codes_arr = np.asarray(codes) if codes is not None else None
        for b, idx in sorted(_buckets(views).items()):
            if shared is not None and b in shared.buckets and not (self._stacks_at(b) or shared._stacks_at(b)):
                self.buckets[b] = shared.buckets[b]
                continue
            sub = [views[i] for i in idx]
            rows = self._rows(sub)
            space = FeatureSpace.from_rows(rows)
            x = space.matrix(rows)
            offset = self._offset(sub)
            y = targets[idx] - offset
            g = groups_arr[idx]
            stack_space, stack_model = None, None
            if self._stacks_at(b):
                stack_space, stack_model, forecast = self._fit_stack(sub, y, g)
                x = np.column_stack([x, forecast])
            strata = np.array([calibration_stratum(v) for v in sub])
            whole = np.array([not v.horizon_cut for v in sub], dtype=bool)
            scores, rows_used, oof_point = self._out_of_fold(x, y, offset, g, b, whole)
            point, headroom_model, q_lo, q_hi = self._fit_models(x, y, offset, b, whole)
            bucket = _Bucket(space, point, q_lo, q_hi, stack_space=stack_space, stack_model=stack_model,
                             headroom_point=headroom_model)
            if codes_arr is not None and len(rows_used):
                ks = np.array([v.k for v in sub])[rows_used]
                bucket.code_shrink = code_shrink_by_k(y[rows_used] - oof_point, codes_arr[idx][rows_used], ks)
            if len(scores):
                g_cal, s_cal = g[rows_used], strata[rows_used]
                weighting = self.params.calibration_weighting
                level = self.params.conformal_level
                bucket.correction = weighted_conformal_quantile(scores, calibration_weights(g_cal, weighting), level)
                for s in np.unique(s_cal):
                    mask = s_cal == s
                    if len(np.unique(g_cal[mask])) >= MIN_STRATUM_FAMILIES:
                        weights = calibration_weights(g_cal[mask], weighting)
                        bucket.stratum_correction[int(s)] = weighted_conformal_quantile(scores[mask], weights, level)
            self.buckets[b] = bucket
        return self

    def _out_of_fold(self, x: np.ndarray, y: np.ndarray, offset: np.ndarray, groups: np.ndarray,
                     bucket: int, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """On predictions for families the models did not see: CQR conformity scores max(lo - y, y - hi), the row
        indices they belong to, and the point model's predictions for those rows; scored on the ``whole`` runs' rows
        only (the calibration and the code-level error sharing are for runs, not for their horizon cuts)."""
        empty = np.array([]), np.array([], dtype=int), np.array([])
        if len(np.unique(groups)) < 3:
            return empty
        folds = self.params.cv_folds or 5
        fold = family_folds(groups, folds, self.params.seed)
        scores, rows, points = [], [], []
        for f in range(folds if self.params.cv_folds else 1):
            fit_on, test = fold != f, (fold == f) & whole
            if test.sum() == 0 or fit_on.sum() == 0:
                continue
            point, headroom_model, q_lo, q_hi = self._fit_models(x[fit_on], y[fit_on], offset[fit_on], bucket, whole[fit_on])
            lo, hi = q_lo.predict(x[test]), q_hi.predict(x[test])
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
            scores.append(np.maximum(lo - y[test], y[test] - hi))
            rows.append(np.flatnonzero(test))
            points.append(predicted_gain(point, headroom_model, x[test], offset[test]))
        if not scores:
            return empty
        return np.concatenate(scores), np.concatenate(rows), np.concatenate(points)

    def code_shrink(self, views: list[RunView]) -> np.ndarray:
        """Each view's lambda (``code_shrink_ratio``) at its k: inf where none was learned."""
        out = np.full(len(views), math.inf)
        for i, v in enumerate(views):
            bucket = self.buckets.get(bucket_of(v.k)) or self.buckets[max(self.buckets)]
            out[i] = nearest_k(getattr(bucket, "code_shrink", {}), v.k)  # predictors pickled before it have none
        return out

    def predict(self, views: list[RunView]) -> Estimate:
        point = np.zeros(len(views))
        lo = np.zeros(len(views))
        hi = np.zeros(len(views))
        for b, idx in _buckets(views).items():
            bucket = self.buckets.get(b) or self.buckets[max(self.buckets)]
            sub = [views[i] for i in idx]
            x = self._matrix(bucket, sub)
            off = self._offset(sub)
            ql, qh = bucket.q_lo.predict(x), bucket.q_hi.predict(x)
            ql, qh = np.minimum(ql, qh), np.maximum(ql, qh)
            corr = np.array([getattr(bucket, "stratum_correction", {}).get(calibration_stratum(v), bucket.correction) for v in sub])
            share_model = getattr(bucket, "headroom_point", None)
            if share_model is None:
                p, p_lo, p_hi = predicted_gain(bucket.point, None, x, off), ql - corr, qh + corr
            else:
                p, p_lo, p_hi = within_headroom(bucket.point.predict(x), share_model.predict(x), ql, qh, corr, off)
            point[idx] = off + p
            lo[idx] = off + p_lo
            hi[idx] = off + p_hi
        return Estimate(point, lo, hi).clip()


MIN_WIDTH = 0.02  # the narrowest base interval a residual is scaled by (a clipped interval at 1.0 has width 0)
MIN_CELL_VIEWS = 5  # views of a new dataset a recalibration cell needs; with fewer the base's gain is kept as is


def _line_with_loo(x: np.ndarray, y: np.ndarray, max_slope: float = 2.0) -> tuple[float, float, np.ndarray]:
    """Least squares ``y ~ a + b x`` with b in [0, ``max_slope``], and each point's leave-one-out residual (the
    conformity score of a point the fit did not see). A clamped or degenerate slope leaves only the intercept fitted."""
    n = len(x)
    if n >= 3 and np.ptp(x) > 1e-9:
        xc = x - x.mean()
        b = float(xc @ (y - y.mean()) / (xc @ xc))
        if 0.0 <= b <= max_slope:
            a = float(y.mean() - b * x.mean())
            leverage = 1.0 / n + xc**2 / (xc @ xc)
            return a, b, (y - a - b * x) / np.maximum(1.0 - leverage, 1e-3)
        b = min(max(b, 0.0), max_slope)
    else:
        b = 1.0
    a = float(np.mean(y - b * x))
    return a, b, (y - a - b * x) * (n / max(n - 1, 1))


@dataclass
class _Recalibration:
    """The line a new dataset's forecast gain is mapped by: ``intercept + slope * (p - last)``."""
    intercept: float
    slope: float


class Recalibrated:
    """Another dataset's estimator (``base``, fitted on ``base_dataset``) recalibrated on a new dataset's few runs.

    The base answers each view as if it were ``base_dataset``'s; then, with ``last`` the accuracy seen (0 at k = 0),
    the forecast gain ``p - last`` is mapped to ``intercept + slope * (p - last)``, one line for k = 0 (the new
    dataset's accuracy level against the base dataset's) and one for k >= 1 (how far its curves still climb). The
    interval is split-conformal on leave-one-out residuals scaled by the base's own interval width, so that it is wide
    where the base is unsure (a long run seen early) and narrow where it is not; one quantile each for k = 0, k = 1 and
    k >= 2, at ``level``.

    Why: an estimator of its own fitted on few runs knows little of how code and curves map to the final; the base
    knows that from thousands of runs and misses only the new dataset's level and pace. With each LEMUR dataset playing
    the new one (``bench/bench_unseen_dataset.py --recalibrated-runs``), this answers k = 0 better than an estimator of
    the dataset's own fitted on the same runs on all six datasets from 50 runs and on four from 150, and their 50-epoch
    runs at k = 2 better on four or five of five at every n measured (the own one from 1,000 runs against this one
    from 400); the own estimator is better at k = 0-2 on every dataset from 1,000 runs
    (``predictor.datasets.NEW_DATASET_OWN_RUNS``).
    """

    def __init__(self, base, base_dataset: str, level: float = NEW_DATASET_CONFORMAL_LEVEL) -> None:
        self.base = base
        self.base_dataset = base_dataset
        self.level = level
        self.runs = 0
        self.lines: dict[str, _Recalibration] = {}
        self.quantiles: dict[int, float] = {}

    @staticmethod
    def _cell(view: RunView) -> str:
        return "level" if view.k == 0 else "pace"

    def _base(self, views: list[RunView]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The base's point and interval width for each view asked as ``base_dataset``'s, and the accuracy seen."""
        e = self.base.predict([replace(v, dataset=self.base_dataset) for v in views])
        last = np.array([v.accuracy[-1] if v.k else 0.0 for v in views])
        return e.point, np.maximum(e.hi - e.lo, MIN_WIDTH), last

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str] | None = None,
            codes: list[str] | None = None) -> "Recalibrated":
        point, width, last = self._base(views)
        targets = np.asarray(targets, dtype=float)
        self.runs = _runs_in(views)
        scores = np.full(len(views), np.nan)
        for cell, idx in _indices_by([self._cell(v) for v in views]).items():
            idx = np.array(idx)
            if len(idx) < MIN_CELL_VIEWS:
                continue
            a, b, loo = _line_with_loo(point[idx] - last[idx], targets[idx] - last[idx])
            self.lines[cell] = _Recalibration(a, b)
            scores[idx] = np.abs(loo) / width[idx]
        ks = np.array([min(v.k, 2) for v in views])
        for k in (0, 1, 2):
            cell = scores[(ks == k) & ~np.isnan(scores)]
            if len(cell):
                self.quantiles[k] = conformal_quantile(cell, self.level)
        if "level" not in self.lines or not self.quantiles:
            raise ValueError(f"too few runs to recalibrate {self.base_dataset}'s estimator: {self.runs}")
        return self

    def _quantile(self, k: int) -> float:
        """The scaled-residual quantile of k's cell, else of the nearest cell measured (a new dataset of 1-epoch runs
        has no k >= 1 views)."""
        return self.quantiles.get(min(k, 2)) or self.quantiles[min(self.quantiles, key=lambda c: abs(c - min(k, 2)))]

    def predict(self, views: list[RunView]) -> Estimate:
        point, width, last = self._base(views)
        identity = _Recalibration(0.0, 1.0)
        out, half = np.zeros(len(views)), np.zeros(len(views))
        for i, v in enumerate(views):
            line = self.lines.get(self._cell(v), identity)
            out[i] = last[i] + line.intercept + line.slope * (point[i] - last[i])
            half[i] = self._quantile(v.k) * width[i]
        return Estimate(out, out - half, out + half).clip()

    def code_shrink(self, views: list[RunView]) -> np.ndarray:
        return self.base.code_shrink([replace(v, dataset=self.base_dataset) for v in views])


class PerDataset:
    """One estimator per dataset with at least ``min_views`` training views, and per new dataset (outside LEMUR,
    reported: ``train.learnable_reported`` keeps those with enough runs); the rest answered by the estimator of the
    dataset with the most views.

    Why: one LightGBM over every LEMUR dataset (dataset as a column) is worse on each dataset than its own model:
    on the stem seed 0 hold-out, CIFAR-10 k = 0 / 2 RMSE 0.084 / 0.050 pooled vs 0.077 / 0.047 alone (six splits'
    mean), CIFAR-100 0.061 / 0.036 vs 0.053 / 0.034. It also makes the served CIFAR-10 model the one evaluated.
    """

    def __init__(self, name: str, params: GBMParams | None = None, min_views: int = 2000) -> None:
        self.name = name
        self.params = params
        self.min_views = min_views
        self.by_dataset: dict[str, object] = {}
        self.fallback = ""
        self.views_by_dataset: dict[str, int] | None = None  # training views per dataset (``borrowed``)

    def fit(self, views: list[RunView], targets: np.ndarray, groups: list[str], shared: "PerDataset | None" = None,
            codes: list[str] | None = None) -> "PerDataset":
        """``shared``: a PerDataset of GBMs fitted on the same views; each dataset's GBM shares its buckets (``GBM.fit``).
        ``codes``: each view's code, for each estimator's code-level correction."""
        index = _indices_by([v.dataset for v in views])
        if not index:
            raise ValueError("no training views")
        self.fallback = max(index, key=lambda ds: len(index[ds]))
        self.views_by_dataset = {ds: len(idx) for ds, idx in index.items()}
        # a dataset outside LEMUR (reported as new: predictor.datasets) never borrows: another dataset's level misleads;
        # with fewer than NEW_DATASET_OWN_RUNS runs it gets the fallback's GBM recalibrated on its runs (Recalibrated)
        recalibrated = [ds for ds in index if self._recalibrates(ds, _runs_in([views[i] for i in index[ds]]))]
        own = [ds for ds, idx in index.items() if ds not in recalibrated and
               (len(idx) >= self.min_views or ds == self.fallback or ds not in DATASETS)]

        def fit_one(ds: str):
            idx = index[ds]
            own_codes = [codes[i] for i in idx] if codes is not None else None
            return self._fit_own(ds, [views[i] for i in idx], targets[idx], [groups[i] for i in idx], own_codes,
                                 shared.by_dataset.get(ds) if shared is not None else None)

        workers = (self.params or GBMParams()).fit_workers
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(own)))) as pool:
            self.by_dataset = dict(zip(own, pool.map(fit_one, own)))
        for ds in recalibrated:
            idx = index[ds]
            self.by_dataset[ds] = self.fit_new_dataset(ds, [views[i] for i in idx], targets[idx], [groups[i] for i in idx])
        return self

    def fit_new_dataset(self, dataset: str, views: list[RunView], targets: np.ndarray, groups: list[str],
                        codes: list[str] | None = None, runs: int | None = None):
        """The estimator ``fit`` gives a new dataset (outside LEMUR) from its views alone, the fallback's estimator
        fitted: the fallback's recalibrated (``_recalibrates``), else one of its own. ``runs``: the run count the choice
        is made on (default: the runs in ``views``). Why a method: cross-validation on a new dataset's reported runs
        (``predictor.cross_validate``) refits exactly this per fold, choosing as for all its runs."""
        if self._recalibrates(dataset, _runs_in(views) if runs is None else runs):
            return Recalibrated(self.by_dataset[self.fallback], self.fallback).fit(views, targets)
        return self._fit_own(dataset, views, targets, groups, codes)

    def _fit_own(self, dataset: str, views: list[RunView], targets: np.ndarray, groups: list[str],
                 codes: list[str] | None = None, shared=None):
        """``dataset``'s own estimator, fitted on its views (``shared``: a GBM of the same views whose buckets it shares)."""
        estimator = make_estimator(self.name, self.params_for(dataset, len(views)))
        if shared is not None:
            return estimator.fit(views, targets, groups, shared=shared, codes=codes)
        return estimator.fit(views, targets, groups, codes=codes)

    def _recalibrates(self, dataset: str, runs: int) -> bool:
        """Whether ``dataset`` gets the fallback's estimator recalibrated (``Recalibrated``) instead of its own: a new
        dataset (outside LEMUR) with fewer than ``NEW_DATASET_OWN_RUNS`` runs, when a LEMUR dataset's GBM is the
        fallback."""
        if dataset in DATASETS or self.fallback not in DATASETS or not self.name.startswith("gbm"):
            return False
        return runs < NEW_DATASET_OWN_RUNS

    def params_for(self, dataset: str, views: int) -> GBMParams | None:
        """The parameters ``dataset``'s estimator is fitted with: a new dataset with fewer than ``min_views`` views
        calibrates its intervals at ``NEW_DATASET_CONFORMAL_LEVEL`` (its few runs make them erratic)."""
        if dataset in DATASETS or views >= self.min_views:
            return self.params
        return replace(self.params or GBMParams(), conformal_level=NEW_DATASET_CONFORMAL_LEVEL)

    def answering(self, dataset: str) -> str:
        """The dataset whose estimator answers for ``dataset``."""
        return dataset if dataset in self.by_dataset else self.fallback

    def borrowed(self, dataset: str) -> str:
        """"" when ``dataset`` has an estimator of its own, else whose estimator answers for it and why. Why: the
        answer is then another dataset's, and the method string of a prediction must say so."""
        if dataset in self.by_dataset:
            return ""
        views = getattr(self, "views_by_dataset", None)  # None: fitted before the counts were kept
        why = f"no estimator of {dataset}" if views is None else f"too few training runs of {dataset}" if views.get(dataset) else \
            f"no training runs of {dataset}"
        return f"{self.fallback}'s estimator: {why}"

    def adapted(self, dataset: str) -> str:
        """How ``dataset``'s own estimator was made when it is another's recalibrated, else "". Why: the method string of
        a prediction says which model answered."""
        est = self.by_dataset.get(dataset)
        if isinstance(est, Recalibrated):
            return f"{est.base_dataset}'s estimator recalibrated on {est.runs} runs of {dataset}"
        return ""

    def code_shrink(self, views: list[RunView]) -> np.ndarray:
        out = np.full(len(views), math.inf)
        for ds, idx in _indices_by([self.answering(v.dataset) for v in views]).items():
            out[idx] = self.by_dataset[ds].code_shrink([views[i] for i in idx])
        return out

    def predict(self, views: list[RunView]) -> Estimate:
        point, lo, hi = np.zeros(len(views)), np.zeros(len(views)), np.zeros(len(views))
        for ds, idx in _indices_by([self.answering(v.dataset) for v in views]).items():
            e = self.by_dataset[ds].predict([views[i] for i in idx])
            point[idx], lo[idx], hi[idx] = e.point, e.lo, e.hi
        return Estimate(point, lo, hi)


def make_estimator(name: str, params: GBMParams | None = None):
    if name == "last_value":
        return LastValue()
    if name == "curve_fit":
        return CurveFit()
    if name == "gbm_nocode":
        return GBM(use_code=False, params=params)
    if name == "gbm_code":
        return GBM(use_code=True, params=params)
    if name == "gbm_stack":
        return GBM(use_code=True, params=params, stack=True)
    raise ValueError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")


ESTIMATORS = ("last_value", "curve_fit", "gbm_nocode", "gbm_code", "gbm_stack")
