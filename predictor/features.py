"""Feature rows for a run seen up to epoch k: hyperparameters, transform, dataset, planned epochs,
the first k epochs of the curve and their durations, and (optionally) the model's code features.

A row is a dict; ``FeatureSpace`` fixes the column order once (at training) so that a saved model
reads any later row the same way. Missing values are NaN (LightGBM handles them).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

DATASETS = ("cifar-10", "cifar-100", "mnist", "svhn", "celeba-gender", "imagenette", "places365", "coco", "wikitext")
# The datasets of LEMUR's image-classification accuracy runs, which is all the predictor learns from (evaluate.usable);
# LEMUR's coco and wikitext runs are other tasks (captioning, segmentation, detection, text generation).
CLASSIFICATION_DATASETS = ("cifar-10", "cifar-100", "mnist", "svhn", "celeba-gender", "imagenette", "places365")
NUMERIC_HPARAMS = ("lr", "momentum", "dropout", "weight_decay", "mixup_alpha", "warmup_epochs", "attention_dropout",
                   "stochastic_depth_prob", "norm_eps", "patch_size", "dropout_aux", "norm_std", "norm_momentum", "kernel_size")
LOG_HPARAMS = ("lr", "weight_decay", "norm_eps")
# Every hyperparameter the predictor reads (``hparam_features``, ``api._split_hparams``); a study may send others
# (LEMUR's own runs hold detection thresholds, optimiser betas, ...): they are ignored, and the answer says which.
READ_HPARAMS = frozenset((*NUMERIC_HPARAMS, "batch", "batch_size", "lr_schedule", "epochs", "epoch", "transform"))
# Other spellings of read names that studies use (case and "-" are ignored too: "LR", "weight-decay").
HPARAM_ALIASES = {"learning_rate": "lr", "wd": "weight_decay", "drop_rate": "dropout", "dropout_rate": "dropout",
                  "num_epochs": "epochs", "n_epochs": "epochs", "max_epochs": "epochs"}


def canonical_hparams(hparams: dict) -> dict:
    """``hparams`` under the names the predictor reads: "learning_rate" or "LR" becomes "lr". Why: LEMUR's names are
    the predictor's, and {"learning_rate": 0.1} was answered as if no learning rate had been given. Two names for one
    hyperparameter with different values are a ValueError; names nothing reads are kept as they are."""
    out: dict = {}
    given_as: dict = {}  # read name -> the key it came from
    for key, value in hparams.items():
        name = _read_name(key)
        if name in out and out[name] != value:
            raise ValueError(f"hparams give {name} twice: {given_as[name]!r} is {out[name]!r} and {key!r} is {value!r}")
        out[name], given_as[name] = value, key
    return out


def _read_name(key: object) -> object:
    if not isinstance(key, str) or key in READ_HPARAMS:
        return key
    folded = key.strip().lower().replace("-", "_")
    return folded if folded in READ_HPARAMS else HPARAM_ALIASES.get(folded, key)


def unread_hparams(hparams: dict) -> list[str]:
    """The names in ``hparams`` (after ``canonical_hparams``) that no part of the predictor reads."""
    return sorted(str(k) for k in canonical_hparams(hparams) if k not in READ_HPARAMS)
CURVE_POINTS = 5  # the first epochs kept as individual columns
# LEMUR transforms resize as "<norm|echo|complex>_<size>[_flip]"; the number ending an augmentation pipeline
# ("bf-v1-RandomRotation_46", "bf-v1-RandomPerspective_103") is the op's setting, not an image size.
TRANSFORM_SIZE = re.compile(r"^(?:norm|echo|complex)_(\d+)")


@dataclass
class RunView:
    """What is known about a run at prediction time (k = len(accuracy) epochs seen)."""

    dataset: str
    hparams: dict
    transform: str = ""
    epochs: int = 5  # planned epochs: the target is the metric after the last one
    accuracy: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    code_features: dict[str, float] | None = None
    code: str | None = field(default=None, repr=False)  # only the text-reading estimator (LoRA) needs it
    # A training view of a run cut short at a shorter horizon (``evaluate.horizon_cuts``): it teaches the GBMs' point
    # models, but it is not a run of its own, so the quantile models, the calibration, the code-level error sharing
    # (``models.code_shrink_ratio``) and the baselines leave it out.
    horizon_cut: bool = field(default=False, repr=False)

    @property
    def k(self) -> int:
        return len(self.accuracy)


def as_float(value) -> float:
    """``value`` as a finite float, else NaN (LightGBM reads NaN as missing)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out if math.isfinite(out) else float("nan")


def hparam_features(view: RunView) -> dict[str, float]:
    hp = view.hparams or {}
    feats: dict[str, float] = {}
    for name in NUMERIC_HPARAMS:
        value = as_float(hp.get(name))
        if name in LOG_HPARAMS and value == value:
            value = math.log10(max(value, 1e-12))
        feats[f"hp_{name}"] = value
    batch = as_float(hp.get("batch", hp.get("batch_size")))
    feats["hp_log2_batch"] = math.log2(batch) if batch == batch and batch > 0 else float("nan")
    lr = as_float(hp.get("lr"))
    feats["hp_lr_over_batch"] = math.log10(lr / batch) if lr == lr and batch == batch and lr > 0 and batch > 0 else float("nan")
    schedule = hp.get("lr_schedule")
    feats["hp_has_schedule"] = float(schedule is not None)
    transform = view.transform or ""
    size = TRANSFORM_SIZE.match(transform)
    feats["tf_size"] = float(size.group(1)) if size else float("nan")
    feats["tf_flip"] = float("flip" in transform.lower())
    feats["tf_norm"] = float(transform.startswith("norm"))
    feats["tf_echo"] = float(transform.startswith("echo"))
    feats["tf_complex"] = float(transform.startswith("complex"))
    feats["tf_other"] = float(not transform.startswith(("norm", "echo", "complex")))
    feats["dataset"] = float(DATASETS.index(view.dataset)) if view.dataset in DATASETS else float("nan")
    feats["epochs_planned"] = float(view.epochs)
    return feats


