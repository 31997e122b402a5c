"""The predictor's plain-function API, used by the CLI and (later) the gRPC Predict / ShouldStop / ReportResult RPCs.

    p = Predictor.load(dir)                     # or load_or_train_default(dir)
    p.predict(code, {"lr": 0.01, "batch": 64}, "cifar-10", curve=[0.31, 0.42])  -> Prediction
    p.should_stop(run, incumbent=[0.81, 0.79, ...], budget=50)                 -> StopDecision
    p.should_stop(run, finals, budget=50, earlier=study_runs_so_far, study_runs=200)  # a study of known size
    p.report(ReportedRun(...))                  # stored in <dir>/reports.sqlite: corrects the next predictions for
                                                # the same code at once, and the next train-predictor learns from it
    p.reload_if_changed()                       # picks up a retrained model without a restart

Every prediction carries a point estimate, an 80% interval and the name of the estimator that answered.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from corpus.lemur_stats import Run
from predictor.code_features import parse_problem, per_text_cached, static_features
from predictor.dynamic import MEASUREMENT_VERSION, MeasurementSkipped, lemur_features, lemur_features_of_same_code, measure_in_sandbox
from predictor.early_stop import (RECOMMENDED_POLICY, StopDecision, StopPolicy, StudyProgress, above_one_hint, checked_incumbent, checked_study,
                                  decide, diverged_hint, guarded_rung, plain_numbers, sibling_corrected, tracks_top)
from predictor.datasets import NEW_DATASET_MIN_RUNS, canonical_dataset, new_dataset_name
from predictor.families import content_hash
from predictor.features import CLASSIFICATION_DATASETS, DATASETS, NUMERIC_HPARAMS, RunView, as_float, canonical_hparams, unread_hparams
from predictor.evaluate import REPORTED_MODEL_PREFIX, at_least_seen, check_target
from predictor.models import adapted_of, code_corrected, code_shrink_of, hparam_similarity
from predictor.train import (BEST_TARGET_ESTIMATORS, PREDICTOR_VERSION, best_target_name, load_estimators, read_meta, saved_stamp,
                             train_predictor)
from sandbox.pool import code_problem

DEFAULT_EPOCHS = 5
# After a measurement of new code's params/FLOPs that said nothing about the model (a timeout, a sandbox that crashed
# or ran out of memory, no free worker), the code is answered without them for this long before it is measured again.
# Why not forever: a busy sandbox is no property of the model; why not at once: a model that hangs would cost every
# call the whole measurement budget.
REMEASURE_AFTER_S = 300.0

log = logging.getLogger(__name__)


@dataclass
class Prediction:
    point: float
    lo: float
    hi: float
    model: str
    k: int
    dataset: str
    epochs: int
    target: str = "final"  # what point / lo / hi predict: the metric after the last epoch, or the best over epochs
    reported_runs: int = 0  # finished reported runs of the same code that corrected it (Predictor.predict)
    ignored_hparams: list[str] = field(default_factory=list)  # names given that the predictor does not read
    # whether the code's model ran forward in the sandbox (None: not measured, e.g. no sandbox); False means the answer
    # rests on static code features and hyperparameters alone, about a model the training loop will not be able to run
    model_ran: bool | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReportedRun:
    """A finished or partial training run reported back to the service (ReportResult)."""

    code: str
    hparams: dict
    dataset: str
    accuracy: list[float]
    duration_s: list[float] = field(default_factory=list)
    epochs_planned: int | None = None
    finished: bool = True
    transform: str = ""
    task: str = "img-classification"
    metric: str = "acc"
    run_id: str = ""  # the client's name for the run: a later report with the same id replaces this one (ReportStore.add)
    # False: a finished run known by its final alone, ``accuracy == [final]`` (a study that keeps no curve). It corrects
    # a prediction made before any epoch is seen, the one thing a final alone can tell; it is no curve for anything else
    # (later epochs, ShouldStop's sibling residuals, retraining).
    curve_known: bool = True

    def validate(self) -> None:
        """Everything a report must hold before it is stored: ``check_result``, no run said to have stopped early whose
        curve covers every planned epoch, and no final alone without its planned epochs. Why here: ReportResult and
        ``nnrag report`` refuse both (``report_inputs.check_report``), but ``Predictor.report`` stored the first as a
        partial run, which retraining skips, and the second as a one-epoch run, which corrected the wrong predictions;
        not in ``check_result``, so that such rows stored before stay readable."""
        if not isinstance(self.code, str):
            raise ValueError("reported run: code must be a string")
        check_model_code(self.code, "reported run: ")
        self.check_result()
        self._check_sizes()
        planned, source = self._planned()
        if not self.finished and planned is not None and len(self.accuracy) >= planned:
            raise ValueError(f"reported run: finished=False says the run stopped early, but its {len(self.accuracy)} epochs cover all "
                             f"{planned} planned ({source}): report it finished (finished=True)")
        if not self.curve_known and source == "the curve":
            raise ValueError("reported run: a final alone (curve_known=False) must say how many epochs the run trained: give "
                             "epochs_planned (or \"epochs\" in hparams); read from its one value it would be a one-epoch run")

    def _check_sizes(self) -> None:
        """Every text a report stores within ``REPORT_TEXT_LIMITS`` and its hyperparameters within
        ``MAX_HPARAMS_JSON_CHARS`` as JSON. Why: only the code had a limit, and five reports of 7 MB hyperparameters
        (or a 1 MB run_id) were stored whole: 35 MB of reports.sqlite from five calls."""
        for name, limit in REPORT_TEXT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, str) and len(value) > limit:
                raise ValueError(f"reported run: {name} has {len(value):,} characters, at most {limit:,}")
        size = len(json.dumps(self.hparams))
        if size > MAX_HPARAMS_JSON_CHARS:
            raise ValueError(f"reported run: hparams take {size:,} characters as JSON, at most {MAX_HPARAMS_JSON_CHARS:,}")

    def check_result(self) -> None:
        """Everything but the code: also what a stored row must pass to be read back (``ReportStore``). Why: a row
        stored before a check existed (``"epochs": 0`` in its hyperparameters) made every prediction of its code, and
        every retraining, fail."""
        if not isinstance(self.run_id, str):
            raise ValueError(f"reported run: run_id must be a string, got {self.run_id!r}")
        if not isinstance(self.hparams, dict):
            raise ValueError("reported run: hparams must be a JSON object")
        check_hparams(self.hparams, "reported run: hparams.")
        if self.dataset not in DATASETS:  # a new dataset's name as it is stored (which one is known: Predictor.report)
            if not isinstance(self.dataset, str) or new_dataset_name(self.dataset, "reported run: dataset") != self.dataset:
                raise ValueError(f"reported run: unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        if not self.accuracy:
            raise ValueError("reported run: accuracy curve is empty")
        for a in self.accuracy:
            if not isinstance(a, (int, float)) or not 0.0 <= float(a) <= 1.0:
                numbers_only = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in self.accuracy)
                hint = percentage_hint([float(v) for v in self.accuracy]) if numbers_only else ""
                raise ValueError(f"reported run: accuracy values must be numbers in [0, 1], got {a!r}{hint}")
        if self.duration_s and len(self.duration_s) != len(self.accuracy):
            raise ValueError("reported run: duration_s must have one value per epoch")
        planned, source = self._planned()
        n = len(self.accuracy)
        if planned is not None and planned < n:
            raise ValueError(f"reported run: {source} {planned} is below the {n} epochs reported")
        if not self.curve_known and not (self.finished and n == 1):
            raise ValueError("reported run: a run known by its final alone is a finished run with one accuracy value, its final")
        if self.finished and self.curve_known and planned is not None and planned > n:
            raise ValueError(f"reported run: reported finished after {n} epochs, but {source} plans {planned}: send all {planned} "
                             "epochs, or report it as stopped early (finished=False; nnrag report --stopped; ReportResult stopped_early)")

    def planned_epochs(self) -> int | None:
        """The epochs the run was planned for, by the one rule used wherever a report is stored or read back:
        ``epochs_planned`` when given, else the hyperparameters' epochs (or epoch), else the curve's length for a
        finished run; None for a partial run that says nothing of its plan."""
        return self._planned()[0]

    def _planned(self) -> tuple[int | None, str]:
        """(planned epochs, where they came from) - see ``planned_epochs``."""
        if self.epochs_planned is not None:
            return whole_epochs(self.epochs_planned, "reported run: epochs_planned"), "epochs_planned"
        hparams = canonical_hparams(self.hparams)
        name = "epochs" if "epochs" in hparams else "epoch"
        if name in hparams:
            return whole_epochs(hparams[name], f"reported run: hparams.{name}"), f"hparams.{name}"
        return (len(self.accuracy), "the curve") if self.finished else (None, "")


# Reported runs are weighted by ``hparam_similarity`` only for a run with fewer epochs seen than this. Why: with no
# curve, the hyperparameters are all that tells runs of one code apart, and the weights lowered RMSE in all 13 k = 0
# cells of stem seed 0's seven datasets (2% on runs of >= 3 epochs, 3.5% on 50-epoch runs, against the plain mean);
# once epochs are seen the curve already shows what the hyperparameters did, and across datasets the weights were
# as often worse as better (k >= 1: 27 of 52 cells better, SVHN's 50-epoch runs at k = 5-20 3-5% worse).
HPARAM_WEIGHTS_UNTIL = 1

NUMBER_HPARAMS = (*NUMERIC_HPARAMS, "batch", "batch_size", "epoch", "epochs")  # read as numbers (features.hparam_features)
POSITIVE_HPARAMS = ("lr", "batch", "batch_size")
EPOCH_HPARAMS = ("epochs", "epoch")  # the planned epochs when no explicit value is given (``_split_hparams``)


# The most epochs a run may plan. Why a bound: 1e12 epochs passed every check and then failed building the int32
# PredictResponse.epochs (INTERNAL), was taken silently by ShouldStop and asked ReportResult for "all 1000000000000
# epochs". LEMUR's longest runs have hundreds of epochs; no real plan comes near this.
MAX_EPOCHS = 100_000


def whole_epochs(value, name: str = "epochs") -> int:
    """``value`` as a number of epochs: a whole number from 1 to ``MAX_EPOCHS`` (LEMUR writes some as 5.0), else a
    ValueError naming ``name``. Why: 2.7 was truncated to 2, and 0 was stored with a report and then failed every
    prediction of its code."""
    number = float("nan") if isinstance(value, bool) else as_float(value)
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be a whole number of epochs, got {value!r}")
    if number < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    if number > MAX_EPOCHS:
        raise ValueError(f"{name} must be <= {MAX_EPOCHS}, got {value!r}")
    return int(number)


# The largest learning rate a run may give. Why a bound: 1e308 passed every check and was read as a plausible run
# (log10 of it is a finite feature); no optimiser trains at a rate above 10 (LEMUR's largest is 0.9993).
MAX_LR = 10.0


@dataclass(frozen=True)
class Bounds:
    """The values a hyperparameter may take, ``lo`` and ``hi`` included unless open."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, x: float) -> bool:
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below

    def __str__(self) -> str:
        """"in [0, 1)", "in (0, 10]"; ">= 0" when there is no upper bound."""
        if math.isinf(self.hi):
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


