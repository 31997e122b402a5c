"""An Optuna pruner backed by the predictor: prune a trial when it is unlikely to enter the top-k.

    pruner = PredictorPruner(predict=lambda trial, curve: predictor.predict(code, trial.params, "cifar-10", curve).interval3(),
                             planned_epochs=50)
    study = optuna.create_study(direction="maximize", pruner=pruner)

``predict(trial, curve)`` returns (point, lo, hi) of the final value; values reported with
``trial.report(value, step)`` form the curve, so report once per epoch, at consecutive steps from 0 or 1 (the epoch
index or number): steps with gaps (every 2nd epoch) are a ValueError, never read as consecutive epochs. Each report
must be an accuracy in [0, 1]; a NaN or infinite one prunes the trial. A trial reports at most ``planned_epochs``
epochs (the horizon every trial is forecast to): a report past them is a ValueError naming its step, never a forecast
quietly stretched to the trial's own length. Only ``direction="maximize"`` is supported.
``check(trial)`` (optional) checks a trial's own inputs on every prune call (``predictor_pruner``: its params and code).
``code(trial)`` (optional) names the trial's code: earlier trials of the same code correct the prediction
(the policy's ``sibling_shrink``); in a study over one model's hyperparameters every trial shares it.
``n_trials`` (optional): the study's trial budget, as given to ``study.optimize``; with it a policy with ``bar_risk`` (the
option ``STUDY_SIZE_POLICY``) raises the bar while the study is young (``early_stop.bar_rank``).
"""

from __future__ import annotations

import math
import weakref
from typing import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from predictor.api import checked_code, json_hparams, use_pool, whole_epochs
from predictor.early_stop import (RECOMMENDED_POLICY, StopPolicy, StudyProgress, check_accuracy, checked_study_runs, decide, guarded_rung,
                                  sibling_corrected, tracks_top)

TrialPredictFn = Callable[[FrozenTrial, list[float]], tuple[float, float, float]]


def checked_reports(trial: FrozenTrial, planned_epochs: int | None = None) -> None:
    """A ValueError naming the trial and step of the first report the predictor would misread: a value out of [0, 1] (a
    percentage, a loss), steps that are not consecutive epochs from 0 or 1, or more reports than ``planned_epochs``
    (None: not checked). Why on every call: the rule predicts only once ``min_finished`` trials completed, so these
    failed at the study's 4th trial, or (steps 2, 4, 6 read as epochs 1, 2, 3) never; and a trial past the planned
    epochs was forecast to its own length, another target than the one the pruner compares with the study's finals."""
    steps = sorted(trial.intermediate_values)
    for step in steps:
        value = float(trial.intermediate_values[step])
        if not math.isfinite(value):
            break  # diverged: the curve ends here (pruned)
        check_accuracy(value, f"trial {trial.number}'s report at step {step}")
    first = steps[0] if steps else 0
    if first not in (0, 1) or steps != list(range(first, first + len(steps))):
        raise ValueError(f"trial {trial.number} reported at steps {', '.join(map(str, steps[:8]))}{' ...' if len(steps) > 8 else ''}: "
                         "the predictor reads one report per epoch, at consecutive steps from 0 or 1 (the epoch index or "
                         "number); report every epoch's value, or number the reports 0, 1, 2, ...")
    if planned_epochs is not None:
        checked_horizon(trial, planned_epochs)


def checked_horizon(trial: FrozenTrial, planned_epochs: int) -> None:
    """A ValueError naming the trial's first report past ``planned_epochs`` (its step, and the epoch it stands for)."""
    steps = sorted(trial.intermediate_values)
    if len(steps) > planned_epochs:
        step = steps[planned_epochs]  # the first report past the plan: epoch planned_epochs + 1
        raise ValueError(f"trial {trial.number} reported step {step}, its epoch {planned_epochs + 1}, but the pruner's planned_epochs "
                         f"is {planned_epochs}: it forecasts every trial's value after {planned_epochs} epochs (the horizon it "
                         "compares with the finished trials' values); build the pruner with planned_epochs = the epochs each trial "
                         "trains, or report at most that many epochs")


def _curve_of(trial: FrozenTrial) -> list[float]:
    """A trial's reported values in step order, up to the first NaN or infinite one (where it diverged)."""
    curve = []
    for step in sorted(trial.intermediate_values):
        value = float(trial.intermediate_values[step])
        if not math.isfinite(value):
            break
        curve.append(value)
    return curve


