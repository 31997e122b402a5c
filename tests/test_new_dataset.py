"""A dataset the predictor has not seen, taught by reported runs (``predictor.datasets``): reported as new, known by
name from then on, refused by predictions until ``train-predictor`` has fitted its own estimator from
``NEW_DATASET_MIN_RUNS`` finished runs, then answered by that estimator at its own level.

Real report store (SQLite), real LightGBM training on a small synthetic LEMUR corpus (``test_predictor``'s)."""

from __future__ import annotations

import pytest

from corpus.lemur_stats import Run
from predictor.datasets import NEW_DATASET_CONFORMAL_LEVEL, NEW_DATASET_MIN_RUNS, canonical_dataset, new_dataset_name
from predictor.models import GBMParams, PerDataset
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
                                         f"reported with their curves; train-predictor fits its own estimator once {NEW_DATASET_MIN_RUNS}"):
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
    assert f"+ {NEW_DATASET_MIN_RUNS} reported" in output and f"own estimators of new datasets: fashion-mnist ({NEW_DATASET_MIN_RUNS} runs)" in output
    assert "still below" not in output
    assert p.reload_if_changed()
    own = p.estimators["gbm_stack"].by_dataset["fashion-mnist"]
    assert own.params.conformal_level == NEW_DATASET_CONFORMAL_LEVEL, "few runs: its intervals are calibrated wider"
    assert p.estimators["gbm_stack"].by_dataset["cifar-10"].params.conformal_level == GBMParams().conformal_level
    new = p.predict(net(32, 64), HP, "fashion-mnist", epochs=5)
    cifar = p.predict(net(32, 64), HP, "cifar-10", epochs=5)
    assert new.model == "gbm_stack" and cifar.model == "gbm_stack", (new.model, cifar.model)
    assert new.point > cifar.point + 0.2, "the new dataset's own estimator answers at its level, 0.35 above CIFAR-10's"
    assert new.lo <= new.point <= new.hi
    decision = p.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8]}, 0.99, budget=5)
    assert 0.0 <= decision.p_beat_incumbent <= 1.0

    def no_reads():
        raise AssertionError("a dataset with an estimator was looked up in the report store")

    p.reports.new_datasets = no_reads  # a study's every earlier run names the dataset: no store read for each
    earlier = [{"code": net(16, 32), "hparams": HP, "dataset": "Fashion_MNIST", "curve": [0.7, 0.8, 0.85, 0.86, 0.87]}] * 3
    assert p.should_stop({"code": net(), "hparams": HP, "dataset": "fashion-mnist", "curve": [0.7, 0.8]}, 0.99, budget=5,
                         earlier=earlier).p_beat_incumbent <= 1.0


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
