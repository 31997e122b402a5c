"""A dataset the predictor has not seen, taught by reported runs (``predictor.datasets``): reported as new, known by
name from then on, refused by predictions until ``train-predictor`` has fitted it an estimator from
``NEW_DATASET_MIN_RUNS`` finished runs (the largest dataset's, recalibrated on them: ``models.Recalibrated``; its own
from ``NEW_DATASET_OWN_RUNS``), then answered at its own level.

Real report store (SQLite), real LightGBM training on a small synthetic LEMUR corpus (``test_predictor``'s)."""

from __future__ import annotations

import pytest

from corpus.lemur_stats import Run
from predictor.datasets import NEW_DATASET_CONFORMAL_LEVEL, NEW_DATASET_MIN_RUNS, canonical_dataset, new_dataset_name
from predictor.models import GBMParams, PerDataset, Recalibrated
from test_predictor import _synthetic_corpus, _synthetic_runs, net

HP = {"lr": 0.01, "batch": 32}


def _reported(n: int, shift: float, dataset: str = "fashion-mnist") -> list[dict]:
    """``n`` finished 5-epoch runs whose curves lie ``shift`` above the synthetic CIFAR-10 runs of the same widths."""
    return [{"code": net(width, 2 * width), "hparams": {"lr": lr, "batch": 32}, "dataset": dataset,
             "accuracy": [min(1.0, a + shift) for a in curve[:5]], "run_id": f"{dataset}-{i}"}
            for i, (width, lr, curve, _) in enumerate(_synthetic_runs(n, 11))]


@pytest.fixture
def trained_dir(tmp_path, monkeypatch):
    """A predictor directory trained (fast) on the synthetic corpus's CIFAR-10 runs; retraining reads the same corpus."""
    import predictor.train as train_module

    corpus = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: corpus)
    train_module.train_predictor(tmp_path / "p", names=("last_value", "gbm_stack"), fast=True)
    return tmp_path / "p"


