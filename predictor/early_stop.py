"""Early-stop decisions from a predicted final metric and its 80% interval, and from the run's rank in its study.

The rule: keep a run while it could still enter the top-k of finished runs. The predictive
distribution of the final metric is a two-piece normal through the interval (the 10% and 90%
quantiles) and the point estimate; the run stops when P(final > bar) falls below ``p_min``, the bar
being the k-th best final so far (``bar="final"``) or the lowest prediction the top-k finished runs got
at the same epoch (``bar="predicted"``, robust to the predictor's bias on unseen families). Until k runs
have finished nothing is stopped (there is no bar to clear yet).

Learning from the study (``sibling_corrected``, on when the policy has ``sibling_shrink``): earlier runs of the same
code in the study show how far the predictor was off for that code at this epoch; their mean residual, shrunk towards
zero, shifts the prediction and their spread widens its interval.

The rung rule (``rung_decision``, on when the policy has ``rungs`` and the caller passes every earlier run of the
study): at fixed epochs a run stops when its best-so-far ranks outside a share of those runs measured on a train
pool (``calibrate_rungs``), like successive halving with rungs but judged against the whole study.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from scipy.stats import beta, hypergeom

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
    # Before epoch ``early_until`` the rule asks for P < p_min_early instead (None: p_min at every epoch). Why: the
    # forecasts of the first epochs are the ones a slow starter beats (``RECOMMENDED_POLICY``).
    p_min_early: float | None = None
    early_until: int = 10
    # From ``late_share`` of the planned epochs on, P < p_min_late (None: p_min to the end). Why: the last epochs'
    # forecasts are tight (50-epoch runs at k = 30 / 40: RMSE 0.024 / 0.022), and a run that ends below the bar still
    # spends those epochs. Measured as ``LATE_THRESHOLD``; off in ``RECOMMENDED_POLICY``.
    p_min_late: float | None = None
    late_share: float = 0.7
    min_epochs: int = 1  # never stop before this many epochs
    min_finished: int | None = None  # finished runs needed before stopping anything (default top_k)
    margin: float = 0.0  # extra slack added to the interval's upper side
    envelope_guard: bool = False  # never stop a run doing at least as well as some top-k run did at this epoch
    patience: int = 1  # stop only after this many consecutive epochs of "stop" (one noisy epoch must not kill a run)
    bar: str = "final"  # "final": the k-th best finished final; "predicted": see predicted_bar
    # The rung rule (successive-halving-like, see rung_decision): at each (epoch, keep fraction) rung, stop a run that
    # ranks outside that top fraction of every earlier run of the study. Empty: off (the probability rule alone).
    rungs: tuple[tuple[int, float], ...] = ()
    rank_by: str = "best"  # "best": best-so-far; "best_or_predicted": kept when either it or the point prediction ranks in
    rank_min_runs: int = 10  # earlier runs needed before a rung stops anything
    rank_min_above: int = 1  # never stop a run with fewer earlier runs ranked above it
    rank_confidence: float = 0.0  # > 0: stop only when P(true share above the run > keep) >= this (Beta posterior)
    probability_rule: bool = True  # also stop by P(final > bar) between rungs (needs finished runs)
    rung_guard: bool = False  # a rung never stops a run whose best-so-far reached some top-k finished run's at this epoch
    sibling_shrink: float = 0.0  # > 0: correct the prediction by earlier runs of the same code (sibling_corrected); prior weight
    # With the study's size known (``StudyProgress``): the bar is the j-th best finished final for the smallest j whose
    # chance of standing above the study's final k-th best is at most this (``bar_rank``). None: the k-th best always.
    bar_risk: float | None = None
    # With ``bar_risk`` and the study's size known, the (before ``early_until``, from it) thresholds for the whole study;
    # None: the usual ones. Why others: a higher bar also reaches the slow starters the predictor under-forecasts, and
    # fewer finished runs teach the correction by runs of the same code less (``STUDY_SIZE_POLICY``).
    p_min_sized: tuple[float, float] | None = None

    def p_min_at(self, epochs_seen: int, planned_epochs: int | None = None, sized: bool = False) -> float:
        """The probability below which a run seen for ``epochs_seen`` of its ``planned_epochs`` epochs stops; ``sized``:
        the study's size is known and ``bar_risk`` sets the bar, so ``p_min_sized`` applies when set."""
        if sized and self.p_min_sized is not None:
            return self.p_min_sized[0 if epochs_seen < self.early_until else 1]
        if self.p_min_late is not None and planned_epochs and epochs_seen >= self.late_share * planned_epochs:
            return self.p_min_late
        early = self.p_min_early is not None and epochs_seen < self.early_until
        return self.p_min_early if early else self.p_min