# Ranges of the hyperparameters the estimators read as rates and probabilities. Why: a dropout of 50 (a percentage), a
# momentum of 90 or a negative weight decay was answered as if it were a plausible run, far outside anything learned.
# Every LEMUR run lies inside them (nn-dataset 2.1.2: dropouts and probabilities up to 0.9993, momenta up to 0.99999).
HPARAM_BOUNDS = {
    "lr": Bounds(0.0, MAX_LR, lo_open=True),
    "dropout": Bounds(0.0, 1.0, hi_open=True),  # 1 drops every activation
    "attention_dropout": Bounds(0.0, 1.0, hi_open=True),
    "dropout_aux": Bounds(0.0, 1.0, hi_open=True),
    "stochastic_depth_prob": Bounds(0.0, 1.0, hi_open=True),
    "momentum": Bounds(0.0, 1.0),
    "norm_momentum": Bounds(0.0, 1.0),
    "weight_decay": Bounds(0.0, math.inf, hi_open=True),
}
# Names the predictor reads as one feature (``features.hparam_features``, ``_split_hparams``): both given, they must agree.
SAME_HPARAM = (("batch", "batch_size"), ("epochs", "epoch"))


def check_hparams(hparams: dict, prefix: str = "hparams.") -> None:
    """A ValueError naming the first hyperparameter the estimators would misread. Why: a value that is not a number
    (``"lr": "fast"``) became NaN and a non-positive learning rate was clamped to 1e-12, so either was answered as if
    it were a plausible run; LEMUR itself holds only numbers there, and lr and batch above 0 (some batches are
    fractions). Rates and probabilities must lie in ``HPARAM_BOUNDS``, and two names read as one (``SAME_HPARAM``:
    batch and batch_size, epochs and epoch, or their aliases) must give one value. Names the predictor does not read
    may hold anything."""
    hparams = dict(hparams)
    given_as = {_read_name(key): key for key in hparams}  # read name -> the key as given ("Batch-Size", "num_epochs")
    hparams = canonical_hparams(hparams)  # "learning_rate" is checked as lr
    for name in NUMBER_HPARAMS:
        if name not in hparams:
            continue
        value = hparams[name]
        number = float("nan") if isinstance(value, bool) else as_float(value)
        if not math.isfinite(number):
            raise ValueError(f"{prefix}{name} must be a finite number, got {value!r}")
        bounds = HPARAM_BOUNDS.get(name)
        if name in POSITIVE_HPARAMS and number <= 0:
            raise ValueError(f"{prefix}{name} must be > 0, got {value!r}{f' (allowed: {bounds})' if bounds else ''}")
        if bounds is not None and not bounds.holds(number):
            raise ValueError(f"{prefix}{name} must be {bounds}, got {value!r}{_bounds_hint(name, number)}")
        if name in EPOCH_HPARAMS:
            whole_epochs(value, f"{prefix}{name}")
    for first, second in SAME_HPARAM:
        if first in hparams and second in hparams and as_float(hparams[first]) != as_float(hparams[second]):
            a, b = given_as[first], given_as[second]
            raise ValueError(f"{prefix.rstrip('.') or 'hparams'} give {first} twice: {a!r} is {hparams[first]!r} and {b!r} is "
                             f"{hparams[second]!r} (the predictor reads both as {first}); give one of them, or the same value")


def _read_name(key) -> object:
    """The name the predictor reads ``key`` as (``canonical_hparams`` of it alone)."""
    return next(iter(canonical_hparams({key: None})))


def _bounds_hint(name: str, number: float) -> str:
    """Why a value is out of ``HPARAM_BOUNDS``, where a likely cause is known: a probability given as a percentage."""
    if name == "lr" and number > MAX_LR:
        return f" (no run trains at a learning rate above {MAX_LR:g})"
    if HPARAM_BOUNDS[name].hi == 1.0 and 1.0 < number <= 100.0:
        return f" (a percentage? {number:g}% is {number / 100:g})"
    return ""


def check_model_code(code: str, prefix: str = "") -> None:
    """Code the estimators can read: non-empty Python that parses, as every LEMUR model they learned from is, within
    the sandbox's size limit and encodable as UTF-8 (``sandbox.pool.code_problem``: the gRPC servicer refuses the same
    before it gets here, so a file is answered in process only when it would be over the wire). ``prefix`` names
    where the code came from."""
    if not code.strip():
        raise ValueError(f"{prefix}code is empty: send the model file's source")
    problem = code_problem(code)
    if problem:
        raise ValueError(f"{prefix}code: {problem}")
    problem = parse_problem(code)
    if problem:
        raise ValueError(f"{prefix}code does not parse as Python ({problem}); send the model file's source")


def _kept_by_patience(latest: StopDecision, epoch: int, earlier_epoch: int, patience: int) -> str:
    """The reason of a run kept because an earlier epoch of the ``patience`` window did not say stop. Why: the latest
    epoch's reason alone ("P(final > 0.9) = 0.000 < 0.035") stated the stop condition on an answer that said keep."""
    if not latest.stop:
        return latest.reason
    before = " (before training)" if earlier_epoch == 0 else ""
    return (f"{latest.reason} at epoch {epoch}, but not at epoch {earlier_epoch}{before}: kept, the rule stops only after "
            f"{patience} epochs in a row of this")


def _split_hparams(hparams: dict | None, epochs: int | None, transform: str | None) -> tuple[dict, int, str]:
    hp = canonical_hparams(dict(hparams or {}))
    tf = transform if transform is not None else str(hp.pop("transform", "") or "")
    planned = epochs if epochs is not None else hp.get("epochs", hp.get("epoch"))
    return hp, DEFAULT_EPOCHS if planned is None else whole_epochs(planned), tf


def hparams_epochs(hparams: dict | None):
    """The planned epochs ``hparams`` give (``epochs``, ``num_epochs``, ``epoch``: as ``_split_hparams`` reads them), or None."""
    hp = canonical_hparams(dict(hparams or {})) if isinstance(hparams, dict) else {}
    return hp.get("epochs", hp.get("epoch"))


def stated_plan(epochs, hparams: dict | None, name: str = "epochs") -> int | None:
    """The planned epochs a run states: ``epochs`` when given, else its hyperparameters' (``hparams_epochs``); None when
    neither says. Why one rule: ShouldStop read an earlier run's plan from max_epochs alone and the in-process API
    replaced an earlier run's own hparams epochs by the current run's plan, so a study that kept its plan in the
    hyperparameters had no finished runs and no sibling outcomes."""
    if epochs is not None:
        return whole_epochs(epochs, name)
    given = hparams_epochs(hparams)
    return None if given is None else whole_epochs(given, "hparams epochs")


def planned_epochs(epochs, hparams: dict | None, seen: int, name: str = "epochs") -> tuple[int, bool]:
    """(the run's planned epochs, whether they were assumed) from ``epochs`` (named ``name`` to the caller: "epochs",
    "budget"), else the hyperparameters' epochs, else ``DEFAULT_EPOCHS`` while the curve (``seen`` epochs) is shorter.
    A plan below the epochs seen is a ValueError, and so is no plan once the curve has reached the default. Why: a
    curve of 6 epochs with no plan was read as a finished run ("observed", the last value), and ShouldStop never
    stopped it; a budget of 5 for a 10-epoch curve quietly said "run finished"."""
    given, source = (epochs, name) if epochs is not None else (hparams_epochs(hparams), "hparams epochs")
    if given is None:
        if seen >= DEFAULT_EPOCHS:
            raise ValueError(f"the run's planned epochs are unknown and its curve already has {seen} epochs: give {name} (the planned "
                             f"epochs) or hparams epochs (without them {DEFAULT_EPOCHS} epochs are assumed, which the curve has reached)")
        return DEFAULT_EPOCHS, True
    planned = whole_epochs(given, source)
    if planned < seen:
        raise ValueError(f"{source} {planned} is below the {seen} epochs already in the curve")
    return planned, False


