"""Early stop inside a PyTorch Lightning loop (optional dependency: ``lightning`` or ``pytorch_lightning``).

    cb = predictor_callback(Predictor.load(dir), code, hparams, "cifar-10", epochs=50, monitor="val_acc",
                            incumbent=[0.81, 0.80, ...])
    Trainer(callbacks=[cb], max_epochs=50)

The decision logic lives in ``EpochStopper`` (no Lightning needed), so it can drive any loop. When the fit ends the
callback reports the run to the predictor (``EpochStopper.finish``; ``report=False`` to keep it out): the next
predictions for the same code are corrected by it at once, and the next ``train-predictor`` learns from it.
"""

from __future__ import annotations

import math

from predictor.early_stop import StopDecision, checked_incumbent


class EpochStopper:
    """Feed one metric value per epoch; returns the predictor's decision after each."""

    def __init__(self, predictor, code: str, hparams: dict, dataset: str, epochs: int,
                 incumbent: float | list[float] | None = None, earlier: list[list[float]] | None = None) -> None:
        """``earlier``: the curves of the study's earlier runs (finished or stopped); they enable the
        recommended policy's rungs (see ``Predictor.should_stop``). A bad ``incumbent`` (90 for 90%, NaN, "0.9") is a
        ValueError here, before any epoch is trained."""
        self.predictor, self.code, self.hparams, self.dataset, self.epochs = predictor, code, hparams, dataset, epochs
        self.incumbent = checked_incumbent(incumbent)
        self.earlier = earlier
        self.curve: list[float] = []
        self.decisions: list[StopDecision] = []

    def update(self, value: float) -> StopDecision:
        """``value``: this epoch's metric. A NaN or infinite one stops the run (it diverged), as Lightning's own
        EarlyStopping and Optuna's pruners do, and is kept out of the curve."""
        if not math.isfinite(float(value)):
            decision = StopDecision(True, 0.0, float("nan"), reason=f"the metric is {float(value)}: the run diverged")
            self.decisions.append(decision)
            return decision
        self.curve.append(float(value))
        run = {"code": self.code, "hparams": self.hparams, "dataset": self.dataset, "curve": list(self.curve)}
        decision = self.predictor.should_stop(run, self.incumbent, self.epochs, earlier=self.earlier)
        self.decisions.append(decision)
        return decision

    def finish(self) -> int | None:
        """Report the run to the predictor (``Predictor.report``): finished when it trained every planned epoch and was
        not stopped, else partial (its final is unknown). The report's id; None when no epoch was seen."""
        from predictor.api import ReportedRun

        if not self.curve:
            return None
        stopped = bool(self.decisions) and self.decisions[-1].stop
        finished = not stopped and len(self.curve) >= self.epochs
        return self.predictor.report(ReportedRun(code=self.code, hparams=self.hparams, dataset=self.dataset, accuracy=list(self.curve),
                                                 epochs_planned=max(self.epochs, len(self.curve)), finished=finished))


def _lightning():
    try:
        import lightning.pytorch as pl  # type: ignore

        return pl
    except ImportError:
        try:
            import pytorch_lightning as pl  # type: ignore

            return pl
        except ImportError:
            return None


def predictor_callback(predictor, code: str, hparams: dict, dataset: str, epochs: int, monitor: str = "val_acc",
                       incumbent: float | list[float] | None = None, earlier: list[list[float]] | None = None,
                       report: bool = True):
    """A Lightning Callback that sets ``trainer.should_stop`` when the predictor says so and, with ``report``, reports
    the run to the predictor when the fit ends."""
    pl = _lightning()
    if pl is None:
        raise ImportError("PyTorch Lightning is not installed (pip install lightning); use predictor.lightning_callback.EpochStopper in a plain loop")
    stopper = EpochStopper(predictor, code, hparams, dataset, epochs, incumbent, earlier)

    class PredictorEarlyStop(pl.Callback):
        """Reads ``monitor`` once per training epoch, after that epoch's validation: the predictor's curve has one
        value per epoch. Not at every validation end: Lightning also validates before training (the sanity check)
        and, with ``val_check_interval`` < 1, several times an epoch."""

        def __init__(self) -> None:
            super().__init__()
            self.stopper = stopper

        def on_fit_start(self, trainer, pl_module) -> None:
            every = getattr(trainer, "check_val_every_n_epoch", 1)
            if every not in (1, None):
                raise ValueError(f"the predictor needs {monitor!r} after every epoch: set check_val_every_n_epoch=1, not {every}")

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            value = trainer.callback_metrics.get(monitor)
            if value is None:
                return
            if self.stopper.update(float(value)).stop:
                trainer.should_stop = True

        def on_fit_end(self, trainer, pl_module) -> None:
            if report:
                self.stopper.finish()

    return PredictorEarlyStop()