# The probability rule, chosen on TRAIN replays (bench/bench_early_stop.py --train-replays: 50-epoch runs of each
# split's train models, predicted out of fold by family halves): stop when, two epochs in a row, P(final > the lowest
# prediction the top-10 finished runs had at this epoch) < 0.10 and the run's best-so-far is below every top-10 run's
# at this epoch. The bar of finished finals (bar="final") killed 11-29% of the true top-10 on those replays.
PREVIOUS_POLICY = dict(top_k=10, p_min=0.10, envelope_guard=True, patience=2, bar="predicted")

# The rung rule (recommended before the study's own runs corrected the prediction): the probability rule plus rungs. At
# epochs 2, 4, 6, 8, 12, 16, 20, 25, 30, 35, 40 and 45 a run stops when its best-so-far ranks outside the rung's top
# share of every earlier run of the study (69% at epoch 2 down to 6% at epoch 45) with posterior probability >= 0.8,
# unless it is at least as good as some top-10 finished run was at that epoch. The shares are
# calibrate_rungs(coverage=1.0) on the train pools of split seeds 0 and 1 (647 unique out-of-fold 50-epoch CIFAR-10
# runs): the lowest rank any run that ended in the top 5% had at that epoch. It kept every top-10 run but saved only
# 61-64% (200-run studies) and 72-75% (whole pools): the slow starters it must protect widen every rung.
RUNGS_POLICY = dict(PREVIOUS_POLICY, rungs=((2, 0.69), (4, 0.646), (6, 0.605), (8, 0.52), (12, 0.29), (16, 0.282), (20, 0.278),
                                            (25, 0.241), (30, 0.224), (35, 0.112), (40, 0.078), (45, 0.057)),
                    rank_by="best", rung_guard=True, rank_confidence=0.8)

# The recommended rule: stop when, two epochs in a row, P(final > the 10th best finished final) < 0.05 (< 0.035 before
# epoch 10; until session 26, with wider intervals, 0.06 / 0.04), the prediction corrected by the study's earlier runs
# of the same code (sibling_corrected, prior weight 1); from the 3rd finished run on (until 10 have finished the bar is
# the worst finished final: a run sure to end below every finished run cannot reach the top-10). Chosen on the TRAIN
# replays (`--train-replays --seeds 0,1`: out-of-fold 50-epoch runs of the train models;
# bench/results/early_stop_train_replays.json): there it kept 96-100% of the top-10 and found the best in every replay.
# Not kept there: p_min 0.07-0.1 (2-4 points more saved, 78-88% kept on seed 0's whole pool), shrinkage 2-3 (88-90% kept
# there), patience 1 even at p_min 0.01 (lost the best in 1 of 5 whole-pool orders), stopping from the first finished
# run (94%), a lower p_min for a code's first run (exploration), stopping at once below P = 0.005 and a floor of
# 0.015-0.02 under the interval's half-widths (same top-10 kept, fewer epochs saved), and letting the siblings' spread
# also narrow the interval (half-widths blended with it, prior weight 5-20 runs: 1-3 points more saved, 84-92% kept on
# seed 0's train pools).
# Re-run with the headroom-point predictor (session 15), one p_min of 0.05 kept 96% on the 200-run train studies and 98%
# on seed 1's whole train pool, but 88% on seed 0's: a MoEv7 slow starter (0.518 at epoch 6, 0.917 at the end) beats
# even its siblings' correction by 0.13 and was killed at epoch 6. Hence two thresholds: the forecasts of the first
# epochs are the ones such a run beats, the later ones are tight and calibrated. On the train replays, 0.04 before
# epoch 10 and 0.06 from it kept 96% / 98% (whole pools of seeds 0 / 1) and 97% (200-run studies), saving 76.3% /
# 70.9% / 65.9% (one p_min 0.05: 76.7% / 71.0% / 66.0%); 0.03 / 0.1 saved more but kept 94% of the 200-run studies,
# 0.03 / 0.05 kept 100% / 98% / 97% but saved 0.8-1.0 points less; 0.03 / 0.1 switching at epoch 6 kept 92% (seed 0,
# 200-run studies), at epoch 15 saved 0.8-1.1 points less than at 10.
# The rungs, the envelope guard and the predicted bar were built to protect slow starters the predictor
# under-forecasts; with the study's correction they cost epochs without keeping more.
# Session 26: the intervals' conformal level went from 0.80 to 0.78 (``GBMParams.conformal_level``: the hold-outs had
# covered 0.79-0.85, now centred on 0.80), so the same P reads a narrower interval. With 0.04 / 0.06 the train replays
# (strict seeds 0 / 1, 10 orders of each whole pool and of 200-run studies) kept 94 / 96 / 95 / 99% of the top-10
# instead of 98 / 96 / 97 / 99%, saving 76.0 / 68.2 / 72.3 / 65.8%. Of six lower pairs (0.02-0.035 / 0.04-0.06), the one
# nearest the old rule on all four is 0.035 / 0.05: 99 / 97 / 95 / 99% kept, 75.2 / 67.6 / 71.6 / 65.1% saved (the old
# rule with the old intervals: 75.3 / 67.7 / 71.4 / 65.0%); 0.03 / 0.05 kept 100 / 97 / 95 / 99% saving 0.1-0.5 less.
RECOMMENDED_POLICY = dict(top_k=10, p_min=0.05, p_min_early=0.035, early_until=10, patience=2, bar="final", min_finished=3,
                          sibling_shrink=1.0)
