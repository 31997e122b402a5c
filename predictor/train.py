"""Fitting and evaluating the estimators on a split; saving and loading a trained predictor directory.

A predictor directory holds ``estimators.pkl`` (the fitted estimators, pickled), ``meta.json``
(what it was trained on, when, which estimator answers by default) and optionally ``lora/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from collections import Counter
from pathlib import Path

import numpy as np

from corpus.lemur_stats import Run
from predictor.data import Corpus, cache_dir_or_default, load_corpus
from predictor.datasets import NEW_DATASET_MIN_RUNS
from predictor.evaluate import build_split, check_target, default_split_path, evaluate, training_codes, training_views, usable
from predictor.families import GROUPINGS, read_split
from predictor.features import DATASETS
from predictor.models import GBMParams, PerDataset, adapted_of, make_estimator

EVAL_KS = (0, 1, 2, 3, 4)
LONG_EVAL_KS = (0, 1, 2, 5, 10, 20, 30, 40)
_CORPUS: dict[str, Corpus] = {}


def corpus(cache_dir: Path | None = None) -> Corpus:
    cache_dir = cache_dir_or_default(cache_dir)
    key = str(cache_dir)
    if key not in _CORPUS:
        _CORPUS[key] = load_corpus(cache_dir)
    return _CORPUS[key]


def load_or_build_split(path: Path | None, seed: int = 0, grouping: str = "strict") -> tuple[Path, list[str], list[str]]:
    """The split file at ``path``, or the default one of (seed, grouping), built on first use."""
    path = path or default_split_path(seed, grouping)
    if not path.exists():
        build_split(corpus(), seed=seed, path=path, grouping=grouping)
    train, test = read_split(path)
    return path, train, test


EVAL_MIN_RUNS = 30  # a dataset with fewer held-out runs of >= 3 epochs gets no rows: its figures would be noise


def runs_of(models: list[str], c: Corpus, datasets: tuple[str, ...] | None = None) -> list[Run]:
    wanted = set(models)
    return [r for r in c.runs if r.model in wanted and usable(r) and (datasets is None or r.dataset in datasets)]


def train_runs_of(models: list[str], c: Corpus, datasets: tuple[str, ...] | None = None) -> list[Run]:
    """The usable runs of the train models (on ``datasets``; None: any), else a ValueError saying so. Why: fitting on
    none failed deep inside the fit ("no training views") with a traceback."""
    runs = runs_of(models, c, datasets)
    if not runs:
        raise ValueError(f"the {len(models)} train models have no usable runs{' of ' + ', '.join(datasets) if datasets else ''} to train on")
    return runs


# The fewest training runs of the dataset whose LightGBM estimators every other dataset borrows (models.PerDataset's
# largest). Why: on fewer, the out-of-fold stacking and calibration folds are left with a single row and LightGBM
# failed after half a minute ("Found array with 1 sample(s)"); 3 CIFAR-10 runs were a split file's whole train side.
MIN_TRAIN_RUNS = 20


def check_enough_runs(runs: list[Run], names: list[str] | tuple[str, ...]) -> None:
    """A ValueError, before any fitting, when the LightGBM estimators among ``names`` would have too few runs."""
    if not any(name.startswith("gbm") for name in names):
        return  # last_value and curve_fit fit on any number of runs
    counts = Counter(r.dataset for r in runs)
    dataset, n = max(counts.items(), key=lambda item: item[1]) if counts else ("any dataset", 0)
    if n < MIN_TRAIN_RUNS:
        raise ValueError(f"too few training runs for {dataset}: {n}; need at least {MIN_TRAIN_RUNS} (add train models to the split)")


def eval_datasets(test_runs: list[Run], wanted: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The datasets a split is evaluated on: ``wanted`` (each must have held-out runs of >= 3 epochs: a named dataset
    must not vanish from the table unnoticed), or every dataset with at least ``EVAL_MIN_RUNS`` such runs, most runs
    first (CIFAR-10, the issue's headline dataset, first on LEMUR)."""
    counts = Counter(r.dataset for r in test_runs if usable(r) and r.epochs >= 3)
    if wanted:
        missing = [ds for ds in wanted if counts[ds] == 0]
        if missing:
            raise ValueError(f"the test models have no usable runs of >= 3 epochs on {', '.join(missing)} to evaluate on")
        return tuple(wanted)
    return tuple(ds for ds, n in counts.most_common() if n >= EVAL_MIN_RUNS)