def _retrain(directory) -> str:
    """``nnrag train-predictor --fast`` on the directory (LEMUR: the synthetic corpus), its output."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    result = CliRunner().invoke(app, ["train-predictor", "--out", str(directory), "--fast"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_new_dataset_is_refused_until_reported_as_new_and_answered_at_its_own_level_once_trained(trained_dir):
    from predictor.api import Predictor

    p = Predictor.load(trained_dir)
    runs = _reported(NEW_DATASET_MIN_RUNS, shift=0.35)
    with pytest.raises(ValueError, match=r"unknown dataset 'Fashion-MNIST'.*reported as new \(new_dataset; nnrag report --new-dataset\)"):
        p.report({**runs[0], "dataset": "Fashion-MNIST"})
    with pytest.raises(ValueError, match="unknown dataset 'fashion-mnist'.*reported as new"):
        p.predict(net(), HP, "fashion-mnist")
    assert p.reports.count() == 0
    p.report({**runs[0], "dataset": "Fashion-MNIST"}, new_dataset=True)
    assert [r.dataset for r in p.reports.all()] == ["fashion-mnist"]
    for run in runs[1:-1]:
        p.report(run)  # known by name now: no flag needed
    with pytest.raises(ValueError, match=f"no estimator of fashion-mnist yet: {NEW_DATASET_MIN_RUNS - 1} finished image-classification runs of it "
                                         f"reported with their curves; train-predictor fits it an estimator once {NEW_DATASET_MIN_RUNS}"):
        p.predict(net(), HP, "FASHION_MNIST")
    output = _retrain(trained_dir)
    assert "+ 0 reported" in output, f"{NEW_DATASET_MIN_RUNS - 1} runs are stored, not learned"
    assert f"new datasets still below {NEW_DATASET_MIN_RUNS} finished runs (not answered yet): fashion-mnist ({NEW_DATASET_MIN_RUNS - 1})" in output
    p.reload_if_changed()
    with pytest.raises(ValueError, match="no estimator of fashion-mnist yet"):
        p.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8]}, 0.9, budget=5)
    p.report(runs[-1])
    with pytest.raises(ValueError, match=f"{NEW_DATASET_MIN_RUNS} finished image-classification runs .* retrain \\(nnrag train-predictor\\)"):
        p.predict(net(), HP, "fashion-mnist")
    output = _retrain(trained_dir)
    assert f"+ {NEW_DATASET_MIN_RUNS} reported" in output
    assert f"estimators of new datasets: fashion-mnist ({NEW_DATASET_MIN_RUNS} runs: the largest dataset's, recalibrated)" in output
    assert "still below" not in output
    assert p.reload_if_changed()
    recalibrated = p.estimators["gbm_stack"].by_dataset["fashion-mnist"]
    assert isinstance(recalibrated, Recalibrated) and recalibrated.level == NEW_DATASET_CONFORMAL_LEVEL
    assert recalibrated.base is p.estimators["gbm_stack"].by_dataset["cifar-10"], "recalibrates the estimator that is served"
    new = p.predict(net(32, 64), HP, "fashion-mnist", epochs=5)
    cifar = p.predict(net(32, 64), HP, "cifar-10", epochs=5)
    assert new.model == f"gbm_stack (cifar-10's estimator recalibrated on {NEW_DATASET_MIN_RUNS} runs of fashion-mnist)", new.model
    assert cifar.model == "gbm_stack", cifar.model
    assert new.point > cifar.point + 0.2, "the new dataset is answered at its level, 0.35 above CIFAR-10's"
    assert new.lo <= new.point <= new.hi
    decision = p.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8]}, 0.99, budget=5)
    assert 0.0 <= decision.p_beat_incumbent <= 1.0

    def no_reads():
        raise AssertionError("a dataset with an estimator was looked up in the report store")

    p.reports.new_datasets = no_reads  # a study's every earlier run names the dataset: no store read for each
    earlier = [{"code": net(16, 32), "hparams": HP, "dataset": "Fashion_MNIST", "curve": [0.7, 0.8, 0.85, 0.86, 0.87]}] * 3
    assert p.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8]}, 0.99, budget=5,
                         earlier=earlier).p_beat_incumbent <= 1.0


def test_train_predictor_says_which_kind_of_estimator_each_new_dataset_got_as_fitted(trained_dir, monkeypatch):
    """The kind printed is read from the estimator fitted (meta ``recalibrated_new_datasets``), not from a copy of
    the run-count rule: with the own-estimator threshold lowered, 20 runs get an estimator of their own."""
    import json

    import predictor.models as models
    from predictor.api import Predictor

    p = Predictor.load(trained_dir)
    for i, run in enumerate(_reported(NEW_DATASET_MIN_RUNS, shift=0.3)):
        p.report(run, new_dataset=i == 0)
    monkeypatch.setattr(models, "NEW_DATASET_OWN_RUNS", NEW_DATASET_MIN_RUNS)
    output = _retrain(trained_dir)
    assert f"estimators of new datasets: fashion-mnist ({NEW_DATASET_MIN_RUNS} runs: its own)" in output
    assert json.loads((trained_dir / "meta.json").read_text())["recalibrated_new_datasets"] == []
    assert not isinstance(Predictor.load(trained_dir).estimators["gbm_stack"].by_dataset["fashion-mnist"], Recalibrated)


def test_a_new_dataset_name_must_be_a_name_and_a_known_one_is_never_new(trained_dir):
    from predictor.api import Predictor

    p = Predictor.load(trained_dir)
    run = _reported(1, shift=0.0)[0]
    for bad in ("my dataset!", "", "-leading-dash", "x" * 65, "über"):
        with pytest.raises(ValueError, match="is not a dataset name"):
            p.report({**run, "dataset": bad}, new_dataset=True)
    p.report({**run, "dataset": "CIFAR10"}, new_dataset=True)  # a LEMUR dataset's spelling stays that dataset
    assert [r.dataset for r in p.reports.all()] == ["cifar-10"]
    assert new_dataset_name(" Derm.Images_v2 ") == "derm.images_v2"
    assert canonical_dataset("Derm.Images-v2", known=["derm.images_v2"]) == "derm.images_v2"


def test_training_learns_a_new_dataset_only_from_enough_finished_runs():
    from predictor.train import learnable_reported

    def runs(dataset: str, n: int, task: str = "img-classification") -> list[tuple[Run, str]]:
        return [(Run(f"rep-{dataset}-{i}", task, dataset, "acc", f"u{i}", 0, HP, "", [0.5, 0.6]), net()) for i in range(n)]

    few, enough, cifar = runs("derm", NEW_DATASET_MIN_RUNS - 1), runs("fashion-mnist", NEW_DATASET_MIN_RUNS), runs("cifar-10", 3)
    other_task = runs("speech", NEW_DATASET_MIN_RUNS, task="audio-classification")
    assert learnable_reported(few + enough + cifar + other_task) == enough + cifar
    assert learnable_reported(few + enough + cifar + runs("mnist", 2), fast=True) == enough + cifar, "fast: CIFAR-10 and new datasets"


def test_only_a_new_dataset_with_few_views_gets_the_wider_conformal_level():
    params = GBMParams(n_estimators=20)
    per_dataset = PerDataset("gbm_stack", params, min_views=2000)
    assert per_dataset.params_for("derm", 400).conformal_level == NEW_DATASET_CONFORMAL_LEVEL
    assert per_dataset.params_for("derm", 400).n_estimators == 20, "only the level changes"
    assert per_dataset.params_for("derm", 2000) is params and per_dataset.params_for("places365", 400) is params
    assert PerDataset("gbm_stack").params_for("derm", 10).conformal_level == NEW_DATASET_CONFORMAL_LEVEL


def _new_dataset(views: list, targets, dataset: str = "derm"):
    """``views`` and ``targets`` moved to a new dataset whose accuracies are 0.5 x CIFAR-10's + 0.45: a higher level and
    half the spread (as MNIST's against CIFAR-10's), so a recalibration must learn both."""
    from dataclasses import replace

    import numpy as np

    move = lambda a: 0.5 * np.asarray(a) + 0.45  # noqa: E731
    return [replace(v, dataset=dataset, accuracy=list(move(v.accuracy))) for v in views], move(targets)


def _cifar_and_new(runs_new: int, seed: int = 7):
    """Synthetic CIFAR-10 views (120 runs at k = 0-3) and a new dataset's (``runs_new`` other runs at k = 0-3)."""
    import numpy as np
    from test_predictor import _views

    def at_ks(runs):
        parts = [_views(runs, k) for k in (0, 1, 2, 3)]
        return [v for p in parts for v in p[0]], np.concatenate([p[1] for p in parts]), [g for p in parts for g in p[2]]

    cifar = at_ks(_synthetic_runs(120, 3))
    new_views, new_y, new_groups = at_ks(_synthetic_runs(runs_new, seed))
    return cifar, (*_new_dataset(new_views, new_y), new_groups)


