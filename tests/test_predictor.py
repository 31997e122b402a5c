"""Predictor: stat parsing, families and splits, features, estimators, early stop, replays, API and CLI.

Small synthetic data everywhere except one test that reads a few real LEMUR stat folders.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from corpus.lemur_stats import parse_runs, split_config_folder
from predictor.code_features import static_features
from predictor.early_stop import PREVIOUS_POLICY, RECOMMENDED_POLICY, RUNGS_POLICY, StopPolicy, decide, p_exceeds, tracks_top
from predictor.families import assign_families, family_split, name_stem, read_split, struct_hash, write_split
from predictor.features import RunView, row
from predictor.models import (GBM, CurveFit, GBMParams, LastValue, calibration_weights, code_corrected, code_shrink_by_k, code_shrink_ratio,
                              conformal_quantile, nearest_k, weighted_conformal_quantile)
from predictor.replay import replay_optuna, replay_predictor

SMALL_NET = '''
import torch
import torch.nn as nn

def supported_hyperparameters():
    return {"lr", "momentum"}

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, {w}, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d({w}, {w2}, 5), nn.BatchNorm2d({w2}))
        self.fc = nn.Linear({w2}, 10)

    def forward(self, x):
        y = self.features(x)
        y = y + y
        return self.fc(torch.flatten(y, 1))

    def train_setup(self, prm):
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])
'''


def net(w: int = 32, w2: int = 64) -> str:
    return SMALL_NET.replace("{w}", str(w)).replace("{w2}", str(w2))


# ---- LEMUR stat files ------------------------------------------------------------------------

def _write_wheel(path: Path, files: dict[str, object]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, body in files.items():
            zf.writestr(name, json.dumps(body))
    return path


def test_parse_runs_joins_epochs_repeats_and_gaps(tmp_path):
    folder = "ab/nn/stat/train/img-classification_cifar-10_acc_My_Net-1"
    def t(acc, uid, dur):
        return {"accuracy": acc, "uid": uid, "duration": dur, "lr": 0.1, "batch": 8, "transform": "norm_32_flip"}
    wheel = _write_wheel(tmp_path / "w.whl", {
        f"{folder}/1.json": [t(0.3, "a", 1e9), t(0.2, "b", 2e9), t(0.35, "a", 1.5e9)],
        f"{folder}/2.json": [t(0.4, "a", 2e9), t(0.45, "a", 3e9)],
        f"{folder}/4.json": [t(0.5, "a", 4e9)],
        f"{folder}/0.json": [t(0.1, "a", 0)],
        f"{folder}/notes.txt": [],
    })
    runs = {(r.uid, r.repeat): r for r in parse_runs(wheel)}
    assert set(runs) == {("a", 0), ("a", 1), ("b", 0)}
    a0 = runs[("a", 0)]
    assert a0.model == "My_Net-1" and a0.dataset == "cifar-10" and a0.task == "img-classification"
    assert a0.accuracy == [0.3, 0.4, 0.4, 0.5]  # epoch 3 missing: carried forward; epoch 0 dropped
    assert a0.duration_s == [1.0, 2.0, 2.0, 4.0]
    assert runs[("a", 1)].accuracy == [0.35, 0.45]
    assert runs[("b", 0)].final == 0.2 and runs[("b", 0)].hparams == {"lr": 0.1, "batch": 8}
    assert split_config_folder("img-classification_celeba-gender_acc_a_b") == ("img-classification", "celeba-gender", "acc", "a_b")
    with pytest.raises(ValueError):
        split_config_folder("nounderscores")


def test_real_lemur_stat_folders_parse():
    from corpus.lemur import lemur_wheel

    wheel = lemur_wheel(Path(os.environ.get("NNRAG_HOME", Path.home() / ".cache" / "nnrag")) / "cache")
    folders = {"img-classification_cifar-10_acc_AlexNet", "img-classification_cifar-10_acc_AirNet"}
    runs = parse_runs(wheel, folders=folders)
    assert {r.model for r in runs} == {"AlexNet", "AirNet"}
    long = [r for r in runs if r.epochs == 50]
    assert long, "AlexNet/AirNet have 50-epoch runs in nn-dataset 2.1.2"
    for r in runs:
        assert all(0.0 <= a <= 1.0 for a in r.accuracy)
        assert all(b >= a for a, b in zip(r.duration_s, r.duration_s[1:])), "durations are cumulative"


# ---- families and splits ---------------------------------------------------------------------

def test_name_stems():
    assert name_stem("AirNet-626c3eb9-5c0a-43be-bcba-745592729769") == "airnet"
    assert name_stem("AirNet") == "airnet"
    assert name_stem("ast-dimension-AlexNet-0be170bbf1735c4bd138258d923bb4dc") == "alexnet"
    assert name_stem("FractalNet-96107edb1f88db53318959a834e5f807") == "fractalnet"
    for generic in ("ga-mut-781", "ga-45", "alt-5d5628d9107627252458a5c8a695a3df", "alt-nn1-ec0cf6e559d645e468adb4d70a8440b0",
                    "rag-77dc57b7411c9c0454d78d4bdf47b633", "rl-init-01292a4c007c76e9c5ae269970dbad26"):
        assert name_stem(generic) == "", generic


def test_struct_hash_ignores_constants_not_structure():
    assert struct_hash(net(32, 64)) == struct_hash(net(48, 96))
    assert struct_hash(net()) != struct_hash(net().replace("nn.ReLU()", "nn.GELU()"))


def test_family_split_keeps_variants_together_and_depends_on_seed():
    codes = {}
    for i in range(30):  # 30 distinct architectures, each with 3 width variants under unrelated names
        base = net().replace("nn.ReLU()", "nn.ReLU()" + ", nn.Identity()" * i)
        for j in range(3):
            codes[f"alt-{i:02d}{j}{'0' * 30}"] = base.replace("32", str(8 + j))
    codes["AirNet"] = net().replace("nn.ReLU()", "nn.SiLU()")
    codes["AirNet-626c3eb9-5c0a-43be-bcba-745592729769"] = net().replace("nn.ReLU()", "nn.Tanh()")
    codes["ga-0a1b2c3d4e5f60718293a4b5c6d7e8f9"] = codes["alt-000" + "0" * 30]  # identical code: one model
    families = assign_families(codes, grouping="strict")
    assert families["AirNet"] == families["AirNet-626c3eb9-5c0a-43be-bcba-745592729769"]
    assert len(set(families.values())) == 31
    by_stem = assign_families(codes)  # default "stem": width variants under generic names stay apart
    assert by_stem["AirNet"] == by_stem["AirNet-626c3eb9-5c0a-43be-bcba-745592729769"]
    assert by_stem["ga-0a1b2c3d4e5f60718293a4b5c6d7e8f9"] == by_stem["alt-000" + "0" * 30]
    assert by_stem["alt-000" + "0" * 30] != by_stem["alt-001" + "0" * 30]
    assert len(set(by_stem.values())) == 30 * 3 + 1
    with pytest.raises(ValueError, match="family grouping"):
        assign_families(codes, grouping="loose")
    weights = {n: 1.0 for n in codes}
    train, test = family_split(families, weights, seed=0)
    assert not set(train) & set(test) and set(train) | set(test) == set(codes)
    test_fams = {families[n] for n in test}
    assert all(families[n] not in test_fams for n in train), "a family straddles train and test"
    assert 0.1 <= len(test) / len(codes) <= 0.3
    assert family_split(families, weights, seed=0) == (train, test)
    assert family_split(families, weights, seed=1)[1] != test


def test_split_file_roundtrip_and_errors(tmp_path):
    write_split(tmp_path / "s.json", ["b", "a"], ["c"])
    assert read_split(tmp_path / "s.json") == (["a", "b"], ["c"])
    (tmp_path / "bad.json").write_text(json.dumps({"train_models": ["a"], "test_models": ["a"]}))
    with pytest.raises(ValueError, match="both"):
        read_split(tmp_path / "bad.json")
    (tmp_path / "worse.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="train_models"):
        read_split(tmp_path / "worse.json")
    (tmp_path / "string.json").write_text(json.dumps({"train_models": "AlexNet", "test_models": ["c"]}))
    with pytest.raises(ValueError, match="train_models must be a list"):  # not split into letters
        read_split(tmp_path / "string.json")
    (tmp_path / "numbers.json").write_text(json.dumps({"train_models": ["a"], "test_models": [1, 2]}))
    with pytest.raises(ValueError, match="test_models must be a list"):
        read_split(tmp_path / "numbers.json")


# ---- features --------------------------------------------------------------------------------

def test_static_features_count_layers_and_widths():
    f = static_features(net(32, 64))
    assert f["parse_ok"] == 1.0
    assert f["n_Conv2d"] == 2 and f["n_Linear"] == 1 and f["n_BatchNorm2d"] == 1 and f["n_conv"] == 2
    assert f["n_SGD"] == 1 and f["reads_lr"] == 1 and f["reads_momentum"] == 1 and f["reads_dropout"] == 0
    assert f["width_max_log2"] == pytest.approx(math.log2(64))
    assert f["forward_adds"] >= 1 and f["kernel_max"] == 5
    assert static_features(net(32, 512))["width_max_log2"] > f["width_max_log2"]
    broken = static_features("class Net(:\n")
    assert broken["parse_ok"] == 0.0


def test_transform_size_is_read_from_resizing_transforms_only():
    from predictor.features import hparam_features

    def size(transform: str) -> float:
        return hparam_features(RunView("cifar-10", {}, transform, 5))["tf_size"]

    assert size("norm_299_flip") == 299 and size("echo_64") == 64 and size("complex_128_flip") == 128
    for unsized in ("norm_flip", "echo", "bf-v1-RandomRotation_46", "bf-v1-RandomPerspective_103", "soft_pad", ""):
        assert math.isnan(size(unsized)), unsized
    assert hparam_features(RunView("cifar-10", {}, "bf-v1-CenterCrop_RandomHorizontalFlip", 5))["tf_flip"] == 1.0


def test_learning_rate_columns_follow_the_optimiser_the_code_builds():
    from predictor.features import row

    sgd_code = static_features(net(32, 64))
    adam_code = static_features(net(32, 64).replace("torch.optim.SGD(self.parameters(), lr=prm[\"lr\"], momentum=prm[\"momentum\"])",
                                                    "torch.optim.AdamW(self.parameters(), lr=prm[\"lr\"])"))
    assert adam_code["n_AdamW"] == 1 and adam_code["n_SGD"] == 0
    hp = {"lr": 1e-3, "momentum": 0.9, "batch": 32}
    sgd = row(RunView("cifar-10", hp, "norm_32", 5, [], [], sgd_code), use_code=True, use_curve=False)
    adam = row(RunView("cifar-10", hp, "norm_32", 5, [], [], adam_code), use_code=True, use_curve=False)
    assert sgd["opt_adaptive"] == 0.0 and sgd["hp_lr_sgd"] == pytest.approx(-3.0) and math.isnan(sgd["hp_lr_adaptive"])
    assert sgd["hp_momentum_sgd"] == pytest.approx(0.9)
    assert adam["opt_adaptive"] == 1.0 and adam["hp_lr_adaptive"] == pytest.approx(-3.0) and math.isnan(adam["hp_lr_sgd"])
    assert math.isnan(adam["hp_momentum_sgd"])  # Adam never reads it
    # The stacked forecast reads the optimiser but no other code column; the code-free model reads neither.
    forecast = row(RunView("cifar-10", hp, "norm_32", 5, [], [], adam_code), use_code=False, use_curve=False, use_optimizer=True)
    assert forecast["opt_adaptive"] == 1.0 and not any(name.startswith("code_") for name in forecast)
    free = row(RunView("cifar-10", hp, "norm_32", 5, [], [], adam_code), use_code=False, use_curve=False)
    assert "opt_adaptive" not in free and "hp_lr" in free
    assert "opt_adaptive" not in row(RunView("cifar-10", hp, "norm_32", 5), use_code=True, use_curve=False)  # no code


# ---- estimators ------------------------------------------------------------------------------

def _synthetic_runs(n: int, seed: int, epochs: int = 6):
    """Curves a - b * t^-c whose asymptote depends on width (code) and lr (hyperparameter)."""
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        width = int(rng.choice([8, 16, 32, 64, 128]))
        lr = float(10 ** rng.uniform(-3, -0.5))
        a = 0.35 + 0.08 * math.log2(width / 8) - 0.15 * abs(math.log10(lr) + 2) + rng.normal(0, 0.02)
        curve = [float(np.clip(a - 0.25 * t ** -0.8 + rng.normal(0, 0.005), 0, 1)) for t in range(1, epochs + 1)]
        runs.append((width, lr, curve, f"fam{i % 40}"))
    return runs


_FEATURES: dict[int, dict] = {}


def _views(runs, k):
    views, y, groups = [], [], []
    for width, lr, curve, fam in runs:
        feats = _FEATURES.setdefault(width, static_features(net(width, 2 * width)))
        views.append(RunView("cifar-10", {"lr": lr, "batch": 32}, "norm_32", len(curve), curve[:k], [], feats))
        y.append(curve[-1])
        groups.append(fam)
    return views, np.array(y), groups


def test_baselines_and_gbm_learn_on_synthetic_curves():
    train = _synthetic_runs(240, 0)
    test = _synthetic_runs(100, 1)
    tv, ty, tg = [], [], []
    for k in (0, 1, 2, 3):
        v, y, g = _views(train, k)
        tv += v
        ty = np.concatenate([ty, y])
        tg += g
    params = GBMParams(n_estimators=40, learning_rate=0.1, num_threads=1, cv_folds=2, min_child_samples=10)
    gbm = GBM(use_code=True, params=params).fit(tv, ty, tg)
    nocode = GBM(use_code=False, params=params).fit(tv, ty, tg)
    stack = GBM(use_code=True, params=params, stack=True).fit(tv, ty, tg)
    last, fit = LastValue().fit(tv, ty, tg), CurveFit().fit(tv, ty, tg)
    v0, y0, _ = _views(test, 0)
    def rmse(e, y):
        return float(np.sqrt(np.mean((e.point - y) ** 2)))
    # At k = 0 only the code tells the width: the code-aware models must beat the code-free one.
    assert rmse(gbm.predict(v0), y0) < 0.8 * rmse(nocode.predict(v0), y0)
    assert rmse(stack.predict(v0), y0) < 0.8 * rmse(nocode.predict(v0), y0)
    v3, y3, _ = _views(test, 3)
    # Curves saturate: extrapolation beats the last value; the trees beat both.
    assert rmse(fit.predict(v3), y3) < rmse(last.predict(v3), y3)
    assert rmse(gbm.predict(v3), y3) < rmse(last.predict(v3), y3)
    # The stacked model stacks at k = 0 only; from k = 1 on it is the code GBM, tree for tree.
    assert stack.name == "gbm_stack" and stack.buckets[0].stack_model is not None
    assert all(b.stack_model is None for k, b in stack.buckets.items() if k > 0)
    assert np.array_equal(stack.predict(v3).point, gbm.predict(v3).point)
    assert not np.array_equal(stack.predict(v0).point, gbm.predict(v0).point)
    with pytest.raises(ValueError, match="use_code"):
        GBM(use_code=False, stack=True)
    # Fitted beside gbm_code, gbm_stack takes the k >= 1 buckets from it and answers exactly as when fitted alone.
    beside = GBM(use_code=True, params=params, stack=True).fit(tv, ty, tg, shared=gbm)
    assert beside.buckets[3] is gbm.buckets[3] and beside.buckets[0] is not gbm.buckets[0]
    for v in (v0, v3):
        assert np.array_equal(beside.predict(v).point, stack.predict(v).point)
        assert np.array_equal(beside.predict(v).hi, stack.predict(v).hi)
    with pytest.raises(ValueError, match="same features and params"):
        GBM(use_code=True, params=replace(params, n_estimators=41), stack=True).fit(tv, ty, tg, shared=gbm)
    with pytest.raises(ValueError, match="same features and params"):
        GBM(use_code=True, params=params, stack=True).fit(tv, ty, tg, shared=nocode)
    for est in (gbm, stack, last, fit):
        e = est.predict(v3)
        assert np.all(e.lo <= e.point) and np.all(e.point <= e.hi)
        coverage = float(np.mean((y3 >= e.lo) & (y3 <= e.hi)))
        assert 0.6 <= coverage <= 0.97, (est.name, coverage)


def test_the_conformal_level_sets_the_interval_width_and_nothing_else():
    train = _synthetic_runs(240, 0)
    v, y, g = _views(train, 2)
    test_v, _, _ = _views(_synthetic_runs(80, 1), 2)
    params = GBMParams(n_estimators=40, learning_rate=0.1, num_threads=1, cv_folds=3, min_child_samples=10)
    narrow, wide = (GBM(use_code=True, params=replace(params, conformal_level=level)).fit(v, y, g).predict(test_v)
                    for level in (0.6, 0.95))
    assert np.array_equal(narrow.point, wide.point)  # the point models are the same fits
    assert np.all(wide.hi - wide.lo >= narrow.hi - narrow.lo - 1e-12)
    assert np.mean(wide.hi - wide.lo) > np.mean(narrow.hi - narrow.lo)
    assert GBMParams().conformal_level == 0.78


def test_k0_point_model_resists_runs_that_collapse_to_chance():
    """A few runs that end at chance (diverged) must not drag the k = 0 forecast of every other run with them."""
    train = _synthetic_runs(300, 4)
    rng = np.random.default_rng(5)
    collapsed = {i for i in range(len(train)) if rng.random() < 0.08}
    train = [(w, lr, curve[:-1] + [0.1] if i in collapsed else curve, fam) for i, (w, lr, curve, fam) in enumerate(train)]
    v, y, g = _views(train, 0)
    test_v, test_y, _ = _views(_synthetic_runs(120, 6), 0)
    params = GBMParams(n_estimators=60, learning_rate=0.1, num_threads=1, cv_folds=0, min_child_samples=10)
    huber = GBM(use_code=True, params=params).fit(v, y, g)
    squared = GBM(use_code=True, params=replace(params, k0_huber_delta=0.0)).fit(v, y, g)
    assert huber.buckets[0].point.get_params()["objective"] == "huber"
    assert squared.buckets[0].point.get_params()["objective"] == "regression"
    def rmse(e):
        return float(np.sqrt(np.mean((e.point - test_y) ** 2)))
    assert rmse(huber.predict(test_v)) < 0.9 * rmse(squared.predict(test_v)), (rmse(huber.predict(test_v)), rmse(squared.predict(test_v)))


def test_point_from_k1_averages_the_gain_model_and_the_headroom_share_model():
    from predictor.models import headroom

    train = _synthetic_runs(240, 0)
    views, ys, groups = [], [], []
    for k in (0, 2):
        v, y, g = _views(train, k)
        views, ys, groups = views + v, ys + [y], groups + g
    params = GBMParams(n_estimators=40, learning_rate=0.1, num_threads=1, cv_folds=0, min_child_samples=10)
    est = GBM(use_code=True, params=params).fit(views, np.concatenate(ys), groups)
    plain = GBM(use_code=True, params=replace(params, headroom_point=False)).fit(views, np.concatenate(ys), groups)
    assert est.buckets[0].headroom_point is None, "k = 0 has no last value: its headroom is 1 and the share is the gain"
    assert est.buckets[2].headroom_point is not None and plain.buckets[2].headroom_point is None
    test_v, _, _ = _views(_synthetic_runs(50, 1), 2)
    bucket = est.buckets[2]
    x = bucket.space.matrix([row(v, use_code=True, use_curve=True) for v in test_v])
    last = np.array([v.accuracy[-1] for v in test_v])
    expected = last + (bucket.point.predict(x) + headroom(last) * bucket.headroom_point.predict(x)) / 2
    assert np.allclose(est.predict(test_v).point, np.clip(expected, 0, 1))
    assert np.allclose(plain.predict(test_v).point, np.clip(last + plain.buckets[2].point.predict(x), 0, 1))


def test_headroom_share_is_scale_free():
    """Runs that all close half of their remaining gap, from last values spread over 0.2-0.9: one share, many gains."""
    rng = np.random.default_rng(3)
    views, finals = [], []
    for i in range(400):
        last = float(rng.uniform(0.2, 0.9))
        views.append(RunView("cifar-10", {"lr": 0.01, "batch": 32}, "norm_32", 10, [last - 0.05, last]))
        finals.append(last + 0.5 * (1 - last))
    params = GBMParams(n_estimators=40, learning_rate=0.1, num_threads=1, cv_folds=0, min_child_samples=10)
    est = GBM(use_code=False, params=params).fit(views, np.array(finals), [f"fam{i % 40}" for i in range(400)])
    bucket = est.buckets[2]
    share = bucket.headroom_point.predict(bucket.space.matrix([row(v, use_code=False, use_curve=True) for v in views]))
    assert np.allclose(share, 0.5, atol=1e-6), "a constant share is one leaf"
    assert np.sqrt(np.mean((est.predict(views).point - np.array(finals)) ** 2)) < 0.01


def test_per_dataset_estimators_route_by_dataset():
    from dataclasses import replace

    from predictor.models import PerDataset

    cifar, y_cifar, g_cifar = _views(_synthetic_runs(120, 3), 0)
    mnist, y_mnist, g_mnist = _views(_synthetic_runs(60, 4), 0)
    mnist = [replace(v, dataset="mnist") for v in mnist]
    svhn = [replace(v, dataset="svhn") for v in mnist[:5]]  # too few views for a model of its own
    views, y, groups = cifar + mnist + svhn, np.concatenate([y_cifar, y_mnist + 0.3, y_mnist[:5]]), g_cifar + g_mnist + g_mnist[:5]
    params = GBMParams(n_estimators=20, learning_rate=0.1, cv_folds=0, min_child_samples=5)
    est = PerDataset("gbm_code", params, min_views=50).fit(views, y, groups)
    assert set(est.by_dataset) == {"cifar-10", "mnist"} and est.fallback == "cifar-10" and est.name == "gbm_code"
    assert est.answering("svhn") == "cifar-10" and est.answering("mnist") == "mnist"
    mixed = est.predict(cifar[:3] + mnist[:3] + svhn[:2])
    assert np.allclose(mixed.point[3:6], est.by_dataset["mnist"].predict(mnist[:3]).point)
    assert np.allclose(mixed.point[6:], est.by_dataset["cifar-10"].predict(svhn[:2]).point)
    assert mixed.point[3:6].mean() > mixed.point[:3].mean() + 0.15, "mnist's own model learned its +0.3 shift"
    with pytest.raises(ValueError, match="no training views"):
        PerDataset("gbm_code", params).fit([], np.array([]), [])


def _synthetic_corpus():
    """Two datasets over the same 240 models (MNIST 0.3 easier; each with enough views for a model of its own),
    and a third with too few runs to evaluate."""
    from corpus.lemur_stats import Run
    from predictor.data import Corpus, ModelInfo

    runs, models, features = [], {}, {}
    for i, (width, lr, curve, family) in enumerate(_synthetic_runs(480, 5)):
        model = f"m{i % 240}"
        models[model] = ModelInfo(model, model, model, family)
        features[model] = _FEATURES.setdefault(width, static_features(net(width, 2 * width)))
        for dataset, shift in (("cifar-10", 0.0), ("mnist", 0.3)):
            shifted = [min(1.0, a + shift) for a in curve]
            runs.append(Run(model, "img-classification", dataset, "acc", f"{dataset}{i}", 0, {"lr": lr, "batch": 32}, "norm_32", shifted))
        if i < 5:
            runs.append(Run(model, "img-classification", "svhn", "acc", f"svhn{i}", 0, {"lr": lr, "batch": 32}, "norm_32", curve))
    return Corpus(runs=runs, models=models, codes={}, features=features)


def test_training_views_add_horizon_cuts_of_long_runs_where_they_teach_the_buckets():
    """A 50-epoch run is also its own 5-, 10-, 20-, 30- and 40-epoch runs: the 5-epoch cut is seen at k = 1-4, the
    longer cuts at k >= 5 only, none at k = 0; each cut's target is the accuracy after its own last epoch."""
    from corpus.lemur_stats import Run
    from predictor.data import Corpus, ModelInfo
    from predictor.evaluate import training_codes, training_views, train_ks

    curve = [0.3 + 0.6 * (1 - 0.9**e) for e in range(1, 51)]
    long = Run("m0", "img-classification", "cifar-10", "acc", "u0", 0, {"lr": 0.01, "batch": 32}, "norm_32", curve,
               [10.0 * e for e in range(1, 51)])
    short = replace(long, model="m1", uid="u1", accuracy=curve[:5], duration_s=long.duration_s[:5])
    c = Corpus(runs=[long, short], models={m: ModelInfo(m, m, m, f"fam-{m}") for m in ("m0", "m1")}, codes={},
               features={})
    views, targets, groups = training_views([long, short], c)
    whole = [(v.epochs, v.k, t) for v, t in zip(views, targets) if not v.horizon_cut]
    cuts = [(v.epochs, v.k, t) for v, t in zip(views, targets) if v.horizon_cut]
    assert whole == [(50, k, curve[-1]) for k in train_ks(50)] + [(5, k, curve[4]) for k in train_ks(5)], "runs as before"
    assert [(e, k) for e, k, _ in cuts if e == 5] == [(5, k) for k in (1, 2, 3, 4)]
    assert {e for e, _, _ in cuts} == {5, 10, 20, 30, 40} and all(k >= 5 for e, k, _ in cuts if e > 5)
    assert all(t == curve[e - 1] and k < e for e, k, t in cuts), "a cut's target is its own last epoch"
    cut_view = next(v for v in views if v.horizon_cut and v.epochs == 20 and v.k == 10)
    assert cut_view.accuracy == curve[:10] and cut_view.duration_s == long.duration_s[:10]
    assert training_codes([long, short]) == [r for r in ("m0",) for _ in range(len(views) - 5)] + ["m1"] * 5
    assert groups.count("fam-m0") == len(views) - 5, "a cut stays in its run's family (never across a split)"
    reported = replace(long, model="reported-abc")  # its schedule may read the planned epochs: not cut
    c.models["reported-abc"] = ModelInfo("reported-abc", "reported-abc", "reported-abc", "fam-r")
    assert not any(v.horizon_cut for v in training_views([reported], c)[0])