SHARES_BUCKETS_WITH = {"gbm_stack": "gbm_code", "gbm_code": "gbm_stack"}  # identical at every k but 0 (models.GBM)


def fit_estimators(names: list[str], runs: list[Run], c: Corpus, params: GBMParams | None = None,
                   grouping: str = "stem", per_dataset: bool = False, earlier: dict | None = None,
                   target: str = "final") -> tuple[dict, dict]:
    """Each named estimator fitted on ``runs`` to predict ``target`` (``evaluate.TARGETS``); with ``per_dataset`` one
    per dataset (``models.PerDataset``).

    ``earlier``: estimators already fitted on the same runs, target, params and per-dataset choice; gbm_code and
    gbm_stack take the buckets they share from each other instead of fitting them twice."""
    views, targets, groups = training_views(runs, c, grouping, target)
    codes = training_codes(runs)
    fitted, timings = {}, {}
    for name in names:
        t0 = time.time()
        estimator = PerDataset(name, params) if per_dataset else make_estimator(name, params)
        shared = {**(earlier or {}), **fitted}.get(SHARES_BUCKETS_WITH.get(name, ""))
        if shared is not None:
            fitted[name] = estimator.fit(views, targets, groups, shared=shared, codes=codes)
        else:
            fitted[name] = estimator.fit(views, targets, groups, codes=codes)
        timings[name] = round(time.time() - t0, 1)
    return fitted, timings


FIT_CACHE_VERSION = "fit-v3"  # v2: one estimator per dataset (models.PerDataset), the datasets in the key; v3: code_shrink


def _source_digest() -> str:
    """Digest of the estimator code as this process imported it. Why at import: read at fit time, a source edited
    while a long fit runs would file that fit (done by the old code) under the new code's key."""
    src = "".join((Path(__file__).parent / f).read_text()
                  for f in ("models.py", "features.py", "code_features.py", "dynamic.py", "evaluate.py"))
    return hashlib.sha256(src.encode()).hexdigest()


_SOURCE_DIGEST = _source_digest()


def _fit_cache_key(split_path: Path, names: list[str], params: GBMParams | None, datasets: tuple[str, ...],
                   target: str = "final") -> str:
    body = f"{FIT_CACHE_VERSION}|{Path(split_path).read_text()}|{sorted(names)}|{params}|{sorted(datasets)}|{_SOURCE_DIGEST}"
    body += f"|target={target}" if target != "final" else ""  # keys of the final-target fits as they were
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def split_grouping(path: Path) -> str:
    """The family grouping a split file was built with (its meta), "stem" when it does not say: intervals are
    calibrated on held-out families of the same grouping as the split's test side."""
    try:
        grouping = json.loads(Path(path).read_text()).get("meta", {}).get("grouping", "stem")
    except (OSError, ValueError, AttributeError):
        return "stem"
    return grouping if grouping in GROUPINGS else "stem"


def fitted_for_split(split_path: Path, train: list[str], names: list[str], datasets: tuple[str, ...],
                     params: GBMParams | None = None, cache_dir: Path | None = None) -> dict:
    """Estimators fitted on a split's train models' runs of ``datasets`` (one per dataset, as served), cached on
    disk per (split, names, datasets, params, code version)."""
    fitted, _ = fitted_for_split_timed(split_path, train, names, datasets, params, cache_dir)
    return fitted