class PredictorPruner(optuna.pruners.BasePruner):
    def __init__(self, predict: TrialPredictFn, planned_epochs: int, policy: StopPolicy | None = None,
                 code: Callable[[FrozenTrial], str] | None = None, check: Callable[[FrozenTrial], None] | None = None,
                 n_trials: int | None = None) -> None:
        """``planned_epochs``: the horizon every trial is forecast to, a whole number >= 1 (a ValueError here, not at
        the first prune call that predicts: 0 never pruned, None or "8" failed only at the study's fourth trial)."""
        self.predict = predict
        self.planned_epochs = whole_epochs(planned_epochs, "planned_epochs")
        self.policy = policy or StopPolicy(**RECOMMENDED_POLICY)  # the rule the replays chose
        self.code = code
        self.check = check
        self.n_trials = checked_study_runs(n_trials, "n_trials")
        # Per study storage: (trial id, epochs seen) -> point, of trials that ended. Why per storage: a pruner reused for
        # a second in-memory study read the first study's trials as the new one's (every new storage counts trial ids
        # from 0). Weak keys: a storage gone with its study takes its points along.
        self._finished_points: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __reduce__(self):
        """Refused with what to do instead. Why: it holds a predictor (estimators, a reports database, maybe sandbox
        processes), and pickling it for a study sent to other processes failed with "Can't pickle local object
        'predictor_pruner.<locals>.predict'", which says nothing of the way that works: one pruner per process."""
        raise TypeError("a PredictorPruner cannot be pickled (it holds a predictor, its reports database and maybe "
                        "sandbox processes): in several processes, build one per process with predictor_pruner(...) on "
                        "shared storage (optuna.storages.RDBStorage, e.g. sqlite:///study.db)")

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError("PredictorPruner supports direction='maximize' only (the predictor forecasts accuracy)")
        self._check_trial(trial)
        try:
            return self._prune(study, trial)
        except ValueError as exc:
            if str(exc).startswith(f"trial {trial.number}"):
                raise
            raise ValueError(f"trial {trial.number}, step {trial.last_step}: {exc}") from None

    def _check_trial(self, trial: FrozenTrial) -> None:
        """The trial's reports (``checked_reports``) and inputs (``check``: a dry run, no prediction), the error naming
        the trial and step. Why every call: they were checked only by the first prediction, after ``min_finished``
        trials had completed."""
        checked_reports(trial, self.planned_epochs)
        if self.check is None:
            return
        try:
            self.check(trial)
        except ValueError as exc:
            raise ValueError(f"trial {trial.number}, step {trial.last_step}: {exc}") from None

    def _prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        for ended in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            checked_horizon(ended, self.planned_epochs)  # their curves are forecast to the same horizon
        points = self._study_points(study)
        curve = _curve_of(trial)
        if len(curve) < len(trial.intermediate_values):  # a NaN or infinite report: diverged (Optuna's pruners prune it too)
            return True
        if not curve:
            return False
        completed = sorted(self._completed(study), key=lambda t: -t.value)
        done = completed[: self.policy.top_k]
        top_curves = [_curve_of(t) for t in done]
        if self.policy.rungs:  # the rung rule: against every earlier trial, completed or pruned
            rung = self._rung(study, trial, curve, top_curves)
            if rung is not None and rung[0]:
                return True
        if not self.policy.probability_rule:
            return False
        finished = [t.value for t in completed]
        min_finished = self.policy.top_k if self.policy.min_finished is None else self.policy.min_finished
        if len(finished) < min_finished:
            return False
        top = None
        if self.policy.envelope_guard:  # the completed trials' reported curves are the top-k envelope
            top = top_curves
        siblings = self._siblings(study, trial)
        progress = self._progress(study)
        # As in the replay: the rule must say "stop" on each of the last ``patience`` epochs.
        for k in range(len(curve), len(curve) - max(self.policy.patience, 1), -1):
            if k < 1:
                return False
            point, lo, hi = self.predict(trial, curve[:k])
            residuals = [self._outcome(points, t, c) - self._point(points, t, c[:k]) for t, c in siblings if len(c) > k]
            point, lo, hi = sibling_corrected(point, lo, hi, residuals, self.policy.sibling_shrink)
            tracking = tracks_top(curve[:k], top) if top else None
            top_preds = None
            if self.policy.bar == "predicted":  # what the predictor said about the top-k trials at this step
                top_preds = [self._point(points, t, c[:k]) for t, c in zip(done, top_curves) if len(c) >= k]
            if not decide(k, self.planned_epochs, point, lo, hi, finished, self.policy, tracking=tracking,
                          top_predictions=top_preds, progress=progress).stop:
                return False
        return True

    def _progress(self, study: optuna.study.Study) -> StudyProgress | None:
        """How far the study is (None without ``n_trials``): every other trial counts as seen, whatever its state (a
        trial running beside this one, or failed, too: counting more runs seen only lowers the bar)."""
        if self.n_trials is None:
            return None
        return StudyProgress(len(study.get_trials(deepcopy=False)) - 1, self.n_trials)

    @staticmethod
    def _completed(study: optuna.study.Study) -> list[FrozenTrial]:
        """The completed trials, whose values are the finals the rule compares with: each must be an accuracy in [0, 1]
        (``check_accuracy``). Why: an objective returning percentages made every trial look hopeless (or, NaN, none)."""
        completed = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
        for t in completed:
            check_accuracy(t.value, f"trial {t.number}'s value")
        return completed

    def _siblings(self, study: optuna.study.Study, trial: FrozenTrial) -> list[tuple[FrozenTrial, list[float]]]:
        """Earlier trials (completed or pruned) of the trial's code, with their curves."""
        if self.code is None or self.policy.sibling_shrink <= 0:
            return []
        mine = self.code(trial)
        return [(t, _curve_of(t)) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                if t.number != trial.number and t.intermediate_values and self.code(t) == mine]

    def _outcome(self, points: dict, trial: FrozenTrial, curve: list[float]) -> float:
        """A completed trial's value, else the point prediction where it was pruned."""
        return float(trial.value) if trial.state == TrialState.COMPLETE else self._point(points, trial, curve)

    def _point(self, points: dict, trial: FrozenTrial, curve: list[float]) -> float:
        """The point prediction for an ended trial (completed or pruned) seen up to ``len(curve)`` epochs, kept: it
        cannot change. Why: every prune call asked the predictor again for every earlier trial of the code at each of
        the last ``patience`` epochs, so a call cost grew with the study (about 1 s with 80 earlier trials).
        Kept per study storage (``_study_points``), as trial ids are unique within one storage only."""
        trial_id = getattr(trial, "_trial_id", None)
        if trial_id is None or trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            return self.predict(trial, curve)[0]
        key = (trial_id, len(curve))
        if key not in points:
            points[key] = self.predict(trial, curve)[0]
        return points[key]

    def _study_points(self, study: optuna.study.Study) -> dict[tuple[int, int], float]:
        """The kept points of the ended trials of ``study``'s storage, (trial id, epochs seen) -> point."""
        storage = getattr(study, "_storage", study)
        return self._finished_points.setdefault(storage, {})

    def _rung(self, study: optuna.study.Study, trial: FrozenTrial, curve: list[float],
              top_curves: list[list[float]]) -> tuple[bool, str] | None:
        k = len(curve)
        others = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
                  if t.number != trial.number and t.intermediate_values]
        earlier = [_curve_of(t) for t in others]
        point, points = None, None
        if self.policy.rank_by == "best_or_predicted":  # each earlier trial's prediction at this step, or where it stopped
            point = self.predict(trial, curve)[0]
            kept = self._study_points(study)
            points = [self._point(kept, t, c[:k]) for t, c in zip(others, earlier)]
        return guarded_rung(k, curve, earlier, self.policy, top_curves, point, points)


