"""Early stop: the rung rule (rank against every earlier run of the study) and the correction by earlier runs of the
same code, in the rule, the replay, the Optuna pruner and the Predictor API. Small synthetic curves; no LEMUR data."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from predictor.early_stop import StopPolicy, best_at, outside_share, rung_decision, sibling_corrected, trend_at
from predictor.replay import replay_optuna, replay_predictor

RUNGS = ((2, 0.5), (4, 0.3), (8, 0.15))


def _curves(n: int = 80, seed: int = 3, epochs: int = 12) -> list[list[float]]:
    """Curves a - 0.3 t^-0.7 + noise: the final ranks mostly follow the early ranks."""
    rng = np.random.default_rng(seed)
    return [[float(a - 0.3 * t ** -0.7 + rng.normal(0, 0.003)) for t in range(1, epochs + 1)] for a in rng.uniform(0.3, 0.9, n)]


def test_rung_decision_ranks_against_every_earlier_run():
    policy = StopPolicy(rungs=RUNGS, rank_min_runs=4, probability_rule=False)
    earlier = [[0.1 * i, 0.1 * i + 0.05] for i in range(1, 11)]  # best-so-far at epoch 2: 0.15 .. 1.05
    low, high = [0.2, 0.3], [0.9, 0.97]
    stop, reason = rung_decision(2, low, earlier, policy)
    assert stop and "epoch 2" in reason and "outside the top 50%" in reason
    assert rung_decision(2, high, earlier, policy) == (False, "best-so-far ranks 2 of 11 at epoch 2 (top 50% kept)")
    assert rung_decision(3, [0.2, 0.3, 0.3], earlier, policy) is None, "epoch 3 is no rung"
    assert rung_decision(2, low, earlier[:3], policy) is None, "fewer earlier runs than rank_min_runs"
    # A run stopped after one epoch counts with its best-so-far there (a lower bound of where it would be).
    stopped_early = [[0.95]] * 10
    assert rung_decision(2, [0.5, 0.9], stopped_early, policy)[0], "ten runs that were already better at epoch 1"
    assert not rung_decision(2, [0.5, 0.96], stopped_early, policy)[0]
    assert not rung_decision(2, low, earlier, replace(policy, rank_min_above=20))[0], "rank_min_above protects the top-20"
    with pytest.raises(ValueError, match="rank_by"):
        rung_decision(2, low, earlier, replace(policy, rank_by="median"))


def test_rung_best_or_predicted_keeps_a_run_the_predictor_ranks_high():
    policy = StopPolicy(rungs=RUNGS, rank_min_runs=4, rank_by="best_or_predicted", probability_rule=False)
    earlier = [[0.1 * i, 0.1 * i + 0.05] for i in range(1, 11)]
    points = [0.1 * i for i in range(1, 11)]
    assert rung_decision(2, [0.2, 0.3], earlier, policy, point=0.2, earlier_points=points)[0]
    kept = rung_decision(2, [0.2, 0.3], earlier, policy, point=0.95, earlier_points=points)
    assert kept[0] is False and "predicted final ranks 2 of 11" in kept[1]


def test_trend_and_confidence():
    flat, steep = [0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.35, 0.5]
    assert best_at(flat, 4) == best_at(steep, 4) == 0.5
    assert trend_at(steep, 4) == pytest.approx(0.5 + 0.3) and trend_at(flat, 4) == 0.5
    assert trend_at([0.3], 4) == 0.3, "a shorter curve is frozen where it ends"
    policy = StopPolicy(rungs=((4, 0.5),), rank_min_runs=3, rank_by="trend", probability_rule=False)
    earlier = [[0.55, 0.6, 0.6, 0.6]] * 5 + [[0.1, 0.2, 0.3, 0.4]] * 5
    assert not rung_decision(4, steep, earlier, policy)[0], "the steep run ranks first by trend"
    assert rung_decision(4, steep, earlier, replace(policy, rank_by="best"))[0], "and sixth of eleven by best-so-far"
    # Beta posterior of the share: 6 of 10 above is weak evidence of being outside the top 50%, 60 of 100 stronger.
    assert outside_share(6, 10, 0.5, 0.0) and not outside_share(6, 10, 0.5, 0.8)
    assert outside_share(70, 100, 0.5, 0.8) and not outside_share(40, 100, 0.5, 0.0)
    few = [[0.9, 0.9]] * 6 + [[0.1, 0.1]] * 4  # 6 of 10 above: outside the top 50% by the point estimate only
    sure = StopPolicy(rungs=((2, 0.5),), rank_min_runs=3, probability_rule=False, rank_confidence=0.8)
    assert rung_decision(2, [0.5, 0.5], few, replace(sure, rank_confidence=0.0))[0]
    assert not rung_decision(2, [0.5, 0.5], few, sure)[0]
    assert rung_decision(2, [0.5, 0.5], few * 10, sure)[0], "60 of 100 above: confident enough"


def test_replay_with_rungs_saves_epochs_keeps_the_top_and_matches_optuna():
    from predictor.optuna_pruner import PredictorPruner

    curves = _curves()
    order = list(np.random.default_rng(0).permutation(len(curves)))
    preds = [[(c[-1], c[-1] - 0.05, c[-1] + 0.05)] * (len(c) - 1) for c in curves]
    policy = StopPolicy(top_k=10, rungs=RUNGS, rank_min_runs=5, probability_rule=False)
    s = replay_predictor(curves, preds, order, policy)
    assert s.epochs_saved > 0.4 and s.best_found and s.top10_killed <= 0.1
    off = replay_predictor(curves, preds, order, replace(policy, rungs=()))
    assert off.epochs_saved == 0.0, "no rungs and no probability rule: nothing stops"
    tight = replay_predictor(curves, preds, order, replace(policy, rungs=((2, 0.02),)))
    assert tight.epochs_saved > s.epochs_saved and tight.top10_killed > 0.0
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=12, policy=policy)
    assert replay_optuna(curves, order, pruner, "predictor") == s
    both = replace(policy, probability_rule=True, p_min=0.1, envelope_guard=True, patience=2, bar="predicted")
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=12, policy=both)
    direct = replay_predictor(curves, preds, order, both)
    assert direct.epochs_saved >= s.epochs_saved
    assert replay_optuna(curves, order, pruner, "predictor") == direct
    guarded = replace(policy, rungs=((2, 0.02), (4, 0.02)), rung_guard=True)  # rungs that would kill almost everything
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=12, policy=guarded)
    direct = replay_predictor(curves, preds, order, guarded)
    assert direct.top10_killed < tight.top10_killed and direct.epochs_saved < tight.epochs_saved, "the guard keeps runs tracking a top-10 run"
    assert replay_optuna(curves, order, pruner, "predictor") == direct


def _last_value_predictor(directory):
    """A Predictor whose default estimator answers the curve's last value (its interval fitted on five views)."""
    from predictor.api import Predictor
    from predictor.features import RunView
    from predictor.models import LastValue
    from predictor.train import save_predictor

    views = [RunView("cifar-10", {"lr": 0.01}, "", 6, [0.1 * i, 0.1 * i], [], {}) for i in range(1, 6)]
    est = LastValue().fit(views, np.array([v.accuracy[-1] for v in views]), [str(i) for i in range(5)])
    save_predictor(directory, {"last_value": est}, {"default": "last_value"})
    return Predictor.load(directory)