SMALL = GBMParams(n_estimators=30, learning_rate=0.1, cv_folds=0, min_child_samples=5)


def test_a_new_dataset_with_few_runs_gets_the_largest_datasets_gbm_recalibrated_and_its_own_from_enough(monkeypatch):
    import numpy as np

    import predictor.models as models

    (cv, cy, cg), (nv, ny, ng) = _cifar_and_new(15)
    views, y, groups = cv + nv, np.concatenate([cy, ny]), cg + ng
    est = PerDataset("gbm_stack", SMALL, min_views=50).fit(views, y, groups)
    recalibrated = est.by_dataset["derm"]
    assert isinstance(recalibrated, Recalibrated) and recalibrated.runs == 15 and recalibrated.base is est.by_dataset["cifar-10"]
    assert est.borrowed("derm") == "" and est.adapted("derm") == "cifar-10's estimator recalibrated on 15 runs of derm"
    assert est.adapted("cifar-10") == "", "a LEMUR dataset's own estimator is not recalibrated"
    assert np.allclose(est.predict(nv[:4]).point, recalibrated.predict(nv[:4]).point)
    assert not isinstance(PerDataset("last_value").fit(views, y, groups).by_dataset["derm"], Recalibrated), "only GBMs recalibrate"
    monkeypatch.setattr(models, "NEW_DATASET_OWN_RUNS", 15)
    own = PerDataset("gbm_stack", SMALL, min_views=50).fit(views, y, groups).by_dataset["derm"]
    assert isinstance(own, models.GBM), "from NEW_DATASET_OWN_RUNS runs a new dataset gets its own estimator"
    fold = [i for i, v in enumerate(nv) if i % 15 < 12]  # a cross-validation fold: 12 of the 15 runs
    fold_views, fold_y, fold_groups = [nv[i] for i in fold], ny[fold], [ng[i] for i in fold]
    assert isinstance(est.fit_new_dataset("derm", fold_views, fold_y, fold_groups), Recalibrated), "12 runs alone: recalibrated"
    assert isinstance(est.fit_new_dataset("derm", fold_views, fold_y, fold_groups, runs=15), models.GBM), "chosen as for all 15"


