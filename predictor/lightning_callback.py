"""Early stop inside a PyTorch Lightning loop (optional dependency: ``lightning`` or ``pytorch_lightning``).

    cb = predictor_callback(Predictor.load(dir), code, hparams, "cifar-10", epochs=50, monitor="val_acc",
                            incumbent=[0.81, 0.80, ...])
    Trainer(callbacks=[cb], max_epochs=50)

The decision logic lives in ``EpochStopper`` (no Lightning needed), so it can drive any loop. When the fit ends the
callback reports the run to the predictor (``EpochStopper.finish``; ``report=False`` to keep it out): the next
predictions for the same code are corrected by it at once, and the next ``train-predictor`` learns from it.

Each fit is one run: a fit resumed from a checkpoint (``ckpt_path``) continues the run the checkpoint saved (Lightning
keeps the callback's state in it) and its report replaces the partial one; a new fit with the same callback starts a
new run, as Lightning's own callbacks do.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from predictor.api import ReportedRun, checked_code, json_hparams, use_pool, whole_epochs
from predictor.early_stop import StopDecision, checked_incumbent, checked_study


class EpochStopper:
    """Feed one metric value per epoch; returns the predictor's decision after each."""

    def __init__(self, predictor, code: str, hparams: dict | None, dataset: str, epochs: int,
                 incumbent: float | list[float] | None = None, earlier: list[list[float]] | None = None, pool=None,
                 study_runs: int | None = None) -> None:
        """``earlier``: the study's earlier runs (finished or stopped). What helps the recommended policy is
        run dicts with code (like ``run``, each planned for its ``epochs`` or hparams epochs): the earlier runs of the
        same code correct the prediction (``sibling_corrected``); plain curves only feed a policy with rungs
        (``RUNGS_POLICY``; the recommended one has none). See ``Predictor.should_stop``. Everything the report at the end needs is checked
        here, before any epoch is trained: a bad ``incumbent`` (90 for 90%, NaN, "0.9") or ``earlier`` run, ``epochs`` that are not a
        whole number >= 1 (None was predicted as 5 epochs, then failed the report), and ``hparams`` that cannot be
        stored (numpy and torch scalars become plain numbers, None is {}; ``predictor.api.json_hparams``), and what every
        update asks: code that parses, known hyperparameter values and a dataset the predictor answers ("CIFAR-10" reads
        as "cifar-10"; ``Predictor.check_inputs``, a dry run: nothing is measured). ``pool`` (a
        ``sandbox.pool.CheckerPool``, optional): set as ``predictor.pool``, so params/FLOPs of new code are measured as
        the server and the CLI measure them (``use_pool``). ``study_runs`` (optional, with ``earlier``): how many runs
        the study will train in all; a policy with ``bar_risk`` (``STUDY_SIZE_POLICY``) then raises the bar while the study
        is young (``bar_rank``)."""
        use_pool(predictor, pool)
        self.predictor, self.code = predictor, checked_code(code)
        self.hparams = json_hparams(hparams)
        self.dataset = predictor.check_inputs(code, self.hparams, dataset)
        self.epochs = whole_epochs(epochs, "epochs")
        self.incumbent = checked_incumbent(incumbent)  # 0-d tensors and numpy scalars read as numbers
        predictor.check_earlier(earlier, self.epochs)
        self.earlier = earlier
        self.study_runs = checked_study(study_runs, earlier)
        self.run_id = uuid.uuid4().hex  # the report's run_id: a resumed run's report replaces its partial one
        self.curve: list[float] = []
        self.decisions: list[StopDecision] = []
        self.stopped = False  # the last decision said stop
        self.diverged = False  # a NaN or infinite value was seen: the curve ends there
        self.reported = False

    def update(self, value: float) -> StopDecision:
        """``value``: this epoch's metric. A NaN or infinite one stops the run (it diverged), as Lightning's own
        EarlyStopping and Optuna's pruners do, and is kept out of the curve; values after it are not read either (the
        decision stays "stop"): read, they landed one epoch early in the curve. After ``finish`` a RuntimeError: the
        run was reported, and a second report would store a second run. A value past the planned ``epochs`` is a
        ValueError that leaves the curve as it was (it was appended first, and ``finish`` stored a run planned for more
        epochs than the stopper was told); so is any value the predictor refuses (45 for 45%: it stayed in the curve,
        and every later update and ``finish`` failed on it)."""
        if self.reported:
            raise RuntimeError("this run was reported (finish()); start a new EpochStopper for a new run")
        value = float(value)
        if not self.diverged and len(self.curve) >= self.epochs:  # checked before the curve changes: finish() stays right
            raise ValueError(f"epoch {len(self.curve) + 1} is past the run's planned epochs={self.epochs}: build the stopper with "
                             f"the epochs the loop trains (the curve keeps its first {self.epochs} values)")
        if self.diverged or not math.isfinite(value):
            reason = f"the metric was {value}: the run diverged" if not self.diverged else \
                f"the run diverged after epoch {len(self.curve)}; later values are not read"
            return self._decided(StopDecision(True, 0.0, float("nan"), reason=reason), diverged=True)
        run = {"code": self.code, "hparams": self.hparams, "dataset": self.dataset, "curve": [*self.curve, value]}
        decision = self.predictor.should_stop(run, self.incumbent, self.epochs, earlier=self.earlier, study_runs=self.study_runs)
        self.curve.append(value)  # only once the predictor took it: a refused value (45 for 45%) left the curve unusable
        return self._decided(decision)

    def _decided(self, decision: StopDecision, diverged: bool = False) -> StopDecision:
        self.decisions.append(decision)
        self.stopped = decision.stop
        self.diverged = self.diverged or diverged
        return decision

    def finish(self) -> int | None:
        """Report the run to the predictor (``Predictor.report``): finished when it trained every planned epoch and was
        not stopped, else partial (its final is unknown). The report's id; None when no epoch was seen. The report
        carries ``run_id``: reported again (a resumed fit), it replaces the earlier report of this run."""
        if not self.curve:
            return None
        finished = not self.stopped and len(self.curve) >= self.epochs
        self.reported = True
        return self.predictor.report(ReportedRun(code=self.code, hparams=self.hparams, dataset=self.dataset, accuracy=list(self.curve),
                                                 epochs_planned=max(self.epochs, len(self.curve)), finished=finished,
                                                 run_id=self.run_id))

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of the run (plain values: a checkpoint loads with ``weights_only``)."""
        return {"run_id": self.run_id, "curve": list(self.curve), "stopped": self.stopped, "diverged": self.diverged}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run ``state_dict`` saved (not yet reported here: the resumed run reports when it ends)."""
        self.run_id, self.curve = state["run_id"], [float(v) for v in state["curve"]]
        self.stopped, self.diverged = bool(state["stopped"]), bool(state["diverged"])
        self.decisions, self.reported = [], False