def fitted_for_split_timed(split_path: Path, train: list[str], names: list[str], datasets: tuple[str, ...],
                           params: GBMParams | None = None, cache_dir: Path | None = None,
                           target: str = "final") -> tuple[dict, dict]:
    out: dict = {}
    timings: dict = {}
    cache_dir = cache_dir_or_default(cache_dir)
    c = corpus(cache_dir)
    for name in names:
        path = Path(cache_dir) / "fitted" / f"{name}-{_fit_cache_key(split_path, [name], params, datasets, target)}.pkl"
        if path.exists():
            with open(path, "rb") as fh:
                out[name], timings[name] = pickle.load(fh)
            continue
        fitted, t = fit_estimators([name], runs_of(train, c, datasets), c, params, split_grouping(split_path),
                                   per_dataset=True, earlier=out, target=target)
        out[name], timings[name] = fitted[name], t[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".tmp"), "wb") as fh:
            pickle.dump((out[name], timings[name]), fh)
        path.with_suffix(".tmp").replace(path)
    return out, timings


ANSWERING_ORDER = ("gbm_stack", "gbm_code", "gbm_nocode")  # the first one fitted answers by default
# Bump when the estimators or their features change: a demo default predictor saved by another version is
# trained again (see predictor.api.load_or_train_default). "2": gbm_stack answers. "3": optimiser-aware learning
# rate columns, parameter counts of models that failed forward. "4": gbm_stack@best (the best-over-epochs target).
# "5": Huber loss for the k = 0 point models (GBMParams.k0_huber_delta).
# "6": estimators learn code_shrink (corrections by reported runs of the same code).
# "7": from k = 1 the point also averages a share-of-headroom model (GBMParams.headroom_point).
# "8": the point models also learn from horizon cuts of long runs (evaluate.horizon_cuts).
PREDICTOR_VERSION = "9"  # 9: intervals conformalised at 0.78 (GBMParams.conformal_level), centred on 80% coverage


def default_estimator(fitted: dict) -> str:
    return next((name for name in ANSWERING_ORDER if name in fitted), [n for n in fitted if "@" not in n][-1])


BEST_TARGET_ESTIMATORS = ("gbm_stack",)  # also fitted to the best over epochs by train_predictor


def best_target_name(name: str) -> str:
    """Where a predictor directory keeps ``name`` fitted to the best-over-epochs target."""
    return f"{name}@best"


def fit_with_best(names: list[str], runs: list[Run], c: Corpus, params: GBMParams | None, per_dataset: bool) -> tuple[dict, dict]:
    """``names`` fitted to the final metric, and those of ``BEST_TARGET_ESTIMATORS`` also to the best over epochs."""
    fitted, timings = fit_estimators(names, runs, c, params, per_dataset=per_dataset)
    best = [n for n in names if n in BEST_TARGET_ESTIMATORS]
    if best:
        fitted_best, timings_best = fit_estimators(best, runs, c, params, per_dataset=per_dataset, target="best")
        fitted.update({best_target_name(n): e for n, e in fitted_best.items()})
        timings.update({best_target_name(n): t for n, t in timings_best.items()})
    return fitted, timings