def curve_features(view: RunView) -> dict[str, float]:
    """Features of the first k epochs; the same columns for every k >= 1 (k itself is a column)."""
    k = view.k
    acc = [float(a) for a in view.accuracy]
    feats: dict[str, float] = {"k": float(k), "epochs_left": float(view.epochs - k), "log_progress": math.log((k + 1) / (view.epochs + 1))}
    for i in range(CURVE_POINTS):
        feats[f"acc_{i + 1}"] = acc[i] if i < k else float("nan")
    feats["acc_last"] = acc[-1]
    feats["acc_best"] = max(acc)
    feats["acc_prev"] = acc[-2] if k >= 2 else float("nan")
    feats["acc_prev2"] = acc[-3] if k >= 3 else float("nan")
    feats["slope_last"] = acc[-1] - acc[-2] if k >= 2 else float("nan")
    feats["slope_mean3"] = (acc[-1] - acc[-4]) / 3 if k >= 4 else (acc[-1] - acc[0]) / max(k - 1, 1) if k >= 2 else float("nan")
    feats["acc_std3"] = float(np.std(acc[-3:])) if k >= 3 else float("nan")
    # Log-time extrapolation of the last two points: a cheap learning-curve prior for the trees.
    if k >= 2:
        step = (acc[-1] - acc[-2]) / math.log(k / (k - 1))
        feats["logfit_final"] = acc[-1] + step * math.log(view.epochs / k)
    else:
        feats["logfit_final"] = float("nan")
    dur = [float(d) for d in view.duration_s[:k]] if view.duration_s else []
    if dur and dur[-1] > 0:
        feats["sec_per_epoch_log"] = math.log10(dur[-1] / len(dur))
        feats["sec_first_epoch_log"] = math.log10(max(dur[0], 1e-3))
    else:
        feats["sec_per_epoch_log"] = float("nan")
        feats["sec_first_epoch_log"] = float("nan")
    return feats


ADAPTIVE_OPTIMIZERS = ("Adam", "AdamW", "RMSprop", "Adagrad")


def optimizer_features(view: RunView, hp: dict[str, float]) -> dict[str, float]:
    """The learning rate and momentum read in the light of the optimiser the code's ``train_setup`` builds.

    Why: ``lr = 3e-5`` is a sensible AdamW rate and a stalled SGD one, and ``momentum`` is never read by Adam;
    with one ``hp_lr`` column the trees learn the SGD meaning from the many SGD families and apply it to a new
    Adam family, under-forecasting it by 0.15-0.2 (MoEv9-AlexNet, AirNext). Separate columns per optimiser kind
    let each meaning be learned apart (k = 0 RMSE over six stem splits: 0.082 -> 0.078). ``hp``: the view's
    ``hparam_features``. Empty without code.
    """
    code = view.code_features
    if not code:
        return {}
    adaptive = sum(code.get(f"n_{name}", 0.0) for name in ADAPTIVE_OPTIMIZERS) > 0 and code.get("n_SGD", 0.0) == 0
    nan = float("nan")
    return {
        "opt_adaptive": float(adaptive),
        "hp_lr_sgd": nan if adaptive else hp["hp_lr"],
        "hp_lr_adaptive": hp["hp_lr"] if adaptive else nan,
        "hp_momentum_sgd": nan if adaptive else hp["hp_momentum"],
    }


def row(view: RunView, use_code: bool, use_curve: bool, use_optimizer: bool | None = None) -> dict[str, float]:
    """Feature row; ``use_optimizer`` (default: with the code) adds ``optimizer_features``, which read only which
    optimiser the code builds - the code-free forecast of ``gbm_stack`` takes them without the other code columns."""
    feats = hparam_features(view)
    if use_curve:
        feats.update(curve_features(view))
    if use_code if use_optimizer is None else use_optimizer:
        feats.update(optimizer_features(view, feats))
    if use_code:
        for name, value in (view.code_features or {}).items():
            feats[f"code_{name}"] = float(value)
    return feats


@dataclass
class FeatureSpace:
    columns: list[str]

    @classmethod
    def from_rows(cls, rows: list[dict[str, float]]) -> "FeatureSpace":
        cols: dict[str, None] = {}
        for r in rows:
            for name in r:
                cols.setdefault(name, None)
        return cls(columns=list(cols))

    def matrix(self, rows: list[dict[str, float]]) -> np.ndarray:
        out = np.full((len(rows), len(self.columns)), np.nan, dtype=np.float64)
        index = {c: i for i, c in enumerate(self.columns)}
        for r_i, r in enumerate(rows):
            for name, value in r.items():
                j = index.get(name)
                if j is not None:
                    out[r_i, j] = value
        return out