def test_horizon_cuts_teach_the_point_models_but_not_the_intervals():
    """Cut views move the point models; the quantile models and the calibration are learned from whole runs only, as
    if the cuts were not there. A baseline ignores the cuts."""
    runs = _synthetic_runs(160, 3, epochs=12)
    views, y, groups = [], [], []
    for k in (1, 2, 6):
        v, t, g = _views(runs, k)
        views, y, groups = views + v, np.concatenate([y, t]), groups + g
    codes = [f"code{i % 80}" for i in range(len(views))]
    cuts = [replace(v, epochs=8, horizon_cut=True) for v in views if v.k == 6]
    cut_y = np.array([t - 0.2 for v, t in zip(views, y) if v.k == 6])  # far off: a point model that reads them moves
    params = GBMParams(n_estimators=30, learning_rate=0.1, cv_folds=3, min_child_samples=5)
    plain = GBM(True, params).fit(views, y, groups, codes=codes)
    with_cuts = GBM(True, params).fit(views + cuts, np.concatenate([y, cut_y]), groups + groups[-len(cuts):],
                                      codes=codes + codes[-len(cuts):])
    probe = [v for v in views if v.k == 6][:20]
    a, b = plain.buckets[5], with_cuts.buckets[5]
    x = a.space.matrix([row(v, use_code=True, use_curve=True) for v in probe])
    assert np.allclose(a.q_lo.predict(x), b.q_lo.predict(x)) and np.allclose(a.q_hi.predict(x), b.q_hi.predict(x))
    assert (a.correction, a.stratum_correction) == (b.correction, b.stratum_correction)
    assert set(b.code_shrink) == {6}, "the error sharing is read off the whole runs (of the point that reads the cuts)"
    assert not np.allclose(plain.predict(probe).point, with_cuts.predict(probe).point), "the point models read the cuts"
    base = LastValue().fit(views, y, groups, codes=codes)
    base_cut = LastValue().fit(views + cuts, np.concatenate([y, cut_y]), groups + groups[-len(cuts):],
                               codes=codes + codes[-len(cuts):])
    assert base.halfwidth == base_cut.halfwidth and base.shrink_by_bucket == base_cut.shrink_by_bucket


