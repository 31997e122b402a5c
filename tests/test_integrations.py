"""The predictor's integrations with a real Predictor: the Optuna pruner, the Lightning callback (in real Trainers, with
real checkpoints) and the EpochStopper behind it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from test_predictor import net, tiny_predictor_dir  # noqa: F401  (the fixture: a tiny predictor trained once per module)

HP = {"lr": 0.01, "batch": 32}


@pytest.fixture
def predictor(tiny_predictor_dir, tmp_path):  # noqa: F811
    """A Predictor of its own: the runs reported here stay out of the shared one."""
    from predictor.api import Predictor

    shutil.copytree(tiny_predictor_dir, tmp_path / "p")
    return Predictor.load(tmp_path / "p")


def _stored(predictor) -> list[tuple[list[float], int | None, bool]]:
    return [(r.accuracy, r.epochs_planned, r.finished) for r in predictor.reports.all()]


# ---- Optuna pruner ----------------------------------------------------------------------------

def _study_results(study, curves: list[list[float]]) -> list[str | int]:
    """Run ``curves`` as trials, one report per epoch; each trial's epochs trained ("full" when not pruned)."""
    import optuna

    results: list[str | int] = []

    def objective(trial):
        trial.suggest_float("lr", 0.01, 0.01)
        curve = curves[trial.number]
        for epoch, value in enumerate(curve):
            trial.report(value, epoch)
            if trial.should_prune():
                results.append(epoch + 1)
                raise optuna.TrialPruned()
        results.append("full")
        return curve[-1]

    study.optimize(objective, n_trials=len(curves))
    return results


def _curves(top: float, n: int, seed: int, epochs: int = 10) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    return [[float((top + rng.uniform(-0.05, 0.05)) * (1 - 0.6 ** (e + 1))) for e in range(epochs)] for _ in range(n)]


def test_a_pruner_reused_for_a_second_study_decides_as_a_fresh_one(predictor):
    """The pruner kept its predictions of ended trials by trial id; a second in-memory study numbers its trials from 0
    again, so a reused pruner read the first study's trials as the second's siblings and pruned its good trials."""
    import optuna

    from predictor.optuna_pruner import predictor_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    code = net(8, 16)
    good, mediocre = _curves(0.9, 6, 0), _curves(0.5, 6, 1) + _curves(0.55, 1, 2)
    shared = predictor_pruner(predictor, code, "cifar-10", planned_epochs=10)
    _study_results(optuna.create_study(direction="maximize", pruner=shared), good)
    reused = _study_results(optuna.create_study(direction="maximize", pruner=shared), mediocre)
    fresh = _study_results(optuna.create_study(direction="maximize", pruner=predictor_pruner(predictor, code, "cifar-10", planned_epochs=10)),
                           mediocre)
    assert reused == fresh


def test_the_rung_rule_ranking_by_predictions_prunes_in_a_study(predictor):
    """The rung rule's "best_or_predicted" ranking asks the kept predictions of the study's ended trials (it once called
    them with another signature)."""
    from dataclasses import replace

    import optuna

    from predictor.early_stop import RUNGS_POLICY, StopPolicy
    from predictor.optuna_pruner import predictor_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    policy = replace(StopPolicy(**RUNGS_POLICY), rank_by="best_or_predicted")
    pruner = predictor_pruner(predictor, net(8, 16), "cifar-10", planned_epochs=10, policy=policy)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    results = _study_results(study, _curves(0.9, 5, 0) + _curves(0.2, 6, 1))
    assert len(results) == 11 and results[:5] == ["full"] * 5
    assert pruner._study_points(study), "the ended trials' predictions at each rung were asked and kept"