def use_pool(predictor, pool) -> None:
    """``predictor.pool = pool`` when a pool is given. Why: a Predictor without a pool never measures new code's
    params/FLOPs, so the stopper, callback and pruner answered otherwise than the SDK and the CLI for the same run."""
    if pool is not None:
        predictor.pool = pool


def _numbers(values, field: str, kind: str = "values must be numbers", sequence: str = "a sequence of numbers") -> list[float]:
    """Any sequence of real numbers (a list, a tuple, a numpy array, a torch tensor, numpy scalars inside) as plain
    floats, else a ValueError naming ``field`` (``kind``: what each value must be; ``sequence``: what the whole must be).
    Why: a numpy curve crashed with "the truth value of an array is ambiguous"."""
    if hasattr(values, "tolist") and not isinstance(values, (str, bytes)):
        values = values.tolist()  # numpy arrays and torch tensors, of any dtype
    values = plain_numbers(values)
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{field} must be {sequence}, got {type(values).__name__}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{field}: {kind}, got {v!r}")
    return [float(v) for v in values]


# The longest texts a reported run may store besides its code (``sandbox.pool.MAX_CODE_BYTES``): far past any real run's
REPORT_TEXT_LIMITS = {"run_id": 1_000, "task": 200, "metric": 200, "transform": 2_000, "dataset": 200}
MAX_HPARAMS_JSON_CHARS = 65_536

RUN_DICT_KEYS = ("code", "hparams", "dataset", "curve", "durations", "epochs", "transform")


def check_run_keys(run: dict, field: str = "run") -> None:
    """A ValueError naming the keys of a run dict that no run has, with the nearest known one. Why: a misspelt
    ``epoch`` was dropped, and the run was decided as planned for 5 epochs."""
    unknown = [str(key) for key in run if key not in RUN_DICT_KEYS]
    if unknown:
        near = [m for key in unknown for m in difflib.get_close_matches(key, RUN_DICT_KEYS, n=1)]
        hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        raise ValueError(f"{field} has unknown key(s) {', '.join(map(repr, unknown))}{hint}; a run has {', '.join(RUN_DICT_KEYS)}")


def _curve_of(values, field: str) -> list[float]:
    """A curve given as any sequence of numbers (``_numbers``), each in [0, 1], else a ValueError naming the field."""
    kind = "accuracy values must be numbers in [0, 1]"
    curve = _numbers(values, field, kind, "a list of accuracies (or a run dict)")
    bad = next((v for v in curve if not 0.0 <= v <= 1.0), None)
    if bad is not None:
        raise ValueError(f"{field}: {kind}, got {bad!r}{percentage_hint(curve)}")
    return curve


def percentage_hint(curve: list[float]) -> str:
    """What a refused curve may be: percentages or losses (``early_stop.above_one_hint``), a diverged run's NaN
    (``early_stop.diverged_hint``: what to send instead), else ""."""
    return above_one_hint(curve) or diverged_hint(curve)


@per_text_cached
def _code_key(code: str) -> str:
    """content_hash, cached per text (``code_features.PER_TEXT_CACHE``): a study sends the same code on every call,
    with every earlier run; hashing the AST of a 154 KB file took 0.24 s."""
    return content_hash(code)


def _first_epochs(view: RunView, k: int) -> RunView:
    """The run as it was after its first ``k`` epochs."""
    return replace(view, accuracy=view.accuracy[:k], duration_s=view.duration_s[:k])


@per_text_cached
def _static_for(code: str) -> dict[str, float]:
    """``static_features``, cached per text (an entry holds no code: ``text_digest``). Not per content hash: the
    features count lines and characters, which comments change."""
    return static_features(code)


REPORT_COLUMNS = ("received_at", "code_hash", "code", "hparams", "dataset", "transform", "task", "metric", "accuracy", "duration_s",
                  "epochs_planned", "finished", "run_id",
                  "curve_known")
_SKIPPED_ROWS: set[tuple[str, int]] = set()  # (store, row id) of stored rows already logged as unreadable


class NotTrainedFor(ValueError):
    """A LEMUR dataset the loaded predictor has no estimator of (one trained with ``--fast``, or the demo default:
    CIFAR-10's alone). A ValueError in process (the CLI's one-line error); FAILED_PRECONDITION over the wire, since the
    request is fine and the predictor is not. Why refused rather than answered by CIFAR-10's estimator with a note in
    the method: that estimator misses other datasets' accuracy levels (MNIST at k = 0: RMSE 0.44, coverage 0.04) and
    its intervals would mislead ShouldStop, while the numbers looked like any other answer."""


class ReportsUnavailable(OSError):
    """The report store cannot be opened (the predictor directory was moved away or removed while serving)."""


def json_hparams(hparams: dict | None, field: str = "hparams") -> dict:
    """``hparams`` as plain JSON values: None is {}, numpy and torch scalars (``np.float32(1e-3)``, a 0-d tensor)
    become ints and floats, lists and nested objects are read the same way; anything else is a ValueError naming
    it. Why: a grid of numpy floats passed every epoch's prediction and then failed storing the report, after
    the whole training ("float32 is not JSON serializable"), and so did None ("hparams must be a JSON object")."""
    if hparams is None:
        return {}
    if not isinstance(hparams, dict):
        raise ValueError(f"{field} must be a JSON object (a dict), got {type(hparams).__name__}")
    return _plain_json(hparams, field)