def test_api_should_stop_with_earlier_runs(tmp_path):
    p = _last_value_predictor(tmp_path)
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.2]}
    policy = StopPolicy(rungs=((2, 0.5),), rank_min_runs=4, probability_rule=False)
    earlier = [[0.3, 0.5, 0.6]] * 6 + [[0.05, 0.1]] * 4  # six better at epoch 2 (finished), four worse (stopped)
    d = p.should_stop(run, None, 6, policy=policy, earlier=earlier)
    assert d.stop and "ranks 7 of 11 at epoch 2" in d.reason and d.model == "last_value"
    assert not p.should_stop({**run, "curve": [0.1, 0.55]}, None, 6, policy=policy, earlier=earlier).stop
    assert not p.should_stop(run, None, 6, policy=policy).stop, "no earlier runs: the rung rule cannot judge"
    for bad in ([[0.3, None]], [[0.3, 1.5]], ["0.3"]):
        with pytest.raises(ValueError, match=r"earlier\[0\]"):
            p.should_stop(run, None, 6, policy=policy, earlier=bad)
    as_runs = [{"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": c} for c in earlier]
    assert p.should_stop(run, None, 6, policy=replace(policy, rank_by="best_or_predicted"), earlier=as_runs).stop
    # With the probability rule on, a rung that keeps the run falls through to it (and a rung stop wins).
    both = replace(policy, probability_rule=True, top_k=3, p_min=0.5, bar="final")
    assert p.should_stop({**run, "curve": [0.1, 0.55]}, [0.9, 0.9, 0.9], 6, policy=both, earlier=earlier).stop
    assert p.should_stop(run, None, 6, policy=both, earlier=earlier).stop
    guarded = replace(policy, rung_guard=True, top_k=2)
    top_curves = [[0.05, 0.1, 0.9], [0.3, 0.5, 0.95]]  # a finished top-2 run that was at 0.1 at epoch 2
    kept = p.should_stop(run, top_curves, 6, policy=guarded, earlier=earlier)
    assert not kept.stop and "top-2 run" in kept.reason
    assert p.should_stop({**run, "curve": [0.05, 0.06]}, top_curves, 6, policy=guarded, earlier=earlier).stop