def test_evaluation_reports_every_dataset_with_enough_held_out_runs(monkeypatch):
    import predictor.train as train_module

    c = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    train, test = [f"m{i}" for i in range(192)], [f"m{i}" for i in range(192, 240)]
    params = GBMParams(n_estimators=20, learning_rate=0.1, cv_folds=0, min_child_samples=5)
    # 96 held-out runs each on CIFAR-10 and MNIST; SVHN's 5 runs are all on train models.
    assert train_module.eval_datasets(train_module.runs_of(test, c)) == ("cifar-10", "mnist")
    rows, _ = train_module.evaluate_split(train, test, ["last_value", "gbm_code", "gbm_stack"], params=params)
    cells = {(r["model"], r["dataset"], r["k"]) for r in rows}
    assert {r["dataset"] for r in rows} == {"cifar-10", "mnist"}
    assert cells == {(m, ds, k) for m in ("last_value", "gbm_code", "gbm_stack") for ds in ("cifar-10", "mnist") for k in range(5)}
    assert all(r["n"] == 96 and r["subset"] == "runs>=3ep" for r in rows), "no 50-epoch rows: none of the runs is that long"
    by_cell = {(r["model"], r["dataset"], r["k"]): r for r in rows}
    # Each dataset has its own model: MNIST's +0.3 is learned, so its k = 0 error is no worse than CIFAR-10's.
    assert by_cell["gbm_code", "mnist", 0]["rmse"] < by_cell["gbm_code", "cifar-10", 0]["rmse"] + 0.05
    assert by_cell["gbm_code", "mnist", 0]["rmse"] < 0.5 * by_cell["last_value", "mnist", 0]["rmse"] + 0.1
    # gbm_stack shared gbm_code's k >= 1 models per dataset: the same figures there, its own at k = 0.
    for ds in ("cifar-10", "mnist"):
        assert all(by_cell["gbm_stack", ds, k] == {**by_cell["gbm_code", ds, k], "model": "gbm_stack"} for k in range(1, 5))
    only, _ = train_module.evaluate_split(train, test, ["last_value"], datasets=("mnist",))
    assert {r["dataset"] for r in only} == {"mnist"}
    with pytest.raises(ValueError, match="no dataset with 30 or more usable runs"):
        train_module.evaluate_split(train, ["not-in-lemur"], ["last_value"])
    with pytest.raises(ValueError, match="no usable runs of >= 3 epochs on svhn"):  # its 5 runs are on train models
        train_module.evaluate_split(train, test, ["last_value"], datasets=("cifar-10", "svhn"))
    with pytest.raises(ValueError, match="train models have no usable runs of cifar-10, mnist to train on"):
        train_module.evaluate_split(["not-in-lemur"], test, ["last_value"])
    best, _ = train_module.evaluate_split(train, test, ["last_value", "gbm_code"], params=params, datasets=("cifar-10",), target="best")
    assert {r["target"] for r in best} == {"best"} and {r["target"] for r in rows} == {"final"}
    assert len(best) == 10 and all(r["n"] == 96 for r in best)
    with pytest.raises(ValueError, match="target 'mean'"):
        train_module.evaluate_split(train, test, ["last_value"], target="mean")


def test_best_over_epochs_target_and_its_floor():
    from corpus.lemur_stats import Run
    from predictor.evaluate import at_least_seen, target_value
    from predictor.models import Estimate

    run = Run("m", "img-classification", "cifar-10", "acc", "u", 0, {}, "", [0.3, 0.6, 0.5, 0.55])
    assert target_value(run) == 0.55 and target_value(run, "best") == 0.6
    with pytest.raises(ValueError, match="expected one of"):
        target_value(run, "last")
    views = [RunView("cifar-10", {}, epochs=4, accuracy=[0.3, 0.6]), RunView("cifar-10", {}, epochs=4)]
    low = Estimate(np.array([0.5, 0.5]), np.array([0.4, 0.4]), np.array([0.7, 0.7]))
    floored = at_least_seen(low, views, "best")
    assert floored.point.tolist() == [0.6, 0.5] and floored.lo.tolist() == [0.6, 0.4] and floored.hi.tolist() == [0.7, 0.7]
    assert at_least_seen(low, views, "final") is low


def test_cli_eval_predictor_names_a_bad_dataset_or_split(tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["eval-predictor", "--datasets", "cifar-10,imagenet-1k"])
    assert result.exit_code == 2 and "unknown dataset 'imagenet-1k'" in result.output
    result = runner.invoke(app, ["eval-predictor", "--split-file", str(tmp_path / "none.json")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_conformal_quantile_finite_sample():
    scores = np.arange(1, 11, dtype=float)  # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(scores) == 9.0
    assert conformal_quantile(np.array([])) == 0.0


def test_weighted_conformal_quantile_counts_families_not_rows():
    # One big family of small scores and nine single-row families of large scores: by rows the 80%
    # quantile is small; by families (what a family-grouped hold-out sees) it is large.
    scores = np.concatenate([np.full(90, 0.01), np.linspace(0.5, 0.9, 9)])
    groups = np.array(["big"] * 90 + [f"f{i}" for i in range(9)])
    assert conformal_quantile(scores) == pytest.approx(0.01)
    assert weighted_conformal_quantile(scores, calibration_weights(groups, "family")) >= 0.8
    assert weighted_conformal_quantile(scores, calibration_weights(groups, "row")) == pytest.approx(0.01)
    # sqrt weighting sits between: the big family weighs sqrt(90) ~ 9.5 rows' worth against 9 single rows.
    sqrt_q = weighted_conformal_quantile(scores, calibration_weights(groups, "sqrt"))
    assert 0.01 < sqrt_q < weighted_conformal_quantile(scores, calibration_weights(groups, "family"))
    with pytest.raises(ValueError, match="calibration weighting"):
        calibration_weights(groups, "rows")
    # Equal weights reduce to the plain finite-sample quantile.
    plain = np.arange(1, 11, dtype=float)
    assert weighted_conformal_quantile(plain, np.ones(10)) == conformal_quantile(plain)
    assert weighted_conformal_quantile(np.array([]), np.array([])) == 0.0


# ---- early stop ------------------------------------------------------------------------------

def test_p_exceeds_and_decide():
    assert p_exceeds(0.5, 0.5, 0.4, 0.6) == pytest.approx(0.5)
    assert p_exceeds(0.7, 0.5, 0.4, 0.6) < 0.01
    assert p_exceeds(0.3, 0.5, 0.4, 0.6) > 0.99
    assert p_exceeds(0.55, 0.5, 0.45, 0.6) > p_exceeds(0.55, 0.5, 0.45, 0.52)
    policy = StopPolicy(top_k=3, p_min=0.05)
    finished = [0.8, 0.7, 0.75]
    assert decide(2, 50, 0.4, 0.35, 0.45, finished, policy).stop
    assert not decide(2, 50, 0.72, 0.6, 0.8, finished, policy).stop
    assert not decide(2, 50, 0.4, 0.35, 0.45, finished[:2], policy).stop, "fewer finished runs than top_k: no bar yet"
    assert not decide(2, 50, 0.4, 0.35, 0.45, None, policy).stop
    single = decide(2, 50, 0.4, 0.35, 0.45, 0.9, policy)
    assert single.stop and single.incumbent == 0.9 and single.p_beat_incumbent < 0.05


def _replay_curves(n=60, seed=3):
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n):
        a = rng.uniform(0.3, 0.9)
        curves.append([float(a - 0.3 * t ** -0.7 + rng.normal(0, 0.003)) for t in range(1, 21)])
    return curves


def test_replay_oracle_saves_epochs_and_keeps_top10():
    curves = _replay_curves()
    oracle = [[(c[-1], c[-1] - 0.02, c[-1] + 0.02)] * (len(c) - 1) for c in curves]
    order = list(range(len(curves)))
    s = replay_predictor(curves, oracle, order, StopPolicy(top_k=10, p_min=0.02))
    assert s.best_found and s.top10_killed == 0.0 and s.regret == 0.0
    assert s.epochs_saved > 0.5
    blind = [[(0.0, 0.0, 0.0)] * (len(c) - 1) for c in curves]  # predicts nothing good: kills everything after 10
    bad = replay_predictor(curves, blind, order, StopPolicy(top_k=10, p_min=0.02))
    assert bad.top10_killed > 0.0 and bad.epochs_saved > s.epochs_saved


def test_optuna_hyperband_replay_is_the_same_every_time():
    """HyperbandPruner assigns trials to brackets by a hash of the study's name: a replay through a study with a
    random name scored the same runs differently from one run to the next (the bench's Hyperband rows moved)."""
    import optuna

    curves = _replay_curves(60, seed=11)
    order = list(np.random.default_rng(2).permutation(len(curves)))
    def hyperband():
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=20, reduction_factor=3)
    scores = [replay_optuna(curves, order, hyperband, "hyperband") for _ in range(4)]
    assert 0.0 < scores[0].epochs_saved < 1.0, "Hyperband stops some runs and not all"
    assert all(s == scores[0] for s in scores[1:])


def test_optuna_replay_and_predictor_pruner_agree():
    import optuna

    from predictor.optuna_pruner import PredictorPruner

    curves = _replay_curves(40, seed=5)
    preds = [[(c[-1] + 0.01, c[-1] - 0.03, c[-1] + 0.05)] * (len(c) - 1) for c in curves]
    order = list(np.random.default_rng(0).permutation(len(curves)))
    policy = StopPolicy(top_k=5, p_min=0.05)
    direct = replay_predictor(curves, preds, order, policy)
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=20, policy=policy)
    via_optuna = replay_optuna(curves, order, pruner, "predictor via optuna")
    assert via_optuna.epochs_saved == pytest.approx(direct.epochs_saved)
    assert via_optuna.top10_killed == direct.top10_killed
    guarded = StopPolicy(top_k=5, p_min=0.2, envelope_guard=True, patience=2)
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=20, policy=guarded)
    expected = replace(replay_predictor(curves, preds, order, guarded), policy="guarded via optuna")
    assert 0.0 < expected.epochs_saved < 1.0, "the guarded rule with patience stops some runs"
    assert replay_optuna(curves, order, pruner, "guarded via optuna") == expected
    median = replay_optuna(curves, order, lambda: optuna.pruners.MedianPruner(), "median")
    assert 0.0 < median.epochs_saved < 1.0
    # no policy given: the pruner runs the recommended one, as the replay does
    recommended = StopPolicy(**RECOMMENDED_POLICY)
    def default():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=20)
    want = replace(replay_predictor(curves, preds, order, recommended), policy="default via optuna")
    assert replay_optuna(curves, order, default, "default via optuna") == want
    predicted = StopPolicy(top_k=5, p_min=0.2, patience=2, bar="predicted")
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=20, policy=predicted)
    expected = replace(replay_predictor(curves, preds, order, predicted), policy="predicted bar via optuna")
    assert 0.0 < expected.epochs_saved < 1.0
    assert replay_optuna(curves, order, pruner, "predicted bar via optuna") == expected