# Session 24, on the train replays re-made with the horizon cuts' predictions (10 orders of each whole train pool and of
# 200-run studies, strict seeds 0 / 1; bench/results/early_stop_train_late_grid.json): from 70% of the planned epochs on
# (epoch 35 of 50), P < 0.3 saved 0.8-1.1 points more keeping 97% / 97% / 96% / 99% of the top-10 (P < 0.2 from epoch 30
# 95-96%, 0.3 from epoch 30 92-94%, 0.4-0.5 from epoch 35-40 94-96%). Replayed once on the test pools it saved 0.3-0.8
# points more of the whole pools with the same top-10 kept, but kept 92% instead of 99% of seed 0's 200-run studies'
# top-10: an option (``p_min_late``), not the recommended rule.
LATE_THRESHOLD = dict(p_min_late=0.3, late_share=0.7)
# Session 25, an option: when the caller gives the study's size (``StudyProgress``: ``study_runs`` in the API and the
# server, ``n_trials`` in the Optuna pruner; the replays always know it), the bar is the j-th best finished final with
# risk 0.02 of passing the study's final 10th best (``bar_rank``), and the thresholds are 0.02 before epoch 10 and 0.04
# from it. Why: until the study is well along, the 10th best (or the worst) finished final is far below where the
# study's top-10 ends, and the first tenth of a replayed study spent a quarter of the epochs it trained. Chosen on the
# train replays of strict seeds 0 / 1 (10 orders of each whole pool and of 200-run studies;
# bench/results/early_stop_train_study_size.json): whole pools / 200-run studies saved 77.4% / 71.0% (seed 0) and
# 73.7% / 68.4% (seed 1) keeping 99 / 96 / 97 / 100% of the top-10, where the recommended rule saved 75.3 / 67.7 / 71.4
# / 65.0% keeping 98 / 96 / 97 / 99%: of the 23 points (risk 0.01-0.2, thresholds 0.005-0.04 / 0.02-0.06) the one that
# keeps at least as many as that rule everywhere and saves the most. The size's bar with 0.04 / 0.06 kept 84% of seed
# 0's whole train pool (a higher bar also reaches the slow starters), and 0.02 / 0.04 only while the bar is raised kept
# 91% (the runs it stops early no longer finish, and the correction by runs of the same code learns less from them).
# Replayed once on the test pools (strict seeds 0 / 1 / 3) it saved more everywhere (whole pools 78.8 / 80.8 / 80.0%,
# 200-run studies 65.6 / 66.4 / 68.4%) and kept as much of seeds 0 and 3's top-10, but 91% / 89% (one order 40%) of seed
# 1's instead of 97% / 93%: there MoEv4's runs jump at epoch 31 (StepLR(30)), and once the raised bar stops a study's
# first MoEv4 runs before that, none finishes to teach the correction. Letting the size count only for codes with a
# finished run (measured on the train replays) kept that path but gave back most of the saving (+0.6-0.9 points over the
# recommended rule). Hence an option, not the recommended rule.
STUDY_SIZE_POLICY = dict(RECOMMENDED_POLICY, bar_risk=0.02, p_min_sized=(0.02, 0.04))