def evaluate_split(train: list[str], test: list[str], names: list[str], lora_dir: Path | None = None,
                   params: GBMParams | None = None, split_path: Path | None = None,
                   datasets: tuple[str, ...] | None = None, target: str = "final") -> tuple[list[dict], dict]:
    """Metric rows per dataset (``eval_datasets``), k and subset, each estimator fitted per dataset on the train
    models' runs of the evaluated datasets, as the served predictor is (``train_predictor``), to predict ``target``:
    the metric after the last epoch ("final") or the best over epochs ("best")."""
    check_target(target)
    c = corpus()
    test_runs = runs_of(test, c)
    datasets = eval_datasets(test_runs, datasets)
    if not datasets:
        raise ValueError(f"the {len(test)} test models have no dataset with {EVAL_MIN_RUNS} or more usable runs of >= 3 epochs to evaluate on")
    train_runs = train_runs_of(train, c, datasets)
    check_enough_runs(train_runs, names)
    if split_path is not None:
        fitted, timings = fitted_for_split_timed(split_path, train, names, datasets, params, target=target)
    else:
        fitted, timings = fit_estimators(names, train_runs, c, params, per_dataset=True, target=target)
    from predictor.ensemble import Ensemble

    if "gbm_code" in fitted and "gbm_nocode" in fitted:  # no extra fit: the two LightGBMs averaged
        fitted["gbm_ensemble"] = Ensemble({"gbm_code": fitted["gbm_code"], "gbm_nocode": fitted["gbm_nocode"]})
    if lora_dir is not None:
        from predictor.lora import LoraRegressor

        gbm = next((name for name in ANSWERING_ORDER if name in fitted), None)
        fitted["lora"] = LoraRegressor.load(lora_dir)
        if gbm is not None:  # the LoRA regressor averaged with the best LightGBM evaluated
            fitted["ensemble"] = Ensemble({gbm: fitted[gbm], "lora": fitted["lora"]})
    rows = []
    for dataset in datasets:
        rows += evaluate(fitted, test_runs, c, EVAL_KS, dataset, min_epochs=3, target=target)
        rows += evaluate(fitted, test_runs, c, LONG_EVAL_KS, dataset, exact_epochs=50, min_runs=EVAL_MIN_RUNS, target=target)
    return [r.as_dict() for r in rows], timings


ESTIMATORS_FILE = "estimators.pkl"
META_FILE = "meta.json"
META_DIGEST = "estimators_sha256"  # meta.json's record of the estimators.pkl it belongs to (save_predictor)


class MismatchedSave(RuntimeError):
    """meta.json and estimators.pkl belong to different saves: a save is half done (load again when it ends)."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` at ``path`` all at once: a reader sees the old file or the new one, never a half-written one. The
    temporary name carries the pid so that two processes saving at once do not write into one temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _pending(out_dir: Path, digest: str) -> Path:
    """Where a save keeps the estimators its meta.json names (by digest) until estimators.pkl is replaced."""
    return Path(out_dir) / f".{ESTIMATORS_FILE}.{digest}.pending"


def save_predictor(out_dir: Path, estimators: dict, meta: dict) -> None:
    """Write a predictor directory: the estimators to a pending file, then meta.json, then the pending file renamed to
    estimators.pkl, each step atomic.

    Why this order and the digest: a server reloads the directory while it serves (``Predictor.reload_if_changed``).
    meta.json records the sha256 of the estimators it belongs to, so a reload never serves new estimators under the old
    meta (default model, version, stop policy). Why the pending file: a save killed between the meta and the
    estimators (SIGKILL, a full disk) left a directory that failed every load ("a save is in progress") for good; now
    the estimators meta.json names are on disk before it names them, and ``load_estimators`` reads them there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(estimators)
    digest = _digest(data)
    pending = _pending(out_dir, digest)
    _write_atomic(pending, data)
    _write_atomic(out_dir / META_FILE, json.dumps({**meta, META_DIGEST: digest}, indent=1).encode())
    pending.replace(out_dir / ESTIMATORS_FILE)
    _remove_stale_pending(out_dir)


STALE_PENDING_S = 3600.0  # a pending file this old belongs to no save still running


def _remove_stale_pending(out_dir: Path) -> None:
    """Delete the pending files of killed saves (their estimators are no longer named: this save's meta.json replaced
    theirs). Only old ones: a younger one may be a concurrent save's, about to be renamed."""
    for stale in out_dir.glob(f".{ESTIMATORS_FILE}.*.pending"):
        try:
            if time.time() - stale.stat().st_mtime > STALE_PENDING_S:
                stale.unlink()
        except FileNotFoundError:
            pass