@pytest.mark.parametrize("planned", [0, None, 2.5, "many", -3])
def test_the_pruners_planned_epochs_are_checked_when_it_is_built(predictor, planned):
    """planned_epochs=0 never pruned, and None failed only at the study's fourth trial (the first that predicts)."""
    from predictor.optuna_pruner import PredictorPruner, predictor_pruner

    with pytest.raises(ValueError, match="planned_epochs must be"):
        predictor_pruner(predictor, net(8, 16), "cifar-10", planned_epochs=planned)
    with pytest.raises(ValueError, match="planned_epochs must be"):
        PredictorPruner(lambda trial, curve: (0.5, 0.4, 0.6), planned_epochs=planned)


def test_pickling_the_pruner_says_to_build_one_per_process(predictor):
    """It failed with "Can't pickle local object 'predictor_pruner.<locals>.predict'", naming no way out."""
    import pickle

    from predictor.optuna_pruner import predictor_pruner

    pruner = predictor_pruner(predictor, net(8, 16), "cifar-10", planned_epochs=5)
    with pytest.raises(TypeError, match="cannot be pickled .* build one per process with predictor_pruner"):
        pickle.dumps(pruner)


def test_code_none_is_refused_when_the_stopper_callback_or_pruner_is_built(predictor):
    """predictor_pruner(P, None, ...) and EpochStopper(P, None, ...) were built, and failed only at the study's fourth
    trial / after the first epoch; a code function returning None fails at the trial's first report, naming it."""
    import optuna

    from predictor.lightning_callback import EpochStopper, predictor_callback
    from predictor.optuna_pruner import predictor_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with pytest.raises(ValueError, match=re.escape("code (or a function of the trial returning it) must be the model's source text (a string), got NoneType")):
        predictor_pruner(predictor, None, "cifar-10", planned_epochs=3)
    for build in (lambda: EpochStopper(predictor, None, HP, "cifar-10", epochs=3),
                  lambda: predictor_callback(predictor, None, HP, "cifar-10", epochs=3)):
        with pytest.raises(ValueError, match=re.escape("code must be the model's source text (a string), got NoneType")):
            build()
    pruner = predictor_pruner(predictor, lambda trial: None, "cifar-10", planned_epochs=3)
    with pytest.raises(ValueError, match=re.escape("trial 0, step 0: the code the code function returned must be the model's source")):
        _study_results(optuna.create_study(direction="maximize", pruner=pruner), [[0.3, 0.4, 0.5]])


def test_a_value_above_one_is_called_a_possible_loss_and_a_percentage_only_up_to_100(predictor):
    """2.302 or 3.09, typical losses (a monitor on val_loss), were called "a percentage, divide it by 100"."""
    import optuna

    from predictor.lightning_callback import EpochStopper
    from predictor.optuna_pruner import predictor_pruner

    loss = "a loss (the predictor forecasts accuracy in [0, 1]: monitor an accuracy metric)"
    losses = "losses (the predictor forecasts accuracy in [0, 1]: monitor an accuracy metric)"
    stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3)
    with pytest.raises(ValueError, match=re.escape(f"got 2.302: they look like percentages (divide them by 100) or {losses}")):
        stopper.update(2.302)
    with pytest.raises(ValueError) as info:
        stopper.update(250.0)
    assert info.value.args[0].endswith(f"got 250.0: they may be {losses}") and "divide" not in info.value.args[0]
    with pytest.raises(ValueError, match=re.escape(f"incumbent must be an accuracy in [0, 1], got 250.0: it may be {loss}")):
        EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=3, incumbent=250.0)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    pruner = predictor_pruner(predictor, net(8, 16), "cifar-10", planned_epochs=3)
    with pytest.raises(ValueError, match=re.escape(f"trial 0's report at step 0 must be an accuracy in [0, 1], got 3.09: it looks like a percentage (divide it by 100) or {loss}")):
        _study_results(optuna.create_study(direction="maximize", pruner=pruner), [[3.09]])


# ---- Predictor.should_stop and report ---------------------------------------------------------