def test_sibling_corrected_shifts_by_the_shrunk_mean_and_widens_to_the_spread():
    assert sibling_corrected(0.5, 0.45, 0.55, [], 1.0) == (0.5, 0.45, 0.55), "no earlier run of this code: unchanged"
    point, lo, hi = sibling_corrected(0.5, 0.45, 0.55, [0.1], 1.0)
    assert (point, lo, hi) == pytest.approx((0.55, 0.50, 0.60)), "one residual of 0.1, shrunk by 1 / (1 + 1)"
    point, lo, hi = sibling_corrected(0.5, 0.45, 0.55, [0.0, 0.2], 1.0)
    assert point == pytest.approx(0.5 + 0.1 * 2 / 3)
    spread = 0.1 * (1.5 ** 0.5) * 1.2815515655446004  # residual sd 0.1, inflated for a mean of two
    assert lo == pytest.approx(point - spread) and hi == pytest.approx(point + spread), "wider than the predictor's own"
    assert sibling_corrected(0.5, 0.45, 0.55, [0.1] * 99, 1.0)[0] == pytest.approx(0.599), "many runs: almost the full mean"
    assert sibling_corrected(0.9, 0.85, 0.95, [0.5, 0.7], 1.0) == (1.0, 1.0, 1.0), "an accuracy stays in [0, 1]"


def test_early_epochs_need_stronger_evidence_to_stop():
    """With ``p_min_early`` a run seen for fewer than ``early_until`` epochs stops only below that probability; from
    ``early_until`` on, below ``p_min``. The same forecast (P about 0.05 of beating the bar) stops late, not early."""
    from predictor.early_stop import RECOMMENDED_POLICY, decide, p_exceeds

    policy = StopPolicy(top_k=3, p_min=0.06, p_min_early=0.04, early_until=10)
    assert (policy.p_min_at(1), policy.p_min_at(9), policy.p_min_at(10), policy.p_min_at(40)) == (0.04, 0.04, 0.06, 0.06)
    assert StopPolicy(p_min=0.06).p_min_at(1) == 0.06, "no p_min_early: one threshold"
    finished = [0.9, 0.85, 0.8]
    point, lo, hi = 0.72, 0.66, 0.782  # P(final > 0.8) about 0.05
    assert 0.04 < p_exceeds(0.8, point, lo, hi) < 0.06
    early = decide(5, 50, point, lo, hi, finished, policy)
    late = decide(20, 50, point, lo, hi, finished, policy)
    assert not early.stop and late.stop and "< 0.06" in late.reason
    recommended = StopPolicy(**RECOMMENDED_POLICY)
    assert recommended.p_min_at(2) < recommended.p_min_at(recommended.early_until)


