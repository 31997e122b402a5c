"""The predictor in a training loop: plans given as hyperparameters, the Optuna pruner's checks, the Lightning
callback's epochs and metrics, incumbents as arrays and tensors, and saves a killed process leaves behind.

A real (tiny) predictor trained once per module, real Optuna studies, real Lightning trainers, real SQLite stores.
"""

from __future__ import annotations

import shutil

import pytest

from test_integrations import _data, _module, _trainer
from test_predictor import _synthetic_corpus, net, tiny_predictor_dir  # noqa: F401  (the fixture: a tiny predictor)

HP = {"lr": 0.01, "batch": 32}


@pytest.fixture
def predictor(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A Predictor of its own (its reports stay out of the shared one)."""
    from predictor.api import Predictor

    shutil.copytree(tiny_predictor_dir, tmp_path / "p")
    return Predictor.load(tmp_path / "p")


# ---- 1. a plan given as hyperparameter epochs -------------------------------------------------------

def test_an_earlier_run_keeps_its_own_hparams_plan(predictor):
    """An earlier run planned in its hyperparameters (6 epochs, all trained) is a finished run, even when the current
    run plans 50: its plan was replaced by the current run's, and it read as a run stopped at epoch 6 of 50."""
    earlier = [{"code": net(), "hparams": {**HP, "epochs": 6}, "dataset": "cifar-10", "curve": [0.2] * 6},
               {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": [0.2] * 6},
               {"code": net(), "hparams": {**HP, "epochs": 6}, "dataset": "cifar-10", "curve": [0.2] * 6, "epochs": 9}]
    _, views = predictor._earlier(earlier, 50)
    assert [v.epochs for v in views] == [6, 50, 9]


# ---- 2, 8. the pruner checks every trial's inputs and reports at once --------------------------------

def _first_trial_error(predictor, objective, code=None) -> str:
    """The error the pruner raises in a fresh study's first trial (no trial completed yet: nothing is predicted)."""
    import optuna

    from predictor.optuna_pruner import predictor_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", pruner=predictor_pruner(predictor, code or net(), "cifar-10", 6))
    with pytest.raises(ValueError) as info:
        study.optimize(objective, n_trials=1)
    assert len(study.trials) == 1, "refused in the first trial, not after min_finished trials completed"
    return str(info.value)


def _reporting(values, steps=None, **params):
    """An objective that suggests ``params`` (name -> the one choice) and reports ``values`` at ``steps``."""
    import optuna

    def objective(trial):
        for name, choice in params.items():
            trial.suggest_categorical(name, [choice])
        for value, step in zip(values, steps or range(len(values))):
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return values[-1]

    return objective


def test_a_percentage_report_fails_in_the_first_trial_naming_trial_and_step(predictor):
    message = _first_trial_error(predictor, _reporting([0.1, 25.0]))
    assert "trial 0's report at step 1" in message and "divide it by 100" in message, message
    assert "trial 0's report at step 0" in _first_trial_error(predictor, _reporting([2.3, 1.9]))  # a loss


def test_invalid_trial_params_fail_in_the_first_trial(predictor):
    message = _first_trial_error(predictor, _reporting([0.1, 0.2], dropout=None))
    assert message.startswith("trial 0, step 0:") and "dropout" in message, message


def test_code_that_does_not_parse_fails_in_the_first_trial(predictor):
    message = _first_trial_error(predictor, _reporting([0.1, 0.2]), code=lambda trial: "def broken(:\n")
    assert message.startswith("trial 0, step 0:") and "does not parse" in message, message


def test_reports_at_every_other_step_are_refused_not_read_as_consecutive_epochs(predictor):
    message = _first_trial_error(predictor, _reporting([0.1, 0.2, 0.3], steps=[0, 2, 4]))
    assert "trial 0 reported at steps 0, 2" in message, message
    assert "trial 0 reported at steps 2:" in _first_trial_error(predictor, _reporting([0.1], steps=[2]))


def test_reports_from_step_0_or_1_are_epochs(predictor):
    import optuna

    from predictor.optuna_pruner import predictor_pruner

    for first in (0, 1):
        study = optuna.create_study(direction="maximize", pruner=predictor_pruner(predictor, net(), "cifar-10", 6))
        study.optimize(_reporting([0.1, 0.2, 0.3], steps=range(first, first + 3)), n_trials=4)
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)


# ---- 3, 4. the Lightning callback ----------------------------------------------------------------

def test_a_monitor_not_logged_this_epoch_is_no_stale_reading(predictor):
    """callback_metrics keeps epoch 1's val_acc when epoch 2's validation does not log it; it was read as epoch 2's."""
    from predictor.lightning_callback import predictor_callback

    callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=4, report=False)
    with pytest.raises(ValueError, match="'val_acc' was not logged by validation in epoch 2; logged: other .*earlier epoch"):
        _trainer([callback], max_epochs=4).fit(_module(log_epochs=range(1), extra=("other",)), _data(), _data())
    assert callback.stopper.curve == [pytest.approx(0.2)]
    logged = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=3, report=False)
    _trainer([logged], max_epochs=3).fit(_module(), _data(), _data())
    assert logged.stopper.curve == [pytest.approx(0.2 + 0.05 * e) for e in range(3)]