def test_a_budget_of_zero_is_refused_not_read_as_no_budget(predictor):
    run = {"code": net(8, 16), "hparams": HP, "dataset": "cifar-10", "curve": [0.1, 0.12, 0.13]}
    for budget, message in ((0, "budget must be >= 1, got 0"), (-3, "budget must be >= 1"), (2.5, "budget must be a whole number")):
        with pytest.raises(ValueError, match=re.escape(message)):
            predictor.should_stop(run, [0.9] * 10, budget=budget)
        with pytest.raises(ValueError, match=re.escape(message)):
            predictor.should_stop({**run, "epochs": 50}, [0.9] * 10, budget=budget)
    default = predictor.should_stop({**run, "epochs": 50}, [0.9] * 10)
    assert default == predictor.should_stop(run, [0.9] * 10, budget=50), "no budget: the run's own epochs"


def test_report_stores_numpy_and_torch_hyperparameters_and_none(predictor):
    """np.float32 hyperparameters (a numpy grid) and None failed storing the report, after the whole training."""
    from predictor.api import ReportedRun

    code = net(8, 16)
    first = predictor.report(ReportedRun(code=code, hparams={"lr": np.float32(0.5), "batch": np.int64(8), "wd": torch.tensor(0.25),
                                                             "betas": (np.float64(0.9), 0.99)}, dataset="cifar-10", accuracy=[0.3, 0.4]))
    second = predictor.report({"code": code, "hparams": None, "dataset": "cifar-10", "accuracy": [0.3, 0.5]})
    assert first != second
    stored = [r.hparams for r in predictor.reports.all()]
    assert stored == [{"lr": 0.5, "batch": 8, "wd": 0.25, "betas": [0.9, 0.99]}, {}]
    assert [type(v) for v in stored[0].values()] == [float, int, float, list]
    with pytest.raises(ValueError, match="reported run: hparams.opt must be a number"):
        predictor.report(ReportedRun(code=code, hparams={"opt": object()}, dataset="cifar-10", accuracy=[0.3]))
    with pytest.raises(ValueError, match="reported run: hparams must be a JSON object"):
        predictor.report(ReportedRun(code=code, hparams=[("lr", 0.1)], dataset="cifar-10", accuracy=[0.3]))


def test_a_partial_report_does_not_replace_a_finished_run_of_its_run_id(predictor):
    """A late retry of an earlier partial report (same run_id) silently replaced the finished run: the final was lost
    and the correction it gave its code disappeared. A finished report still replaces a partial one (a resumed fit)."""
    from predictor.api import ReportedRun

    code = net(8, 16)
    run = ReportedRun(code=code, hparams=HP, dataset="cifar-10", accuracy=[0.3, 0.4, 0.5, 0.6], epochs_planned=4, run_id="RX")
    partial = replace_run(run, accuracy=[0.3, 0.4], finished=False)
    first = predictor.report(partial)
    assert predictor.report(run) == first, "finished after partial: replaced in place"
    with pytest.raises(ValueError, match=re.escape("run_id 'RX' is stored as a finished run of 4 epochs; a partial")):
        predictor.report(partial)
    assert _stored(predictor) == [([0.3, 0.4, 0.5, 0.6], 4, True)], "the finished run is kept"


def replace_run(run, **changes):
    from dataclasses import replace

    return replace(run, **changes)


# ---- EpochStopper ------------------------------------------------------------------------------