def test_predictor_pruner_asks_once_about_an_ended_trial():
    """Every prune call asked the predictor again about every earlier trial of the code, at each of the last
    ``patience`` epochs: a call took about 1 s with 80 earlier trials. An ended trial's prediction cannot change."""
    import collections

    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from predictor.optuna_pruner import PredictorPruner

    asked: collections.Counter = collections.Counter()

    def predict(trial, curve):
        asked[(trial.number, len(curve))] += 1
        return curve[-1] + 0.05, curve[-1] - 0.05, curve[-1] + 0.15

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for i in range(12):
        curve = [0.3 + 0.04 * j + 0.01 * i for j in range(10 if i % 2 else 4)]
        study.add_trial(create_trial(state=TrialState.COMPLETE if i % 2 else TrialState.PRUNED, value=curve[-1] if i % 2 else None,
                                     params={"lr": 0.01}, distributions={"lr": FloatDistribution(0.001, 0.1)},
                                     intermediate_values=dict(enumerate(curve))))
    pruner = PredictorPruner(predict, planned_epochs=10, code=lambda trial: "the same code")
    for _ in range(2):  # two new trials in turn, each pruned at steps 0-2
        trial = study.ask({"lr": FloatDistribution(0.001, 0.1)})
        for step in range(3):
            trial.report(0.2 + 0.01 * step, step)
            pruner.prune(study, study.get_trials(deepcopy=False)[-1])
        study.tell(trial, state=TrialState.PRUNED)
    ended = {key: n for key, n in asked.items() if key[0] < 12}
    assert ended and max(ended.values()) == 1, ended


def test_predictor_pruner_prunes_a_diverged_trial_and_reads_past_nan_elsewhere():
    """A NaN report prunes its trial, as Optuna's own pruners do; a NaN in another trial's curve (a sibling of the
    same code) must not reach the predictor, which would raise."""
    import optuna

    from predictor.optuna_pruner import PredictorPruner

    seen: list[list[float]] = []

    def predict(trial, curve):
        assert all(np.isfinite(curve)), curve
        seen.append(curve)
        return 0.5, 0.45, 0.55

    pruner = PredictorPruner(predict, planned_epochs=5, policy=StopPolicy(top_k=2, p_min=0.05, min_finished=1, sibling_shrink=1.0),
                             code=lambda trial: "same code")
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for values, final in (([0.9, 0.92, float("nan")], 0.93), ([0.8, 0.85, 0.9], 0.9), ([0.9, 0.91, 0.95], 0.95)):
        trial = study.ask()
        for step, v in enumerate(values):
            trial.report(v, step)
        study.tell(trial, final)
    diverged = study.ask()
    diverged.report(0.4, 0)
    diverged.report(float("nan"), 1)
    assert diverged.should_prune()
    low = study.ask()
    low.report(0.1, 0)
    low.report(0.1, 1)
    assert low.should_prune() and seen, "the predictor was asked, with finite curves only"


def test_predicted_bar_cancels_a_biased_predictor():
    # The predictor under-forecasts every run by 0.2 (an unseen family): against finished finals it kills
    # the true top-10; against what it predicted for the top-10 at the same epoch it keeps them.
    curves = _replay_curves()
    biased = [[(c[-1] - 0.2, c[-1] - 0.22, c[-1] - 0.18)] * (len(c) - 1) for c in curves]
    order = list(np.random.default_rng(1).permutation(len(curves)))
    final_bar = replay_predictor(curves, biased, order, StopPolicy(top_k=10, p_min=0.05))
    predicted_bar = replay_predictor(curves, biased, order, StopPolicy(top_k=10, p_min=0.05, bar="predicted"))
    assert final_bar.top10_killed >= 0.3
    assert predicted_bar.top10_killed == 0.0 and predicted_bar.best_found
    assert predicted_bar.epochs_saved > 0.3
    policy = StopPolicy(top_k=2, p_min=0.05, bar="predicted")
    assert decide(2, 50, 0.4, 0.38, 0.42, [0.9, 0.8], policy, top_predictions=[0.6, 0.7]).stop
    kept = decide(2, 50, 0.65, 0.6, 0.7, [0.9, 0.8], policy, top_predictions=[0.6, 0.7])
    assert not kept.stop and kept.incumbent == 0.6
    with pytest.raises(ValueError, match="bar"):
        decide(2, 50, 0.4, 0.38, 0.42, [0.9, 0.8], StopPolicy(top_k=2, bar="median"), top_predictions=[0.6])


# ---- API, closed loop and CLI ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_predictor_dir(tmp_path_factory):
    from predictor.train import save_predictor

    train = _synthetic_runs(160, 7)
    views, ys, groups = [], [], []
    for k in (0, 1, 2):
        v, y, g = _views(train, k)
        views += v
        ys.append(y)
        groups += g
    y = np.concatenate(ys)
    params = GBMParams(n_estimators=30, learning_rate=0.1, num_threads=1, cv_folds=0, min_child_samples=10)
    gbm = GBM(use_code=True, params=params).fit(views, y, groups)
    best = np.concatenate([[max(curve) for _, _, curve, _ in train]] * 3)
    gbm_best = GBM(use_code=True, params=params).fit(views, best, groups)
    directory = tmp_path_factory.mktemp("predictor")
    save_predictor(directory, {"gbm_code": gbm, "gbm_code@best": gbm_best, "last_value": LastValue().fit(views, y, groups)},
                   {"default": "gbm_code"})
    return directory


def test_api_predict_should_stop_report_reload(tiny_predictor_dir, tmp_path):
    import shutil

    from predictor.api import Predictor, ReportedRun, reported_training_runs

    directory = tmp_path / "p"
    shutil.copytree(tiny_predictor_dir, directory)
    p = Predictor.load(directory)
    wide = p.predict(net(128, 256), {"lr": 0.01, "batch": 32}, "cifar-10", epochs=6)
    narrow = p.predict(net(8, 16), {"lr": 0.01, "batch": 32}, "cifar-10", epochs=6)
    assert wide.model == "gbm_code" and wide.k == 0 and wide.lo <= wide.point <= wide.hi
    assert wide.point > narrow.point, "the code (width) must move the k = 0 prediction"
    seen = p.predict(net(32, 64), {"lr": 0.01, "batch": 32, "epoch": 6}, "cifar-10", curve=[0.2, 0.3])
    assert seen.k == 2 and seen.epochs == 6
    assert p.predict(net(), {}, "cifar-10", curve=[0.2, 0.3], model="last_value").point == pytest.approx(0.3)
    done = p.predict(net(), {}, "cifar-10", curve=[0.2, 0.3], epochs=2)
    assert done.model == "observed" and done.point == 0.3
    for bad in (dict(dataset="imagenet-22k"), dict(curve=[1.7]), dict(epochs=0), dict(model="nope")):
        kwargs = {"code": net(), "hparams": {}, "dataset": "cifar-10", **bad}
        with pytest.raises(ValueError):
            p.predict(**kwargs)
    with pytest.raises(ValueError, match="epochs 2 is below the 3 epochs already in the curve"):
        p.predict(net(), {}, "cifar-10", curve=[0.2, 0.3, 0.4], epochs=2)
    # Hyperparameters read as numbers must be numbers (a word used to become NaN, lr <= 0 was clamped to 1e-12).
    for hparams, message in (({"lr": "fast"}, "hparams.lr must be a finite number, got 'fast'"),
                             ({"lr": 0.01, "momentum": float("nan")}, "hparams.momentum must be a finite number"),
                             ({"lr": True}, "hparams.lr must be a finite number, got True"),
                             ({"lr": -0.1}, "hparams.lr must be > 0, got -0.1"), ({"batch": 0}, "hparams.batch must be > 0")):
        with pytest.raises(ValueError, match=re.escape(message)):
            p.predict(net(), hparams, "cifar-10")
    for code, message in (("  \n", "code is empty"), ("class Net(nn.Module:\n", "code does not parse as Python (line 1")):
        with pytest.raises(ValueError, match=re.escape(message)):
            p.predict(code, {}, "cifar-10")
    lemur_like = p.predict(net(), {"lr": "0.01", "batch_size": 0.5, "optimizer": "adam"}, "cifar-10")  # LEMUR has fractions
    assert lemur_like.lo <= lemur_like.point <= lemur_like.hi

    run = {"code": net(8, 16), "hparams": {"lr": 0.01, "batch": 32}, "dataset": "cifar-10", "curve": [0.05, 0.06]}
    stop = p.should_stop(run, incumbent=[0.9] * 10, budget=6)
    assert stop.stop and stop.p_beat_incumbent < p.policy.p_min_at(2) and stop.predicted_final < 0.9
    assert p.policy.patience == 2 and not p.should_stop({**run, "curve": [0.05]}, incumbent=[0.9] * 10, budget=6).stop, \
        "one epoch seen: patience 2 cannot stop yet"
    assert not p.should_stop(run, incumbent=None, budget=6).stop
    top_curves = [[0.04, 0.05, 0.3, 0.6, 0.8, 0.9]] + [[0.5, 0.7, 0.8, 0.85, 0.9, 0.95]] * 9
    previous = StopPolicy(**PREVIOUS_POLICY)  # the envelope guard and the predicted bar
    guarded = p.should_stop(run, incumbent=top_curves, budget=6, policy=previous)
    assert not guarded.stop and guarded.incumbent == 0.9, "run tracks a top-10 run's early epochs: kept"
    assert p.should_stop({**run, "curve": [0.01, 0.02]}, incumbent=top_curves, budget=6, policy=previous).stop
    # Finished runs given as runs: the bar is what the predictor said about the top-10 at the same epoch.
    top_runs = [{"code": net(128, 256), "hparams": {"lr": 0.01, "batch": 32}, "dataset": "cifar-10", "curve": c} for c in top_curves]
    predicted = p.should_stop({**run, "curve": [0.01, 0.02]}, incumbent=top_runs, budget=6, policy=previous)
    expected_bar = min(p.predict(net(128, 256), {"lr": 0.01, "batch": 32}, "cifar-10", curve=c[:2], epochs=6).point for c in top_curves)
    assert predicted.incumbent == pytest.approx(expected_bar)
    with pytest.raises(ValueError, match="curve"):
        p.should_stop({"code": net(), "dataset": "cifar-10"}, None, 6)
    with pytest.raises(ValueError, match=re.escape("earlier[1]: hparams.lr must be > 0")):
        p.should_stop(run, [0.9] * 10, 6, earlier=[run, {**run, "hparams": {"lr": 0}}])
    with pytest.raises(ValueError, match=re.escape("incumbent[0]: hparams.batch must be a finite number")):
        p.should_stop(run, [{**run, "hparams": {"batch": "big"}}], 6)

    rid = p.report(ReportedRun(code=net(), hparams={"lr": 0.01}, dataset="cifar-10", accuracy=[0.2, 0.3, 0.35]))
    p.report({"code": net(), "hparams": {}, "dataset": "cifar-10", "accuracy": [0.1], "finished": False})
    assert rid >= 1 and p.reports.count() == 2
    with pytest.raises(ValueError):
        p.report({"code": net(), "hparams": {}, "dataset": "cifar-10", "accuracy": [2.0]})
    with pytest.raises(ValueError):
        p.report({"code": "", "hparams": {}, "dataset": "cifar-10", "accuracy": [0.2]})
    with pytest.raises(ValueError, match="reported run: hparams.lr must be a finite number, got None"):
        p.report({"code": net(), "hparams": {"lr": None}, "dataset": "cifar-10", "accuracy": [0.2]})
    reloaded = Predictor.load(directory)
    pairs = reported_training_runs(reloaded.reports.all())
    assert len(pairs) == 1 and pairs[0][0].final == 0.35 and pairs[0][1] == net()

    assert not p.reload_if_changed()
    estimators, meta = p.estimators, dict(p.meta)
    meta["default"] = "last_value"
    from predictor.train import save_predictor

    save_predictor(directory, estimators, meta)
    os.utime(directory / "estimators.pkl", ns=(1, 10**18))
    assert p.reload_if_changed() and p.default_model == "last_value"