def test_no_final_is_forecast_above_one():
    """P(final > 1.0) was 0.1 for an interval clipped at 1, so an incumbent of 1.0 (a task whose best run is perfect)
    stopped nothing. The mass above 1 is a final of exactly 1 (censored): no bar of 1 or more is cleared, and below 1
    P agrees with the interval the answer reports (its ``hi`` of 1 is still the 90% quantile)."""
    from predictor.early_stop import RECOMMENDED_POLICY, decide, p_exceeds

    point, lo, hi = 0.97, 0.95, 1.0
    assert p_exceeds(1.0, point, lo, hi) == 0.0 and p_exceeds(1.2, point, lo, hi) == 0.0
    assert p_exceeds(1.0, point, lo, hi, margin=0.05) == 0.0
    assert p_exceeds(0.999, point, lo, hi) == pytest.approx(0.1, abs=0.02), "hi = 1 is the 90% quantile"
    assert p_exceeds(0.97, point, lo, hi) == pytest.approx(0.5)
    assert p_exceeds(0.8, 0.72, 0.66, 0.782) == pytest.approx(0.0500, abs=0.002)
    stopped = decide(20, 50, point, lo, hi, [1.0] * 10, StopPolicy(**RECOMMENDED_POLICY))
    assert stopped.stop and stopped.p_beat_incumbent == 0.0, stopped.reason


def test_last_epochs_stop_on_weaker_evidence_as_a_share_of_the_planned_epochs():
    """With ``p_min_late`` a run past ``late_share`` of its planned epochs stops below that (higher) probability: a
    forecast with P about 0.2 of beating the bar stops at epoch 36 of 50, not at epoch 20 of 50 nor at epoch 36 of 100."""
    from predictor.early_stop import RECOMMENDED_POLICY, decide, p_exceeds

    policy = StopPolicy(top_k=3, p_min=0.06, p_min_early=0.04, early_until=10, p_min_late=0.3, late_share=0.7)
    assert (policy.p_min_at(5, 50), policy.p_min_at(34, 50), policy.p_min_at(35, 50), policy.p_min_at(35, 100)) == \
        (0.04, 0.06, 0.3, 0.06)
    assert policy.p_min_at(40) == 0.06, "no planned epochs known: no late threshold"
    finished = [0.9, 0.85, 0.8]
    point, lo, hi = 0.78, 0.75, 0.806  # P(final > 0.8) about 0.2
    assert 0.1 < p_exceeds(0.8, point, lo, hi) < 0.3
    assert not decide(20, 50, point, lo, hi, finished, policy).stop
    assert not decide(36, 100, point, lo, hi, finished, policy).stop
    late = decide(36, 50, point, lo, hi, finished, policy)
    assert late.stop and "< 0.3" in late.reason
    recommended = StopPolicy(**RECOMMENDED_POLICY)
    assert recommended.p_min_late is None and recommended.p_min_at(49, 50) == recommended.p_min_at(20, 50), \
        "an option: on the test replays it cost top-10 runs of 200-run studies"