def test_the_stoppers_arguments_are_checked_before_any_epoch(predictor):
    """epochs=None was predicted as 5 epochs and then failed the report; 0 was read as 5; hyperparameters that cannot be
    stored failed only in the report at the end."""
    from predictor.lightning_callback import EpochStopper, predictor_callback

    code = net(8, 16)
    for epochs, message in ((None, "epochs must be a whole number of epochs, got None"), (0, "epochs must be >= 1, got 0"),
                            (2.5, "epochs must be a whole number")):
        with pytest.raises(ValueError, match=re.escape(message)):
            EpochStopper(predictor, code, HP, "cifar-10", epochs=epochs)
        with pytest.raises(ValueError, match=re.escape(message)):
            predictor_callback(predictor, code, HP, "cifar-10", epochs=epochs)
    with pytest.raises(ValueError, match=re.escape("hparams.opt must be a number, string, bool, None, list or object, got object")):
        EpochStopper(predictor, code, {"opt": object()}, "cifar-10", epochs=3)
    with pytest.raises(ValueError, match="hparams must be a JSON object"):
        EpochStopper(predictor, code, "lr=0.1", "cifar-10", epochs=3)
    with pytest.raises(ValueError, match="study_runs needs earlier"):
        EpochStopper(predictor, code, HP, "cifar-10", epochs=3, study_runs=100)
    for bad in (0, 2.5, "100"):
        with pytest.raises(ValueError, match="study_runs must be the study's planned number of runs"):
            predictor_callback(predictor, code, HP, "cifar-10", epochs=3, earlier=[], study_runs=bad)


def test_a_stopper_in_a_young_study_of_known_size_clears_a_higher_bar(predictor, monkeypatch):
    from predictor.early_stop import STUDY_SIZE_POLICY, StopPolicy
    from predictor.lightning_callback import EpochStopper

    monkeypatch.setattr(predictor, "policy", StopPolicy(**STUDY_SIZE_POLICY))  # the option that reads the study's size

    finals = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9]
    earlier = [[0.2, f] for f in finals]
    plain = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=2, incumbent=finals, earlier=earlier).update(0.4)
    young = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=2, incumbent=finals, earlier=earlier, study_runs=500).update(0.4)
    assert plain.incumbent == 0.3 and young.incumbent > 0.3, (plain, young)


def test_the_python_api_refuses_a_stopped_run_that_covers_its_plan_and_a_final_without_epochs(predictor):
    """ReportResult and nnrag report refused both; Predictor.report stored the first as a partial run, which retraining
    skips, and the second as a one-epoch run."""
    from predictor.api import ReportedRun

    run = dict(code=net(8, 16), dataset="cifar-10", accuracy=[0.3, 0.4, 0.5], finished=False)
    with pytest.raises(ValueError, match=re.escape("its 3 epochs cover all 3 planned (epochs_planned): report it finished")):
        predictor.report(ReportedRun(hparams=HP, epochs_planned=3, **run))
    with pytest.raises(ValueError, match=re.escape("cover all 3 planned (hparams.epochs)")):
        predictor.report(ReportedRun(hparams={**HP, "epochs": 3}, **run))
    assert predictor.reports.count() == 0
    predictor.report(ReportedRun(hparams=HP, epochs_planned=4, **run))  # stopped before its planned 4: fine
    predictor.report(ReportedRun(hparams=HP, **run))  # no plan given: a partial run
    assert [r.finished for r in predictor.reports.all()] == [False, False]
    final_alone = dict(code=net(8, 16), dataset="cifar-10", accuracy=[0.8], curve_known=False)
    with pytest.raises(ValueError, match="a final alone .* must say how many epochs the run trained"):
        predictor.report(ReportedRun(hparams=HP, **final_alone))
    predictor.report(ReportedRun(hparams=HP, epochs_planned=50, **final_alone))
    assert predictor.reports.all()[-1].planned_epochs() == 50


def test_a_stopper_with_numpy_hyperparameters_or_none_reports_its_run(predictor):
    from predictor.lightning_callback import EpochStopper

    for hparams in ({"lr": np.float32(0.5), "batch": np.int64(8)}, None):
        stopper = EpochStopper(predictor, net(8, 16), hparams, "cifar-10", epochs=2)
        stopper.update(0.3)
        stopper.update(np.float32(0.4))
        assert stopper.finish() is not None
    assert [(r.hparams, r.accuracy, r.finished) for r in predictor.reports.all()] == [
        ({"lr": 0.5, "batch": 8}, [0.3, pytest.approx(0.4)], True), ({}, [0.3, pytest.approx(0.4)], True)]