def test_cli_predict_json_and_errors(tiny_predictor_dir, tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app

    model = tmp_path / "net.py"
    code = net(64, 128).replace("nn.Linear(128, 10)", "nn.Linear(128 * 11 * 11, 10)")
    model.write_text(code)
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(model), "--hparams", '{"lr": 0.01, "batch": 32}', "--dataset", "cifar-10",
                                 "--curve", "0.31,0.42", "--epochs", "6", "--dir", str(tiny_predictor_dir), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["k"] == 2 and body["model"] == "gbm_code" and body["lo"] <= body["point"] <= body["hi"]
    from predictor.api import ReportStore
    from predictor.families import content_hash

    # New code: its params/FLOPs were measured in a sandbox (not in this process) and kept for the next call.
    measured = ReportStore(tiny_predictor_dir / "reports.sqlite").load_dynamic(content_hash(code))
    assert measured is not None and measured["dyn_ok"] == 1.0 and measured["dyn_params_log10"] > 4
    assert body["model_ran"] is True and "did not run forward" not in result.stderr
    broken = tmp_path / "broken.py"
    broken.write_text(code.replace("super().__init__()", "super().__init__()\n        raise RuntimeError('no')"))
    failed = runner.invoke(app, ["predict", str(broken), "--curve", "0.31", "--epochs", "6", "--dir", str(tiny_predictor_dir)])
    assert failed.exit_code == 0 and "warning: the model did not run forward in the sandbox" in failed.stderr, failed.output
    best = runner.invoke(app, ["predict", str(model), "--hparams", '{"lr": 0.01, "batch": 32}', "--curve", "0.31,0.52,0.42",
                               "--epochs", "6", "--dir", str(tiny_predictor_dir), "--target", "best", "--json"])
    assert best.exit_code == 0, best.output
    answer = json.loads(best.stdout)
    assert answer["target"] == "best" and answer["model"] == "gbm_code" and answer["lo"] >= 0.52 - 1e-9
    unread = runner.invoke(app, ["predict", str(model), "--hparams", '{"learning_rate": 0.01, "optimiser": "adam"}', "--curve", "0.31",
                                 "--epochs", "6", "--dir", str(tiny_predictor_dir)])
    assert unread.exit_code == 0 and "note: the predictor does not read optimiser (it reads lr, batch" in unread.stderr, unread.output
    no_best = runner.invoke(app, ["predict", str(model), "--model", "last_value", "--target", "best", "--dir", str(tiny_predictor_dir)])
    assert no_best.exit_code == 2 and "no best-over-epochs estimator for 'last_value'" in no_best.output
    wrong = runner.invoke(app, ["predict", str(model), "--target", "mean", "--dir", str(tiny_predictor_dir)])
    assert wrong.exit_code == 2 and "--target must be final or best" in wrong.output
    bad = runner.invoke(app, ["predict", str(model), "--hparams", "{not json", "--dir", str(tiny_predictor_dir)])
    assert bad.exit_code == 2
    word = runner.invoke(app, ["predict", str(model), "--hparams", '{"lr": "fast"}', "--dir", str(tiny_predictor_dir)])
    assert word.exit_code == 2 and "hparams.lr must be a finite number, got 'fast'" in word.output, word.output
    empty = tmp_path / "empty.py"
    empty.write_text("")
    nothing = runner.invoke(app, ["predict", str(empty), "--dir", str(tiny_predictor_dir)])
    assert nothing.exit_code == 2 and "code is empty" in nothing.output, nothing.output
    gap = runner.invoke(app, ["predict", str(model), "--curve", "0.3,,0.4", "--dir", str(tiny_predictor_dir)])
    assert gap.exit_code == 2 and "--curve must be comma-separated numbers" in gap.output, "an empty item must not drop an epoch"
    prose = tmp_path / "answer.md"
    prose.write_text("Sure! Here is a CNN:\n" + code)
    refused = runner.invoke(app, ["predict", str(prose), "--dir", str(tiny_predictor_dir)])
    assert refused.exit_code == 2 and "does not parse as Python (line 1:" in refused.output, refused.output
    missing = runner.invoke(app, ["predict", str(model), "--dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "train-predictor" in missing.output


def test_epoch_stopper_and_lightning_guard(tiny_predictor_dir):
    from predictor.api import Predictor
    from predictor.lightning_callback import EpochStopper, _lightning, predictor_callback

    p = Predictor.load(tiny_predictor_dir)
    stopper = EpochStopper(p, net(8, 16), {"lr": 0.01, "batch": 32}, "cifar-10", epochs=6, incumbent=[0.95] * 10)
    first = stopper.update(0.05)
    assert stopper.curve == [0.05] and first.predicted_final < 0.95
    assert stopper.update(0.06).stop
    # with the study's earlier runs a policy's rungs apply: at epoch 2 a run far below all of them stops by rank
    earlier = [[0.50 + 0.005 * i, 0.60 + 0.005 * i, 0.65 + 0.005 * i] for i in range(40)]
    p.policy = StopPolicy(**RUNGS_POLICY)
    ranked = EpochStopper(p, net(8, 16), {"lr": 0.01, "batch": 32}, "cifar-10", epochs=6, earlier=earlier)
    assert not ranked.update(0.10).stop
    assert "outside the top" in ranked.update(0.11).reason
    diverged = EpochStopper(p, net(8, 16), {"lr": 0.01}, "cifar-10", epochs=6)
    assert not diverged.update(0.3).stop
    nan = diverged.update(float("nan"))
    assert nan.stop and "diverged" in nan.reason and diverged.curve == [0.3], "a NaN metric stops the run, kept out of the curve"
    assert _lightning() is not None, "lightning is a dev dependency: the callback is tested in a real Trainer"
    import predictor.lightning_callback as lc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lc, "_lightning", lambda: None)
        with pytest.raises(ImportError, match="Lightning"):
            predictor_callback(p, net(), {}, "cifar-10", 6)


def test_epoch_stopper_reports_the_run_it_saw(tiny_predictor_dir, tmp_path):
    import shutil

    from predictor.api import Predictor
    from predictor.lightning_callback import EpochStopper

    shutil.copytree(tiny_predictor_dir, tmp_path / "p")
    p = Predictor.load(tmp_path / "p")
    full = EpochStopper(p, net(32, 64), {"lr": 0.01}, "cifar-10", epochs=3)
    assert full.finish() is None, "no epoch seen: nothing to report"
    for value in (0.3, 0.4, 0.45):
        full.update(value)
    full.finish()
    stopped = EpochStopper(p, net(8, 16), {"lr": 0.01}, "cifar-10", epochs=6, incumbent=[0.95] * 10)
    while not stopped.update(0.05).stop:
        pass
    stopped.finish()
    runs = p.reports.all()
    assert [(r.accuracy, r.finished, r.epochs_planned) for r in runs] == [([0.3, 0.4, 0.45], True, 3), (stopped.curve, False, 6)]


def test_lightning_callback_in_a_real_trainer(tiny_predictor_dir, tmp_path):
    """Lightning validates a few batches before training (the sanity check): that is not an epoch of the curve."""
    import shutil

    import lightning.pytorch as pl
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from predictor.api import Predictor
    from predictor.lightning_callback import predictor_callback

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(8, 2)

        def training_step(self, batch, _):
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_acc", (self.net(x).argmax(1) == y).float().mean(), on_epoch=True)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    g = torch.Generator().manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(64, 8, generator=g), torch.randint(0, 2, (64,), generator=g)), batch_size=16)
    shutil.copytree(tiny_predictor_dir, tmp_path / "p")  # the fits report their runs: keep them out of the shared one
    predictor = Predictor.load(tmp_path / "p")

    def fit(seed: int = 0, **trainer_args):
        torch.manual_seed(seed)  # Tiny's weights: unseeded, the two fits' curves were sometimes identical (one report kept)
        callback = predictor_callback(predictor, net(8, 16), {"lr": 0.01}, "cifar-10", epochs=10, incumbent=[0.95] * 10)
        trainer = pl.Trainer(max_epochs=10, callbacks=[callback], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, accelerator="cpu", **trainer_args)
        trainer.fit(Tiny(), data, data)
        return trainer, callback.stopper

    curves = []
    for seed, args in enumerate((dict(num_sanity_val_steps=2), dict(val_check_interval=0.5))):  # validations that are not an epoch's
        trainer, stopper = fit(seed, **args)
        assert stopper.decisions[-1].stop and trainer.current_epoch < 10, "a run far below 0.95 is stopped early"
        assert len(stopper.curve) == trainer.current_epoch, f"{args}: one value per trained epoch"
        curves.append(stopper.curve)
    assert curves[0] != curves[1]  # else the store keeps one report of two identical runs, as it should
    assert [(r.accuracy, r.finished) for r in predictor.reports.all()] == [(c, False) for c in curves], \
        "each fit reported its run when it ended, as stopped"
    with pytest.raises(ValueError, match="check_val_every_n_epoch=1"):
        fit(check_val_every_n_epoch=2)


def _copy_of(directory: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(directory, tmp_path / "p")
    return tmp_path / "p"


def _coded_predictor(coded_gbm, directory: Path):
    """A predictor whose estimator learned how much error a code shares: reported runs of a code correct it."""
    from predictor.api import Predictor
    from predictor.train import save_predictor

    save_predictor(directory, {"gbm_code": coded_gbm}, {"default": "gbm_code"})
    return Predictor.load(directory)


def test_a_bad_report_is_refused_and_a_bad_stored_one_never_breaks_predictions(coded_gbm, tmp_path, caplog):
    """A report with "epochs": 0 in its hyperparameters was stored; then every prediction of its code on that dataset,
    and train-predictor, failed with "epochs must be >= 1". The planned epochs are checked at report time, and a stored
    row that fails the checks (an older version wrote it) is skipped, logged once."""
    import sqlite3

    from predictor.api import ReportedRun, reported_training_runs
    from predictor.families import content_hash

    p = _coded_predictor(coded_gbm, tmp_path / "p")
    code = net(32, 64) + "\nVARIANT = 11\n"
    for hparams, message in (({"lr": 0.01, "epochs": 0}, "hparams.epochs must be >= 1, got 0"),
                             ({"lr": 0.01, "epochs": 2.7}, "hparams.epochs must be a whole number of epochs, got 2.7"),
                             ({"lr": 0.01, "epoch": -3}, "hparams.epoch must be >= 1, got -3")):
        with pytest.raises(ValueError, match=re.escape(f"reported run: {message}")):
            p.report(ReportedRun(code=code, hparams=hparams, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5], finished=False))
        with pytest.raises(ValueError, match=re.escape(message)):
            p.predict(code, hparams, "cifar-10")
    assert p.reports.count() == 0
    p.report(ReportedRun(code=code, hparams={"lr": 0.01, "epochs": 3.0}, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5]))  # LEMUR writes 3.0
    assert p.reports.all()[0].epochs_planned == 3
    with sqlite3.connect(p.reports.path) as db:  # as an older version stored it
        db.execute("INSERT INTO reports (received_at, code_hash, code, hparams, dataset, transform, task, metric, accuracy, duration_s, "
                   "epochs_planned, finished) VALUES (0, ?, ?, ?, 'cifar-10', '', 'img-classification', 'acc', '[0.3, 0.4, 0.6]', '[]', "
                   "NULL, 1)", (content_hash(code), code, json.dumps({"lr": 0.01, "epochs": 0})))
    with caplog.at_level("WARNING", logger="predictor.api"):
        answers = [p.predict(code, {"lr": lr}, "cifar-10", epochs=3) for lr in (0.01, 0.02)]
        decision = p.should_stop({"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3]}, [0.9] * 10, budget=3)
    assert [a.reported_runs for a in answers] == [1, 1] and decision.predicted_final > 0
    skipped = [r.getMessage() for r in caplog.records if "is skipped" in r.getMessage()]
    assert len(skipped) == 1 and "hparams.epochs must be >= 1, got 0" in skipped[0], skipped
    assert [run.accuracy for run, _ in reported_training_runs(p.reports.all())] == [[0.3, 0.4, 0.5]], "retraining skips it too"


def test_a_reported_runs_planned_epochs_follow_one_rule_when_stored_and_read(tiny_predictor_dir, tmp_path):
    """Planned epochs = the explicit value, else hparams epochs, else the curve's length of a finished run; a run
    reported finished must have all of them. Before, None was stored and read back as hparams epochs or 5: a 3-epoch
    finished run was read as an unfinished 5-epoch one, a 10-epoch curve with hparams epochs 50 as a 50-epoch final."""
    from typer.testing import CliRunner

    from nnrag.cli import app
    from predictor.api import Predictor, ReportedRun

    directory = _copy_of(tiny_predictor_dir, tmp_path)
    p = Predictor.load(directory)
    code = net(32, 64) + "\nVARIANT = 12\n"
    hp = {"lr": 0.01}
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5]))
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.1], finished=False))  # plan unknown
    p.report(ReportedRun(code=code, hparams={**hp, "epochs": 4}, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5, 0.6]))
    p.report(ReportedRun(code=code, hparams={**hp, "epochs": 50}, dataset="cifar-10", accuracy=[0.5] * 10, finished=False))
    assert [r.epochs_planned for r in p.reports.all()] == [3, None, 4, 50]
    view = p.view(code, hp, "cifar-10", epochs=3)
    assert [(v.k, v.epochs) for v in p._reported(view)] == [(3, 3), (4, 4)], "finished runs are read back as finished"
    for run, message in (
            (ReportedRun(code=code, hparams={**hp, "epochs": 50}, dataset="cifar-10", accuracy=[0.5] * 10),
             "reported finished after 10 epochs, but hparams.epochs plans 50: send all 50 epochs, or report it as stopped early"),
            (ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.5] * 3, epochs_planned=6),
             "reported finished after 3 epochs, but epochs_planned plans 6"),
            (ReportedRun(code=code, hparams={**hp, "epochs": 2}, dataset="cifar-10", accuracy=[0.5] * 3, finished=False),
             "hparams.epochs 2 is below the 3 epochs reported"),
            (ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.5] * 3, epochs_planned=4.5),
             "epochs_planned must be a whole number of epochs, got 4.5")):
        with pytest.raises(ValueError, match=re.escape(message)):
            p.report(run)
    model = tmp_path / "net.py"
    model.write_text(code)
    runner = CliRunner()
    told = runner.invoke(app, ["report", str(model), "--curve", "0.2,0.35", "--dir", str(directory)])
    assert told.exit_code == 0, told.output
    assert p.reports.all()[-1].epochs_planned == 2, "the --epochs default is the curve's length, as its help says"
    refused = runner.invoke(app, ["report", str(model), "--curve", "0.3,0.4", "--hparams", '{"epochs": 50}', "--dir", str(directory)])
    assert refused.exit_code == 2 and "report it as stopped early" in refused.output and "--stopped" in refused.output, refused.output


class _StatusPool:
    """A stand-in for the sandbox pool that answers each check with the next of ``statuses``, as CheckerPool.check
    reports them, and counts the checks."""

    def __init__(self, *statuses: str) -> None:
        self.statuses, self.calls = list(statuses), 0

    def check(self, code, spec, deadline=None):
        from sandbox.spec import CheckResult

        self.calls += 1
        status = self.statuses.pop(0)
        return CheckResult(status=status, params=1000 if status in ("ok", "failed") else None, flops=10**6 if status == "ok" else None)


