"""Hyperparameters the predictor would misread are refused, naming the key, the value and what is allowed: two names
the predictor reads as one feature (batch / batch_size, epochs / epoch, their aliases) with different values, and
values out of their range (a dropout of 50, a momentum of 90, a negative weight decay, a learning rate of 1e308).

In process (``check_hparams``, ``Predictor``) and over gRPC (a real server on loopback: INVALID_ARGUMENT).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from predictor.api import MAX_LR, Predictor, check_hparams
from test_predictor_serving import _estimators  # a real last-value estimator fit on synthetic runs

CODE = "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n"

CONFLICTS = [
    ({"batch": 64, "batch_size": 128}, "batch", "batch_size"),
    ({"batch_size": 32, "batch": 64.0}, "batch_size", "batch"),
    ({"epochs": 10, "epoch": 5}, "epochs", "epoch"),
    ({"num_epochs": 20, "epoch": 5}, "num_epochs", "epoch"),  # an alias of epochs against epoch
    ({"Batch-Size": 16, "BATCH": 8}, "Batch-Size", "BATCH"),  # spelled as studies spell them
]

OUT_OF_RANGE = [
    ("dropout", 50, "[0, 1)"),
    ("dropout", 1.5, "[0, 1)"),
    ("dropout", 1, "[0, 1)"),
    ("dropout", -0.1, "[0, 1)"),
    ("momentum", 90, "[0, 1]"),
    ("momentum", -1, "[0, 1]"),
    ("weight_decay", -1, ">= 0"),
    ("attention_dropout", 10, "[0, 1)"),
    ("norm_momentum", 1.1, "[0, 1]"),
    ("lr", 1e308, f"(0, {MAX_LR:g}]"),
    ("lr", 0, "> 0"),
    ("lr", -0.01, "> 0"),
]

IN_RANGE = [{"dropout": 0}, {"dropout": 0.5}, {"dropout": 0.99}, {"momentum": 0}, {"momentum": 0.9}, {"momentum": 1},
            {"weight_decay": 0}, {"weight_decay": 5e-4}, {"lr": 1e-6}, {"lr": MAX_LR}, {"batch": 64, "batch_size": 64},
            {"batch": 64, "batch_size": 64.0}, {"epochs": 10, "epoch": 10}, {"num_epochs": 10, "epochs": 10.0}]


@pytest.mark.parametrize("hparams,first,second", CONFLICTS)
def test_two_names_of_one_hyperparameter_with_different_values_are_refused(hparams, first, second):
    with pytest.raises(ValueError) as caught:
        check_hparams(hparams)
    message = str(caught.value)
    assert repr(first) in message and repr(second) in message, message
    assert str(hparams[first]) in message and str(hparams[second]) in message, message


@pytest.mark.parametrize("name,value,allowed", OUT_OF_RANGE)
def test_out_of_range_hyperparameters_are_refused_naming_key_value_and_range(name, value, allowed):
    with pytest.raises(ValueError) as caught:
        check_hparams({name: value})
    message = str(caught.value)
    assert f"hparams.{name}" in message and repr(value) in message and allowed in message, message


def test_an_alias_out_of_range_is_refused_under_the_name_it_stands_for():
    with pytest.raises(ValueError, match=re.escape("hparams.dropout must be in [0, 1)") + ".*got 5"):
        check_hparams({"drop_rate": 5})
    with pytest.raises(ValueError, match=r"lr .*got 1e\+308"):
        check_hparams({"learning_rate": 1e308})


@pytest.mark.parametrize("hparams", IN_RANGE)
def test_hyperparameters_in_range_and_equal_duplicates_pass(hparams):
    check_hparams(hparams)


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory) -> Path:
    from predictor.train import save_predictor

    path = tmp_path_factory.mktemp("predictor")
    save_predictor(path, _estimators(), {"trained_at": 1.0, "default": "last_value", "n_reported": 0})
    return path


def test_the_predictor_refuses_them_in_process(predictor_dir):
    p = Predictor.load(predictor_dir)
    with pytest.raises(ValueError, match=r"'batch'.*'batch_size'"):
        p.predict(CODE, {"batch": 64, "batch_size": 128}, "cifar-10", [0.3])
    with pytest.raises(ValueError, match=re.escape("hparams.dropout must be in [0, 1)")):
        p.predict(CODE, {"dropout": 50}, "cifar-10", [0.3])
    with pytest.raises(ValueError, match=re.escape("hparams.momentum")):
        p.should_stop({"code": CODE, "hparams": {"momentum": 90}, "dataset": "cifar-10", "curve": [0.3]}, [0.9], budget=5)
    with pytest.raises(ValueError, match=re.escape("reported run: hparams.weight_decay")):
        p.report({"code": CODE, "hparams": {"weight_decay": -1}, "dataset": "cifar-10", "accuracy": [0.3, 0.4]})
    assert 0 <= p.predict(CODE, {"batch": 64, "batch_size": 64, "dropout": 0.5, "momentum": 0.9}, "cifar-10", [0.3]).point <= 1


@pytest.fixture(scope="module")
def served(predictor_dir, tmp_path_factory) -> Iterator:
    from nnrag.settings import Settings
    from rag_server.backend import Backend
    from rag_server.client import Client
    from rag_server.server import build_server

    settings = Settings(store_dir=tmp_path_factory.mktemp("no-store") / "store", address="127.0.0.1:0", predictor_dir=predictor_dir)
    running = build_server(settings, Backend.open(settings, with_pool=False))
    try:
        with Client(running.address) as client:
            yield client
    finally:
        running.stop(grace=0)


def test_grpc_answers_invalid_argument_naming_the_keys(served):
    from rag_server.client import InvalidArgument

    run = {"code": CODE, "dataset": "cifar-10", "curve": [0.3, 0.4]}
    with pytest.raises(InvalidArgument, match=r"'epochs'.*'epoch'"):
        served.predict(CODE, {"epochs": 10, "epoch": 5}, "cifar-10", [0.3])
    with pytest.raises(InvalidArgument, match=re.escape(f"lr must be in (0, {MAX_LR:g}], got 1e+308")):
        served.predict(CODE, {"lr": 1e308}, "cifar-10", [0.3])
    with pytest.raises(InvalidArgument, match=re.escape("dropout must be in [0, 1), got 1.5")):
        served.should_stop({**run, "hparams": {"dropout": 1.5}}, finished_accuracies=[0.9], max_epochs=5)
    with pytest.raises(InvalidArgument, match=r"'batch'.*'batch_size'"):
        served.report_result({**run, "hparams": {"batch": 64, "batch_size": 32}}, 0.4)
    assert served.predict(CODE, {"epochs": 10, "epoch": 10, "momentum": 1}, "cifar-10", [0.3]).epochs == 10


# ------------------------------------------------------------------ the Optuna pruner's horizon


def _study_reporting(steps: range, planned: int):
    import optuna

    from predictor.optuna_pruner import PredictorPruner

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    asked = []

    def predict(trial, curve):
        asked.append(len(curve))
        return 0.5, 0.4, 0.6

    study = optuna.create_study(direction="maximize", pruner=PredictorPruner(predict, planned_epochs=planned))

    def objective(trial):
        for i, step in enumerate(steps):
            trial.report(0.1 + 0.05 * i, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return 0.5

    return study, objective, asked


@pytest.mark.parametrize("first", [0, 1])
def test_the_pruner_refuses_a_report_past_its_planned_epochs(first):
    """A trial that reported more epochs than planned_epochs was forecast to its own length instead (another target
    than the study's finals): now a ValueError naming the step and the planned epochs."""
    study, objective, _ = _study_reporting(range(first, first + 5), planned=3)
    with pytest.raises(ValueError, match=rf"trial 0 reported step {first + 3}\b.*planned_epochs is 3"):
        study.optimize(objective, n_trials=1)


@pytest.mark.parametrize("first", [0, 1])
def test_the_pruner_takes_every_planned_epoch(first):
    study, objective, _ = _study_reporting(range(first, first + 3), planned=3)
    study.optimize(objective, n_trials=4)
    assert len(study.trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials)