def test_after_a_nan_the_curve_ends_there(predictor):
    """Values after a NaN landed one epoch early in the curve (epoch 3's value read as epoch 2's)."""
    from predictor.lightning_callback import EpochStopper

    stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=4)
    assert not stopper.update(0.3).stop
    assert stopper.update(float("nan")).stop
    later = stopper.update(0.5)
    assert later.stop and "diverged after epoch 1" in later.reason and stopper.curve == [0.3]
    stopper.finish()
    assert _stored(predictor) == [([0.3], 4, False)]


def test_a_reported_run_takes_no_more_epochs(predictor):
    """An update after finish() added epochs to a reported run, and the next finish() stored a second row."""
    from predictor.lightning_callback import EpochStopper

    stopper = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=4)
    stopper.update(0.3)
    first = stopper.finish()
    with pytest.raises(RuntimeError, match="this run was reported"):
        stopper.update(0.4)
    assert stopper.finish() == first and _stored(predictor) == [([0.3], 4, False)]


def test_tensor_and_numpy_incumbents_are_read_as_numbers(predictor):
    """Lightning logs metrics as 0-d tensors: a list of them failed with "iteration over a 0-d tensor"."""
    from predictor.lightning_callback import EpochStopper

    want = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=6, incumbent=[0.8, 0.9]).update(0.3)
    for incumbent in ([torch.tensor(0.8), torch.tensor(0.9)], [np.float32(0.8), np.array(0.9)], (torch.tensor(0.8), 0.9)):
        got = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=6, incumbent=incumbent).update(0.3)
        assert (got.stop, got.incumbent) == (want.stop, want.incumbent)
    single = EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=6, incumbent=torch.tensor(0.9))
    assert single.incumbent == pytest.approx(0.9)
    with pytest.raises(ValueError, match="looks like a percentage"):
        EpochStopper(predictor, net(8, 16), HP, "cifar-10", epochs=6, incumbent=[torch.tensor(90.0)])
    run = {"code": net(8, 16), "hparams": HP, "dataset": "cifar-10", "curve": [0.3]}
    direct = predictor.should_stop(run, [torch.tensor(0.8), np.float32(0.9)], budget=6)  # Predictor.should_stop itself too
    assert (direct.stop, direct.incumbent) == (want.stop, want.incumbent)


# ---- Lightning callback in real Trainers ------------------------------------------------------

def _module(name: str = "val_acc", log_epochs=None, extra: tuple[str, ...] = ()):
    """A LightningModule whose validation logs ``name`` = 0.2 + 0.05 * epoch (a known curve) in the epochs of
    ``log_epochs`` (every epoch when None), and each name of ``extra`` = 0.5 in every epoch."""
    import lightning.pytorch as pl

    class Fixed(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)

        def training_step(self, batch, _):
            x, y = batch
            return torch.nn.functional.cross_entropy(self.layer(x), y)

        def validation_step(self, batch, _):
            if log_epochs is None or self.current_epoch in log_epochs:
                self.log(name, 0.2 + 0.05 * self.current_epoch)
            for other in extra:
                self.log(other, 0.5)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Fixed()


def _data():
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 4, generator=g), torch.randint(0, 2, (16,), generator=g)), batch_size=8)


