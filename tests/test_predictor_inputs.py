"""The predictor's inputs at its edges: how new code's params/FLOPs are measured (as the LEMUR audit did), runs
without planned epochs, curves as numpy arrays or tensors, dataset spellings, reports under other epoch names, the
checks an early stopper or pruner makes when it is built, and split files the CLI refuses early.

A real (tiny) predictor trained once per module, real sandbox workers where code is measured, real SQLite stores.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from test_predictor import _synthetic_corpus, net, tiny_predictor_dir  # noqa: F401  (the fixture: a tiny predictor)

HP = {"lr": 0.01, "batch": 32}

# A LEMUR-contract model that breaks at 32 px (its third pooling gets a 1x1 map) and runs from 64 px on, as LEMUR's
# AlexNet does: the audit measured it at a larger size.
NEEDS_64PX = '''
import torch
import torch.nn as nn

def supported_hyperparameters():
    return {"lr", "momentum"}

class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_shape[1], 8, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                                      nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.MaxPool2d(3, 2))
        self.head = nn.Linear(16, out_shape[0])

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))

    def train_setup(self, prm):
        self.criterion = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criterion(self(inputs), labels).backward()
            self.optimizer.step()
'''


@pytest.fixture
def predictor(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A Predictor of its own (its reports and measurements stay out of the shared one), answering CIFAR-10 only."""
    from predictor.api import Predictor

    shutil.copytree(tiny_predictor_dir, tmp_path / "p")
    p = Predictor.load(tmp_path / "p")
    p.meta["datasets"] = ["cifar-10"]  # what train_predictor's meta says: the datasets with training runs
    return p


# ---- params/FLOPs of new code --------------------------------------------------------------------

def test_new_code_is_measured_as_the_lemur_audit_measured_it(tmp_path, monkeypatch):
    """The audit (``nnrag audit lemur``, compacted by ``write_lemur_table``) ran the default spec, which retries a
    model too deep for 32 px at LEMUR's larger sizes; the predictor's measurement gave such a model no FLOPs."""
    import predictor.dynamic as dynamic
    from nnrag.cli.check import _stages_up_to
    from sandbox.pool import CheckerPool
    from sandbox.spec import CheckSpec

    with CheckerPool(size=1, preload=("torch",)) as pool:
        measured = dynamic.measure_in_sandbox(NEEDS_64PX, pool)
        result = pool.check(NEEDS_64PX, CheckSpec(stages=_stages_up_to("train_step")))  # audit_command's spec
    row = {"hash": dynamic.code_sha256(NEEDS_64PX), "result": result.to_dict()}
    (tmp_path / "results.jsonl").write_text(json.dumps(row) + "\n")
    dynamic.write_lemur_table(tmp_path / "results.jsonl", tmp_path / "t.json.gz")
    monkeypatch.setattr(dynamic, "LEMUR_TABLE", tmp_path / "t.json.gz")
    monkeypatch.setattr(dynamic, "_TABLE", None)
    audited = dynamic.lemur_features(NEEDS_64PX)
    assert audited["dyn_ok"] == 1.0 and math.isfinite(audited["dyn_flops_log10"])
    assert measured == audited


