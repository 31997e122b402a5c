"""Replaying finished learning curves as a training loop, to score early-stop policies on the same runs.

Runs arrive one at a time in a given order; each trains epoch by epoch (its recorded curve) until the
policy stops it or it ends. Scores: share of epochs saved, regret of the best finished run, share of
the true top-10 (by final value) that was stopped, whether the true best finished.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import optuna

from predictor.early_stop import StopPolicy, StudyProgress, decide, guarded_rung, sibling_corrected, tracks_top

# A fixed study name, so that a replay through Optuna is the same every time: HyperbandPruner puts trial n in the
# bracket crc32(f"{study_name}_{n}") picks, and a study created without a name gets a random one, so its rows changed
# from one run of the same replay to the next (early_stop_full_seed0: 0.822 saved / 0.80 kept in one run).
REPLAY_STUDY_NAME = "nnrag-replay"
# predictions[i][k - 1] = (point, lo, hi) for run i seen up to epoch k
Predictions = Sequence[Sequence[tuple[float, float, float]]]


@dataclass
class ReplayScore:
    policy: str
    epochs_saved: float
    regret: float
    top10_killed: float
    best_found: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def score(policy: str, curves: Sequence[Sequence[float]], epochs_given: dict[int, int], finished: set[int], top: int = 10) -> ReplayScore:
    """Scores over the runs that were replayed (the keys of ``epochs_given``)."""
    replayed = sorted(epochs_given)
    finals = {i: float(curves[i][-1]) for i in replayed}
    total = sum(len(curves[i]) for i in replayed)
    used = sum(epochs_given.values())
    ranked = sorted(replayed, key=lambda i: (-finals[i], i))
    true_top = set(ranked[:top])
    best = ranked[0]
    found = max((finals[i] for i in finished), default=float("-inf"))
    return ReplayScore(
        policy=policy, epochs_saved=1.0 - used / total, regret=float(finals[best] - found),
        top10_killed=len(true_top - finished) / len(true_top), best_found=best in finished,
    )


def replay_predictor(curves: Sequence[Sequence[float]], predictions: Predictions, order: Sequence[int],
                     policy: StopPolicy, name: str = "predictor", groups: Sequence[str] | None = None) -> ReplayScore:
    """``groups[i]``: run i's code (LEMUR model name); with ``policy.sibling_shrink`` the earlier runs of the same
    code correct the prediction (early_stop.sibling_corrected). The study's size is the order's length (what a policy
    with ``bar_risk`` reads)."""
    finished_values: list[float] = []
    finished: set[int] = set()
    given: dict[int, int] = {}
    history: list[Sequence[float]] = []  # every earlier run's curve as far as it trained (the rung rule's field)
    by_group: dict[str, list[int]] = {}
    for i in order:
        curve = curves[i]
        n = len(curve)
        given[i] = n
        top_ids = sorted(finished, key=lambda j: -curves[j][-1])[: policy.top_k]
        top = [curves[j] for j in top_ids]
        siblings = by_group.get(groups[i], []) if groups is not None and policy.sibling_shrink > 0 else []
        streak = 0  # consecutive epochs the rule said stop
        for k in range(1, n):
            point, lo, hi = predictions[i][k - 1]
            if policy.rungs:
                earlier_points = None
                if policy.rank_by != "best":  # each earlier run's prediction at this epoch, or where it stopped
                    earlier_points = [predictions[j][min(k, given[j]) - 1][0] for j in order[: len(history)]]
                rung = guarded_rung(k, curve[:k], history, policy, top, point, earlier_points)
                if rung is not None and rung[0]:
                    given[i] = k
                    break
            if not policy.probability_rule:
                continue
            if siblings:
                residuals = [_outcome(j, curves, predictions, given, finished) - predictions[j][k - 1][0]
                             for j in siblings if given[j] > k]
                point, lo, hi = sibling_corrected(point, lo, hi, residuals, policy.sibling_shrink)
            tracking = tracks_top(curve[:k], top) if policy.envelope_guard else None
            top_preds = [predictions[j][k - 1][0] for j in top_ids if len(predictions[j]) >= k] if policy.bar == "predicted" else None
            stop = decide(k, n, point, lo, hi, finished_values, policy, tracking=tracking, top_predictions=top_preds,
                          progress=StudyProgress(len(history), len(order))).stop
            streak = streak + 1 if stop else 0
            if streak >= policy.patience:
                given[i] = k
                break
        else:
            finished.add(i)
            finished_values.append(float(curve[-1]))
        history.append(curve[: given[i]])
        if groups is not None:
            by_group.setdefault(groups[i], []).append(i)
    return score(name, curves, given, finished)


def _outcome(j: int, curves: Sequence[Sequence[float]], predictions: Predictions, given: dict[int, int], finished: set[int]) -> float:
    """Run j's final when it finished, else its point prediction where it stopped."""
    return float(curves[j][-1]) if j in finished else predictions[j][given[j] - 1][0]


def replay_optuna(curves: Sequence[Sequence[float]], order: Sequence[int], make_pruner: Callable[[], optuna.pruners.BasePruner],
                  name: str) -> ReplayScore:
    """The same replay through a real Optuna study with the given pruner (direction maximize)."""
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(study_name=REPLAY_STUDY_NAME, direction="maximize", pruner=make_pruner(),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    finished: set[int] = set()
    given: dict[int, int] = {}
    for i in order:
        trial = study.ask()
        trial.set_user_attr("run", int(i))
        curve = curves[i]
        given[i] = len(curve)
        pruned = False
        for k, value in enumerate(curve, start=1):
            trial.report(float(value), step=k)
            if k < len(curve) and trial.should_prune():
                given[i] = k
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, float(curve[-1]))
            finished.add(i)
    return score(name, curves, given, finished)