def _late_jump_study(n: int = 90, epochs: int = 12, seed: int = 7) -> tuple[list[list[float]], list, list[str]]:
    """Three codes; code "late" gains +0.25 at its last epochs (a learning-rate drop the predictor cannot know), so
    its runs end on top while the predictor forecasts every run at its value before the jump (+-0.03)."""
    rng = np.random.default_rng(seed)
    curves, preds, codes = [], [], []
    for i in range(n):
        code = ("early", "mid", "late")[i % 3]
        a = rng.uniform(0.4, 0.7)
        c = [float(a - 0.3 * t ** -0.7 + rng.normal(0, 0.003)) for t in range(1, epochs + 1)]
        before = c[-1]
        if code == "late":
            c = c[: epochs - 3] + [v + 0.25 for v in c[epochs - 3:]]
        curves.append(c)
        preds.append([(before, before - 0.03, before + 0.03)] * (epochs - 1))
        codes.append(code)
    return curves, preds, codes


def test_replay_learns_from_earlier_runs_of_the_same_code_and_matches_optuna():
    from predictor.optuna_pruner import PredictorPruner

    curves, preds, codes = _late_jump_study()
    order = list(np.random.default_rng(0).permutation(len(curves)))
    policy = StopPolicy(top_k=10, p_min=0.05, patience=2, bar="final", sibling_shrink=1.0)
    blind = replay_predictor(curves, preds, order, policy)  # no codes known: nothing to learn from
    learned = replay_predictor(curves, preds, order, policy, groups=codes)
    assert blind.top10_killed >= 0.5, "the predictor alone kills the late jumpers"
    assert learned.top10_killed <= 0.2 and learned.best_found, "their earlier finished runs reveal the jump"
    assert learned.epochs_saved > 0.3, "and the other codes still stop early"
    assert replay_predictor(curves, preds, order, replace(policy, sibling_shrink=0.0), groups=codes) == blind
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=12,
                               policy=policy, code=lambda trial: codes[trial.user_attrs["run"]])
    assert replay_optuna(curves, order, pruner, "predictor") == learned


def test_api_should_stop_learns_from_earlier_runs_of_the_same_code(tmp_path):
    p = _last_value_predictor(tmp_path)
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
    other = code.replace("Net", "Other")
    policy = StopPolicy(top_k=3, p_min=0.05, patience=2, bar="final", sibling_shrink=1.0)
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.2]}
    jumped = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.2, 0.3, 0.9, 0.95, 0.95], "epochs": 6}
    bar = [0.5, 0.5, 0.5]
    assert p.should_stop(run, bar, 6, policy=policy).stop, "the last value, 0.2, cannot reach 0.5"
    kept = p.should_stop(run, bar, 6, policy=policy, earlier=[jumped] * 3)
    assert not kept.stop and kept.predicted_final > 0.6 and "corrected by 3 earlier runs" in kept.model
    assert p.should_stop(run, bar, 6, policy=policy, earlier=[{**jumped, "code": other}] * 3).stop, "another code teaches nothing"
    commented = {**jumped, "code": "# the same net\n" + code}
    assert not p.should_stop(run, bar, 6, policy=policy, earlier=[commented] * 3).stop, "comments do not make another code"
    assert p.should_stop(run, bar, 6, policy=replace(policy, sibling_shrink=0.0), earlier=[jumped] * 3).stop
    # a run of this code stopped at epoch 4 counts with its prediction there (0.9): still far above its epoch-2 one
    stopped = {**jumped, "curve": [0.1, 0.2, 0.3, 0.9]}
    assert not p.should_stop(run, bar, 6, policy=policy, earlier=[stopped] * 3).stop
    with pytest.raises(ValueError, match=r"earlier\[1\]"):
        p.should_stop(run, bar, 6, policy=policy, earlier=[jumped, [0.1, 0.2]])


