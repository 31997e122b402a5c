"""Optuna pruner cost: milliseconds per ``prune`` call as a study of one code grows.

    python bench/bench_pruner.py [--earlier 10,40,80] [--new-trials 3] [--steps 8]

A study holds N earlier trials of one code (a third completed at 20 epochs, the rest pruned at 2-10), then runs
``--new-trials`` new trials in turn, each pruned at ``--steps`` steps, with ``predictor_pruner`` on the demo predictor
(settings' predictor directory; trained first when there is none). Baseline, in the same run on the same studies: the
same pruner asking the predictor again about every ended trial at every call, as it did before it kept those answers.
Writes ``bench/results/pruner.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from _env import REPO  # noqa: E402  (offline hub, one thread, repo on sys.path)

import optuna  # noqa: E402
from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.trial import FrozenTrial, TrialState, create_trial  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from predictor.optuna_pruner import PredictorPruner, predictor_pruner  # noqa: E402

CODE = (REPO / "examples" / "working_resnet.py").read_text()
LR = {"lr": FloatDistribution(0.001, 0.1)}


class AskingEveryTime(PredictorPruner):
    """The baseline: every call asks the predictor again about every ended trial."""

    def _point(self, points: dict, trial: FrozenTrial, curve: list[float]) -> float:
        return self.predict(trial, curve)[0]


def study_with(earlier: int, seed: int = 0) -> optuna.study.Study:
    rng = random.Random(seed)
    study = optuna.create_study(direction="maximize")
    for i in range(earlier):
        epochs = 20 if i % 3 == 0 else rng.randint(2, 10)
        curve = [min(0.95, 0.3 + 0.6 * (1 - 0.8 ** (j + 1)) + rng.gauss(0, 0.02)) for j in range(epochs)]
        finished = epochs == 20
        study.add_trial(create_trial(state=TrialState.COMPLETE if finished else TrialState.PRUNED, value=curve[-1] if finished else None,
                                     params={"lr": 0.01 * (1 + i % 5)}, distributions=LR, intermediate_values=dict(enumerate(curve))))
    return study


def ms_per_call(pruner: PredictorPruner, study: optuna.study.Study, new_trials: int, steps: int) -> list[float]:
    """Mean ms per prune call of each new trial, run in turn."""
    out = []
    for _ in range(new_trials):
        trial = study.ask(LR)
        times = []
        for step in range(steps):
            trial.report(0.3 + 0.05 * step, step)
            frozen = study.get_trials(deepcopy=False)[-1]
            t0 = time.perf_counter()
            pruner.prune(study, frozen)
            times.append(time.perf_counter() - t0)
        study.tell(trial, state=TrialState.PRUNED)
        out.append(1000 * sum(times) / len(times))
    return out


def predictor():
    from nnrag.settings import get_settings
    from predictor.api import Predictor
    from predictor.train import train_default_fast

    directory = get_settings().predictor_path
    if not (directory / "meta.json").exists():
        train_default_fast(directory)
    return Predictor.load(directory)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--earlier", default="10,40,80", help="earlier trials of the code, comma-separated")
    ap.add_argument("--new-trials", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pruner.json")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    p = predictor()
    rows = []
    for earlier in (int(n) for n in args.earlier.split(",")):
        # a fresh pruner per study size for both, so neither starts with what the other learned
        kept = predictor_pruner(p, CODE, "cifar-10", 20)
        baseline = AskingEveryTime(kept.predict, kept.planned_epochs, kept.policy, kept.code)
        base_ms = ms_per_call(baseline, study_with(earlier), args.new_trials, args.steps)
        kept_ms = ms_per_call(kept, study_with(earlier), args.new_trials, args.steps)
        rows.append({"earlier_trials": earlier, "baseline_ms": base_ms, "kept_ms": kept_ms,
                     "ratio_after_first": sum(base_ms[1:]) / max(sum(kept_ms[1:]), 1e-9) if len(kept_ms) > 1 else None})
    table = Table(title=f"ms per prune call, new trials in turn ({args.steps} steps each)")
    for col in ("earlier trials", "asking every time", "ended trials kept", "ratio (trials 2+)"):
        table.add_column(col, justify="right")
    for r in rows:
        ratio = f"{r['ratio_after_first']:.0f}x" if r["ratio_after_first"] else "-"
        table.add_row(str(r["earlier_trials"]), " / ".join(f"{v:.0f}" for v in r["baseline_ms"]),
                      " / ".join(f"{v:.0f}" for v in r["kept_ms"]), ratio)
    Console().print(table)
    args.out.write_text(json.dumps({"steps": args.steps, "new_trials": args.new_trials, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
