"""The rules a reported run's inputs must follow before the predictor stores it: one function for every way a run is
reported (ReportResult over gRPC, ``nnrag report`` in process), each naming the inputs as its caller spelt them.

Why one function: the CLI and the servicer each had their own checks, so the same report was refused by one and
stored by the other (a final alone with no planned epochs was stored as a one-epoch run over the wire), and messages
named inputs the caller never sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from predictor.api import hparams_epochs, whole_epochs


class InputProblem(ValueError):
    """An input the caller sent (``field``, in the caller's spelling) that cannot be used, and why (``problem``).
    ``str()`` is "field: problem", as ``rag_server.convert.BadRequest``."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class ReportNames:
    """How one interface names a report's inputs (and says "not given" / "report it finished")."""

    curve: str
    final: str
    epochs: str
    hparams: str
    stopped: str
    epochs_unset: str  # what a missing planned-epochs value reads as
    as_finished: str  # how to report the run finished instead


GRPC_REPORT = ReportNames("run.curve", "final_accuracy", "run.max_epochs", "run.hparams_json", "stopped_early",
                          "0 (not set)", "stopped_early false")
CLI_REPORT = ReportNames("--curve", "--final", "--epochs", "--hparams", "--stopped", "not given", "without --stopped")


def check_report(curve: list[float], final: float | None, epochs: int | None, hparams: dict, stopped_early: bool,
                 names: ReportNames) -> None:
    """Refuse (``InputProblem`` naming the input) a report whose inputs contradict each other or leave the run unknown:

    - a final alone (no curve) of a run stopped early (a stopped run has no final: its curve is what it trained);
    - a final alone without planned epochs (``epochs``, else hparams ``epochs``): a 50-epoch run was stored as a
      one-epoch run, which corrected the wrong predictions;
    - planned epochs below the curve's length;
    - a run said to have stopped early whose curve covers every planned epoch (it finished);
    - a finished run (not stopped early) whose curve is shorter than its planned epochs (``ReportedRun.validate``
      refused it too, naming its own fields: "epochs_planned plans 10" for ``run.max_epochs`` or ``--epochs``).

    ``curve``: accuracies by epoch (may be empty); ``final``: None when not given; ``epochs``: None when not given.
    Values themselves (accuracies in [0, 1], whole epochs) are checked where they are read."""
    n = len(curve)
    if final is not None and not (isinstance(final, (int, float)) and math.isfinite(final) and 0.0 <= final <= 1.0):
        raise InputProblem(names.final, f"{final} is not in [0, 1]")
    if epochs is not None:
        try:
            whole_epochs(epochs, "value")
        except ValueError as exc:
            raise InputProblem(names.epochs, str(exc).removeprefix("value ")) from None
    from_hparams = hparams_epochs(hparams)
    if not curve and final is not None:
        if stopped_early:
            raise InputProblem(names.final, f"is a finished run's final: a run stopped early reports its {names.curve}")
        if epochs is None and from_hparams is None:
            raise InputProblem(names.epochs, f"is {names.epochs_unset} and {names.hparams} has no \"epochs\": a final alone must "
                                             f"say how many epochs the run trained: give {names.epochs} (or \"epochs\" in "
                                             f"{names.hparams})")
        return
    if epochs is not None and epochs < n:
        raise InputProblem(names.epochs, f"{epochs} is below the {n} epochs in {names.curve}")
    planned, source = (epochs, names.epochs) if epochs is not None else (from_hparams, f"{names.hparams} epochs")
    if planned is None:
        return
    planned = whole_epochs(planned, f"{names.hparams} epochs")
    if epochs is None and planned < n:
        raise InputProblem(names.hparams, f"epochs {planned} is below the {n} epochs in {names.curve}")
    if stopped_early and n >= planned:
        raise InputProblem(names.stopped, f"says the run stopped early, but {names.curve} covers all {planned} planned epochs "
                                          f"({source}): report it finished ({names.as_finished})")
    if not stopped_early and n < planned:
        raise InputProblem(names.curve, f"has {n} epoch{'' if n == 1 else 's'}, but {source} plans {planned}: send all {planned}, "
                                        f"or report it as stopped early ({names.stopped})")