def _plain_json(value, name: str):
    """``value`` with numpy / torch scalars as Python numbers (``json_hparams``)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # a numpy scalar or 0-d array, a 0-d tensor
        value = value.item()
    for kind in (type(None), bool, int, float, str):  # bool before int (a bool is an int); np.float64 is a float
        if isinstance(value, kind):
            return value if value is None else kind(value)
    if isinstance(value, (list, tuple)):
        return [_plain_json(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        bad = next((k for k in value if not isinstance(k, str)), None)
        if bad is not None:
            raise ValueError(f"{name} must have string keys, got {bad!r}")
        return {k: _plain_json(v, f"{name}.{k}") for k, v in value.items()}
    raise ValueError(f"{name} must be a number, string, bool, None, list or object, got {type(value).__name__} {value!r:.60}")


class ReportStore:
    """SQLite table of reported runs; one writer at a time, safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS reports (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at REAL, code_hash TEXT, "
                "code TEXT, hparams TEXT, dataset TEXT, transform TEXT, task TEXT, metric TEXT, accuracy TEXT, "
                "duration_s TEXT, epochs_planned INTEGER, finished INTEGER, run_id TEXT NOT NULL DEFAULT '', "
                "curve_known INTEGER NOT NULL DEFAULT 1)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS dynamic (code_hash TEXT PRIMARY KEY, features TEXT, "
                       "measurement_version INTEGER NOT NULL DEFAULT 0)")
            self._add_columns(db)
            self._add_revision(db)
            db.execute("CREATE INDEX IF NOT EXISTS reports_by_code ON reports (code_hash, dataset)")
            db.execute("CREATE INDEX IF NOT EXISTS reports_by_run_id ON reports (run_id)")

    @staticmethod
    def _add_columns(db: sqlite3.Connection) -> None:
        """Stores written before reports had a run_id or curve_known get the columns (their rows: no id, a curve), and
        before measurements had a version, that column (their rows: version 0, older than any ``MEASUREMENT_VERSION``)."""
        added = (("reports", "run_id", "TEXT NOT NULL DEFAULT ''"), ("reports", "curve_known", "INTEGER NOT NULL DEFAULT 1"),
                 ("dynamic", "measurement_version", "INTEGER NOT NULL DEFAULT 0"))
        for table, column, definition in added:
            if column in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                continue
            try:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    @staticmethod
    def _add_revision(db: sqlite3.Connection) -> None:
        """The one row counting the changes to the reports (``revision``), made once; a store older than it starts at
        its row count. Only when missing: a read-only store (a read-only mount) refuses even a write that changes nothing."""
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'revision'").fetchone():
            return
        db.execute("CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 0), changes INTEGER NOT NULL)")
        db.execute("INSERT OR IGNORE INTO revision VALUES (0, (SELECT COUNT(*) FROM reports))")

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=30)
        except sqlite3.OperationalError as exc:  # "unable to open database file": its directory moved away or removed
            raise ReportsUnavailable(f"the report store {self.path} cannot be opened ({exc})") from None

    def add(self, run: ReportedRun) -> int:
        """Store ``run`` and return its id. A report with a ``run_id`` stored before replaces that row, keeping its id (a
        partial run later reported finished updates it); without one, a report identical to a stored one is not stored
        again and the stored one's id comes back. Why: a client that retries after a deadline sent the same run twice,
        and every correction counted it twice."""
        run.validate()
        values = (time.time(), _code_key(run.code), run.code, json.dumps(run.hparams), run.dataset, run.transform, run.task,
                  run.metric, json.dumps([float(a) for a in run.accuracy]), json.dumps([float(d) for d in run.duration_s]),
                  run.planned_epochs(), int(run.finished), run.run_id, int(run.curve_known))
        try:
            with self._lock, self._connect() as db:
                db.execute("BEGIN IMMEDIATE")  # one writer across processes: the lookup and the write are one step
                existing = self._same_run(db, run, values[1])
                if existing is not None:
                    if run.run_id and not self._stored_as(db, existing, values):
                        db.execute(f"UPDATE reports SET {', '.join(f'{c} = ?' for c in REPORT_COLUMNS)} WHERE id = ?", (*values, existing))
                        db.execute("UPDATE revision SET changes = changes + 1")
                    return existing
                cur = db.execute(f"INSERT INTO reports ({', '.join(REPORT_COLUMNS)}) VALUES ({','.join('?' * len(REPORT_COLUMNS))})", values)
                db.execute("UPDATE revision SET changes = changes + 1")
                return int(cur.lastrowid)
        except sqlite3.OperationalError as exc:  # a read-only directory or file system: a traceback ended `nnrag report`
            if "readonly" not in str(exc) and "unable to open" not in str(exc):
                raise
            raise ReportsUnavailable(f"the report store {self.path} cannot be written ({exc}): report into a predictor "
                                     "directory this user can write") from None

    @staticmethod
    def _stored_as(db: sqlite3.Connection, row: int, values: tuple) -> bool:
        """Whether row ``row`` already holds ``values`` (its receipt time aside). Why: a retry of a report with a
        run_id rewrote its row and raised the revision, so a client caching on the version lost its cache for nothing."""
        stored = db.execute(f"SELECT {', '.join(REPORT_COLUMNS[1:])} FROM reports WHERE id = ?", (row,)).fetchone()
        return stored is not None and tuple(stored) == tuple(values[1:])

    def _same_run(self, db: sqlite3.Connection, run: ReportedRun, code_hash: str) -> int | None:
        """The id of the stored row ``run`` stands for: the one with its run_id, else (no run_id) an identical report."""
        if run.run_id:
            row = db.execute("SELECT id, code_hash, dataset, finished, epochs_planned FROM reports WHERE run_id = ?",
                             (run.run_id,)).fetchone()
            if row is not None and (row[1], row[2]) != (code_hash, run.dataset):
                raise ValueError(f"reported run: run_id {run.run_id!r} was reported before for other code or another dataset; "
                                 "a run id names one run (use a new id for a new run)")
            if row is not None:
                _check_not_downgraded(run, bool(row[3]), row[4])
            return None if row is None else int(row[0])
        rows = db.execute("SELECT id, code, hparams, dataset, transform, task, metric, accuracy, duration_s, epochs_planned, finished, "
                          "run_id, curve_known FROM reports WHERE code_hash = ? AND dataset = ?", (code_hash, run.dataset)).fetchall()
        mine = _dedup_form(run)
        for row_id, *fields in rows:
            stored = self._readable(row_id, fields)
            if stored is not None and _dedup_form(stored) == mine:
                return int(row_id)
        return None

    def all(self) -> list[ReportedRun]:
        return self._select("", ())

    def finished_of(self, code_hash: str, dataset: str) -> list[ReportedRun]:
        """The finished image-classification accuracy runs reported for one code (``content_hash``) on one dataset,
        oldest first: what the predictor forecasts (``evaluate.usable``), so what can tell how far off it was."""
        return self._select("WHERE code_hash = ? AND dataset = ? AND finished = 1 AND task = 'img-classification' AND metric = 'acc'",
                            (code_hash, dataset))

    def _select(self, where: str, args: tuple) -> list[ReportedRun]:
        """The stored runs that can be read back, oldest first; a row that cannot is skipped (``_readable``)."""
        with self._connect() as db:
            rows = db.execute("SELECT id, code, hparams, dataset, transform, task, metric, accuracy, duration_s, epochs_planned, "
                              f"finished, run_id, curve_known FROM reports {where} ORDER BY id", args).fetchall()
        runs = [self._readable(row_id, fields) for row_id, *fields in rows]
        return [r for r in runs if r is not None]

    def _readable(self, row_id: int, fields: list) -> ReportedRun | None:
        """A stored row as a ReportedRun, or None (logged once per row) when it fails today's checks
        (``ReportedRun.check_result``). Why: one bad row of a code, stored before a check existed, made every
        prediction of that code and every retraining fail, for every client."""
        code, hparams, dataset, transform, task, metric, accuracy, durations, epochs, finished, run_id, curve_known = fields
        try:
            run = ReportedRun(code=code, hparams=json.loads(hparams), dataset=dataset, transform=transform, task=task, metric=metric,
                              accuracy=json.loads(accuracy), duration_s=json.loads(durations), epochs_planned=epochs,
                              finished=bool(finished), run_id=run_id or "", curve_known=curve_known is None or bool(curve_known))
            run.check_result()
        except (TypeError, ValueError) as exc:
            if (str(self.path), row_id) not in _SKIPPED_ROWS:
                _SKIPPED_ROWS.add((str(self.path), row_id))
                log.warning("reported run %d in %s is skipped: %s", row_id, self.path, exc)
            return None
        return run

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM reports").fetchone()[0])

    def revision(self) -> int:
        """How many times a report was stored or replaced (a retry of a stored one does not count), by any process: one
        row read. Why: the answers change with every report, and ``versions.predictor_version`` said nothing of them
        (it counted the reports of the last training), so a client caching on it kept stale answers."""
        try:
            with self._connect() as db:
                return int(db.execute("SELECT changes FROM revision WHERE id = 0").fetchone()[0])
        except sqlite3.OperationalError as exc:  # the file was replaced or removed while serving ("no such table")
            raise ReportsUnavailable(f"the report store {self.path} cannot be read ({exc})") from None

    def new_datasets(self) -> dict[str, int]:
        """The datasets outside LEMUR that runs were reported on, each with its finished image-classification accuracy
        runs known by their curves: what ``train-predictor`` learns a new dataset from (``NEW_DATASET_MIN_RUNS``)."""
        with self._connect() as db:
            rows = db.execute("SELECT dataset, SUM(finished = 1 AND curve_known = 1 AND task = 'img-classification' AND "
                              "metric = 'acc') FROM reports GROUP BY dataset").fetchall()
        return {name: int(n or 0) for name, n in rows if name not in DATASETS}

    def save_dynamic(self, code_hash: str, features: dict[str, float], version: int = MEASUREMENT_VERSION) -> None:
        """Params/FLOPs the sandbox measured for new code, kept so that retraining on reported runs sees the
        same features the predictions saw (without them the trees would route reported code as "unknown").
        ``version``: the measuring code's ``MEASUREMENT_VERSION``; a new measurement replaces an older one."""
        with self._lock, self._connect() as db:
            db.execute("INSERT OR REPLACE INTO dynamic (code_hash, features, measurement_version) VALUES (?, ?, ?)",
                       (code_hash, json.dumps(features), version))

    def load_dynamic(self, code_hash: str) -> dict[str, float] | None:
        """The code's measurement made by today's measuring code, else None: the caller measures again when it has a
        sandbox, else answers without params/FLOPs. Why an older row counts for nothing, params included: the older
        spec built the model at 32 px only (the audit's spec, used since, retries larger sizes, so a model that failed
        there gets other parameters), and FLOPs counting changed (LSTM layers); its "did not run forward" was wrong."""
        with self._connect() as db:
            row = db.execute("SELECT features FROM dynamic WHERE code_hash = ? AND measurement_version = ?",
                             (code_hash, MEASUREMENT_VERSION)).fetchone()
        return json.loads(row[0]) if row else None

    def dynamic(self) -> dict[str, dict[str, float]]:
        """Every saved measurement made by today's measuring code (content hash -> features), as ``load_dynamic``
        reads them: retraining sees what predictions see."""
        with self._connect() as db:
            rows = db.execute("SELECT code_hash, features FROM dynamic WHERE measurement_version = ?", (MEASUREMENT_VERSION,))
            return {h: json.loads(f) for h, f in rows}


def at_least_final(best: Prediction, final: Prediction) -> Prediction:
    """``best`` floored by ``final``, quantile by quantile. Why: the two targets have separate estimators, and the best
    over epochs was sometimes forecast below the last epoch for the same run; since best >= final run by run, each
    quantile of the best is at least the same quantile of the final."""
    return replace(best, point=max(best.point, final.point), lo=max(best.lo, final.lo), hi=max(best.hi, final.hi))


def model_ran(code_features: dict[str, float] | None) -> bool | None:
    """Whether the sandbox ran the code's model forward (its ``dyn_ok`` feature), None when it was not measured."""
    value = (code_features or {}).get("dyn_ok")
    return None if value is None or value != value else bool(value)


def _check_not_downgraded(run: ReportedRun, stored_finished: bool, stored_epochs: int | None) -> None:
    """A partial report never replaces a finished run of the same run_id. Why: a late retry of an earlier partial
    report silently replaced the final result, and the correction the finished run gave its code was lost. A
    finished report replacing a partial one (a stopped or resumed run reported when it ends) stays allowed."""
    if stored_finished and not run.finished:
        raise ValueError(f"reported run: run_id {run.run_id!r} is stored as a finished run of {stored_epochs} epochs; a partial "
                         "(stopped or unfinished) report cannot replace it (a late retry of an earlier report?); "
                         "use a new id for a new run")


def _dedup_form(run: ReportedRun) -> ReportedRun:
    """What makes two reports without a run_id the same run: everything but the code's text, with the hyperparameters
    under the names the predictor reads and the planned epochs as ``planned_epochs`` reads them (so out of the
    hyperparameters). Why: one run reported with "epochs" and again with "num_epochs", or once without them, was
    stored twice and corrected later predictions twice."""
    hparams = {k: v for k, v in canonical_hparams(run.hparams).items() if k not in EPOCH_HPARAMS}
    return replace(run, code="", run_id="", hparams=hparams, epochs_planned=run.planned_epochs())