def test_recalibration_learns_a_new_datasets_level_and_spread_from_few_runs_with_honest_intervals():
    """Fitted on 20 runs of the new dataset, tested on 200 others: far closer than CIFAR-10's estimator asked as is,
    at k = 0 (the level) and k = 2 (the pace), with intervals that cover most of the held-out runs."""
    import numpy as np

    (cv, cy, cg), (nv, ny, _) = _cifar_and_new(20)
    base = PerDataset("gbm_stack", SMALL, min_views=50).fit(cv, cy, cg).by_dataset["cifar-10"]
    recalibrated = Recalibrated(base, "cifar-10").fit(nv, ny)
    test_views, test_y = _cifar_and_new(200, seed=8)[1][:2]
    for k in (0, 2):
        at_k = [i for i, v in enumerate(test_views) if v.k == k]
        views, y = [test_views[i] for i in at_k], test_y[at_k]
        e = recalibrated.predict(views)
        raw = base.predict(views).point  # CIFAR-10's estimator as is
        rmse, rmse_raw = np.sqrt(np.mean((e.point - y) ** 2)), np.sqrt(np.mean((raw - y) ** 2))
        assert rmse < 0.5 * rmse_raw, (k, rmse, rmse_raw)
        assert np.mean((y >= e.lo) & (y <= e.hi)) >= 0.75, k
        assert np.all((e.lo <= e.point) & (e.point <= e.hi))


def test_recalibration_lines_use_exact_leave_one_out_residuals_and_bounded_slopes():
    import numpy as np

    from predictor.models import _line_with_loo

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 12)
    y = 0.3 + 0.7 * x + rng.normal(0, 0.05, 12)
    a, b, loo = _line_with_loo(x, y)
    for i in range(12):
        keep = np.arange(12) != i
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        assert np.isclose(loo[i], y[i] - intercept - slope * x[i]), "each residual is of a fit that did not see the point"
    assert np.isclose(b, np.polyfit(x, y, 1)[0]) and np.isclose(a, np.polyfit(x, y, 1)[1])
    a, b, loo = _line_with_loo(x, 1.0 - x)  # a falling line: the slope stops at 0, the level is the mean
    assert b == 0.0 and np.isclose(a, np.mean(1.0 - x))
    assert np.allclose(loo, [(1.0 - x[i]) - np.mean(np.delete(1.0 - x, i)) for i in range(12)])
    assert _line_with_loo(x, 5 * x)[1] == 2.0, "the slope is bounded above too"


def test_recalibration_of_one_epoch_runs_keeps_the_base_pace_and_too_few_runs_are_refused():
    import numpy as np

    (cv, cy, cg), (nv, ny, _) = _cifar_and_new(12)
    base = PerDataset("gbm_stack", SMALL, min_views=50).fit(cv, cy, cg).by_dataset["cifar-10"]
    level_only = [i for i, v in enumerate(nv) if v.k == 0]
    recalibrated = Recalibrated(base, "cifar-10").fit([nv[i] for i in level_only], ny[level_only])
    later = [v for v in nv if v.k == 2]
    e = recalibrated.predict(later)
    assert np.all(np.isfinite(e.point)) and np.all((e.lo <= e.point) & (e.point <= e.hi)) and np.all(e.hi > e.lo)
    with pytest.raises(ValueError, match="too few runs to recalibrate cifar-10's estimator: 3"):
        Recalibrated(base, "cifar-10").fit([nv[i] for i in level_only[:3]], ny[level_only[:3]])