def test_a_trainer_planned_past_the_callbacks_epochs_is_refused_before_training(predictor):
    from predictor.lightning_callback import predictor_callback

    callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=3)
    with pytest.raises(ValueError, match=r"Trainer\(max_epochs=4\) trains more epochs than the callback's epochs=3"):
        _trainer([callback], max_epochs=4).fit(_module(), _data(), _data())
    assert callback.stopper.curve == [] and predictor.reports.all() == []
    endless = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=3)
    with pytest.raises(ValueError, match=r"Trainer\(max_epochs=-1\) trains without an end: .*give the Trainer max_epochs=3"):
        _trainer([endless], max_epochs=-1).fit(_module(), _data(), _data())
    assert endless.stopper.curve == [] and predictor.reports.all() == []


def test_a_value_past_the_stoppers_epochs_leaves_the_run_as_planned(predictor):
    """update() appended the 4th value before refusing it, and finish() stored a finished run planned for 4 epochs."""
    from predictor.lightning_callback import EpochStopper

    stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3)
    for value in (0.2, 0.3, 0.35):
        stopper.update(value)
    with pytest.raises(ValueError, match="epoch 4 is past the run's planned epochs=3"):
        stopper.update(0.4)
    assert stopper.curve == [0.2, 0.3, 0.35]
    stopper.finish()
    [run] = predictor.reports.all()
    assert (run.accuracy, run.epochs_planned) == ([0.2, 0.3, 0.35], 3)


def test_a_refused_value_leaves_the_stoppers_curve_as_it_was(predictor):
    """update(45) raised but kept 45 in the curve, so every later update and finish() failed on it."""
    from predictor.lightning_callback import EpochStopper

    stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3)
    stopper.update(0.3)
    with pytest.raises(ValueError, match="divide them by 100"):
        stopper.update(45)
    assert stopper.curve == [0.3]
    stopper.update(0.45)
    stopper.update(0.5)
    stopper.finish()
    [run] = predictor.reports.all()
    assert (run.accuracy, run.finished) == ([0.3, 0.45, 0.5], True)


def test_a_bad_earlier_run_is_refused_when_the_stopper_is_built(predictor):
    """Every other argument was checked before training; an earlier curve in percent failed only at the first update."""
    from predictor.lightning_callback import EpochStopper

    for earlier, field in (([[0.5, 90]], r"earlier\[0\]"), ([{"code": net(), "dataset": "cifar-10", "curve": [50.0]}], r"earlier\[0\]"),
                           ([[0.5, float("nan")]], r"earlier\[0\]")):
        with pytest.raises(ValueError, match=field):
            EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3, earlier=earlier)
    assert EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3, earlier=[[0.5, 0.6, 0.7]]).earlier == [[0.5, 0.6, 0.7]]