def read_meta(out_dir: Path) -> dict:
    """A predictor directory's meta.json (what it was trained on, its default estimator and version)."""
    return json.loads((Path(out_dir) / META_FILE).read_text())


def load_estimators(out_dir: Path) -> tuple[dict, dict]:
    """(estimators, meta) of one save; ``MismatchedSave`` while a save is half done. A meta.json without a digest
    (saved before digests were written) is taken as it is. When estimators.pkl is not the one meta.json names, its
    pending file is (``save_predictor``: a save between its last two steps, or killed there)."""
    out_dir = Path(out_dir)
    data = (out_dir / ESTIMATORS_FILE).read_bytes()  # before meta: a save writes meta before estimators.pkl
    meta = read_meta(out_dir)
    expected = meta.get(META_DIGEST)
    if expected and expected != _digest(data):
        data = _named_estimators(out_dir, expected)
    return pickle.loads(data), meta


def _named_estimators(out_dir: Path, digest: str) -> bytes:
    """The estimators with ``digest``: the save's pending file, or estimators.pkl once the save renamed it there."""
    for path in (_pending(out_dir, digest), out_dir / ESTIMATORS_FILE):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if _digest(data) == digest:
            return data
    raise MismatchedSave(f"{out_dir / META_FILE} does not belong to {out_dir / ESTIMATORS_FILE}: a save is in progress, or one "
                         f"made by an older version was interrupted (then retrain: nnrag train-predictor --out {out_dir})")


def saved_stamp(out_dir: Path) -> tuple[tuple[int, int] | None, ...]:
    """(mtime in ns, size) of estimators.pkl and of meta.json, None for a file that is missing. Why both files: a
    change to either is a new save to load; and only two stat calls, so a server can ask on every request."""
    return tuple(_file_stamp(Path(out_dir) / name) for name in (ESTIMATORS_FILE, META_FILE))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def add_reported_model(c: Corpus, model: str, code: str, dynamic: dict[str, dict[str, float]]) -> None:
    """Reported code not in LEMUR becomes its own family; its features are its static ones plus the params/FLOPs
    measured when it was predicted or reported (``dynamic``: content hash -> features), as for LEMUR models."""
    from predictor.code_features import static_features
    from predictor.data import ModelInfo
    from predictor.families import content_hash, struct_hash

    if model in c.models:
        return
    c.models[model] = ModelInfo(model, content_hash(code), struct_hash(code), model)
    c.features[model] = {**static_features(code), **dynamic.get(content_hash(code), {})}


def train_predictor(out_dir: Path, extra_runs: list[tuple[Run, str]] | None = None, models: list[str] | None = None,
                    names: tuple[str, ...] = ("last_value", "curve_fit", "gbm_stack"), fast: bool = False,
                    cache_dir: Path | None = None, dynamic: dict[str, dict[str, float]] | None = None) -> dict:
    """Fit on LEMUR (all models, or ``models``) plus reported (run, code) pairs and save to ``out_dir``; returns meta.

    ``dynamic``: params/FLOPs measured for reported code (content hash -> features, ``ReportStore.dynamic``)."""
    t0 = time.time()
    c = corpus(cache_dir)
    runs = train_runs_of(models, c, ("cifar-10",) if fast else None) if models is not None else [r for r in c.runs if usable(r)]
    if fast:
        runs = [r for r in runs if r.dataset == "cifar-10"]
    extra = []
    for run, code in learnable_reported(extra_runs or [], fast):
        add_reported_model(c, run.model, code, dynamic or {})
        extra.append(run)
    new_datasets = Counter(run.dataset for run in extra if run.dataset not in DATASETS)
    check_enough_runs(runs + extra, names)
    params = GBMParams(n_estimators=150, cv_folds=0, learning_rate=0.08) if fast else GBMParams()
    fitted, timings = fit_with_best(list(names), runs + extra, c, params, per_dataset=True)
    meta = {
        "trained_at": time.time(), "n_runs": len(runs), "n_reported": len(extra), "estimators": list(fitted),
        "new_datasets": dict(sorted(new_datasets.items())),  # reported datasets outside LEMUR, each with its runs
        # those the default estimator answers by another dataset's recalibrated (models.PerDataset.adapted), as fitted
        "recalibrated_new_datasets": sorted(ds for ds in new_datasets if adapted_of(fitted[default_estimator(fitted)], ds)),
        "default": default_estimator(fitted), "fit_seconds": timings,
        "fast": fast, "seconds": round(time.time() - t0, 1), "predictor_version": PREDICTOR_VERSION,
    }
    save_predictor(out_dir, fitted, meta)
    return meta