# What a run that diverged sends, said wherever a NaN or infinite accuracy is refused. Why: a training loop that passed
# a NaN accuracy straight on got "nan is not in [0, 1]" mid-training, with no word of what to send, while
# ``predictor_pruner`` reads a NaN report as divergence (it prunes the trial). 0.0 is the final a diverged run reports
# (``Client.report_result``); a NaN is refused rather than read as 0.0, since it is as often a bug in the metric.
DIVERGED_HINT = ("a run that diverged (a NaN or infinite loss or accuracy) sends 0.0 for that epoch, the final a diverged "
                 "run reports; predictor_pruner prunes a trial at a NaN report")


def diverged_hint(values: list[float]) -> str:
    """" (``DIVERGED_HINT``)" when a value is NaN or infinite, else ""."""
    return f" ({DIVERGED_HINT})" if any(not math.isfinite(v) for v in values) else ""


def check_accuracy(value: Any, field: str) -> float:
    """``value`` as an accuracy in [0, 1], else a ValueError naming ``field`` (``_above_one_hint``: a percentage or a
    loss; ``diverged_hint``: NaN). Why: an incumbent of 1.5 or 90 is a bar no run clears (every run stopped), NaN one
    every run clears (none stopped), and "0.9" failed deep inside the rule with a message about floats."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if number and math.isfinite(value) and 0.0 <= value <= 1.0:
        return float(value)
    hint = above_one_hint([float(value)], curve=False) if number and math.isfinite(value) and value > 1.0 else ""
    hint = hint or (diverged_hint([float(value)]) if number else "")
    raise ValueError(f"{field} must be an accuracy in [0, 1], got {value!r}{hint}")


def above_one_hint(values: list[float], curve: bool = True) -> str:
    """What values above 1 may be (a curve's, else one value's): percentages (31 for 0.31; offered only when every value lies
    in [0, 100]) or losses; "" when none is above 1 or one is negative or not finite. Why losses: 2.302 or 3.09 are
    typical losses (a monitor on val_loss), and dividing them by 100 was the only advice."""
    if not all(math.isfinite(v) and v >= 0.0 for v in values) or max(values, default=0.0) <= 1.0:
        return ""
    one = not curve
    loss = f"{'a loss' if one else 'losses'} (the predictor forecasts accuracy in [0, 1]: monitor an accuracy metric)"
    if max(values) <= 100.0:
        return f": {'it looks' if one else 'they look'} like {'a percentage' if one else 'percentages'} (divide {'it' if one else 'them'} by 100) or {loss}"
    return f": {'it' if one else 'they'} may be {loss}"


MAX_STUDY_RUNS = 10_000_000


def checked_study_runs(value: Any, field: str = "study_runs") -> int | None:
    """``value`` as a study's planned number of runs: None (not known), else a whole number from 1, else a ValueError
    naming ``field``. Why checked: 0 or -5 would be read as a study already over, 2.5 as a size no study has."""
    if value is None:
        return None
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value) or not 1 <= value <= MAX_STUDY_RUNS:
        raise ValueError(f"{field} must be the study's planned number of runs, a whole number from 1 to {MAX_STUDY_RUNS}, got {value!r}")
    return int(value)


def checked_study(study_runs: Any, earlier: Any) -> int | None:
    """``checked_study_runs``, and a ValueError when it is given without ``earlier`` (the study's earlier runs, which
    count how far it is: without them the study would read as just begun, the highest bar)."""
    study_runs = checked_study_runs(study_runs)
    if study_runs is not None and earlier is None:
        raise ValueError("study_runs needs earlier: every earlier run of the study, finished or stopped, counts how far it is")
    problem = study_size_problem(study_runs, len(earlier)) if study_runs is not None and hasattr(earlier, "__len__") else ""
    if problem:
        raise ValueError(f"study_runs {problem}")
    return study_runs


def study_size_problem(study_runs: int, n_earlier: int) -> str:
    """Why ``study_runs`` cannot be the size of a study that has had ``n_earlier`` runs before this one ("" when it can).
    Why: 2 with 5 earlier runs was taken, and read the study as over its size."""
    if n_earlier + 1 <= study_runs:
        return ""
    return (f"is the number of runs the study trains in all, so at least {n_earlier + 1} ({n_earlier} earlier runs and "
            f"this one), got {study_runs}")


def plain_numbers(value: Any) -> Any:
    """``value`` with tensors, numpy arrays and numpy scalars made Python numbers and lists (a 1-d array of finals, a 2-d
    one of curves), inside lists too; duck-typed (``ndim`` and ``tolist``), so torch is never imported here. Why: an
    incumbent of ``[torch.tensor(0.8), ...]`` (metrics as Lightning logs them) failed with "iteration over a 0-d
    tensor", read as a curve, and a 2-d tensor of curves failed as "a mix" of kinds."""
    ndim = getattr(value, "ndim", None)
    if ndim == 0 and hasattr(value, "item"):
        return value.item()
    if isinstance(ndim, int) and ndim > 0 and hasattr(value, "tolist"):
        return value.tolist()  # plain Python numbers at every depth
    if isinstance(value, (list, tuple)):
        return [plain_numbers(v) for v in value]
    return value