def test_finished_curves_as_the_incumbent_decide_from_the_first_epoch(predictor):
    """At epoch 1 the two-epochs-in-a-row window reaches epoch 0, where comparing with the top runs' curves took max()
    of an empty prefix: ShouldStop with finished runs given as curves or run dicts failed at every run's first epoch."""
    from predictor.lightning_callback import EpochStopper

    curves = [[0.3, 0.5, 0.6, 0.9], [0.3, 0.5, 0.6, 0.91], [0.3, 0.5, 0.6, 0.92]]
    runs = [{"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": c} for c in curves]
    for incumbent in (curves, runs):
        stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=4, incumbent=incumbent)
        first = stopper.update(0.05)
        assert not first.stop, "one epoch cannot stop a run that needs two in a row"
        assert first.incumbent == pytest.approx(0.9)
        assert first.p_beat_incumbent < predictor.policy.p_min_at(1, 4), "0.05 after one epoch cannot reach 0.9"
        assert "but not at epoch 0 (before training): kept" in first.reason, first.reason
        assert stopper.update(0.05).stop


def test_code_over_the_sandbox_limit_is_refused_in_process_as_over_the_wire(predictor):
    """Every call over the wire refused code over 2 MiB; in process it was predicted and stored."""
    from predictor.api import ReportedRun
    from sandbox.pool import MAX_CODE_BYTES

    big = net() + "#" * MAX_CODE_BYTES + "\n"
    with pytest.raises(ValueError, match=f"^code: .* bytes \\(UTF-8\\), at most {MAX_CODE_BYTES:,}"):
        predictor.predict(big, HP, "cifar-10")
    with pytest.raises(ValueError, match="^reported run: code: .* at most"):
        predictor.report(ReportedRun(code=big, hparams=HP, dataset="cifar-10", accuracy=[0.3]))
    with pytest.raises(ValueError, match="lone surrogate"):
        predictor.predict(net() + "# \udcff\n", HP, "cifar-10")
    assert predictor.reports.all() == []
    assert predictor.predict(net() + "#" * 1000 + "\n", HP, "cifar-10").point > 0


# ---- 6. incumbents and earlier runs as arrays and tensors ----------------------------------------

def test_array_and_tensor_incumbents_and_earlier_runs_read_as_lists(predictor):
    """A 1-d array or tensor of finals and a 2-d one of curves decide as the same lists do; they crashed ("the truth
    value of an array is ambiguous", "a mix" of kinds)."""
    import numpy as np
    import torch

    from predictor.lightning_callback import EpochStopper

    run = {"code": net(), "hparams": HP, "dataset": "cifar-10", "curve": [0.2, 0.25, 0.27]}
    finals, curves = [0.7, 0.72, 0.74], [[0.3, 0.5, 0.6, 0.7], [0.3, 0.5, 0.6, 0.72], [0.3, 0.5, 0.6, 0.74]]
    for incumbent in (finals, curves):
        expected = predictor.should_stop(run, incumbent, budget=8, earlier=curves)
        for as_array in (np.array, torch.tensor):
            got = predictor.should_stop(run, as_array(incumbent), budget=8, earlier=as_array(curves))
            assert (got.stop, got.p_beat_incumbent) == (expected.stop, pytest.approx(expected.p_beat_incumbent, abs=1e-6))
    assert EpochStopper(predictor, net(), HP, "cifar-10", epochs=8, incumbent=torch.tensor(finals)).incumbent == pytest.approx(finals)
    with pytest.raises(ValueError, match=r"incumbent\[1\] must be an accuracy in \[0, 1\], got 72.0"):
        predictor.should_stop(run, np.array([70.0, 72.0]) / np.array([100.0, 1.0]), budget=8)


# ---- 7. a save killed half way ---------------------------------------------------------------------