def predictor_pruner(predictor, code: str | Callable[[FrozenTrial], str], dataset: str, planned_epochs: int,
                     hparams: dict | None = None, policy: StopPolicy | None = None, pool=None,
                     n_trials: int | None = None) -> PredictorPruner:
    """A PredictorPruner that asks a ``predictor.api.Predictor`` (code fixed or taken from the trial). The inputs are
    checked here (``Predictor.check_inputs``: the code when fixed, ``hparams``, the dataset, under its canonical name).
    Why: a dataset of "CIFAR-10" or "coco" failed at the first prediction, the study's fourth trial. ``pool`` (a
    ``sandbox.pool.CheckerPool``, optional): set as ``predictor.pool``, so new code's params/FLOPs are measured as the
    server and the CLI measure them; without one (and none set) the code is answered without them."""
    use_pool(predictor, pool)
    planned_epochs = whole_epochs(planned_epochs, "planned_epochs")  # before ``predict`` reads it
    hparams = json_hparams(hparams)
    if not callable(code):
        code = checked_code(code, "code (or a function of the trial returning it)")
    dataset = predictor.check_inputs(None if callable(code) else code, hparams, dataset)

    def check(trial: FrozenTrial) -> None:  # what predict reads, checked before any trial completed
        text = checked_code(code(trial), "the code the code function returned") if callable(code) else None
        predictor.check_inputs(text, {**(hparams or {}), **trial.params}, dataset)

    def predict(trial: FrozenTrial, curve: list[float]) -> tuple[float, float, float]:
        text = code(trial) if callable(code) else code
        hp = {**(hparams or {}), **trial.params}
        # planned_epochs wins over any epochs / epoch in the hyperparameters: it is the horizon the pruner decides for (a
        # curve past it is refused before, by ``checked_reports``)
        answer = predictor.predict(text, hp, dataset, curve, epochs=planned_epochs,
                                   use_reports=False)  # the study's own trials correct it
        return answer.point, answer.lo, answer.hi

    # the predictor's own policy (its directory's meta.json ``stop_policy``, else RECOMMENDED_POLICY), as should_stop,
    # EpochStopper and the server use it
    return PredictorPruner(predict, planned_epochs, policy or predictor.policy, code=code if callable(code) else lambda trial: code,
                           check=check, n_trials=n_trials)