def checked_incumbent(incumbent: Any, field: str = "incumbent") -> float | list[float] | list[list[float]] | list[dict] | None:
    """``incumbent`` as ``Predictor.should_stop`` reads it (None, the best final, the finals of finished runs, their
    curves, or the runs as dicts), every accuracy checked by ``check_accuracy`` and made a plain float. Run dicts pass
    as they are: their curves are checked as runs. One kind per list: the first item says which the rule reads."""
    if incumbent is None:
        return None
    incumbent = plain_numbers(incumbent)
    if isinstance(incumbent, numbers.Real) and not isinstance(incumbent, bool):
        return check_accuracy(incumbent, field)
    if isinstance(incumbent, (str, bytes, dict)) or not isinstance(incumbent, Iterable):
        raise ValueError(f"{field} must be the best final accuracy or a list of finals, curves or run dicts, got {incumbent!r:.80}")
    out, kinds = [], []
    for i, item in enumerate(incumbent):
        kind = _incumbent_kind(item)
        if kinds and kind != kinds[0]:
            raise ValueError(f"{field}[{i}] is a {kind} but {field}[0] is a {kinds[0]}: give finals, curves or run dicts, not a mix")
        kinds.append(kind)
        if kind == "run dict":
            out.append(item)
        elif kind == "curve":
            out.append([check_accuracy(v, f"{field}[{i}][{j}]") for j, v in enumerate(item)])
        else:
            out.append(check_accuracy(item, f"{field}[{i}]"))
    return out


def _incumbent_kind(item: Any) -> str:
    if isinstance(item, dict):
        return "run dict"
    if isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
        return "curve"
    return "final"


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def p_exceeds(threshold: float, point: float, lo: float, hi: float, margin: float = 0.0) -> float:
    """P(final > threshold) under a two-piece normal with median ``point`` and 10/90% quantiles ``lo``/``hi``, censored
    at 1: the mass above 1 is a final of exactly 1, which no threshold of 1 or more is below.

    Why censored: an accuracy cannot pass 1, and P(final > 1.0) was 0.1 for an interval clipped at 1, so an incumbent
    of 1.0 stopped nothing. Censoring keeps P consistent with the interval the answer reports (a ``hi`` clipped to 1
    still is the 90% quantile: at least 10% of runs like this reach the ceiling). Truncating at 1 instead (the mass
    above 1 spread below it) made ``hi`` no quantile at all and, replayed on MNIST's runs with their own estimator,
    stopped more of the top-10 (77% kept instead of 85%) where finals crowd under 1."""
    if threshold >= 1.0:
        return 0.0
    return _survival(threshold, point, lo, hi + margin)


def _survival(x: float, point: float, lo: float, hi: float) -> float:
    """P(X > x) of the untruncated two-piece normal: the lower half's sigma from ``lo``, the upper half's from ``hi``."""
    side = point - lo if x <= point else hi - point
    return 1.0 - _phi((x - point) / (max(side, 1e-4) / Z90))