def _trainer(callbacks: list, **args):
    import lightning.pytorch as pl

    args.setdefault("enable_checkpointing", False)
    return pl.Trainer(callbacks=callbacks, logger=False, enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", **args)


def _curve(n: int) -> list[float]:
    return [pytest.approx(0.2 + 0.05 * e) for e in range(n)]


@pytest.mark.parametrize("saved_by", ["epoch end", "validation end", "save_checkpoint"])
def test_a_resumed_fit_continues_the_run_and_reports_it_once(predictor, tmp_path, saved_by):
    """Resumed from a checkpoint with a new callback, epochs 4-6 were judged as epochs 1-3 and the store got two
    partial runs. A ModelCheckpoint saving at validation end (``save_on_train_epoch_end=False``, or the default with
    ``val_check_interval`` < 1) saves before the epoch ends: the epoch's value is in the checkpoint, not yet in the curve."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from predictor.api import Predictor
    from predictor.lightning_callback import predictor_callback

    code = net(8, 16)
    first = predictor_callback(predictor, code, HP, "cifar-10", epochs=6)
    at_epoch_end = {"epoch end": True, "validation end": False}
    saver = [ModelCheckpoint(dirpath=tmp_path / "ckpt", save_on_train_epoch_end=at_epoch_end[saved_by])] if saved_by in at_epoch_end else []
    trainer = _trainer([first, *saver], max_epochs=3, enable_checkpointing=bool(saver))
    trainer.fit(_module(), _data(), _data())
    assert _stored(predictor) == [(_curve(3), 6, False)], "the first fit reports its run, partial"
    if saver:
        checkpoint = saver[0].best_model_path
        assert "epoch=2" in checkpoint
        assert len(torch.load(checkpoint, weights_only=False)["callbacks"][first.state_key]["stopper"]["curve"]) == at_epoch_end[saved_by] + 2
    else:
        checkpoint = tmp_path / "end.ckpt"
        trainer.save_checkpoint(checkpoint)
    again = Predictor.load(Path(predictor.reports.path).parent)  # as a new process would
    resumed = predictor_callback(again, code, HP, "cifar-10", epochs=6)
    _trainer([resumed], max_epochs=6).fit(_module(), _data(), _data(), ckpt_path=checkpoint)
    assert resumed.stopper.curve == _curve(6), "epochs 4-6 judged as epochs 4-6"
    assert _stored(again) == [(_curve(6), 6, True)], "one finished run, not two partial ones"


def test_a_fit_resumed_from_a_checkpoint_without_the_run_is_refused(predictor, tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from predictor.lightning_callback import predictor_callback

    saver = ModelCheckpoint(dirpath=tmp_path / "ckpt")
    _trainer([saver], max_epochs=3, enable_checkpointing=True).fit(_module(), _data(), _data())
    callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=6)
    with pytest.raises(ValueError, match="the fit starts at epoch 4 but this callback saw 0 epochs of the run"):
        _trainer([callback], max_epochs=6).fit(_module(), _data(), _data(), ckpt_path=saver.best_model_path)
    assert _stored(predictor) == []


def test_one_callback_for_two_fits_reports_two_runs(predictor):
    """One callback used for two fits glued them into one 8-epoch run, and with an incumbent the second fit was stopped
    after one epoch by the first fit's decisions."""
    from predictor.lightning_callback import predictor_callback

    callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=4)
    for _ in range(2):
        _trainer([callback], max_epochs=4).fit(_module(), _data(), _data())
        assert callback.stopper.curve == _curve(4) and len(callback.stopper.decisions) == 4
    assert _stored(predictor) == [(_curve(4), 4, True)] * 2
    stopping = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=4, incumbent=[0.95] * 10)
    trained = []
    for _ in range(2):
        trainer = _trainer([stopping], max_epochs=4)
        trainer.fit(_module(), _data(), _data())
        trained.append(trainer.current_epoch)
    assert trained[0] < 4 and trained[1] == trained[0], "each fit judged on its own epochs"