def test_an_audited_file_keeps_its_table_features_whatever_was_asked_first(predictor, tmp_path, monkeypatch):
    """A commented copy has the audited file's content hash; its measurement answered for the file itself when the
    copy was asked about first."""
    import predictor.dynamic as dynamic
    from predictor.families import content_hash

    code = net(8, 16)
    copy = code + "# tuned\n"
    rows = [{"hash": dynamic.code_sha256(code), "result": {"stages": {"forward": "ok"}, "params": 1000, "flops": 10**6}}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dynamic.write_lemur_table(tmp_path / "results.jsonl", tmp_path / "t.json.gz")
    monkeypatch.setattr(dynamic, "LEMUR_TABLE", tmp_path / "t.json.gz")
    monkeypatch.setattr(dynamic, "_TABLE", None)
    predictor.reports.save_dynamic(content_hash(copy), {"dyn_ok": 0.0, "dyn_params_log10": 3.0, "dyn_flops_log10": float("nan")})
    from predictor.api import Predictor

    for order in ((code, copy), (copy, code)):
        fresh = Predictor.load(predictor.directory)
        answers = {text: fresh.code_features(text) for text in order}
        assert answers[code]["dyn_flops_log10"] == 6.0 and answers[code]["dyn_ok"] == 1.0, order
        assert answers[copy]["dyn_ok"] == 0.0, order  # the copy's own measurement


def test_a_measurement_kept_by_older_measuring_code_is_measured_again(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A store written before measurements had a version kept "did not run forward" for a model today's measurement
    runs (the spec changed), and served it for good. Its old rows count for nothing now: measured again with a
    sandbox (and kept with today's version), absent without one, and left out of what retraining reads."""
    import sqlite3

    from predictor.api import Predictor
    from predictor.dynamic import MEASUREMENT_VERSION
    from predictor.families import content_hash
    from sandbox.pool import CheckerPool

    shutil.copytree(tiny_predictor_dir, tmp_path / "p")
    code, key = NEEDS_64PX, content_hash(NEEDS_64PX)  # the pre-audit spec measured it at 32 px only: "did not run"
    stale = {"dyn_ok": 0.0, "dyn_params_log10": float("nan"), "dyn_flops_log10": float("nan")}
    with sqlite3.connect(tmp_path / "p" / "reports.sqlite") as db:  # the table as stores before versions had it
        db.execute("CREATE TABLE dynamic (code_hash TEXT PRIMARY KEY, features TEXT)")
        db.execute("INSERT INTO dynamic VALUES (?, ?)", (key, json.dumps(stale)))
    p = Predictor.load(tmp_path / "p")
    assert "dyn_ok" not in p.code_features(code) and not p.knows_dynamic(code), "an old row answered without a sandbox"
    assert p.reports.dynamic() == {}, "retraining read an old row"
    fresh = Predictor.load(tmp_path / "p")
    with CheckerPool(size=1, preload=("torch",)) as pool:
        fresh.pool = pool
        features = fresh.code_features(code)
    assert features["dyn_ok"] == 1.0 and math.isfinite(features["dyn_flops_log10"]), features
    assert p.reports.load_dynamic(key) == p.reports.dynamic()[key] == {k: features[k] for k in stale}
    with sqlite3.connect(tmp_path / "p" / "reports.sqlite") as db:
        assert db.execute("SELECT measurement_version FROM dynamic").fetchall() == [(MEASUREMENT_VERSION,)]


# ---- planned epochs --------------------------------------------------------------------------------

def test_a_run_without_planned_epochs_is_assumed_short_then_refused(predictor):
    run = {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": [0.1] * 3}
    short = predictor.should_stop(run, [0.8, 0.78, 0.76])
    assert "planned epochs not given: 5 assumed" in short.reason
    for n in (5, 6, 10):
        with pytest.raises(ValueError, match="planned epochs are unknown.*give budget"):
            predictor.should_stop({**run, "curve": [0.1] * n}, [0.8, 0.78, 0.76])
        with pytest.raises(ValueError, match="planned epochs are unknown.*give epochs"):
            predictor.predict(net(), HP, "cifar-10", [0.1] * n)
    assert not predictor.should_stop({**run, "curve": [0.5] * 6}, [0.8], budget=50).reason.endswith("assumed)")
    assert predictor.should_stop({**run, "curve": [0.1] * 6, "hparams": {**HP, "num_epochs": 30}}, [0.8]).reason
    assert predictor.predict(net(), {**HP, "epochs": 8}, "cifar-10", [0.1] * 6).model != "observed"


def test_a_budget_below_the_curve_is_refused_as_predict_refuses_it(predictor):
    run = {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": [0.3] * 10}
    with pytest.raises(ValueError, match="budget 5 is below the 10 epochs already in the curve"):
        predictor.should_stop(run, [0.8], budget=5)
    with pytest.raises(ValueError, match="run epochs 4 is below the 10 epochs"):
        predictor.should_stop({**run, "epochs": 4}, [0.8])
    assert predictor.should_stop(run, [0.8], budget=10).reason  # the last epoch: allowed


def test_the_cli_refuses_a_long_curve_without_planned_epochs(predictor, tmp_path):
    from nnrag.cli import app

    model = tmp_path / "model.py"
    model.write_text(net())
    base = ["predict", str(model), "--dir", str(predictor.directory), "--hparams", json.dumps(HP)]
    refused = CliRunner().invoke(app, [*base, "--curve", "0.1,0.2,0.3,0.4,0.5,0.6"])
    assert refused.exit_code == 2 and "planned epochs are unknown" in refused.output, refused.output
    short = CliRunner().invoke(app, [*base, "--curve", "0.1,0.2"])
    assert short.exit_code == 0 and "no planned epochs given (--epochs, hparams epochs): 5 assumed" in short.output, short.output


# ---- curves as arrays, dataset spellings ----------------------------------------------------------

def test_numpy_and_torch_curves_are_read_as_numbers(predictor):
    as_list = predictor.predict(net(), HP, "cifar-10", [0.3, 0.4], epochs=10).point
    for curve in (np.array([0.3, 0.4]), torch.tensor([0.3, 0.4], dtype=torch.float64), (0.3, 0.4), [np.float32(0.3), np.float64(0.4)]):
        assert predictor.predict(net(), HP, "cifar-10", curve, epochs=10).point == pytest.approx(as_list, abs=1e-6)
    assert predictor.predict(net(), HP, "cifar-10", np.array([]), epochs=10).k == 0
    run = {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": np.array([0.1, 0.1, 0.1]), "durations": np.array([1.0, 2.0, 3.0])}
    assert predictor.should_stop(run, [0.8, 0.78, 0.76], budget=20, earlier=[np.array([0.2, 0.3])]).reason
    with pytest.raises(ValueError, match=r"curve: accuracy values must be numbers in \[0, 1\], got 1.5"):
        predictor.predict(net(), HP, "cifar-10", np.array([0.3, 1.5]), epochs=10)


def test_a_curve_in_percent_is_refused_with_a_hint_to_divide_by_100(predictor):
    with pytest.raises(ValueError, match=r"got 31.0: they look like percentages \(divide them by 100\) or losses"):
        predictor.predict(net(), HP, "cifar-10", [31, 42], epochs=10)
    with pytest.raises(ValueError, match=r"got 1.5$"):  # not percentages: no hint
        predictor.predict(net(), HP, "cifar-10", [0.3, 1.5, -2.0], epochs=10)
    with pytest.raises(ValueError, match=r"got 31: they look like percentages \(divide them by 100\) or losses"):
        predictor.report({"code": net(), "hparams": HP, "dataset": "cifar-10", "accuracy": [31, 55], "finished": True})


def test_dataset_spellings_are_read_as_the_known_names(predictor):
    from predictor.api import canonical_dataset

    assert [canonical_dataset(n) for n in ("CIFAR-10", "cifar10", "Cifar_10", "MNIST", "celeba_gender")] == \
        ["cifar-10", "cifar-10", "cifar-10", "mnist", "celeba-gender"]
    for unknown in ("imagenet", "cifar-1", "cifar 10"):
        with pytest.raises(ValueError, match=f"unknown dataset '{unknown}'; known: cifar-10, cifar-100"):
            canonical_dataset(unknown)
    for typo, meant in (("cifar10x", "cifar-10"), ("mnsit", "mnist"), ("svhm", "svhn"), ("cifar 10", "cifar-10")):
        with pytest.raises(ValueError, match=f"\\(did you mean '{meant}'\\?\\)"):
            canonical_dataset(typo)
    for other in ("imagenet-1k", "imagenet", "fashion-mnist"):  # another dataset, not a typo: no hint
        with pytest.raises(ValueError) as refused:
            canonical_dataset(other)
        assert "did you mean" not in str(refused.value), refused.value
    assert predictor.predict(net(), HP, "CIFAR10", [0.3], epochs=10).dataset == "cifar-10"
    predictor.report({"code": net(), "hparams": HP, "dataset": "CIFAR-10", "accuracy": [0.3, 0.5]})
    assert [r.dataset for r in predictor.reports.all()] == ["cifar-10"]


# ---- reports -----------------------------------------------------------------------------------------

def test_one_run_reported_under_other_epoch_names_is_stored_once(predictor):
    curve = [0.3, 0.4, 0.5]
    first = predictor.report({"code": net(), "hparams": {**HP, "epochs": 3}, "dataset": "cifar-10", "accuracy": curve})
    for hparams in ({**HP, "num_epochs": 3}, {**HP, "epoch": 3}, HP, {"learning_rate": 0.01, "batch": 32}):
        assert predictor.report({"code": net(), "hparams": hparams, "dataset": "cifar-10", "accuracy": curve}) == first, hparams
    assert predictor.reports.count() == 1
    other = predictor.report({"code": net(), "hparams": {**HP, "lr": 0.02}, "dataset": "cifar-10", "accuracy": curve})
    assert other != first and predictor.reports.count() == 2


def test_the_best_target_advice_names_the_estimators_that_answer_it(predictor):
    with pytest.raises(ValueError, match="no best-over-epochs estimator for 'last_value': ask 'gbm_code' for target 'best'"):
        predictor.predict(net(), HP, "cifar-10", [0.3], epochs=10, model="last_value", target="best")


def test_the_best_over_epochs_is_never_forecast_below_the_final(predictor):
    """Two estimators answer the two targets; one fitted to the best forecast it below the other's final for the same
    run. Each quantile of the best is floored by the same quantile of the final."""
    from dataclasses import replace as with_fields

    fitted_to_best = predictor.estimators["gbm_code@best"]

    class Pessimist:  # the estimator fitted to the best, answering 0.2 lower (as a badly fitted one can)
        def __getattr__(self, name):
            return getattr(fitted_to_best, name)

        def predict(self, views):
            e = fitted_to_best.predict(views)
            return with_fields(e, point=e.point - 0.2, lo=e.lo - 0.2, hi=e.hi - 0.2)

    predictor.estimators["gbm_code@best"] = Pessimist()
    final = predictor.predict(net(), HP, "cifar-10", [0.3], epochs=10, model="gbm_code")
    best = predictor.predict(net(), HP, "cifar-10", [0.3], epochs=10, model="gbm_code", target="best")
    assert best.target == "best" and best.model == final.model
    assert best.point >= final.point and best.lo >= final.lo and best.hi >= final.hi
    assert best.point == final.point  # the floor, not the pessimist's forecast


# ---- checks when a stopper or pruner is built --------------------------------------------------------

@pytest.mark.parametrize("bad, message", [({"dataset": "coco"}, "cannot predict coco"),
                                          ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
                                          ({"code": "x = ("}, "code does not parse as Python"),
                                          ({"hparams": {"lr": -1}}, "hparams.lr must be > 0"),
                                          ({"hparams": {"epochs": 2.5}}, "hparams.epochs must be a whole number")])
def test_a_stopper_and_a_pruner_check_their_inputs_when_built(predictor, bad, message):
    from predictor.lightning_callback import EpochStopper
    from predictor.optuna_pruner import predictor_pruner

    args = {"code": net(), "hparams": HP, "dataset": "cifar-10", **bad}
    with pytest.raises(ValueError, match=message):
        EpochStopper(predictor, args["code"], args["hparams"], args["dataset"], 10)
    with pytest.raises(ValueError, match=message):
        predictor_pruner(predictor, args["code"], args["dataset"], 10, hparams=args["hparams"])


def test_a_stopper_and_a_pruner_read_dataset_spellings(predictor):
    import optuna

    from predictor.lightning_callback import EpochStopper
    from predictor.optuna_pruner import predictor_pruner

    stopper = EpochStopper(predictor, net(), HP, "CIFAR-10", 10)
    assert stopper.dataset == "cifar-10" and stopper.update(0.3).predicted_final > 0
    pruner = predictor_pruner(predictor, net(), "cifar10", 10, hparams={"batch": 32})
    study = optuna.create_study(direction="maximize", pruner=pruner)
    trial = study.ask({"lr": optuna.distributions.FloatDistribution(0.01, 0.02)})
    assert len(pruner.predict(study.get_trials(deepcopy=False)[0], [0.3])) == 3 and trial.number == 0


# ---- the CLI: checks first, sandbox later; split files ---------------------------------------------------

def test_the_cli_checks_its_inputs_before_it_starts_a_sandbox(predictor, tmp_path, monkeypatch):
    """Code that does not parse or an unknown dataset is refused before any sandbox starts (it took 5-6 s); new code
    that parses is measured in one."""
    import sandbox.pool
    from nnrag.cli import app

    started = []
    real = sandbox.pool.CheckerPool
    monkeypatch.setattr(sandbox.pool, "CheckerPool", lambda *a, **kw: started.append(1) or real(*a, **kw))
    broken, model = tmp_path / "broken.py", tmp_path / "model.py"
    broken.write_text("x = (\n")
    model.write_text(net(4, 8))
    runner = CliRunner()
    for command in (["predict", str(broken)], ["report", str(broken), "--curve", "0.3"],
                    ["predict", str(model), "--dataset", "imagenet"], ["report", str(model), "--curve", "0.3", "--dataset", "imagenet"]):
        result = runner.invoke(app, [*command, "--dir", str(predictor.directory)])
        assert result.exit_code == 2, result.output
    assert started == []
    measured = runner.invoke(app, ["predict", str(model), "--dir", str(predictor.directory), "--epochs", "5"])
    assert measured.exit_code == 0 and started == [1], measured.output


def test_too_few_training_runs_are_refused_before_any_fit(tmp_path, monkeypatch):
    import predictor.train as train_module

    c = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    few = ["m0", "m1", "m2"]  # two runs each per dataset
    with pytest.raises(ValueError, match="too few training runs for cifar-10: 6; need at least 20"):
        train_module.evaluate_split(few, [f"m{i}" for i in range(200, 240)], ["gbm_stack"], datasets=("cifar-10",))
    with pytest.raises(ValueError, match="too few training runs for (cifar-10|mnist): 6; need at least 20"):
        train_module.train_predictor(tmp_path / "p", models=few)
    rows, _ = train_module.evaluate_split(few, [f"m{i}" for i in range(200, 240)], ["last_value"], datasets=("cifar-10",))
    assert rows  # estimators without LightGBM fit on a few runs


def test_split_files_with_py_names_or_no_test_models(tmp_path, monkeypatch):
    import predictor.train as train_module
    from nnrag.cli import app

    c = _synthetic_corpus()
    monkeypatch.setattr(train_module, "corpus", lambda cache_dir=None: c)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train_models": ["m0.py", "m1.py", "m2.py"], "test_models": []}))
    runner = CliRunner()
    evaluated = runner.invoke(app, ["eval-predictor", "--split-file", str(split), "--models", "last_value"])
    assert evaluated.exit_code == 2 and "test_models is empty: there is nothing to evaluate on" in evaluated.output, evaluated.output
    trained = runner.invoke(app, ["train-predictor", "--split-file", str(split), "--out", str(tmp_path / "p")])
    assert trained.exit_code == 2, trained.output
    assert "3 train_models end in '.py' (e.g. 'm0.py'): read without the suffix" in trained.output
    assert "too few training runs" in trained.output and "not in" not in trained.output


def test_a_run_dict_with_a_key_no_run_has_is_refused_with_the_nearest(predictor):
    """A misspelt ``max_epoch`` was dropped in process, and the run decided as planned for 5 epochs (the SDK refuses it)."""
    run = {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": [0.3] * 3}
    with pytest.raises(ValueError, match=r"run has unknown key\(s\) 'epoch' \(did you mean 'epochs'\?\)"):
        predictor.should_stop({**run, "epoch": 50}, [0.8])
    with pytest.raises(ValueError, match=r"incumbent\[1\]: run has unknown key\(s\) 'curv'"):
        predictor.should_stop(run, [{**run, "curve": [0.5] * 5, "epochs": 5}, {**run, "curv": [0.6]}])
    with pytest.raises(ValueError, match=r"earlier\[0\]: run has unknown key\(s\) 'hparam'"):
        predictor.should_stop(run, [0.8], earlier=[{**run, "hparam": HP}])
    with pytest.raises(ValueError, match=r"earlier\[0\]: run has unknown key\(s\) 'durations_s'"):
        predictor.should_stop(run, [0.8], earlier=[{"curve": [0.5] * 5, "durations_s": [1.0] * 5}])
    assert predictor.should_stop({**run, "epochs": 50, "durations": [1.0, 2.0, 3.0], "transform": None}, [0.8]).reason


def test_a_reformatted_lemur_file_keeps_its_audited_params_and_flops(predictor):
    """A LEMUR model with one comment added lost its audited params/FLOPs in a predictor without a sandbox: its k = 0
    forecast moved by up to 0.19 (VGG 0.736 -> 0.548). The same AST takes the same audit entry."""
    import ast
    import os
    from pathlib import Path

    from corpus.lemur import lemur_wheel, read_model

    wheel = lemur_wheel(Path(os.environ.get("NNRAG_HOME", Path.home() / ".cache" / "nnrag")) / "cache")
    code = read_model(wheel, "VGG")
    variants = ["# my copy\n" + code, ast.unparse(ast.parse(code)), code.replace("    ", "  ")]
    assert predictor.pool is None and predictor.knows_dynamic(code)
    audited = {k: v for k, v in predictor.code_features(code).items() if k.startswith("dyn_")}
    assert audited and not any(math.isnan(v) for v in audited.values())
    for variant in variants:
        assert ast.dump(ast.parse(variant)) == ast.dump(ast.parse(code))
        assert {k: v for k, v in predictor.code_features(variant).items() if k.startswith("dyn_")} == audited