def test_only_a_verdict_on_the_model_is_kept_as_its_params_and_flops(tiny_predictor_dir, tmp_path, monkeypatch):
    """A measurement that timed out, crashed or ran out of memory (a busy sandbox, no free worker) was kept for good as
    "the model failed to build". Now the code is answered without params/FLOPs and measured again later; a model that
    failed to build or run is a verdict, kept."""
    import predictor.api as api
    from predictor.families import content_hash

    p = api.Predictor.load(_copy_of(tiny_predictor_dir, tmp_path))
    for status in ("timeout", "crashed", "oom"):
        code = net(32, 64) + f"\nVARIANT = {status!r}\n"
        p.pool = _StatusPool(status, "ok")
        assert "dyn_ok" not in p.code_features(code), f"{status}: no verdict on the model, answered without params/FLOPs"
        assert p.reports.load_dynamic(content_hash(code)) is None and not p.knows_dynamic(code)
        assert "dyn_ok" not in p.code_features(code) and p.pool.calls == 1, "not measured again on every call"
        monkeypatch.setattr(api, "REMEASURE_AFTER_S", 0.0)
        assert p.code_features(code)["dyn_ok"] == 1.0 and p.pool.calls == 2, "measured again later"
        assert p.reports.load_dynamic(content_hash(code))["dyn_ok"] == 1.0
        monkeypatch.setattr(api, "REMEASURE_AFTER_S", 300.0)
    broken = net(32, 64) + "\nVARIANT = 'failed'\n"
    p.pool = _StatusPool("failed")
    assert p.code_features(broken)["dyn_ok"] == 0.0 and p.reports.load_dynamic(content_hash(broken))["dyn_ok"] == 0.0


def test_incumbents_must_be_accuracies_in_the_api_the_stopper_and_the_pruner(tiny_predictor_dir):
    """Incumbents of 1.5 or [90, 91, 92] (percentages) stopped every run, NaN none, and "0.9" failed deep inside."""
    import optuna

    from predictor.api import Predictor
    from predictor.lightning_callback import EpochStopper
    from predictor.optuna_pruner import predictor_pruner

    p = Predictor.load(tiny_predictor_dir)
    hp = {"lr": 0.01, "batch": 32}
    run = {"code": net(8, 16), "hparams": hp, "dataset": "cifar-10", "curve": [0.05, 0.06]}
    for incumbent, message in (
            (1.5, "incumbent must be an accuracy in [0, 1], got 1.5"),
            ([90, 91, 92], "incumbent[0] must be an accuracy in [0, 1], got 90: it looks like a percentage (divide it by 100)"),
            (float("nan"), "incumbent must be an accuracy in [0, 1], got nan"),
            ("0.9", "incumbent must be the best final accuracy or a list of finals, curves or run dicts, got '0.9'"),
            ([[0.5, 95.0]], "incumbent[0][1] must be an accuracy in [0, 1], got 95.0: it looks like a percentage"),
            ([0.9, [0.8]], "incumbent[1] is a curve but incumbent[0] is a final")):
        with pytest.raises(ValueError, match=re.escape(message)):
            p.should_stop(run, incumbent, budget=6)
        with pytest.raises(ValueError, match=re.escape(message)):  # at construction, before an epoch is trained
            EpochStopper(p, net(8, 16), hp, "cifar-10", epochs=6, incumbent=incumbent)
    assert p.should_stop(run, np.array([0.9] * 10), budget=6).stop, "finals as an array are still read"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", pruner=predictor_pruner(p, net(8, 16), "cifar-10", planned_epochs=6, hparams=hp))
    done = study.ask()
    done.report(0.9, 0)
    study.tell(done, 90.0)  # an objective that returns percentages
    trial = study.ask()
    trial.report(0.1, 0)
    with pytest.raises(ValueError, match=re.escape("trial 0's value must be an accuracy in [0, 1], got 90.0: it looks like a percentage")):
        trial.should_prune()


def test_the_pruners_planned_epochs_win_over_the_hyperparameters(tiny_predictor_dir):
    """predictor_pruner set hparams "epoch" to planned_epochs, but "epochs" in the hyperparameters is read first: a
    2-epoch curve with {"epochs": 2} was answered as a finished run, not forecast to the pruner's 6 epochs."""
    import optuna

    from predictor.api import Predictor
    from predictor.optuna_pruner import predictor_pruner

    p = Predictor.load(tiny_predictor_dir)
    hp = {"lr": 0.01, "batch": 32, "epochs": 2}
    pruner = predictor_pruner(p, net(32, 64), "cifar-10", planned_epochs=6, hparams=hp)
    point, lo, hi = pruner.predict(optuna.trial.create_trial(params={}, distributions={}, value=0.5), [0.2, 0.3])
    want = p.predict(net(32, 64), hp, "cifar-10", [0.2, 0.3], epochs=6, use_reports=False)
    assert (point, lo, hi) == (want.point, want.lo, want.hi) and lo < hi, "a 6-epoch forecast, not the curve read as finished"


def test_a_dataset_without_an_estimator_of_its_own_is_refused(tmp_path):
    """Datasets with no estimator of their own got the CIFAR-10 estimator's answer labelled just with its name, then
    with a note in the method: the same numbers, though that estimator misses their accuracy level (MNIST at k = 0:
    RMSE 0.44, coverage 0.04). Refused now (NotTrainedFor, FAILED_PRECONDITION over the wire), naming the fix."""
    from predictor.api import NotTrainedFor, Predictor
    from predictor.models import PerDataset
    from predictor.train import save_predictor

    cifar, y_cifar, g_cifar = _views(_synthetic_runs(120, 3), 0)
    mnist, y_mnist, g_mnist = _views(_synthetic_runs(60, 4), 0)
    mnist = [replace(v, dataset="mnist") for v in mnist]
    svhn = [replace(v, dataset="svhn") for v in mnist[:5]]  # too few views for an estimator of its own
    params = GBMParams(n_estimators=20, learning_rate=0.1, cv_folds=0, min_child_samples=5)
    est = PerDataset("gbm_code", params, min_views=50).fit(cifar + mnist + svhn, np.concatenate([y_cifar, y_mnist, y_mnist[:5]]),
                                                            g_cifar + g_mnist + g_mnist[:5])
    save_predictor(tmp_path / "per", {"gbm_code": est}, {"default": "gbm_code"})
    p = Predictor.load(tmp_path / "per")
    hp = {"lr": 0.01, "batch": 32}
    assert p.predict(net(), hp, "mnist", epochs=6).model == "gbm_code"
    # another dataset's estimator answered them, its numbers unmarked but for the method: refused, naming the fix
    with pytest.raises(NotTrainedFor, match=r"no estimator of svhn \(cifar-10's estimator: too few training runs of svhn;"):
        p.predict(net(), hp, "svhn", epochs=6)
    with pytest.raises(NotTrainedFor, match=r"no training runs of imagenette.*`nnrag train-predictor` without --fast"):
        p.predict(net(), hp, "imagenette", epochs=6)
    with pytest.raises(NotTrainedFor, match="no estimator of svhn"):
        p.should_stop({"code": net(), "hparams": hp, "dataset": "svhn", "curve": [0.1, 0.2]}, [0.9] * 10, budget=6)
    refusal = "cannot predict coco: the predictor forecasts image-classification accuracy and has no estimator of coco"
    with pytest.raises(ValueError, match=re.escape(refusal)):
        p.predict(net(), hp, "coco", epochs=6)
    with pytest.raises(ValueError, match="cannot predict wikitext"):
        p.should_stop({"code": net(), "hparams": hp, "dataset": "wikitext", "curve": [0.1, 0.2]}, [0.9] * 10, budget=6)
    assert p.predict(net(), hp, "coco", curve=[0.3, 0.4], epochs=2).model == "observed", "a finished curve needs no estimator"
    # A single estimator trained on some datasets only (the demo default): its meta names them.
    save_predictor(tmp_path / "one", {"gbm_code": est.by_dataset["cifar-10"]}, {"default": "gbm_code", "datasets": ["cifar-10"]})
    one = Predictor.load(tmp_path / "one")
    assert one.predict(net(), hp, "cifar-10", epochs=6).model == "gbm_code"
    with pytest.raises(NotTrainedFor, match=r"no estimator of svhn \(cifar-10's estimator: no training runs of svhn;"):
        one.predict(net(), hp, "svhn", epochs=6)
    # a demo default saved before its meta named the datasets is still CIFAR-10's alone
    save_predictor(tmp_path / "old", {"gbm_code": est.by_dataset["cifar-10"]}, {"default": "gbm_code", "demo_default": True, "fast": True})
    old = Predictor.load(tmp_path / "old")
    with pytest.raises(NotTrainedFor, match="no estimator of svhn"):
        old.predict(net(), hp, "svhn", epochs=6)
    with pytest.raises(ValueError, match="cannot predict coco"):
        old.predict(net(), hp, "coco", epochs=6)


def test_a_report_is_stored_once_per_run(coded_gbm, tmp_path):
    """Reports had no key: a client retrying after a deadline doubled a run's weight in every correction."""
    import sqlite3

    from predictor.api import ReportedRun, ReportStore

    p = _coded_predictor(coded_gbm, tmp_path / "p")
    code = net(32, 64) + "\nVARIANT = 13\n"
    run = ReportedRun(code=code, hparams={"lr": 0.01}, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5])
    first = p.report(run)
    assert p.report(replace(run, hparams={"lr": 0.01})) == first and p.reports.count() == 1, "a retry: stored once, its id back"
    assert p.report(replace(run, hparams={"lr": 0.02})) == first + 1, "another run"
    partial = p.report(replace(run, accuracy=[0.2], finished=False, epochs_planned=3, run_id="trial-7"))
    done = p.report(replace(run, accuracy=[0.2, 0.3, 0.45], run_id="trial-7"))
    assert done == partial and p.reports.count() == 3, "the stopped run reported again when finished: updated in place"
    assert [(r.accuracy, r.finished) for r in p.reports.all() if r.run_id == "trial-7"] == [([0.2, 0.3, 0.45], True)]
    assert p.predict(code, {"lr": 0.01}, "cifar-10", epochs=3).reported_runs == 3
    with pytest.raises(ValueError, match=re.escape("run_id 'trial-7' was reported before for other code or another dataset")):
        p.report(replace(run, dataset="cifar-100", run_id="trial-7"))
    # A store written before reports had a run_id: the column is added, its rows kept.
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE reports (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL, code_hash TEXT, code TEXT, hparams TEXT, "
                   "dataset TEXT, transform TEXT, task TEXT, metric TEXT, accuracy TEXT, duration_s TEXT, epochs_planned INTEGER, "
                   "finished INTEGER)")
        db.execute("INSERT INTO reports VALUES (1, 0, 'h', ?, '{}', 'cifar-10', '', 'img-classification', 'acc', '[0.5]', '[]', 1, 1)", (code,))
    store = ReportStore(old)
    assert [(r.accuracy, r.run_id) for r in store.all()] == [([0.5], "")]
    assert store.add(replace(run, run_id="x")) == 2


def test_a_target_specific_estimator_name_is_refused(tiny_predictor_dir):
    """model="gbm_code@best" with target final answered the best-over-epochs estimator labelled target final."""
    from predictor.api import Predictor

    p = Predictor.load(tiny_predictor_dir)
    for target in ("final", "best"):
        with pytest.raises(ValueError, match=re.escape("model 'gbm_code@best' is 'gbm_code' fitted to the best over epochs: "
                                                       "ask for model 'gbm_code' with target 'best'")):
            p.predict(net(), {}, "cifar-10", model="gbm_code@best", target=target)
    assert p.predict(net(), {}, "cifar-10", model="gbm_code", target="best").target == "best"


def test_cli_train_predictor_refuses_a_split_with_nothing_to_train_on(tmp_path, monkeypatch):
    """train_models empty or all unknown gave a traceback ("no training views") from deep inside the fit."""
    from typer.testing import CliRunner

    import predictor.train as train_module
    from nnrag.cli import app

    c = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    runner = CliRunner()
    for train, message in (([], "train_models is empty: there is nothing to train on"),
                           (["no-such-model", "nor-this"], "the 2 train models have no usable runs to train on")):
        split = tmp_path / "split.json"
        split.write_text(json.dumps({"train_models": train, "test_models": ["m1"]}))
        result = runner.invoke(app, ["train-predictor", "--split-file", str(split), "--out", str(tmp_path / "p")])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "p").exists()  # a failed training left an empty reports.sqlite there