def test_a_missing_monitor_or_validation_is_an_error_naming_it(predictor):
    """A monitor typo or no validation loader silently disabled the callback: no decision, nothing reported."""
    from predictor.lightning_callback import predictor_callback

    typo = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=4, monitor="val_accuracy")
    with pytest.raises(ValueError, match=re.escape("the monitored metric 'val_accuracy' was not logged by validation in epoch 1; logged: val_acc")):
        _trainer([typo], max_epochs=4).fit(_module(), _data(), _data())
    for no_validation in (dict(), dict(limit_val_batches=0)):
        callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=4)
        with pytest.raises(ValueError, match="no validation ran in epoch 1"):
            val = _data() if no_validation else None
            _trainer([callback], max_epochs=4, **no_validation).fit(_module(), _data(), val)
    assert _stored(predictor) == []


def test_validation_every_n_steps_is_refused(predictor):
    """check_val_every_n_epoch=None (validation every val_check_interval steps) recorded stale, misaligned curves."""
    from predictor.lightning_callback import predictor_callback

    callback = predictor_callback(predictor, net(8, 16), HP, "cifar-10", epochs=6)
    with pytest.raises(ValueError, match=re.escape("check_val_every_n_epoch=None")):
        _trainer([callback], max_epochs=6, check_val_every_n_epoch=None, val_check_interval=4).fit(_module(), _data(), _data())


def test_a_fit_with_numpy_hyperparameters_reports_its_run(predictor):
    from predictor.lightning_callback import predictor_callback

    callback = predictor_callback(predictor, net(8, 16), {"lr": np.float32(0.5), "batch": np.int64(8)}, "cifar-10", epochs=3)
    _trainer([callback], max_epochs=3).fit(_module(), _data(), _data())
    assert [(r.hparams, r.finished) for r in predictor.reports.all()] == [({"lr": 0.5, "batch": 8}, True)]



_DDP_SCRIPT = '''
import json, sys, warnings
warnings.filterwarnings("ignore")
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
from predictor.api import Predictor
from predictor.lightning_callback import predictor_callback

torch.set_num_threads(1)
directory, code_file, out = sys.argv[1:4]


class Split(pl.LightningModule):
    """Rank 0 logs a hopeless val_acc (the predictor stops it), rank 1 0.95 (it would go on)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, _):
        return torch.nn.functional.cross_entropy(self.layer(batch[0]), batch[1])

    def validation_step(self, batch, _):
        self.log("val_acc", 0.02 if self.global_rank == 0 else 0.95)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    callback = predictor_callback(Predictor.load(directory), open(code_file).read(), {"lr": 0.01, "batch": 32}, "cifar-10",
                                  epochs=6, incumbent=[0.9] * 10)
    data = DataLoader(TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,))), batch_size=8)
    trainer = pl.Trainer(max_epochs=6, accelerator="cpu", devices=2, strategy="ddp", callbacks=[callback], logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Split(), data, data)
    with open(f"{out}.{trainer.global_rank}", "w") as f:
        json.dump({"epoch": trainer.current_epoch, "run_id": callback.stopper.run_id}, f)
'''


def test_a_ddp_fit_stops_every_rank_together_and_reports_once(predictor, tmp_path):
    """Under DDP each rank set should_stop from its own decision: rank 0 stopped, rank 1 trained on and crashed
    ("Connection closed by peer"); each rank also drew its own run_id and reported the run. A real 2-process CPU fit."""
    import json
    import os
    import subprocess
    import sys

    script, code = tmp_path / "ddp_fit.py", tmp_path / "net.py"
    script.write_text(_DDP_SCRIPT)
    code.write_text(net(8, 16))
    directory = Path(predictor.reports.path).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(directory), str(code), str(tmp_path / "rank")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank.{rank}").read_text()) for rank in (0, 1)]
    assert ranks[0]["epoch"] == ranks[1]["epoch"] < 6, "both ranks stopped at the same epoch, before the end"
    assert ranks[0]["run_id"] == ranks[1]["run_id"], "one run id for the fit"
    from predictor.api import Predictor

    stored = [(r.run_id, r.finished) for r in Predictor.load(directory).reports.all()]
    assert stored == [(ranks[0]["run_id"], False)], "the run is reported once, by rank zero, as stopped"