def _agreed_stop(trainer, stop: bool) -> bool:
    """True on every rank when any rank decided to stop (``all=False``, as Lightning's EarlyStopping reduces it);
    a single process gets its own decision back."""
    return bool(trainer.strategy.reduce_boolean_decision(bool(stop), all=False))


def _rank_zero_run_id(trainer, run_id: str) -> str:
    """Global rank zero's run id on every rank (each process drew its own random one): one fit is one run wherever
    its checkpoint is saved and resumed from."""
    return str(trainer.strategy.broadcast(run_id, src=0))


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


def predictor_callback(predictor, code: str, hparams: dict | None, dataset: str, epochs: int, monitor: str = "val_acc",
                       incumbent: float | list[float] | None = None, earlier: list[list[float]] | None = None,
                       report: bool = True, pool=None, study_runs: int | None = None):
    """A Lightning Callback that sets ``trainer.should_stop`` when the predictor says so and, with ``report``, reports
    the run to the predictor when the fit ends. Bad arguments are a ValueError here (``EpochStopper``; ``earlier`` as
    there: run dicts with code correct the prediction, curves only feed a policy with rungs), a Trainer whose
    max_epochs exceeds ``epochs`` one when the fit starts."""
    pl = _lightning()
    if pl is None:
        raise ImportError("PyTorch Lightning is not installed (pip install lightning); use predictor.lightning_callback.EpochStopper in a plain loop")

    def new_run() -> EpochStopper:
        return EpochStopper(predictor, code, hparams, dataset, epochs, incumbent, earlier, pool, study_runs)

    class PredictorEarlyStop(pl.Callback):
        """Reads ``monitor`` once per training epoch, after that epoch's validation: the predictor's curve has one
        value per epoch. Not at every validation end: Lightning also validates before training (the sanity check)
        and, with ``val_check_interval`` < 1, several times an epoch; the last validation of the epoch counts."""

        def __init__(self) -> None:
            super().__init__()
            self.stopper = new_run()
            self._validated: tuple[int, float | None] | None = None  # (epoch, monitor) of the latest validation
            self._before: Any = None  # the monitor's value when the latest validation started
            self._stale = False  # the latest validation did not log the monitor, an earlier one did

        @property
        def state_key(self) -> str:
            """The key of this callback's state in a checkpoint (as Lightning's EarlyStopping names its monitor)."""
            return self._generate_state_key(monitor=monitor, dataset=dataset)

        def setup(self, trainer, pl_module, stage: str) -> None:
            """A new fit is a new run (before a checkpoint, if any, restores the run it continues). Why: one callback
            used for two fits glued them into one run, and the second was judged by the first's epochs."""
            if stage == "fit":
                self.stopper, self._validated = new_run(), None
                self.stopper.run_id = _rank_zero_run_id(trainer, self.stopper.run_id)

        def on_fit_start(self, trainer, pl_module) -> None:
            """Refuses a fit the run cannot follow, before any epoch. Why max_epochs: a Trainer planned for more epochs
            than the callback's failed after the callback's last epoch, with a message about the budget; max_epochs=-1 (no end) too."""
            max_epochs = getattr(trainer, "max_epochs", None)
            if isinstance(max_epochs, int) and max_epochs < 0:
                raise ValueError(f"Trainer(max_epochs={max_epochs}) trains without an end: the predictor judges a run against its "
                                 f"planned epochs (the callback's epochs={self.stopper.epochs}); give the Trainer max_epochs={self.stopper.epochs}")
            if isinstance(max_epochs, int) and max_epochs > self.stopper.epochs:
                raise ValueError(f"Trainer(max_epochs={max_epochs}) trains more epochs than the callback's epochs={self.stopper.epochs}: "
                                 "give the callback the epochs the Trainer trains (its planned epochs)")
            every = getattr(trainer, "check_val_every_n_epoch", 1)
            if every is None:
                raise ValueError(f"the predictor needs {monitor!r} after every epoch: validation every n steps "
                                 "(check_val_every_n_epoch=None) is not per epoch; set check_val_every_n_epoch=1")
            if every != 1:
                raise ValueError(f"the predictor needs {monitor!r} after every epoch: set check_val_every_n_epoch=1, not {every}")

        def on_train_start(self, trainer, pl_module) -> None:
            """The run must be where the trainer is. Why: a fit resumed from a checkpoint judged epochs 4-6 as 1-3."""
            seen = len(self.stopper.curve)
            pending = self._validated
            if trainer.current_epoch == seen + 1 and pending is not None and pending[0] == seen and pending[1] is not None:
                self._update(trainer, pending[1])  # saved after the epoch's validation, before its end (ModelCheckpoint)
                seen += 1
            if trainer.current_epoch != seen and not self.stopper.diverged:
                raise ValueError(f"the fit starts at epoch {trainer.current_epoch + 1} but this callback saw {seen} epochs of the run: "
                                 "resume from a checkpoint saved with this callback (it keeps the run), or start a new fit")

        def on_validation_start(self, trainer, pl_module) -> None:
            self._before = trainer.callback_metrics.get(monitor)

        def on_validation_end(self, trainer, pl_module) -> None:
            """Reads the value this validation logged. Why the check: ``callback_metrics`` keeps the value of an earlier
            epoch when validation did not log ``monitor`` this time, and that stale value was read as this epoch's. A
            value logged again is a new object (Lightning computes it from this validation's results)."""
            if trainer.sanity_checking:
                return
            value = trainer.callback_metrics.get(monitor)
            self._stale = value is not None and value is self._before
            self._validated = (trainer.current_epoch, None if value is None or self._stale else float(value))

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            epoch = trainer.current_epoch
            if self._validated is None or self._validated[0] != epoch:
                raise ValueError(f"no validation ran in epoch {epoch + 1}: the predictor needs {monitor!r} after every epoch's "
                                 "validation (pass val_dataloaders, and keep limit_val_batches above 0)")
            if self._validated[1] is None:
                names = sorted(set(trainer.callback_metrics) - ({monitor} if self._stale else set()))
                stale = f" (the value of {monitor!r} there is an earlier epoch's)" if self._stale else ""
                raise ValueError(f"the monitored metric {monitor!r} was not logged by validation in epoch {epoch + 1}; "
                                 f"logged: {', '.join(names) or 'nothing'}{stale}")
            self._update(trainer, self._validated[1])

        def _update(self, trainer, value: float) -> None:
            """Every process of a distributed fit stops at the same epoch: each rank judges its own value, and one
            rank saying stop stops them all (as Lightning's EarlyStopping agrees). Why: a rank stopping alone left
            the others waiting on it in the next collective ("Connection closed by peer")."""
            stop = _agreed_stop(trainer, self.stopper.update(value).stop)
            self.stopper.stopped = stop  # the report says stopped when any rank stopped the fit
            if stop:
                trainer.should_stop = True

        def on_fit_end(self, trainer, pl_module) -> None:
            """Only global rank zero reports: every rank reporting stored one run per process."""
            if report and trainer.is_global_zero:
                self.stopper.finish()

        def state_dict(self) -> dict[str, Any]:
            return {"stopper": self.stopper.state_dict(), "validated": self._validated}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            self.stopper = new_run()
            self.stopper.load_state_dict(state_dict["stopper"])
            validated = state_dict.get("validated")
            self._validated = None if validated is None else (int(validated[0]), validated[1])

    return PredictorEarlyStop()