def reported_training_runs(reports: list[ReportedRun]) -> list[tuple[Run, str]]:
    """Finished reported runs as (Run, code) pairs for retraining; partial runs have no known final and are skipped."""
    out = []
    for i, r in enumerate(reports):
        if not r.finished or not r.curve_known:  # a final alone is no curve to learn epochs from
            continue
        model = f"{REPORTED_MODEL_PREFIX}{content_hash(r.code)}"
        hp, _, tf = _split_hparams(r.hparams, r.planned_epochs(), r.transform or None)
        out.append((Run(model, r.task, r.dataset, r.metric, f"report-{i}", 0, hp, tf, list(r.accuracy), list(r.duration_s)), r.code))
    return out


def _stop_policy(meta: dict) -> StopPolicy:
    """The recommended stop policy with what a predictor directory's meta.json overrides."""
    return StopPolicy(**{**RECOMMENDED_POLICY, **meta.get("stop_policy", {})})


def checked_code(code: object, field: str = "code") -> str:
    """``code`` when it is the model's source text, else a ValueError naming ``field``. Why: ``check_inputs`` reads None
    as code not known yet (a pruner whose code comes per trial), so a stopper or pruner built with code=None failed
    only after the first epoch, or at the study's fourth trial."""
    if not isinstance(code, str):
        raise ValueError(f"{field} must be the model's source text (a string), got {type(code).__name__}")
    return code


def check_usable(estimators: object, meta: dict, directory: Path) -> None:
    """A ValueError naming the problem when a save that loads cannot answer: the estimators are not a dict of named
    objects with a ``predict`` method (a valid pickle of something else), or meta.json's ``default`` names none of
    them. Why: such a save was swapped in by a reload, then every Predict failed blaming a ``model`` field the
    client never sent, and ShouldStop failed with a KeyError."""
    where = f"the predictor saved in {directory}"
    if not isinstance(estimators, dict) or not estimators:
        raise ValueError(f"{where} has no estimators (estimators.pkl holds {type(estimators).__name__}, not a dict of "
                         "named estimators): retrain it (nnrag train-predictor)")
    for name, est in estimators.items():
        if not isinstance(name, str) or not callable(getattr(est, "predict", None)):
            raise ValueError(f"{where}: estimators.pkl entry {name!r} is a {type(est).__name__}, not an estimator with "
                             "predict(): retrain it (nnrag train-predictor)")
    default = meta.get("default")
    if default and default not in estimators:
        trained = ", ".join(n for n in estimators if "@" not in n)
        raise ValueError(f"{where}: meta.json's default {default!r} is not among its trained estimators ({trained})")