def test_only_earlier_runs_planned_for_the_same_epochs_correct_a_run(tmp_path):
    """The audit: one reported 4-epoch run of a code corrected a 10-epoch plan of it, and a run stuck at 0.10 was
    forecast a final of 0.010, then 0.149 / 0.010 / 0.118 at epochs 2-4. A sibling's residual is the estimator's error
    on the final of the sibling's own plan: a run planned for other epochs says nothing of this plan's final."""
    p = _last_value_predictor(tmp_path)
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
    policy = StopPolicy(top_k=3, p_min=0.05, patience=2, bar="final", sibling_shrink=1.0)
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.2]}
    jumped = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.2, 0.3, 0.9, 0.95, 0.95], "epochs": 6}
    bar = [0.5, 0.5, 0.5]
    assert "corrected by 3 earlier runs" in p.should_stop(run, bar, 6, policy=policy, earlier=[jumped] * 3).model
    longer = p.should_stop(run, bar, 10, policy=policy, earlier=[jumped] * 3)
    assert longer.stop and "corrected" not in longer.model, "6-epoch runs do not correct a 10-epoch plan"
    p.report({"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "accuracy": jumped["curve"], "epochs_planned": 6})
    assert "corrected by 1 earlier runs" in p.should_stop(run, bar, 6, policy=policy).model, "a reported run of the same plan"
    assert "corrected" not in p.should_stop(run, bar, 10, policy=policy).model, "a reported run of another plan"


def test_bar_rank_stays_below_the_studys_final_top_k_within_the_risk():
    """The bar of a young study of known size is a better finished final than the top-k's last: the j-th best for the
    smallest j whose chance of passing the study's final k-th best is at most the risk. Checked against random orders
    of a study, not only against the formula."""
    from scipy.stats import hypergeom

    from predictor.early_stop import StudyProgress, bar_rank

    assert bar_rank(10, None, 0.02) == 10 and bar_rank(10, StudyProgress(5, 200), None) == 10, "size or risk unknown: the k-th best"
    ranks = [bar_rank(10, StudyProgress(n, 200), 0.02) for n in range(0, 201, 10)]
    assert ranks[0] == 1 and ranks[-1] == 10 and ranks == sorted(ranks) and ranks[5] < 10, ranks
    assert bar_rank(10, StudyProgress(250, 200), 0.02) == 10, "a study past its plan: the top-k's last"
    assert bar_rank(10, StudyProgress(3, 5), 0.02) > 3, "a study smaller than k: every run is in its top, the bar the worst"
    rng = np.random.default_rng(0)
    finals = np.arange(200)
    tenth = np.sort(finals)[-10]
    for seen in (10, 40, 100):
        rank = bar_rank(10, StudyProgress(seen, 200), 0.05)
        assert rank == 1 or hypergeom.sf(rank - 2, 200, 10, seen) > 0.05, "the smallest rank within the risk"
        over = np.mean([np.sort(rng.permutation(finals)[:seen])[-rank] > tenth for _ in range(3000)])
        assert over <= 0.05 + 0.01, (seen, rank, over)


def test_replay_with_the_studys_size_saves_more_and_matches_optuna():
    from predictor.early_stop import StudyProgress, decide
    from predictor.optuna_pruner import PredictorPruner

    curves = _curves()
    order = list(np.random.default_rng(1).permutation(len(curves)))
    preds = [[(c[-1], c[-1] - 0.05, c[-1] + 0.05)] * (len(c) - 1) for c in curves]
    policy = StopPolicy(top_k=10, p_min=0.05, patience=2, min_finished=3)
    plain = replay_predictor(curves, preds, order, policy)
    sized = replay_predictor(curves, preds, order, replace(policy, bar_risk=0.02))
    assert sized.epochs_saved > plain.epochs_saved + 0.02 and sized.best_found and sized.top10_killed == 0.0, (plain, sized)
    def pruner():
        return PredictorPruner(lambda trial, curve: preds[trial.user_attrs["run"]][len(curve) - 1], planned_epochs=12,
                               policy=replace(policy, bar_risk=0.02), n_trials=len(order))
    assert replay_optuna(curves, order, pruner, "predictor") == sized
    # the bar a young study's decision reads: the 2nd best of three finished instead of the worst
    young = decide(2, 12, 0.5, 0.45, 0.55, [0.3, 0.6, 0.9], replace(policy, bar_risk=0.02), progress=StudyProgress(3, 1000))
    assert young.incumbent == 0.6 and young.stop
    assert decide(2, 12, 0.5, 0.45, 0.55, [0.3, 0.6, 0.9], policy, progress=StudyProgress(3, 1000)).incumbent == 0.3
    with pytest.raises(ValueError, match="n_trials"):
        PredictorPruner(lambda trial, curve: (0.5, 0.4, 0.6), planned_epochs=12, n_trials=0)


def test_api_should_stop_raises_the_bar_of_a_young_study(tmp_path):
    p = _last_value_predictor(tmp_path)
    code = "import torch.nn as nn\nclass Net(nn.Module):\n    pass\n"
    policy = StopPolicy(top_k=10, p_min=0.05, patience=1, min_finished=3, bar_risk=0.02)
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.45]}
    finals = [0.3, 0.35, 0.4, 0.7, 0.8, 0.9]
    earlier = [[0.1, f] for f in finals] + [[0.05]] * 4  # six finished (2 epochs planned), four stopped after one epoch
    plain = p.should_stop(run, finals, 6, policy=policy, earlier=earlier)
    assert not plain.stop and plain.incumbent == 0.3, "size unknown: the worst of fewer than ten finished"
    young = p.should_stop(run, finals, 6, policy=policy, earlier=earlier, study_runs=200)
    assert young.stop and young.incumbent > 0.45, young
    assert p.should_stop(run, finals, 6, policy=policy, earlier=earlier, study_runs=11).incumbent == 0.3, "a study almost over"
    counted = p.should_stop(run, finals, 6, policy=policy, earlier=[], study_runs=12)
    assert counted.incumbent == 0.3, "every finished run counts as seen, listed in earlier or not"
    for bad in (0, -3, 2.5, True, "200", float("nan")):
        with pytest.raises(ValueError, match="study_runs must be"):
            p.should_stop(run, finals, 6, policy=policy, earlier=earlier, study_runs=bad)
    with pytest.raises(ValueError, match="study_runs needs earlier"):
        p.should_stop(run, finals, 6, policy=policy, study_runs=200)
    # smaller than the runs it has had: 2 with 5 earlier runs was taken (read as a study over its size)
    with pytest.raises(ValueError, match=r"so at least 11 \(10 earlier runs and this one\), got 10"):
        p.should_stop(run, finals, 6, policy=policy, earlier=earlier, study_runs=10)