def test_dynamic_features_from_real_sandbox(tiny_predictor_dir):
    from predictor.api import Predictor
    from predictor.dynamic import measure_in_sandbox
    from sandbox.pool import CheckerPool

    code = net(16, 32).replace("nn.Linear(32, 10)", "nn.Linear(32 * 11 * 11, 10)")
    predictor = Predictor.load(tiny_predictor_dir)
    assert "dyn_params_log10" not in predictor.code_features(code)  # no pool, not in the LEMUR table: absent
    with CheckerPool(size=1, preload=("torch",)) as pool:
        broken = measure_in_sandbox("class Net(:\n", pool)
        no_forward = measure_in_sandbox(net(16, 32), pool)  # builds, then its Linear(32, 10) misfits the conv output
        predictor.pool = pool
        measured = predictor.code_features(code)
    assert predictor.code_features(code) == measured  # cached by content hash: no pool needed any more
    # Saved in the directory's store: a fresh predictor without a pool, and retraining on a reported run, see them.
    assert Predictor.load(tiny_predictor_dir).code_features(code) == measured
    from predictor.data import Corpus
    from predictor.train import add_reported_model

    small = Corpus(runs=[], models={}, codes={}, features={})
    add_reported_model(small, "reported-x", code, predictor.reports.dynamic())
    assert small.features["reported-x"]["dyn_params_log10"] == measured["dyn_params_log10"]
    assert measured["dyn_ok"] == 1.0, measured
    expected_params = 3 * 16 * 9 + 16 + 16 * 32 * 25 + 32 + 2 * 32 + 32 * 11 * 11 * 10 + 10
    assert measured["dyn_params_log10"] == pytest.approx(math.log10(expected_params), abs=1e-6)
    assert measured["dyn_flops_log10"] > 5
    assert broken["dyn_ok"] == 0.0 and math.isnan(broken["dyn_params_log10"])
    # built but failed forward: the parameter count is measured at instantiation and kept; FLOPs need the forward
    assert no_forward["dyn_ok"] == 0.0 and math.isnan(no_forward["dyn_flops_log10"])
    expected_unfit = 3 * 16 * 9 + 16 + 16 * 32 * 25 + 32 + 2 * 32 + 32 * 10 + 10
    assert no_forward["dyn_params_log10"] == pytest.approx(math.log10(expected_unfit), abs=1e-6)


def test_lemur_dynamic_table_roundtrip(tmp_path, monkeypatch):
    import predictor.dynamic as dynamic

    code = "class Net: pass\n"
    rows = [{"hash": dynamic.code_sha256(code), "result": {"stages": {"forward": "ok"}, "params": 1000, "flops": 10**6}},
            {"hash": "f" * 64, "result": {"stages": {"forward": "failed"}, "params": None, "flops": None}},
            {"hash": dynamic.code_sha256(code + "#big\n"), "result": {"stages": {"instantiate": "failed"}, "params": 10**9, "flops": None}}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(dynamic, "_TABLE", None)
    assert dynamic.write_lemur_table(tmp_path / "results.jsonl", tmp_path / "t.json.gz") == 3
    monkeypatch.setattr(dynamic, "LEMUR_TABLE", tmp_path / "t.json.gz")
    assert dynamic.lemur_features(code) == {"dyn_ok": 1.0, "dyn_params_log10": 3.0, "dyn_flops_log10": 6.0}
    over_budget = dynamic.lemur_features(code + "#big\n")  # refused by the parameter budget: counted, never run
    assert over_budget["dyn_ok"] == 0.0 and over_budget["dyn_params_log10"] == 9.0 and math.isnan(over_budget["dyn_flops_log10"])
    assert dynamic.lemur_features(code + "# edited\n") is None
    features = {"a": {"n_conv": 1.0}, "b": {"n_conv": 2.0}}
    assert dynamic.merge_lemur(features, {"a": code, "b": "other"}) == 1 and features["a"]["dyn_params_log10"] == 3.0
    monkeypatch.setattr(dynamic, "_TABLE", None)


def test_shipped_lemur_table_covers_the_audit():
    from predictor.dynamic import lemur_table

    table = lemur_table()
    assert len(table) >= 10_000  # every unique LEMUR model file of nn-dataset 2.1.2 was audited
    assert sum(1 for ok, params, _ in table.values() if ok and params) / len(table) > 0.99


def test_metrics_of_a_constant_prediction_have_no_correlation_and_no_warning():
    import warnings

    from predictor.evaluate import metrics

    point = np.full(50, 0.7318)  # np.std of this is 1.1e-16, not 0
    y = np.random.default_rng(0).random(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = metrics("last_value", "cifar-10", 0, y, point, point - 0.1, point + 0.1, "runs>=3ep")
    assert math.isnan(row.pearson) and math.isnan(row.kendall) and row.rmse > 0


def test_eval_json_is_strict_json():
    from nnrag.cli.predict import _json_safe

    text = json.dumps(_json_safe({"metrics": [{"model": "last_value", "k": 0, "pearson": float("nan"), "rmse": 0.2}]}), allow_nan=False)
    assert json.loads(text)["metrics"][0]["pearson"] is None


def test_envelope_guard_keeps_runs_tracking_a_top_run():
    policy = StopPolicy(top_k=3, p_min=0.05, envelope_guard=True)
    finished = [0.8, 0.7, 0.75]
    assert decide(2, 50, 0.4, 0.35, 0.45, finished, StopPolicy(top_k=3, p_min=0.05), current=0.5, envelope=0.45).stop
    kept = decide(2, 50, 0.4, 0.35, 0.45, finished, policy, current=0.5, envelope=0.45)
    assert not kept.stop and "top-3" in kept.reason
    assert decide(2, 50, 0.4, 0.35, 0.45, finished, policy, current=0.3, envelope=0.45).stop


def test_tracks_top_compares_best_so_far_with_the_top_runs():
    top = [[0.3, 0.5, 0.6], [0.2, 0.6, 0.7]]
    assert tracks_top([0.25], top), "epoch 1: 0.25 >= the lower top run (0.2)"
    assert not tracks_top([0.1], top)
    assert tracks_top([0.55, 0.4], top), "a dip after a good epoch keeps the best-so-far (0.55 >= 0.5)"
    assert not tracks_top([0.1, 0.45], top)
    assert tracks_top([0.1], []) is None and tracks_top([0.1, 0.2, 0.3, 0.4], top) is None
    policy = StopPolicy(top_k=3, p_min=0.05, envelope_guard=True)
    finished = [0.8, 0.7, 0.75]
    assert not decide(2, 50, 0.4, 0.35, 0.45, finished, policy, tracking=True).stop
    assert decide(2, 50, 0.4, 0.35, 0.45, finished, policy, tracking=False).stop
    assert decide(2, 50, 0.4, 0.35, 0.45, finished, StopPolicy(top_k=3, p_min=0.05), tracking=True).stop, "guard off"


def test_replay_patience_needs_consecutive_stop_epochs():
    curves = _replay_curves()
    order = list(range(len(curves)))
    blind = [[(0.0, 0.0, 0.0)] * (len(c) - 1) for c in curves]  # every run after the first 10 is stopped
    total = sum(len(c) for c in curves)
    finished_epochs = sum(len(curves[i]) for i in order[:10])
    for patience in (1, 2, 3):
        s = replay_predictor(curves, blind, order, StopPolicy(top_k=10, p_min=0.02, patience=patience))
        assert s.epochs_saved == pytest.approx(1 - (finished_epochs + patience * (len(curves) - 10)) / total)


def test_only_a_demo_default_of_another_predictor_version_is_stale():
    from predictor.api import stale_demo_default
    from predictor.train import PREDICTOR_VERSION

    assert stale_demo_default({"demo_default": True, "predictor_version": "0"})
    assert stale_demo_default({"fast": True, "models": 1200, "default": "gbm_code"}), "a demo default from before the marker"
    assert not stale_demo_default({"demo_default": True, "predictor_version": PREDICTOR_VERSION})
    assert not stale_demo_default({"fast": True, "n_reported": 3}), "a fast retrain on reported runs is the user's"
    assert not stale_demo_default({"default": "gbm_code"})


# ---- corrections by the reported runs of the same code ---------------------------------------

def test_code_shrink_ratio_recovers_how_much_error_a_code_shares():
    rng = np.random.default_rng(0)
    codes = np.repeat(np.arange(300), 4)
    shared = rng.normal(0, 0.1, 300)[codes]
    residuals = shared + rng.normal(0, 0.05, len(codes))
    assert code_shrink_ratio(residuals, codes) == pytest.approx(0.05**2 / 0.1**2, rel=0.3)
    assert code_shrink_ratio(rng.normal(0, 0.05, len(codes)), codes) > 20, "no shared part: next to no shift"
    assert code_shrink_ratio(residuals[:40], codes[:40]) == math.inf, "10 codes repeat: too few to tell"
    by_k = code_shrink_by_k(np.concatenate([residuals, residuals]), np.concatenate([codes, codes]),
                            np.repeat([0, 5], len(codes)))
    assert set(by_k) == {0, 5} and nearest_k(by_k, 7) == by_k[5] and nearest_k({}, 3) == math.inf


def test_code_corrected_shifts_the_point_by_the_shrunk_mean_error_inside_the_calibrated_interval():
    point, lo, hi = code_corrected(0.5, 0.4, 0.7, [0.1, 0.1], shrink=2.0)
    assert point == pytest.approx(0.55) and (lo, hi) == (0.4, 0.7), "mean error 0.1 times n / (n + lambda) = 2 / 4"
    assert code_corrected(0.5, 0.45, 0.6, [0.4] * 4, shrink=1.0) == pytest.approx((0.82, 0.45, 0.82)), \
        "the interval stretches only as far as the point"
    assert code_corrected(0.5, 0.4, 0.7, [], 2.0) == (0.5, 0.4, 0.7)
    assert code_corrected(0.5, 0.4, 0.7, [0.3], math.inf) == (0.5, 0.4, 0.7), "no shared error learned: no correction"
    assert code_corrected(0.95, 0.9, 0.99, [0.3] * 50, 1.0)[0] == 1.0, "an accuracy stays in [0, 1]"
    # Weighted: the mean leans to the runs with the nearer hyperparameters; n / (n + lambda) still counts every run.
    assert code_corrected(0.5, 0.4, 0.7, [0.2, -0.1], 2.0, weights=[1.0, 0.0])[0] == pytest.approx(0.5 + 0.2 * 2 / 4)
    assert code_corrected(0.5, 0.4, 0.7, [0.2, -0.1], 2.0, weights=[0.5, 0.5]) == code_corrected(0.5, 0.4, 0.7, [0.2, -0.1], 2.0)


def test_hparam_similarity_reads_lr_and_batch_on_log_scales_and_skips_what_one_run_lacks():
    from predictor.models import hparam_similarity

    run = {"lr": 0.01, "batch": 64, "momentum": 0.9, "dropout": 0.2}
    assert hparam_similarity(run, dict(run)) == 1.0
    assert hparam_similarity(run, {**run, "lr": 0.1}) == pytest.approx(math.exp(-0.5))  # one decade = one unit
    assert hparam_similarity(run, {**run, "lr": 0.001}) == hparam_similarity(run, {**run, "lr": 0.1}), "symmetric in log lr"
    assert hparam_similarity(run, {**run, "batch": 256}) > hparam_similarity(run, {**run, "momentum": 0.0}), \
        "4x the batch is nearer than momentum 0.9 -> 0"
    assert hparam_similarity(run, {"lr": 0.01}) == 1.0, "only what both runs set counts"
    assert hparam_similarity(run, {"lr": "fast", "batch": 0, "momentum": True}) == 1.0, "unreadable values are skipped"


def _coded_runs(n_codes: int, runs_per_code: int, seed: int, epochs: int = 6):
    """Like _synthetic_runs, plus a per-code offset of the asymptote that no feature shows (an unseen family's
    quirk): each code its own family, runs differing in learning rate."""
    rng = np.random.default_rng(seed)
    runs = []
    for c in range(n_codes):
        width, offset = int(rng.choice([8, 16, 32, 64, 128])), float(rng.normal(0, 0.08))
        for _ in range(runs_per_code):
            lr = float(10 ** rng.uniform(-3, -0.5))
            a = 0.45 + 0.06 * math.log2(width / 8) - 0.1 * abs(math.log10(lr) + 2) + offset + rng.normal(0, 0.01)
            curve = [float(np.clip(a - 0.25 * t ** -0.8 + rng.normal(0, 0.005), 0, 1)) for t in range(1, epochs + 1)]
            runs.append((width, lr, curve, f"code{c}"))
    return runs


@pytest.fixture(scope="module")
def coded_gbm():
    runs = _coded_runs(80, 4, 3)
    views, ys, groups = [], [], []
    for k in (0, 2):
        v, y, g = _views(runs, k)
        views, groups = views + v, groups + g
        ys.append(y)
    params = GBMParams(n_estimators=60, learning_rate=0.1, num_threads=1, cv_folds=3, min_child_samples=10)
    return GBM(use_code=True, params=params).fit(views, np.concatenate(ys), groups, codes=groups)


def test_gbm_learns_that_a_code_shares_its_error_until_the_curve_shows_it(coded_gbm):
    at_0, at_2 = (_views(_coded_runs(1, 1, 9), k)[0] for k in (0, 2))
    shrink_0, shrink_2 = coded_gbm.code_shrink(at_0)[0], coded_gbm.code_shrink(at_2)[0]
    assert shrink_0 < 2, "with no curve the hidden offset is most of the error: a few runs of the code tell it"
    assert shrink_2 > 3 * shrink_0, "two epochs in, the run's own curve shows the offset"
    assert np.all(np.isinf(GBM(use_code=True, params=GBMParams(n_estimators=5, cv_folds=3)).fit(
        *_views(_coded_runs(30, 2, 4), 0)).code_shrink(at_0))), "fitted without codes: no correction"


def test_predict_is_corrected_at_once_by_reported_runs_of_the_same_code(coded_gbm, tmp_path):
    from predictor.api import Predictor, ReportedRun
    from predictor.train import save_predictor

    save_predictor(tmp_path, {"gbm_code": coded_gbm}, {"default": "gbm_code"})
    p = Predictor.load(tmp_path)
    code, other = net(32, 64) + "\nVARIANT = 1\n", net(32, 64) + "\nVARIANT = 2\n"  # same features, two codes
    hp = {"lr": 0.01, "batch": 32}
    before = p.predict(code, hp, "cifar-10", epochs=6)
    assert before.reported_runs == 0 and before.model == "gbm_code"
    above = min(before.point + 0.2, 0.99)
    for i in range(3):  # the same hyperparameters: each was predicted exactly as `before`, and ended 0.2 above it
        # (three runs: their first epochs differ; an identical report would be a retry of one run, stored once)
        p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.2 + 0.01 * i, 0.3, 0.4, 0.5, 0.6, above], epochs_planned=6))
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.1, 0.1], epochs_planned=6, finished=False))
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-100", accuracy=[0.9] * 6, epochs_planned=6))
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.9] * 6, epochs_planned=6, metric="top5"))
    after = p.predict(code, hp, "cifar-10", epochs=6)
    shrink = coded_gbm.code_shrink([p.view(code, hp, "cifar-10", epochs=6)])[0]
    assert after.reported_runs == 3 and after.model == "gbm_code, corrected by 3 reported runs of this code"
    assert after.point == pytest.approx(before.point + (above - before.point) * 3 / (3 + shrink))
    assert after.point > before.point + 0.05 and after.lo <= after.point <= after.hi
    unrelated = p.predict(other, hp, "cifar-10", epochs=6)
    assert unrelated.reported_runs == 0 and unrelated.point == pytest.approx(before.point)
    assert p.predict(code, hp, "cifar-10", epochs=6, use_reports=False).point == pytest.approx(before.point)
    import optuna

    from predictor.optuna_pruner import predictor_pruner

    pruner = predictor_pruner(p, code, "cifar-10", 6, hparams=hp)  # corrects by the study's own trials: never twice
    assert pruner.predict(optuna.trial.create_trial(params={}, distributions={}, value=0.5), [])[0] == pytest.approx(before.point)
    assert Predictor.load(tmp_path).predict(code, hp, "cifar-10", epochs=6).point == pytest.approx(after.point), "reports persist"
    seen = p.predict(code, hp, "cifar-10", curve=[0.2, 0.3], epochs=6)
    assert coded_gbm.code_shrink([p.view(code, hp, "cifar-10", [0.2, 0.3], epochs=6)])[0] > 100, \
        "two epochs in, the curve shows the code's offset: next to none of the error is shared"
    assert seen.point == pytest.approx(p.predict_view(p.view(code, hp, "cifar-10", [0.2, 0.3], epochs=6)).point, abs=0.01), \
        "three reports shift a prediction by at most 3 / (3 + lambda) of their error: the curve speaks for itself"
    assert p.predict(code, hp, "cifar-10", curve=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7], epochs=6).reported_runs == 0, "observed: nothing to correct"