class Predictor:
    def __init__(self, directory: Path, estimators: dict, meta: dict, stamp: tuple | None = None) -> None:
        """``stamp``: ``saved_stamp`` of the directory taken before ``estimators`` and ``meta`` were read (None: now)."""
        self.directory = Path(directory)
        self.estimators = estimators
        self.meta = meta
        self.policy = _stop_policy(meta)
        self.reports = ReportStore(self.directory / "reports.sqlite")
        self._stamp = saved_stamp(self.directory) if stamp is None else stamp
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one reload at a time: concurrent calls do not each unpickle the model
        self.pool = None  # a sandbox pool (sandbox.pool.CheckerPool): measures params/FLOPs of new code
        self._dynamic: dict[str, dict[str, float]] = {}  # content hash -> measured dynamic features
        self._unmeasured: dict[str, float] = {}  # content hash -> when a measurement last said nothing (REMEASURE_AFTER_S)

    def code_features(self, code: str) -> dict[str, float]:
        """Static features, plus params/FLOPs: from the LEMUR audit table, else from an earlier measurement
        (this directory's report store, by today's ``MEASUREMENT_VERSION``), else measured in the sandbox when the predictor has a pool (then
        saved), else absent (NaN for the estimators). ValueError for code that does not parse."""
        key = _code_key(code)
        static = _static_for(code)
        if not static["parse_ok"]:  # before any sandbox measurement: nothing to measure
            raise ValueError(f"code does not parse as Python ({parse_problem(code)}); send the model file's source")
        return {**static, **(self._dynamic_for(key, code) or {})}

    def knows_dynamic(self, code: str) -> bool:
        """Whether params/FLOPs of ``code`` are known without a sandbox (LEMUR table or an earlier measurement)."""
        return self._dynamic_for(_code_key(code), code) is not None

    def _dynamic_for(self, key: str, code: str) -> dict[str, float] | None:
        """The exact text's LEMUR audit entry first, then that of a LEMUR file with the same AST, else the measurement of
        its content hash (kept, else measured now). Why the table first: content hashes ignore comments, so a measurement of a commented copy answered for
        the audited file itself, and the answer depended on which of the two was asked about first."""
        audited = lemur_features(code)
        if audited is None:  # a LEMUR file with other comments or layout: the same model, audited all the same
            audited = lemur_features_of_same_code(key)
        if audited is not None:
            return audited
        if key not in self._dynamic:
            dyn = self._stored_dynamic(key)
            if dyn is None and self.pool is not None and time.monotonic() - self._unmeasured.get(key, -math.inf) > REMEASURE_AFTER_S:
                try:
                    dyn = measure_in_sandbox(code, self.pool)
                except MeasurementSkipped:  # no place in the sandbox now: answered without, measured by a later call
                    return None
                if dyn is None:  # no verdict on the model (timeout, crash, no free worker): nothing to keep
                    self._unmeasured[key] = time.monotonic()
                else:
                    self._store_dynamic(key, dyn)
            if dyn is None:
                return None
            self._dynamic[key] = dyn
        return self._dynamic[key]

    def _stored_dynamic(self, key: str) -> dict[str, float] | None:
        """An earlier measurement of the code from the report store, made by today's measuring code (an older one is
        measured again: ``ReportStore.load_dynamic``); None, logged, when the store cannot be opened."""
        try:
            return self.reports.load_dynamic(key)
        except ReportsUnavailable as exc:
            log.warning("%s: the code's params/FLOPs are measured again", exc)
            return None

    def _store_dynamic(self, key: str, features: dict[str, float]) -> None:
        """Keep a measurement in the report store; logged and kept in memory only when the store cannot be opened."""
        try:
            self.reports.save_dynamic(key, features)
        except ReportsUnavailable as exc:
            log.warning("%s: a measurement is kept in memory only", exc)

    @classmethod
    def load(cls, directory: Path) -> "Predictor":
        directory = Path(directory)
        if not (directory / "estimators.pkl").exists():
            raise FileNotFoundError(f"no trained predictor in {directory} (run `nnrag train-predictor --out {directory}`)")
        stamp = saved_stamp(directory)  # before reading: a save landing during the read changes it, and is loaded next
        estimators, meta = load_estimators(directory)
        check_usable(estimators, meta, directory)
        return cls(directory, estimators, meta, stamp)

    @property
    def default_model(self) -> str:
        return self.meta.get("default") or next(iter(self.estimators))

    def reload_if_changed(self) -> bool:
        """Load a model saved to the same directory since the last load; True when reloaded.

        A save that cannot be read (estimators.pkl missing, truncated or corrupt, the directory moved away, a save
        half done) is logged and the loaded model keeps answering: a broken retrain is not the caller's problem.
        Each change of the files is tried once, so a broken file costs one attempt, not one per call; the next
        change (a finished save, the file put back) is tried again."""
        stamp = saved_stamp(self.directory)
        if stamp == self._stamp:
            return False
        with self._reload_lock:
            if stamp == self._stamp:  # another call loaded this save while we waited
                return False
            self._stamp = stamp
            try:
                estimators, meta = load_estimators(self.directory)
                check_usable(estimators, meta, self.directory)
                policy = _stop_policy(meta)
            except Exception as exc:  # noqa: BLE001 - any unreadable save: keep serving the loaded model
                error = f"{type(exc).__name__}: {exc}"
                log.warning("predictor not reloaded from %s (%s): the loaded model keeps answering", self.directory, error,
                            extra={"fields": {"directory": str(self.directory), "error": error}})
                return False
            with self._lock:
                self.estimators, self.meta, self.policy = estimators, meta, policy
        return True

    def check_inputs(self, code: str | None, hparams: dict | None, dataset: str) -> str:
        """``dataset`` under its canonical name (``canonical_dataset``) once ``code`` parses (None: not known yet),
        ``hparams`` pass ``check_hparams`` and the estimators can answer ``dataset``; else the ValueError a prediction
        would raise. A dry run: nothing is measured or predicted. Why: an early stopper or pruner built with bad inputs
        failed only at its first update, after an epoch (or, in an Optuna study, three whole trials) had been trained."""
        dataset = self._checked("" if code is None else code, hparams, dataset, parse=code is not None)
        self._method(self._estimator(None, "final"), self.default_model, dataset)  # coco, wikitext: refused
        return dataset

    def dataset_name(self, dataset, field: str = "dataset") -> str:
        """``dataset`` under its canonical name among LEMUR's and the new datasets reported to this predictor
        (``predictor.datasets``), else a ValueError listing them and saying how a new one is reported. LEMUR's names and
        those the estimators were trained on are matched without reading the reports: ShouldStop reads the name of
        every earlier run of a study, and only a dataset with an estimator is answered."""
        for known in ((), self._trained_new_datasets()):
            try:
                return canonical_dataset(dataset, field, known)
            except ValueError:
                pass
        try:
            return canonical_dataset(dataset, field, self._new_datasets())
        except ValueError as exc:
            raise ValueError(f"{exc}; a dataset the predictor has not seen is reported as new (new_dataset; nnrag report "
                             f"--new-dataset), and gets an estimator from {NEW_DATASET_MIN_RUNS} finished runs") from None

    def _trained_new_datasets(self) -> dict[str, int]:
        """New datasets (outside LEMUR) the default estimator was trained on."""
        est = self.estimators.get(self.default_model)
        return {ds: 0 for ds in getattr(est, "by_dataset", {}) if ds not in DATASETS}

    def _new_datasets(self) -> dict[str, int]:
        """New datasets (outside LEMUR) this predictor knows: those reported (with their finished runs) and those its
        estimators were trained on."""
        trained = self._trained_new_datasets()
        try:
            return {**trained, **self.reports.new_datasets()}
        except ReportsUnavailable as exc:
            log.warning("%s: only the trained datasets are known", exc)
            return trained

    def _checked(self, code: str, hparams: dict | None, dataset: str, parse: bool) -> str:
        """The canonical dataset, once the inputs every view reads pass their checks (``parse``: the code too)."""
        dataset = self.dataset_name(dataset)
        if not isinstance(code, str):
            raise ValueError("code must be a string")
        if parse:
            check_model_code(code)
        if hparams is not None and not isinstance(hparams, dict):
            raise ValueError("hparams must be a JSON object")
        check_hparams(hparams or {})
        return dataset

    def view(self, code: str, hparams: dict | None, dataset: str, curve: list[float] | None = None,
             durations: list[float] | None = None, epochs: int | None = None, transform: str | None = None,
             measure: bool = True) -> RunView:
        """The run as the estimators read it. ``measure=False`` leaves ``code_features`` to the first prediction that
        needs them (``_measured``): a study's earlier runs and finished runs are mostly only curves to the rules.
        ``curve`` and ``durations``: any sequences of numbers (lists, numpy arrays, tensors)."""
        # only the run asked about is parsed (a study's earlier runs only lend their curves and their code's identity)
        dataset = self._checked(code, hparams, dataset, parse=measure)
        hp, planned, tf = _split_hparams(hparams, epochs, transform)
        curve = _curve_of(curve, "curve") if curve is not None else []
        durations = _numbers(durations, "durations") if durations is not None else []
        if durations and len(durations) != len(curve):
            raise ValueError("durations must have one value (cumulative seconds) per curve epoch")
        return RunView(dataset=dataset, hparams=hp, transform=tf, epochs=max(planned, len(curve)), accuracy=curve,
                       duration_s=durations, code_features=self.code_features(code) if measure else None, code=code)

    def predict(self, code: str, hparams: dict | None, dataset: str, curve: list[float] | None = None,
                durations: list[float] | None = None, epochs: int | None = None, transform: str | None = None,
                model: str | None = None, target: str = "final", use_reports: bool = True) -> Prediction:
        """``epochs``: the planned epochs, the run's last; never below the epochs already in ``curve``; none given (nor in
        ``hparams``), ``DEFAULT_EPOCHS`` are assumed while the curve is shorter (the answer's ``epochs`` says so), else
        a ValueError (``planned_epochs``). The finished runs of the same code reported on ``dataset`` correct the answer
        (``corrected_by_reports``) unless ``use_reports`` is False (a caller that corrects by the study's own runs, such
        as ``optuna_pruner``, must not correct twice)."""
        canonical = self._checked(code, hparams, dataset, parse=True)  # before the curve's epochs are weighed against a plan
        curve = _curve_of(curve, "curve") if curve is not None else []
        planned, _ = planned_epochs(epochs, hparams, len(curve))
        if len(curve) < planned:  # a finished curve is its own answer ("observed"), whatever the estimators
            self._answerable(canonical, model, target)
        view = self.view(code, hparams, dataset, curve, durations, planned, transform)
        prediction = self._predicted(view, model, target, use_reports)
        if target == "best":
            prediction = at_least_final(prediction, self._predicted(view, model, "final", use_reports))
        return replace(prediction, ignored_hparams=unread_hparams(hparams or {}))

    def _predicted(self, view: RunView, model: str | None, target: str, use_reports: bool) -> Prediction:
        prediction = self.predict_view(view, model, target)
        return self.corrected_by_reports(view, prediction, model) if use_reports else prediction

    def corrected_by_reports(self, view: RunView, pred: Prediction, model: str | None = None) -> Prediction:
        """``pred`` shifted by how far the estimator was off, at the same epoch, for the finished runs of this code
        reported on this dataset: their mean error (weighted by how close their hyperparameters are to this run's,
        ``models.hparam_similarity``) times n / (n + lambda), lambda being what the estimator learned of
        how much error runs of one code share (``models.code_shrink_ratio``), inside the calibrated interval
        (``models.code_corrected``). Why: in a hyperparameter study one code trains many times, and an unseen family's
        error repeats in every run; the reports reveal it before any retraining (held-out LEMUR families, each code's
        runs in turn: ``bench/bench_reported.py``)."""
        if pred.model == "observed" or not view.code:
            return pred
        est = self._estimator(model, pred.target)
        shrink = float(code_shrink_of(est, [view])[0])
        if not math.isfinite(shrink):  # nothing learned to correct with: no need to read the reports
            return pred
        # a run known by its final alone (one value) corrects only a run with no epoch seen, and says nothing of a best
        past = [s for s in self._reported(view, curves_only=pred.target == "best") if s.k > view.k]
        if not past:
            return pred
        siblings = [_first_epochs(s, view.k) for s in past]
        at_k = at_least_seen(est.predict(siblings), siblings, pred.target).point
        outcomes = [s.accuracy[-1] if pred.target == "final" else max(s.accuracy) for s in past]
        # With no epoch seen, the runs nearest in hyperparameters say the most (``HPARAM_WEIGHTS_UNTIL``).
        weights = [hparam_similarity(view.hparams, s.hparams) for s in past] if view.k < HPARAM_WEIGHTS_UNTIL else None
        point, lo, hi = code_corrected(pred.point, pred.lo, pred.hi, [o - p for o, p in zip(outcomes, at_k)], shrink, weights)
        if pred.target == "best" and view.k:  # never below the best epoch already seen
            point, lo, hi = (max(v, max(view.accuracy)) for v in (point, lo, hi))
        return replace(pred, point=point, lo=lo, hi=hi, reported_runs=len(past),
                       model=f"{pred.model}, corrected by {len(past)} reported runs of this code")

    def _reported(self, view: RunView, curves_only: bool = False) -> list[RunView]:
        """The finished runs of ``view``'s code reported on its dataset, as the estimators read them; ``curves_only``
        leaves out the runs known by their final alone (``ReportedRun.curve_known``)."""
        if not view.code:
            return []
        try:
            reported = self.reports.finished_of(_code_key(view.code), view.dataset)
        except ReportsUnavailable as exc:  # the directory moved away while serving: the loaded model still answers
            log.warning("%s: answered without the reported runs", exc)
            return []
        return [self._reported_view(r, view) for r in reported if r.curve_known or not curves_only]

    @staticmethod
    def _reported_view(run: ReportedRun, like: RunView) -> RunView:
        """A reported run of ``like``'s code as the estimators read it (same code: the same features)."""
        hp, planned, tf = _split_hparams(run.hparams, run.planned_epochs(), run.transform or None)
        return RunView(dataset=run.dataset, hparams=hp, transform=tf, epochs=max(planned, len(run.accuracy)),
                       accuracy=list(run.accuracy), duration_s=list(run.duration_s), code_features=like.code_features, code=like.code)

    def check_model(self, model: str | None, target: str = "final") -> None:
        """A ValueError when no estimator answers ``model`` (None: the default) for ``target``; what ``predict`` would
        raise, for a caller that must name the field it came from before anything is measured (the server)."""
        self._estimator(model, target)

    def _estimator(self, model: str | None, target: str):
        """The estimator answering ``model`` (None: the default) for ``target``."""
        check_target(target)
        name = model or self.default_model
        base = name.partition("@")[0]
        if name == best_target_name(base):  # how the directory files it, not a name to ask for: target says which
            raise ValueError(f"model {name!r} is {base!r} fitted to the best over epochs: ask for model {base!r} with target 'best'")
        key = name if target == "final" else best_target_name(name)
        with self._lock:
            est = self.estimators.get(key)
        if est is None and target == "best" and name in self.estimators:
            raise ValueError(self._no_best_estimator(name))
        if est is None:
            raise ValueError(f"unknown model {name!r}; trained: {', '.join(n for n in self.estimators if '@' not in n)}")
        return est

    def _no_best_estimator(self, name: str) -> str:
        """Why ``name`` cannot answer target "best", and which estimators can. Why: "retrain it" was the advice for
        last_value too, which no training fits to the best over epochs (only ``BEST_TARGET_ESTIMATORS``)."""
        fitted = [n.partition("@")[0] for n in self.estimators if n == best_target_name(n.partition("@")[0])]
        if fitted:
            return (f"this predictor has no best-over-epochs estimator for {name!r}: ask {' or '.join(map(repr, fitted))} for "
                    "target 'best' (only those are fitted to the best over epochs)")
        return (f"this predictor has no best-over-epochs estimator for {name!r} nor any other: train-predictor fits "
                f"{', '.join(BEST_TARGET_ESTIMATORS)} to the best over epochs; retrain it (nnrag train-predictor)")

    def predict_view(self, view: RunView, model: str | None = None, target: str = "final") -> Prediction:
        """``target``: "final" (the metric after the last epoch) or "best" (the best over epochs, from the estimators
        trained for it: ``<name>@best``). The estimator alone: ``predict`` adds the reported runs' correction."""
        est = self._estimator(model, target)
        name = model or self.default_model
        if view.k >= view.epochs:
            seen = float(view.accuracy[-1] if target == "final" else max(view.accuracy))
            return Prediction(seen, seen, seen, "observed", view.k, view.dataset, view.epochs, target)
        method = self._method(est, name, view.dataset)
        view = self._measured(view)
        e = at_least_seen(est.predict([view]), [view], target)
        return Prediction(float(e.point[0]), float(e.lo[0]), float(e.hi[0]), method, view.k, view.dataset, view.epochs, target,
                          model_ran=model_ran(view.code_features))

    def _answerable(self, dataset: str, model: str | None = None, target: str = "final") -> None:
        """Refuse (``_method``'s errors) a dataset no estimator answers before anything is measured. Why first: a
        refused MNIST Predict of new 2 MB code read it and ran its sandbox measurement (9.5 s) before saying no."""
        self._method(self._estimator(model, target), model or self.default_model, dataset)

    def _method(self, est, name: str, dataset: str) -> str:
        """``name``, saying so when another dataset's estimator answers for ``dataset`` (``models.PerDataset``; a
        single estimator trained on ``meta["datasets"]`` only). A dataset of no LEMUR image-classification run (coco,
        wikitext) is refused instead: the predictor forecasts image-classification accuracy, and another dataset's
        estimator says nothing about those tasks."""
        borrowed = getattr(est, "borrowed", None)
        if borrowed is not None:
            note = borrowed(dataset)
        else:
            # the demo default (train_default_fast) is fitted to CIFAR-10 alone; one saved before meta said so still is
            trained = self.meta.get("datasets") or (["cifar-10"] if self.meta.get("demo_default") else None)
            note = f"{', '.join(trained)}'s estimator: no training runs of {dataset}" if trained and dataset not in trained else ""
        if dataset not in DATASETS and (note or borrowed is None):  # only an estimator fitted on its runs answers it
            raise ValueError(self._no_estimator_yet(dataset))
        if not note:
            adapted = adapted_of(est, dataset)
            return f"{name} ({adapted})" if adapted else name
        if dataset not in CLASSIFICATION_DATASETS:
            raise ValueError(f"cannot predict {dataset}: the predictor forecasts image-classification accuracy and has no estimator of "
                             f"{dataset} (LEMUR's {dataset} runs are other tasks); it answers for {', '.join(CLASSIFICATION_DATASETS)}")
        raise NotTrainedFor(f"this predictor has no estimator of {dataset} ({note}; `nnrag train-predictor --fast` and the demo "
                            f"default fit CIFAR-10's alone): another dataset's estimator answers at that dataset's accuracy level "
                            f"(measured for CIFAR-10's on MNIST at k = 0: RMSE 0.44, its 80% intervals covering 4% of the runs); "
                            f"train the full "
                            f"predictor, `nnrag train-predictor` without --fast, to predict {dataset}")

    def _no_estimator_yet(self, dataset: str) -> str:
        """Why a new dataset reported to this predictor is not answered yet, and what answers it."""
        runs = self._new_datasets().get(dataset, 0)
        if runs < NEW_DATASET_MIN_RUNS:
            todo = f"train-predictor fits it an estimator once {NEW_DATASET_MIN_RUNS} are reported"
        else:
            todo = "retrain (nnrag train-predictor) to fit it an estimator"
        return (f"no estimator of {dataset} yet: {runs} finished image-classification runs of it reported with their curves; "
                f"{todo} (another dataset's estimator, not recalibrated on its runs, would answer it at that dataset's accuracy level)")

    def should_stop(self, run: dict | RunView, incumbent: float | list[float] | list[list[float]] | list[dict] | None,
                    budget: int | None = None, policy: StopPolicy | None = None,
                    earlier: list[list[float]] | list[dict] | None = None, study_runs: int | None = None) -> StopDecision:
        """Stop ``run`` now? ``run`` is a RunView or a dict with code, hparams, dataset, curve (and durations);
        ``incumbent`` the best final so far, the finals of finished runs, their whole curves (which also
        enables the guard: a run doing as well as some top-k run did at this epoch is kept), or the finished
        runs themselves as dicts like ``run`` (which also enables the predicted bar: what the predictor said
        about the top-k runs at the same epoch; with finals or curves only, the bar is the k-th best final);
        ``budget`` the run's planned epochs. ``earlier`` (optional): every earlier run of the same study, finished
        or stopped, as its curve so far (or as dicts like ``run``). Given as dicts with code, the earlier runs with the same
        code and dataset correct the prediction (the policy's ``sibling_shrink``, see ``early_stop.sibling_corrected``:
        what the recommended policy uses); a dict's plan (its ``epochs``, else its hparams epochs) says whether it
        finished. Curves, and dicts too, also feed a policy with rungs (``RUNGS_POLICY``; the recommended one has none; see
        ``early_stop.rung_decision``): at a rung epoch the run stops when it ranks outside the rung's top share. When no
        earlier run of the run's code is given, the finished runs of that code reported here (``report``) serve.
        ``study_runs`` (optional): how many runs the study will train in all; with ``earlier`` (which counts the runs
        already started) a policy with ``bar_risk`` (``STUDY_SIZE_POLICY``, an option) raises the bar while the study is young
        (``early_stop.bar_rank``)."""
        incumbent = checked_incumbent(incumbent)
        study_runs = checked_study(study_runs, earlier)
        view, assumed = self._run_view(run, budget)
        if isinstance(run, dict) and view.code:
            check_model_code(view.code)  # what a measured view checks first
        if view.k < view.epochs:  # before the code is measured
            self._answerable(view.dataset)
        view = self._measured(view)
        decision = self._decision(view, incumbent, policy, earlier, study_runs)
        if assumed:  # said in the answer: the horizon the decision is for was not given
            decision = replace(decision, reason=f"{decision.reason} (planned epochs not given: {view.epochs} assumed)")
        return decision

    def _decision(self, view: RunView, incumbent, policy: StopPolicy | None, earlier, study_runs: int | None = None) -> StopDecision:
        """``should_stop`` for the run as the estimators read it (``incumbent`` and ``study_runs`` already checked)."""
        policy = policy or self.policy
        earlier_curves, earlier_views = self._earlier(earlier, view.epochs)
        siblings = self._siblings(view, earlier_views) if policy.sibling_shrink > 0 else []
        outcomes = self._points(siblings)  # each sibling's final, or its prediction where it stopped: once per call
        finals, top, top_views = incumbent, None, None
        if isinstance(incumbent, (list, tuple)) and incumbent and isinstance(incumbent[0], dict):
            runs = [self._incumbent_view(r, i, view.dataset) for i, r in enumerate(incumbent)]
            runs = [r for r in runs if r.k]
            finals = [r.accuracy[-1] for r in runs]
            top_views = sorted(runs, key=lambda r: -r.accuracy[-1])[: policy.top_k]
            top = [r.accuracy for r in top_views]
        elif isinstance(incumbent, (list, tuple)) and incumbent and isinstance(incumbent[0], (list, tuple)):
            curves = [[float(v) for v in c] for c in incumbent if len(c)]
            finals = [c[-1] for c in curves]
            top = sorted(curves, key=lambda c: -c[-1])[: policy.top_k]
        progress = None
        if study_runs is not None:  # every finished run is an earlier one, listed or not
            progress = StudyProgress(max(len(earlier_curves), len(finals) if isinstance(finals, list) else 0), study_runs)
        if policy.rungs and earlier_curves and view.k < view.epochs:
            rung = self._rung(view, earlier_curves, earlier_views, policy, top)
            if rung is not None and (rung.stop or not policy.probability_rule):
                return rung
        if not policy.probability_rule:
            pred = self.predict_view(view)
            return StopDecision(False, 1.0, pred.point, pred.lo, pred.hi, None, "no rung at this epoch", pred.model)
        if policy.bar == "predicted" and top_views is None:
            policy = replace(policy, bar="final")  # nothing to predict the top runs from
        # The rule must have said "stop" on each of the last ``patience`` epochs (the same as a replayed loop).
        decision = None
        for k in range(view.k, max(view.k - max(policy.patience, 1), -1), -1):
            seen = _first_epochs(view, k)
            pred = self.predict_view(seen)
            point, lo, hi, model = pred.point, pred.lo, pred.hi, pred.model
            residuals = self._sibling_residuals(siblings, outcomes, k)
            if residuals:
                point, lo, hi = sibling_corrected(point, lo, hi, residuals, policy.sibling_shrink)
                model = f"{model}, corrected by {len(residuals)} earlier runs of this code"
            tracking = tracks_top(seen.accuracy, top) if top else None
            top_preds = None
            if policy.bar == "predicted":
                top_preds = [self.predict_view(_first_epochs(t, k)).point for t in top_views if t.k >= k]
            step = decide(k, view.epochs, point, lo, hi, finals, policy, model, tracking=tracking, top_predictions=top_preds,
                          progress=progress)
            decision = decision or step
            if not step.stop:
                return replace(decision, stop=False, reason=_kept_by_patience(decision, view.k, k, policy.patience))
        return decision

    def _incumbent_view(self, run: dict, i: int, dataset: str) -> RunView:
        """A finished run given as the incumbent, on the run's ``dataset`` (another dataset's final is no bar: MNIST's
        0.99 stopped every CIFAR-10 run)."""
        try:
            view = self._view_of(run, None, measure=False)
        except ValueError as exc:
            raise ValueError(f"incumbent[{i}]: {exc}") from None
        if view.dataset != dataset:
            raise ValueError(f"incumbent[{i}] is a {view.dataset} run and the run is on {dataset}: give the finished runs of "
                             "its own dataset")
        return view

    def check_earlier(self, earlier: list[list[float]] | list[dict] | None, epochs: int) -> None:
        """The ValueError ``should_stop`` would raise on the study's ``earlier`` runs, for a run planned for ``epochs``;
        nothing is measured or predicted. Why: an early stopper built with a bad earlier run (a curve in percent) failed
        only at its first update, after an epoch had been trained."""
        self._earlier(earlier, whole_epochs(epochs, "epochs"))

    def _earlier(self, earlier: list[list[float]] | list[dict] | None, epochs: int) -> tuple[list[list[float]], list[RunView] | None]:
        """The study's earlier runs as curves, and as views where they were given as run dicts with code, each planned
        for its own epochs (``stated_plan``: its ``epochs``, else its hyperparameters'), ``epochs`` when it states none."""
        earlier = plain_numbers(earlier)  # a 2-d array or tensor of curves has no truth value
        if earlier is None or (isinstance(earlier, (list, tuple)) and not earlier):
            return [], None
        if not isinstance(earlier, (list, tuple)):
            raise ValueError(f"earlier must be a list of curves or run dicts, got {type(earlier).__name__}")
        if not isinstance(earlier[0], dict):
            return [_curve_of(c, f"earlier[{i}]") for i, c in enumerate(earlier)], None
        curves, views = [], []
        for i, r in enumerate(earlier):
            if not isinstance(r, dict):
                raise ValueError(f"earlier[{i}] must be a run dict like the others, got {type(r).__name__}")
            try:
                check_run_keys(r)
            except ValueError as exc:
                raise ValueError(f"earlier[{i}]: {exc}") from None
            if r.get("code"):
                try:
                    plan = stated_plan(r.get("epochs"), r.get("hparams") if isinstance(r.get("hparams"), dict) else None)
                    views.append(self._view_of({**r, "epochs": epochs if plan is None else plan}, None, measure=False))
                except ValueError as exc:
                    raise ValueError(f"earlier[{i}]: {exc}") from None
                curves.append(views[-1].accuracy)
            else:
                curves.append(_curve_of(r.get("curve"), f"earlier[{i}].curve"))
        return curves, views

    def _siblings(self, view: RunView, earlier: list[RunView] | None) -> list[RunView]:
        """The study's earlier runs of the run's code; none given, its finished runs reported on the dataset. Never both:
        a study that reports each finished run and also sends it as an earlier run would count it twice. Only those
        planned for the run's epochs: a sibling's residual is the estimator's error on the final of its own plan (one
        reported 4-epoch run corrected a 10-epoch plan, and a run stuck at 0.10 was forecast 0.010, then 0.149 / 0.010
        / 0.118 at epochs 2-4). The replays' studies plan every run for 50 epochs: they are unchanged."""
        siblings = self._same_code(view, earlier or []) or self._reported(view, curves_only=True)  # residuals need curves
        return [s for s in siblings if s.epochs == view.epochs]

    @staticmethod
    def _same_code(view: RunView, earlier: list[RunView]) -> list[RunView]:
        """The earlier runs of the run's code (same AST: comments and formatting do not count) on its dataset."""
        mine = _code_key(view.code or "")
        same = [v for v in earlier if v.dataset == view.dataset and _code_key(v.code or "") == mine]
        return [replace(v, code_features=view.code_features) for v in same]  # same AST: the same model, measured once

    def _sibling_residuals(self, siblings: list[RunView], outcomes: list[float], k: int) -> list[float]:
        """For each earlier run of the same code that trained past epoch ``k``: its outcome (``outcomes``: its final
        when it finished, else its prediction where it stopped) minus its prediction at epoch ``k``."""
        past = [(s, outcome) for s, outcome in zip(siblings, outcomes) if s.k > k]
        at_k = self._points([_first_epochs(s, k) for s, _ in past])
        return [outcome - p for (_, outcome), p in zip(past, at_k)]

    def _points(self, views: list[RunView]) -> list[float]:
        """Point predictions of the default estimator for many views in one call (a finished run: its last value)."""
        with self._lock:
            est = self.estimators[self.default_model]
        open_runs = [self._measured(v) for v in views if v.k < v.epochs]
        predicted = iter(est.predict(open_runs).point.tolist() if open_runs else [])
        return [float(v.accuracy[-1]) if v.k >= v.epochs else next(predicted) for v in views]

    def _measured(self, view: RunView) -> RunView:
        """``view`` with its code's features, computed now if it was built with ``measure=False``."""
        if view.code_features is not None or not view.code:
            return view
        return replace(view, code_features=self.code_features(view.code))

    def _rung(self, view: RunView, curves: list[list[float]], views: list[RunView] | None, policy: StopPolicy,
              top: list[list[float]] | None) -> StopDecision | None:
        """The rung rule at the run's current epoch, against every earlier run of the study (``curves``; ``views``
        when given as run dicts), with the guard of the top-k finished curves ``top`` (None: no rung applies)."""
        k = view.k
        pred = self.predict_view(view)
        points = None
        if policy.rank_by == "best_or_predicted" and views:  # each earlier run's prediction at this epoch, or where it stopped
            points = [self.predict_view(_first_epochs(v, k)).point for v in views if v.k]
        rung = guarded_rung(k, view.accuracy, curves, policy, top, pred.point, points)
        if rung is None:
            return None
        return StopDecision(rung[0], float("nan"), pred.point, pred.lo, pred.hi, None, rung[1], pred.model)

    def _run_view(self, run: dict | RunView, budget: int | None) -> tuple[RunView, bool]:
        """The run ``should_stop`` decides for, not yet measured (the caller refuses what it cannot answer first), and
        whether its planned epochs were assumed: from ``budget``, else the run dict's ``epochs``, else its
        hyperparameters' (``planned_epochs``: none is a ValueError once the curve has ``DEFAULT_EPOCHS``, a plan below
        the curve always is)."""
        if not isinstance(run, dict):
            if budget is not None:
                run.epochs = planned_epochs(budget, None, run.k, "budget")[0]
            return run, False
        check_run_keys(run)
        if "curve" in run:
            named = "budget" if budget is not None or run.get("epochs") is None else "run epochs"
            given = budget if budget is not None else run.get("epochs")
            planned, assumed = planned_epochs(given, run.get("hparams") if isinstance(run.get("hparams"), dict) else None,
                                              len(_curve_of(run["curve"], "run curve")), named)
            return self._view_of({**run, "epochs": planned}, None, measure=False), assumed
        return self._view_of(run, budget, measure=False), False

    def _view_of(self, run: dict | RunView, budget: int | None, measure: bool = True) -> RunView:
        if not isinstance(run, dict):
            if budget is not None:
                run.epochs = max(whole_epochs(budget, "budget"), run.k)
            return run
        check_run_keys(run)
        missing = [k for k in ("code", "dataset", "curve") if k not in run]
        if missing:
            raise ValueError(f"run is missing {', '.join(missing)}")
        # only None means "no budget": budget=0 was read as none (5 epochs, or the run's own)
        epochs = run.get("epochs") if budget is None else whole_epochs(budget, "budget")
        return self.view(run["code"], run.get("hparams"), run["dataset"], run["curve"], run.get("durations"),
                         epochs, run.get("transform"), measure)

    def report(self, run: ReportedRun | dict, new_dataset: bool = False) -> int:
        """Store a finished or partial run (ReportResult); the next ``train-predictor`` learns from it. ``new_dataset``:
        the run's dataset may be one the predictor does not know yet (``predictor.datasets``); without it an unknown
        name is refused, so that a typo of a known one does not start a dataset of its own."""
        if isinstance(run, dict):
            try:
                run = ReportedRun(**run)
            except TypeError as exc:
                raise ValueError(f"reported run: {exc}") from exc
        run = replace(run, hparams=json_hparams(run.hparams, "reported run: hparams"), dataset=self.reported_dataset(run.dataset, new_dataset))
        run_id = self.reports.add(run)  # validates; stored before any measurement can fail
        self.code_features(run.code)  # measures (and saves) params/FLOPs of new code while a sandbox is at hand
        return run_id

    def reported_dataset(self, dataset, new_dataset: bool, field: str = "reported run") -> str:
        """A report's dataset under its stored name: a known one's canonical name, else (``new_dataset``) a new name;
        else ``dataset_name``'s ValueError (prefixed by ``field`` unless it is "dataset")."""
        try:
            return self.dataset_name(dataset, field)
        except ValueError:
            if not new_dataset:
                raise
        return new_dataset_name(dataset, field if field == "dataset" else f"{field}: dataset")


