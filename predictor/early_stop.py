"""Early-stop decisions from a predicted final metric and its 80% interval.

The rule: keep a run while it could still enter the top-k of finished runs. The predictive
distribution of the final metric is a two-piece normal through the interval (the 10% and 90%
quantiles) and the point estimate; the run stops when P(final > bar) falls below ``p_min``, the bar
being the k-th best final so far (``bar="final"``) or the lowest prediction the top-k finished runs got
at the same epoch (``bar="predicted"``, robust to the predictor's bias on unseen families). Until k runs
have finished nothing is stopped (there is no bar to clear yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

Z90 = 1.2815515655446004  # standard normal 90% quantile: the 80% interval spans +-Z90 sigma


@dataclass
class StopDecision:
    stop: bool
    p_beat_incumbent: float
    predicted_final: float
    lo: float = float("nan")
    hi: float = float("nan")
    incumbent: float | None = None
    reason: str = ""
    model: str = ""


@dataclass
class StopPolicy:
    top_k: int = 10  # protect runs that could enter the top-k of finished runs
    p_min: float = 0.02  # stop when P(final > k-th best) < p_min
    min_epochs: int = 1  # never stop before this many epochs
    min_finished: int | None = None  # finished runs needed before stopping anything (default top_k)
    margin: float = 0.0  # extra slack added to the interval's upper side
    envelope_guard: bool = False  # never stop a run doing at least as well as some top-k run did at this epoch
    patience: int = 1  # stop only after this many consecutive epochs of "stop" (one noisy epoch must not kill a run)
    bar: str = "final"  # "final": the k-th best finished final; "predicted": see predicted_bar


# Chosen on TRAIN replays only (bench/bench_early_stop.py --train-replays: 50-epoch runs of each split's train
# models, predicted out of fold by family halves): stop when, two epochs in a row, P(final > the lowest prediction
# the top-10 finished runs had at this epoch) < 0.10 and the run's best-so-far is below every top-10 run's at this
# epoch. The bar of finished finals (bar="final") killed 11-29% of the true top-10 on those replays.
RECOMMENDED_POLICY = dict(top_k=10, p_min=0.10, envelope_guard=True, patience=2, bar="predicted")


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def p_exceeds(threshold: float, point: float, lo: float, hi: float, margin: float = 0.0) -> float:
    """P(final > threshold) under a two-piece normal with median ``point`` and 10/90% quantiles ``lo``/``hi``."""
    hi = hi + margin
    if threshold <= point:
        sigma = max(point - lo, 1e-4) / Z90
        return 1.0 - _phi((threshold - point) / sigma)
    sigma = max(hi - point, 1e-4) / Z90
    return 1.0 - _phi((threshold - point) / sigma)


def bar_to_clear(incumbent: float | Sequence[float] | None, top_k: int, min_finished: int) -> float | None:
    """The k-th best finished final (or the incumbent itself when a single number is given)."""
    if incumbent is None:
        return None
    if isinstance(incumbent, (int, float)):
        return float(incumbent)
    finished = sorted((float(v) for v in incumbent), reverse=True)
    if len(finished) < max(min_finished, 1):
        return None
    return finished[min(top_k, len(finished)) - 1]


BARS = ("final", "predicted")


def predicted_bar(top_predictions_at_k: Sequence[float]) -> float | None:
    """The lowest point prediction the top-k finished runs got when they were at the same epoch.

    Why: a run is compared with what the predictor said about the runs that *did* end in the top-k,
    at the same stage. A bias the predictor has at epoch k (an unseen architecture family, a long
    horizon it under-forecasts) hits both sides alike and cancels; the bar of finished finals does not.
    """
    values = [float(v) for v in top_predictions_at_k]
    return min(values) if values else None


def tracks_top(curve: Sequence[float], top_curves: Sequence[Sequence[float]]) -> bool | None:
    """Whether the run's best-so-far reached the lowest best-so-far of the top-k finished runs at the same epoch
    (None without finished curves that long).

    Why best-so-far: held-out top-10 runs rank only in the top 30-50% at epochs 1-5 and their test accuracy
    dips from epoch to epoch; one dip below the envelope must not kill them.
    """
    k = len(curve)
    at_k = [max(c[:k]) for c in top_curves if len(c) >= k]
    return max(curve) >= min(at_k) if k and at_k else None


def decide(epochs_seen: int, planned_epochs: int, point: float, lo: float, hi: float,
           incumbent: float | Sequence[float] | None, policy: StopPolicy, model: str = "",
           current: float | None = None, envelope: float | None = None, tracking: bool | None = None,
           top_predictions: Sequence[float] | None = None) -> StopDecision:
    """With ``policy.envelope_guard`` a run that tracks a top-k run is kept whatever the prediction says:
    ``tracking`` (from ``tracks_top``) or else ``current >= envelope`` (the lowest value any top-k finished
    run had at this epoch). With ``policy.bar == "predicted"`` the bar is ``predicted_bar(top_predictions)``
    (the top-k finished runs' point predictions at this epoch) once ``min_finished`` runs have finished."""
    if policy.bar not in BARS:
        raise ValueError(f"stop policy bar {policy.bar!r}: expected one of {BARS}")
    min_finished = policy.top_k if policy.min_finished is None else policy.min_finished
    bar = bar_to_clear(incumbent, policy.top_k, min_finished)
    if policy.bar == "predicted" and bar is not None:
        bar = predicted_bar(top_predictions or [])
    p = 1.0 if bar is None else p_exceeds(bar, point, lo, hi, policy.margin)
    if epochs_seen >= planned_epochs:
        return StopDecision(False, p, point, lo, hi, bar, "run finished", model)
    if epochs_seen < policy.min_epochs:
        return StopDecision(False, p, point, lo, hi, bar, f"fewer than {policy.min_epochs} epochs seen", model)
    if bar is None:
        return StopDecision(False, p, point, lo, hi, bar, "no incumbent yet", model)
    if tracking is None and current is not None and envelope is not None:
        tracking = current >= envelope
    if policy.envelope_guard and tracking:
        return StopDecision(False, p, point, lo, hi, bar, f"at least as good as a top-{policy.top_k} run at this epoch", model)
    if p < policy.p_min:
        return StopDecision(True, p, point, lo, hi, bar, f"P(final > {bar:.4f}) = {p:.3f} < {policy.p_min}", model)
    return StopDecision(False, p, point, lo, hi, bar, f"P(final > {bar:.4f}) = {p:.3f}", model)


PredictFn = Callable[[list[float]], tuple[float, float, float]]


@dataclass
class Replay:
    """Outcome of one policy on one order of runs."""

    epochs_used: int
    epochs_total: int
    finished: list[int] = field(default_factory=list)  # indices of runs trained to the end
    stopped: dict[int, int] = field(default_factory=dict)  # run index -> epochs it got