def test_reported_runs_with_nearer_hyperparameters_correct_a_prediction_more(coded_gbm, tmp_path):
    from predictor.api import Predictor
    from predictor.train import save_predictor

    directory = tmp_path / "p"
    save_predictor(directory, {"gbm_code": coded_gbm}, {"default": "gbm_code"})
    p = Predictor.load(directory)
    code = net(32, 64) + "\nVARIANT = 4\n"
    fast, slow = {"lr": 0.1, "batch": 32}, {"lr": 0.0001, "batch": 32}
    alone = {name: p.predict(code, hp, "cifar-10", epochs=6).point for name, hp in (("fast", fast), ("slow", slow))}
    p.report({"code": code, "hparams": fast, "dataset": "cifar-10", "accuracy": [0.5] * 5 + [min(alone["fast"] + 0.3, 0.99)]})
    p.report({"code": code, "hparams": slow, "dataset": "cifar-10", "accuracy": [0.05] * 5 + [max(alone["slow"] - 0.3, 0.01)]})
    after = {name: p.predict(code, hp, "cifar-10", epochs=6) for name, hp in (("fast", fast), ("slow", slow))}
    assert all(a.reported_runs == 2 for a in after.values())
    assert after["fast"].point > alone["fast"] + 0.02 and after["slow"].point < alone["slow"] - 0.02, \
        "each run leans to the report with its own learning rate (a plain mean of +0.3 and -0.3 would barely move either)"


def test_cli_report_then_predict_shows_the_correction(coded_gbm, tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app
    from predictor.train import save_predictor

    directory = tmp_path / "p"
    save_predictor(directory, {"gbm_code": coded_gbm}, {"default": "gbm_code"})
    model = tmp_path / "net.py"
    model.write_text(net(32, 64) + "\nVARIANT = 3\n")
    runner = CliRunner()
    ask = ["predict", str(model), "--hparams", '{"lr": 0.01, "batch": 32}', "--epochs", "6", "--dir", str(directory), "--json"]
    before = json.loads(runner.invoke(app, ask).stdout)
    assert before["reported_runs"] == 0
    tell = ["report", str(model), "--hparams", '{"lr": 0.01, "batch": 32}', "--epochs", "6", "--dir", str(directory)]
    for first in (0.3, 0.31):  # two runs (an identical report would be a retry of one, stored once)
        done = runner.invoke(app, [*tell, "--curve", f"{first},0.4,0.5,0.6,0.7,{min(before['point'] + 0.2, 0.99):.3f}"])
        assert done.exit_code == 0 and "reported run" in done.output and "finished at" in done.output, done.output
    stopped = runner.invoke(app, [*tell, "--curve", "0.1,0.1", "--stopped"])
    assert stopped.exit_code == 0 and "stopped early" in stopped.output
    after = json.loads(runner.invoke(app, ask).stdout)
    assert after["reported_runs"] == 2 and after["point"] > before["point"] + 0.05
    assert "corrected by 2 reported runs" in after["model"]
    for bad, message in ((["--curve", "0.3,0.4,0.5", "--epochs", "2"], "--epochs 2 is below the 3 epochs"),
                         (["--curve", "0.3,1.4"], "accuracy values must be numbers in [0, 1]"),
                         (["--curve", "0.3", "--dataset", "imagenet-22k"], "unknown dataset 'imagenet-22k'"),
                         (["--curve", "0.3,x"], "--curve must be comma-separated numbers")):
        refused = runner.invoke(app, ["report", str(model), "--dir", str(directory), *bad])
        assert refused.exit_code == 2 and message in refused.output, refused.output
    untrained = runner.invoke(app, ["report", str(model), "--curve", "0.3", "--dir", str(tmp_path / "none")])
    assert untrained.exit_code == 2 and "train-predictor" in untrained.output


def test_other_spellings_of_a_hyperparameter_are_read_and_unread_names_are_named(coded_gbm, tmp_path):
    """{"learning_rate": 0.1} was answered as if no learning rate had been given, and nothing said so."""
    from predictor.features import canonical_hparams

    p = _coded_predictor(coded_gbm, tmp_path / "p")
    lemur = p.predict(net(), {"lr": 0.003, "batch": 64, "epochs": 8}, "cifar-10", [0.3])
    spelt = p.predict(net(), {"learning_rate": 0.003, "Batch": 64, "num_epochs": 8, "pretrained": True, "beta1": 0.9}, "cifar-10", [0.3])
    assert (spelt.point, spelt.lo, spelt.hi, spelt.epochs) == (lemur.point, lemur.lo, lemur.hi, lemur.epochs) == (lemur.point, lemur.lo, lemur.hi, 8)
    assert spelt.ignored_hparams == ["beta1", "pretrained"] and lemur.ignored_hparams == []
    with pytest.raises(ValueError, match="lr must be a finite number"):  # an alias is checked as the name it stands for
        p.predict(net(), {"learning_rate": "fast"}, "cifar-10")
    with pytest.raises(ValueError, match="hparams give lr twice"):
        p.predict(net(), {"lr": 0.1, "LR": 0.01}, "cifar-10")
    assert canonical_hparams({"lr": 0.1, "LR": 0.1, "weight-decay": 5e-4}) == {"lr": 0.1, "weight_decay": 5e-4}


def test_a_run_known_by_its_final_alone_corrects_only_a_prediction_before_any_epoch(coded_gbm, tmp_path):
    """A study that keeps only finals could not report a 50-epoch run; stored as a one-epoch curve, its final was read
    as epoch 1 by every later-epoch correction, ShouldStop's sibling residuals and retraining."""
    from predictor.api import ReportedRun, reported_training_runs

    p = _coded_predictor(coded_gbm, tmp_path / "p")
    code, hp = net(32, 64) + "\nVARIANT = 21\n", {"lr": 0.01, "batch": 32}
    run = {"code": code, "hparams": hp, "dataset": "cifar-10", "curve": [0.3, 0.4]}
    before = [p.predict(code, hp, "cifar-10", epochs=50), p.predict(code, hp, "cifar-10", [0.3, 0.4], epochs=50)]
    stop_before = p.should_stop(run, [0.9] * 10, budget=50)
    p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.95], epochs_planned=50, curve_known=False))
    at_0, at_2 = p.predict(code, hp, "cifar-10", epochs=50), p.predict(code, hp, "cifar-10", [0.3, 0.4], epochs=50)
    assert at_0.reported_runs == 1 and at_0.point > before[0].point
    assert at_2.reported_runs == 0 and (at_2.point, at_2.lo, at_2.hi) == (before[1].point, before[1].lo, before[1].hi)
    assert p.should_stop(run, [0.9] * 10, budget=50) == stop_before
    assert reported_training_runs(p.reports.all()) == []
    assert p.reports.all()[0].curve_known is False  # read back as it was stored
    with pytest.raises(ValueError, match="known by its final alone is a finished run with one accuracy value"):
        p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.3, 0.4], epochs_planned=50, curve_known=False))
    with pytest.raises(ValueError, match="send all 50 epochs"):  # a one-value curve of a finished 50-epoch run is still no run
        p.report(ReportedRun(code=code, hparams=hp, dataset="cifar-10", accuracy=[0.95], epochs_planned=50))
    from typer.testing import CliRunner

    from nnrag.cli import app

    model = tmp_path / "model.py"
    model.write_text(code)
    runner = CliRunner()
    ok = runner.invoke(app, ["report", str(model), "--final", "0.93", "--epochs", "50", "--hparams", '{"lr": 0.02}', "--dir", str(tmp_path / "p")])
    assert ok.exit_code == 0 and "final only" in ok.stdout, ok.output
    assert [r.curve_known for r in p.reports.all()] == [False, False]
    for args, message in ((["--final", "0.9", "--curve", "0.3"], "give --curve"), ([], "give --curve"),
                          (["--final", "0.9", "--stopped"], "a run stopped early reports its --curve")):
        bad = runner.invoke(app, ["report", str(model), *args, "--dir", str(tmp_path / "p")])
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_fast_training_counts_only_the_reported_runs_it_learns_from(tmp_path, monkeypatch):
    """--fast trains CIFAR-10 alone: a reported MNIST run was counted in n_reported (and the version) but not learned."""
    from corpus.lemur_stats import Run
    from predictor import train as train_module

    c = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    reported = [(Run("rep-a", "img-classification", dataset, "acc", f"r-{dataset}", 0, {"lr": 0.01, "batch": 32}, "norm_32",
                     [0.3, 0.4, 0.5, 0.55, 0.6]), net(8, 16)) for dataset in ("cifar-10", "mnist")]
    meta = train_module.train_predictor(tmp_path / "p", extra_runs=reported, names=("last_value",), fast=True)
    assert meta["n_reported"] == 1


def test_predict_refuses_planned_epochs_in_hparams_below_the_curve(tiny_predictor_dir):
    from predictor.api import Predictor

    p = Predictor.load(tiny_predictor_dir)
    with pytest.raises(ValueError, match="hparams epochs 2 is below the 3 epochs already in the curve"):
        p.predict(net(), {"epochs": 2}, "cifar-10", [0.3, 0.4, 0.5])
    assert p.predict(net(), {"num_epochs": 5}, "cifar-10", [0.3, 0.4, 0.5]).epochs == 5
    with pytest.raises(ValueError, match="planned epochs are unknown and its curve already has 6 epochs"):  # not "finished"
        p.predict(net(), {}, "cifar-10", [0.3, 0.4, 0.5, 0.6, 0.65, 0.7])


def test_cli_eval_predictor_refuses_models_that_name_no_estimator(monkeypatch):
    from typer.testing import CliRunner

    from nnrag.cli import app

    result = CliRunner().invoke(app, ["eval-predictor", "--models", ",", "--datasets", "cifar-10", "--json"])
    assert result.exit_code == 2 and "names no estimator" in result.output, result.output
    # an unknown name is refused before the split and LEMUR are read (it was refused when its turn to fit came, minutes in)
    import predictor.train as train_module

    def not_yet(*args, **kwargs):
        raise AssertionError("the split was read before the estimator names were checked")

    monkeypatch.setattr(train_module, "load_or_build_split", not_yet)
    result = CliRunner().invoke(app, ["eval-predictor", "--models", "last_value,gbm_stak", "--datasets", "cifar-10", "--json"])
    assert result.exit_code == 2 and "unknown estimator 'gbm_stak'" in result.output, result.output


def test_a_lemur_wheel_that_cannot_be_downloaded_is_a_clear_error(tmp_path, monkeypatch):
    """pip download failing (offline) was a CalledProcessError traceback out of train-predictor."""
    from corpus.lemur import lemur_wheel

    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(FileNotFoundError, match=r"could not download nn-dataset==2\.1\.2 into .*wheels"):
        lemur_wheel(tmp_path)