def test_a_study_of_known_size_has_its_own_thresholds():
    from predictor.early_stop import StudyProgress, decide, p_exceeds

    policy = StopPolicy(top_k=3, p_min=0.06, p_min_early=0.04, bar_risk=0.02, p_min_sized=(0.02, 0.03), min_finished=3)
    assert (policy.p_min_at(5, 50, sized=True), policy.p_min_at(10, 50, sized=True)) == (0.02, 0.03)
    assert (policy.p_min_at(5, 50), policy.p_min_at(10, 50)) == (0.04, 0.06)
    point, lo, hi = 0.6, 0.53, 0.671
    p = p_exceeds(0.7, point, lo, hi)
    assert 0.03 < p < 0.04, p  # below the usual early threshold, above the sized one
    finished = [0.5, 0.7, 0.7]
    assert decide(5, 50, point, lo, hi, 0.7, policy).stop, "a bar of 0.7 given: the usual threshold stops it"
    young = decide(5, 50, point, lo, hi, finished, policy, progress=StudyProgress(3, 1000))
    assert young.incumbent == 0.7 and not young.stop, "raised to 0.7 by the study's size, read with its threshold"
    late = decide(5, 50, point, lo, hi, [0.7, 0.7, 0.7], policy, progress=StudyProgress(99, 100))
    assert late.incumbent == 0.7 and not late.stop, "the study's end: its top-k's last, still the sized threshold"
    assert decide(5, 50, point, lo, hi, [0.7, 0.7, 0.7], policy).stop, "size unknown: the usual threshold"