def test_a_new_dataset_taught_over_grpc_is_answered_by_the_recalibrated_estimator_after_retraining(trained_dir, tmp_path):
    """Through a real server on loopback: ReportResult with new_dataset, then later reports by name, train-predictor,
    and Predict / ShouldStop answer the new dataset at its own level, the method naming the recalibration; the server
    reloads the retrained directory without a restart."""
    from nnrag.settings import Settings
    from rag_server.backend import Backend
    from rag_server.client import Client
    from rag_server.server import build_server

    settings = Settings(store_dir=tmp_path / "no-store", address="127.0.0.1:0", predictor_dir=trained_dir)
    running = build_server(settings, Backend.open(settings, with_pool=False))
    try:
        with Client(running.address) as client:
            for i, run in enumerate(_reported(NEW_DATASET_MIN_RUNS, shift=0.35)):
                curve = run.pop("accuracy")  # popped first: a Run has no "accuracy" key (the SDK refuses keys it would drop)
                client.report_result({**run, "curve": curve, "max_epochs": 5}, new_dataset=i == 0)
            _retrain(trained_dir)
            new = client.predict(net(32, 64), HP, "Fashion-MNIST", [0.7], epochs=5)
            cifar = client.predict(net(32, 64), HP, "cifar-10", [0.7 - 0.35], epochs=5)
            assert new.method == f"gbm_stack (cifar-10's estimator recalibrated on {NEW_DATASET_MIN_RUNS} runs of fashion-mnist)", new.method
            assert new.accuracy > cifar.accuracy + 0.2 and new.lower <= new.accuracy <= new.upper
            decision = client.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8],
                                           "max_epochs": 5}, 0.99)
            assert 0.0 <= decision.probability_beats_incumbent <= 1.0, decision
            assert decision.lower <= decision.predicted_accuracy <= decision.upper and decision.predicted_accuracy > 0.75, decision
    finally:
        running.stop(grace=0)


def test_eval_predictor_cross_validates_a_new_datasets_estimator_on_its_reported_runs(trained_dir):
    """``nnrag eval-predictor --new-dataset``: the estimator train-predictor would fit, refitted per fold of the reported
    runs (one code per fold at most) and scored on the runs it did not see; refused, with the reason, for a LEMUR
    dataset, for too few runs, and for a name never reported."""
    import json

    from typer.testing import CliRunner

    from nnrag.cli import app
    from predictor.api import Predictor

    p = Predictor.load(trained_dir)
    runs = _reported(NEW_DATASET_MIN_RUNS + 10, shift=0.35)
    for i, run in enumerate(runs):
        p.report(run, new_dataset=i == 0)
    cli = CliRunner()
    result = cli.invoke(app, ["eval-predictor", "--new-dataset", "Fashion-MNIST", "--dir", str(trained_dir), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    rows = {r["k"]: r for r in out["metrics"]}
    assert out["new_dataset"] == "fashion-mnist" and sorted(rows) == [0, 1, 2], rows
    for k, r in rows.items():
        assert r["model"] == f"gbm_stack (5-fold cross-validated on {len(runs)} reported runs)" and r["n"] == len(runs)
        assert r["rmse"] < 0.1 and r["coverage80"] >= 0.6, (k, r)
    assert rows[2]["rmse"] < rows[0]["rmse"], "the curve helps"
    table = cli.invoke(app, ["eval-predictor", "--new-dataset", "fashion-mnist", "--dir", str(trained_dir), "--folds", "3"])
    assert table.exit_code == 0 and "3-fold cross-validated" in table.output, table.output
    for dataset, why in (("cifar-10", "cifar-10 is LEMUR's: eval-predictor scores it on a held-out split"),
                         ("derm", "unknown dataset 'derm'")):
        refused = cli.invoke(app, ["eval-predictor", "--new-dataset", dataset, "--dir", str(trained_dir)])
        assert refused.exit_code == 2 and why in refused.output, refused.output
    p.report({**runs[0], "dataset": "few", "run_id": "few-0"}, new_dataset=True)
    few = cli.invoke(app, ["eval-predictor", "--new-dataset", "few", "--dir", str(trained_dir)])
    assert few.exit_code == 2 and f"1 finished image-classification runs of few reported with their curves; cross-validation needs the {NEW_DATASET_MIN_RUNS}" in few.output, few.output