def sibling_corrected(point: float, lo: float, hi: float, residuals: Sequence[float], shrink: float) -> tuple[float, float, float]:
    """The prediction (point, 10% and 90% quantiles) corrected by ``residuals``: for each earlier run of the same code
    in this study that trained past this epoch, its outcome (its final, or its point prediction where it stopped)
    minus the point prediction it had at this epoch. The shift is their mean shrunk by ``n / (n + shrink)``; with two
    or more, the interval widens to cover their spread (inflated for a mean estimated from n runs). Clipped to [0, 1].

    Why: the predictor's error is shared by runs of the same code. An unseen family it under-forecasts, or a
    learning-rate drop at epoch 30 that no training family has (LEMUR's MoEv4: StepLR(30) jumps +0.07), showed up in
    the replays as the top-10 runs it killed; the study's own earlier runs of that code reveal the error.
    """
    n = len(residuals)
    if n == 0:
        return point, lo, hi
    mean = sum(residuals) / n
    shift = mean * n / (n + shrink)
    point, lo, hi = point + shift, lo + shift, hi + shift
    if n >= 2:
        spread = math.sqrt(sum((r - mean) ** 2 for r in residuals) / n * (1.0 + 1.0 / n)) * Z90
        lo, hi = min(lo, point - spread), max(hi, point + spread)
    return tuple(min(max(v, 0.0), 1.0) for v in (point, lo, hi))  # an accuracy: the shift must not leave [0, 1]


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands when a run is decided: the runs it started before this one (finished or stopped, every one)
    and the runs it will train in all (its trial budget)."""

    runs_seen: int
    runs_planned: int


def bar_rank(top_k: int, progress: StudyProgress | None, risk: float | None) -> int:
    """Which finished final is the bar: the j-th best, for the smallest j such that P(at least j of the runs seen so
    far end in the study's final top-k) <= ``risk``; ``top_k`` when the study's size or the risk is not known.

    Why: a run is worth keeping if it could end in the top-k of the whole study, and until k runs have finished the
    k-th best (or the worst) finished final is far below where that top-k will end: the first tenth of a replayed study
    spent a quarter of all the epochs it trained. In a study drawn in random order the number of its final top-k among
    the first n runs is hypergeometric (N runs, k of them the top, n drawn); while fewer than j of them can have been
    seen, the j-th best final so far is at most the study's final k-th best, so the bar stays one a top-k run clears.
    Late in the study j reaches k: the same bar as without the study's size."""
    if progress is None or risk is None or progress.runs_planned <= 0:
        return top_k
    drawn = min(max(progress.runs_seen, 0), progress.runs_planned)
    for rank in range(1, top_k):
        if hypergeom.sf(rank - 1, progress.runs_planned, min(top_k, progress.runs_planned), drawn) <= risk:
            return rank
    return top_k


def bar_to_clear(incumbent: float | Sequence[float] | None, top_k: int, min_finished: int) -> float | None:
    """The k-th best finished final (or the incumbent itself when a single number is given); ``top_k`` may be the lower
    rank ``bar_rank`` allows."""
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
    if k == 0:  # no epoch seen yet: nothing to compare (max() of the empty prefixes raised)
        return None
    at_k = [max(c[:k]) for c in top_curves if len(c) >= k]
    return max(curve) >= min(at_k) if at_k else None


def decide(epochs_seen: int, planned_epochs: int, point: float, lo: float, hi: float,
           incumbent: float | Sequence[float] | None, policy: StopPolicy, model: str = "",
           current: float | None = None, envelope: float | None = None, tracking: bool | None = None,
           top_predictions: Sequence[float] | None = None, progress: StudyProgress | None = None) -> StopDecision:
    """``progress``: how far the study is, for a policy with ``bar_risk`` (``bar_rank``; the reason then says which
    finished final is the bar). With ``policy.envelope_guard`` a run that tracks a top-k run is kept whatever the
    prediction says: ``tracking`` (from ``tracks_top``) or else ``current >= envelope`` (the lowest value any top-k finished
    run had at this epoch). With ``policy.bar == "predicted"`` the bar is ``predicted_bar(top_predictions)``
    (the top-k finished runs' point predictions at this epoch) once ``min_finished`` runs have finished."""
    if policy.bar not in BARS:
        raise ValueError(f"stop policy bar {policy.bar!r}: expected one of {BARS}")
    min_finished = policy.top_k if policy.min_finished is None else policy.min_finished
    sized = progress is not None and policy.bar_risk is not None
    rank = bar_rank(policy.top_k, progress, policy.bar_risk)  # top_k unless sized
    bar = bar_to_clear(incumbent, rank, min_finished)
    if policy.bar == "predicted" and bar is not None:
        bar = predicted_bar(top_predictions or [])
    p = 1.0 if bar is None else p_exceeds(bar, point, lo, hi, policy.margin)
    if epochs_seen >= planned_epochs:
        return StopDecision(False, p, point, lo, hi, bar, "run finished", model)
    if epochs_seen < policy.min_epochs:
        return StopDecision(False, p, point, lo, hi, bar, f"fewer than {policy.min_epochs} epochs seen", model)
    if bar is None:
        return StopDecision(False, p, point, lo, hi, bar, _no_bar_reason(incumbent, min_finished), model)
    if tracking is None and current is not None and envelope is not None:
        tracking = current >= envelope
    if policy.envelope_guard and tracking:
        return StopDecision(False, p, point, lo, hi, bar, f"at least as good as a top-{policy.top_k} run at this epoch", model)
    p_min = policy.p_min_at(epochs_seen, planned_epochs, sized=sized)
    which = f" (bar: finished final no. {rank} from the top, or the worst of fewer; run {progress.runs_seen + 1} of {progress.runs_planned})" \
        if sized else ""
    if p < p_min:
        return StopDecision(True, p, point, lo, hi, bar, f"P(final > {bar:.4f}) = {p:.3f} < {p_min}{which}", model)
    return StopDecision(False, p, point, lo, hi, bar, f"P(final > {bar:.4f}) = {p:.3f}{which}", model)


def _no_bar_reason(incumbent: float | Sequence[float] | None, min_finished: int) -> str:
    """Why there is no bar to clear: no incumbent at all, or fewer finished runs than the rule needs (``min_finished``).
    Why say which: with two finished runs given, "no incumbent yet" read as if the finals had been lost."""
    if incumbent is None or isinstance(incumbent, (int, float)):
        return "no incumbent yet"
    n, needed = len(incumbent), max(min_finished, 1)
    if n >= needed:  # enough finished runs, but nothing to predict the bar from (bar="predicted")
        return "no incumbent yet"
    return (f"{n} finished run{'' if n == 1 else 's'}, the rule needs {needed} (min_finished) before it stops anything")


RANK_BY = ("best", "trend", "best_or_predicted")


def best_at(curve: Sequence[float], epoch: int) -> float:
    """Best-so-far of ``curve`` at ``epoch``; a shorter curve (a run stopped earlier, or still training) keeps its last best.

    Why frozen: a run stopped at an earlier rung ranked low there and its best can only be a lower bound of what it
    would have reached, so the rank of the run being judged is if anything over-estimated (kept, not killed).
    """
    return max(curve[:epoch])


def trend_at(curve: Sequence[float], epoch: int) -> float:
    """Best-so-far at ``epoch`` plus its gain over the last doubling of epochs (from ceil(epoch / 2)): where the run
    would be one more doubling on if it kept improving at the same rate per doubling. Frozen where the curve ends.

    Why: a slow starter with a steep curve (a warm-up, a low learning rate) ranks low by best-so-far at epochs 2-8
    although it ends in the top few per cent; its recent gain lifts it.
    """
    e = min(epoch, len(curve))
    half = (e + 1) // 2
    now = best_at(curve, e)
    return now if half >= e else now + (now - best_at(curve, half)) / math.log2(e / half)


def rank_score(curve: Sequence[float], epoch: int, rank_by: str) -> float:
    return trend_at(curve, epoch) if rank_by == "trend" else best_at(curve, epoch)


def outside_share(above: int, n: int, keep: float, confidence: float) -> bool:
    """Whether a run with ``above`` of ``n`` earlier runs ranked above it lies outside the top ``keep`` share of the
    whole population with at least ``confidence`` (uniform prior, Beta posterior of the share; 0: the point estimate).

    Why: early in a study the share is estimated from a handful of runs; the posterior asks for more evidence then.
    """
    if confidence <= 0.0:
        return above >= keep * n
    return float(beta.sf(keep, above + 1, n - above + 1)) >= confidence


def rung_decision(epoch: int, curve: Sequence[float], earlier: Sequence[Sequence[float]], policy: StopPolicy,
                  point: float | None = None, earlier_points: Sequence[float] | None = None) -> tuple[bool, str] | None:
    """The rung rule at ``epoch``: (stop, reason), or None where it does not apply (no rung at this epoch, too few runs).

    Successive halving judges a run against the runs that reached the same rung; here the bar is a share of *every*
    earlier run of the study (``earlier``: their curves as far as they trained), each compared at this epoch by its
    best-so-far (frozen where it stopped earlier). The run stops when at least ``keep * n`` (and ``rank_min_above``)
    earlier runs rank above it. The keep fractions shrink from rung to rung: how far down a run that ends in the top
    few per cent can still rank at that epoch was measured on the train pool (bench/bench_early_stop.py --calibrate).
    With ``rank_by="best_or_predicted"`` a run is also kept when its point prediction ranks in the same top share of
    ``earlier_points`` (each earlier run's prediction at this epoch, or where it stopped).
    """
    if policy.rank_by not in RANK_BY:
        raise ValueError(f"stop policy rank_by {policy.rank_by!r}: expected one of {RANK_BY}")
    keep = dict(policy.rungs).get(epoch)
    earlier = [c for c in earlier if len(c)]
    if keep is None or not curve or len(earlier) < max(policy.rank_min_runs, 1):
        return None
    n = len(earlier)
    allowed = max(keep * n, policy.rank_min_above)
    what = "trend" if policy.rank_by == "trend" else "best-so-far"
    mine = rank_score(curve, epoch, policy.rank_by)
    above = sum(rank_score(c, epoch, policy.rank_by) > mine for c in earlier)
    if above < allowed or not outside_share(above, n, keep, policy.rank_confidence):
        return False, f"{what} ranks {above + 1} of {n + 1} at epoch {epoch} (top {keep:.0%} kept)"
    if policy.rank_by == "best_or_predicted" and point is not None and earlier_points:
        above_p = sum(p > point for p in earlier_points)
        if above_p < max(keep * len(earlier_points), policy.rank_min_above):
            return False, f"predicted final ranks {above_p + 1} of {len(earlier_points) + 1} at epoch {epoch} (top {keep:.0%} kept)"
    return True, f"{what} ranks {above + 1} of {n + 1} at epoch {epoch}, outside the top {keep:.0%}"


def guarded_rung(epoch: int, curve: Sequence[float], earlier: Sequence[Sequence[float]], policy: StopPolicy,
                 top_curves: Sequence[Sequence[float]] | None, point: float | None = None,
                 earlier_points: Sequence[float] | None = None) -> tuple[bool, str] | None:
    """``rung_decision`` with the policy's ``rung_guard``: a run as good as some top-k finished run was at this
    epoch (``top_curves``, best first) is kept whatever its rank. The one composition the API, the replay and
    the Optuna pruner share."""
    rung = rung_decision(epoch, curve, earlier, policy, point, earlier_points)
    if rung is not None and rung[0] and policy.rung_guard and top_curves and tracks_top(curve, top_curves):
        return False, f"{rung[1]}; kept: at least as good as a top-{policy.top_k} run at this epoch"
    return rung


def calibrate_rungs(curves: Sequence[Sequence[float]], epochs: Sequence[int], rank_by: str = "best",
                    top_share: float = 0.05, coverage: float = 0.95) -> tuple[tuple[int, float], ...]:
    """Rungs from finished curves (a train pool): at each epoch, the keep share is the ``coverage`` quantile of the
    share of runs ranked above a run that ends in the top ``top_share`` (0.05: the top-10 of a 200-run study);
    an earlier rung never keeps a smaller share than a later one.

    Why measured: how far down an eventual winner can rank at epoch 2, 8 or 30 depends on the families and schedules
    in the pool (slow starters, late learning-rate drops), not on a halving ratio fixed in advance.
    """
    curves = [list(c) for c in curves if len(c) >= max(epochs) + 1]
    if not curves:
        raise ValueError(f"calibrate_rungs: no curve longer than {max(epochs)} epochs")
    n = len(curves)
    top = sorted(range(n), key=lambda i: -curves[i][-1])[: max(1, round(top_share * n))]
    shares = []
    for e in epochs:
        scores = [rank_score(c, e, rank_by) for c in curves]
        above = sorted(sum(s > scores[i] for s in scores) / n for i in top)
        shares.append(above[min(len(above) - 1, math.ceil(coverage * len(above)) - 1)])
    for j in range(len(shares) - 2, -1, -1):
        shares[j] = max(shares[j], shares[j + 1])
    return tuple((int(e), round(q + 1e-3, 3)) for e, q in zip(epochs, shares))


PredictFn = Callable[[list[float]], tuple[float, float, float]]


@dataclass
class Replay:
    """Outcome of one policy on one order of runs."""

    epochs_used: int
    epochs_total: int
    finished: list[int] = field(default_factory=list)  # indices of runs trained to the end
    stopped: dict[int, int] = field(default_factory=dict)  # run index -> epochs it got