def learnable_reported(extra_runs: list[tuple[Run, str]], fast: bool = False) -> list[tuple[Run, str]]:
    """The reported (run, code) pairs an estimator learns from: usable runs of LEMUR's datasets (with ``fast``,
    CIFAR-10's alone: others would be counted, not learned), and of each new dataset once it has
    ``NEW_DATASET_MIN_RUNS`` of them (``models.PerDataset`` fits it an estimator; fewer would only be counted)."""
    usable_runs = [(run, code) for run, code in extra_runs if usable(run)]
    new_counts = Counter(run.dataset for run, _ in usable_runs if run.dataset not in DATASETS)

    def learned(dataset: str) -> bool:
        if dataset in DATASETS:
            return dataset == "cifar-10" or not fast
        return new_counts[dataset] >= NEW_DATASET_MIN_RUNS

    return [(run, code) for run, code in usable_runs if learned(run.dataset)]


def training_summary(rows: list[dict]) -> dict[str, float]:
    return {f"{r['model']}@k{r['k']}": r["rmse"] for r in rows if r["subset"] == "runs>=3ep"}


def mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def train_default_fast(out_dir: Path, cache_dir: Path | None = None, max_models: int = 1200, seed: int = 0) -> dict:
    """A small CIFAR-10 predictor in about a minute from a cold cache (no family table, a model subsample).

    Families are approximated by name stems here; the evaluated predictors use the full grouping.
    """
    import random

    from corpus.lemur import lemur_wheel
    from corpus.lemur_stats import lemur_runs
    from predictor.code_features import FeatureCache, static_features_cached
    from predictor.data import ModelInfo, read_codes
    from predictor.dynamic import merge_lemur
    from predictor.families import name_stem

    t0 = time.time()
    cache_dir = cache_dir_or_default(cache_dir)
    wheel = lemur_wheel(cache_dir)
    runs = [r for r in lemur_runs(cache_dir, wheel) if usable(r) and r.dataset == "cifar-10"]
    names = sorted({r.model for r in runs})
    random.Random(seed).shuffle(names)
    chosen = set(names[:max_models])
    runs = [r for r in runs if r.model in chosen]
    codes = {n: c for n, c in read_codes(wheel).items() if n in chosen}
    features = static_features_cached(codes, FeatureCache(Path(cache_dir) / "code_features.sqlite"))
    merge_lemur(features, codes)
    models = {n: ModelInfo(n, "", "", name_stem(n) or n) for n in chosen}
    small = Corpus(runs=runs, models=models, codes=codes, features=features)
    params = GBMParams(n_estimators=150, learning_rate=0.08, cv_folds=0)
    fitted, timings = fit_with_best(["last_value", "gbm_stack"], runs, small, params, per_dataset=False)
    meta = {"trained_at": time.time(), "n_runs": len(runs), "n_reported": 0, "estimators": list(fitted), "default": default_estimator(fitted),
            "fit_seconds": timings, "fast": True, "models": len(chosen), "datasets": ["cifar-10"], "seconds": round(time.time() - t0, 1),
            "demo_default": True, "predictor_version": PREDICTOR_VERSION}
    save_predictor(out_dir, fitted, meta)
    return meta