KILLED_SAVE = """
import os, signal, sys
from pathlib import Path
from predictor.train import load_estimators, save_predictor
directory = Path(sys.argv[1])
estimators, meta = load_estimators(directory)
rename = Path.replace
def killed_at_the_last_step(self, target):
    if Path(target).name == "estimators.pkl" and self.name.endswith(".pending"):
        os.kill(os.getpid(), signal.SIGKILL)  # as train-predictor killed right after meta.json changed
    return rename(self, target)
Path.replace = killed_at_the_last_step
save_predictor(directory, estimators, {**meta, "note": "the new save"})
"""


def test_a_save_killed_after_its_meta_loads_as_that_save(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A train-predictor killed between meta.json and estimators.pkl left a directory that failed every load with
    "a save is in progress", for good; the estimators meta.json names are now on disk before it names them."""
    import subprocess
    import sys

    from predictor.api import Predictor

    directory = tmp_path / "p"
    shutil.copytree(tiny_predictor_dir, directory)
    done = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(directory)], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    loaded = Predictor.load(directory)
    assert loaded.meta["note"] == "the new save"
    assert loaded.predict(net(), HP, "cifar-10", [0.3], epochs=5).point > 0


def test_the_cli_says_in_one_line_that_a_directory_is_mid_save(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A meta.json that names other estimators (a save running, or an old version's killed one) printed a traceback."""
    import json

    from typer.testing import CliRunner

    from nnrag.cli import app

    directory = tmp_path / "p"
    shutil.copytree(tiny_predictor_dir, directory)
    meta = json.loads((directory / "meta.json").read_text())
    (directory / "meta.json").write_text(json.dumps({**meta, "estimators_sha256": "0" * 64}))
    model = tmp_path / "model.py"
    model.write_text(net())
    for command in (["predict", str(model), "--epochs", "5"], ["report", str(model), "--curve", "0.3,0.4", "--epochs", "2"]):
        result = CliRunner().invoke(app, [*command, "--dir", str(directory)])
        assert result.exit_code == 2 and "a save is in progress" in result.output, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


# ---- 10. measuring new code in process ----------------------------------------------------------

def test_a_stopper_given_a_pool_measures_new_code_as_the_server_does(predictor):
    """Without a pool the in-process predictor never measured new code's params/FLOPs (the SDK and CLI did)."""
    from predictor.lightning_callback import EpochStopper
    from sandbox.pool import CheckerPool

    code = net(8, 24)
    EpochStopper(predictor, code, HP, "cifar-10", epochs=4).update(0.3)
    assert not predictor.knows_dynamic(code), "no pool: nothing measured"
    with CheckerPool(size=1, preload=("torch",)) as pool:
        EpochStopper(predictor, code, HP, "cifar-10", epochs=4, pool=pool).update(0.3)
        assert predictor.pool is pool
    assert predictor.knows_dynamic(code) and "dyn_ok" in predictor.code_features(code), "measured (a verdict kept)"


# ---- 8. a predictor directory or store this user cannot write --------------------------------------

def test_a_report_into_a_read_only_store_is_one_error_naming_it(predictor, tmp_path, monkeypatch):
    """`nnrag report` into a read-only predictor directory ended in sqlite's traceback ("attempt to write a readonly
    database"). The store is opened read-only here, as a read-only mount or another user's directory opens it."""
    import sqlite3

    from typer.testing import CliRunner

    from nnrag.cli import app
    from predictor.api import ReportedRun, ReportStore, ReportsUnavailable

    path = predictor.reports.path
    monkeypatch.setattr(ReportStore, "_connect", lambda self: sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    with pytest.raises(ReportsUnavailable, match=f"report store {path} cannot be written"):
        predictor.report(ReportedRun(code=net(), hparams=HP, dataset="cifar-10", accuracy=[0.3]))
    model = tmp_path / "net.py"
    model.write_text(net())
    cli = CliRunner().invoke(app, ["report", str(model), "--curve", "0.3", "--dir", str(path.parent)])
    assert cli.exit_code == 2 and "cannot be written" in cli.output and "Traceback" not in cli.output, cli.output