def retrain(directory: Path, fast: bool = False) -> dict:
    """Retrain from LEMUR plus the runs reported to ``directory``; a live Predictor picks it up via reload_if_changed()."""
    store = ReportStore(Path(directory) / "reports.sqlite")
    return train_predictor(Path(directory), extra_runs=reported_training_runs(store.all()), fast=fast, dynamic=store.dynamic())


def stale_demo_default(meta: dict) -> bool:
    """A demo default predictor (``train_default_fast``) saved by another predictor version. Why only those: a
    predictor someone trained (``train-predictor``, with reported runs) is theirs to retrain, never replaced.
    Demo defaults saved before the marker existed are known by ``models`` (the subsample size), which only
    ``train_default_fast`` writes."""
    demo = bool(meta.get("demo_default")) or (bool(meta.get("fast")) and "models" in meta)
    return demo and meta.get("predictor_version") != PREDICTOR_VERSION


def load_or_train_default(directory: Path) -> Predictor:
    """A small default predictor for demos: loaded when present (and not a stale demo default), else trained fast
    (CIFAR-10 subsample, 1-2 min on 2 cores)."""
    directory = Path(directory)
    stale = (directory / "meta.json").exists() and stale_demo_default(read_meta(directory))
    if stale or not (directory / "estimators.pkl").exists():
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        from predictor.train import train_default_fast

        train_default_fast(directory)
    return Predictor.load(directory)
