"""CLI of the predictor: ``train-predictor``, ``predict``, ``report``, ``eval-predictor``.

They call the plain functions of ``predictor.api`` / ``predictor.train`` in-process; the gRPC
client path (``--server``) is wired by the service.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NoReturn, Optional

import typer

from nnrag.cli.output import print_table
from nnrag.cli.remote import remote_client
from nnrag.pyparse import decode_source, refuse_too_deep_for_ast

DEFAULT_MODELS = "last_value,curve_fit,gbm_nocode,gbm_code,gbm_stack"


def _predictor_dir(out: Optional[Path]) -> Path:
    if out is not None:
        return out
    from nnrag.settings import get_settings

    return get_settings().predictor_path


def _json_safe(value):
    """NaN (e.g. a correlation over constant predictions) becomes null: strict JSON has no NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _refuse_unwritable_dir(directory: Path) -> None:
    """Exit 2 with one line when the predictor cannot be saved in ``directory``: a file in its place or in the place of
    a parent, or a folder that cannot be written. Why: ``--out FILE`` trained for minutes, then ended in a traceback."""
    if directory.exists() and not directory.is_dir():
        _fail(f"predictor directory {directory} exists and is not a directory: give a folder for the predictor")
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        _fail(f"cannot create predictor directory {directory}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        _fail(f"cannot write predictor directory {directory}: {existing} is not writable")


def train_predictor_cmd(
    data: str = typer.Option("lemur", "--data", help="training data: 'lemur' (LEMUR plus runs reported to --out)"),
    out: Optional[Path] = typer.Option(None, "--out", help="predictor directory (default: the predictor_dir setting, $NNRAG_PREDICTOR_DIR, else $NNRAG_HOME/predictor)"),
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="train on this split's train_models only"),
    fast: bool = typer.Option(False, "--fast", help="CIFAR-10 only (other datasets are then refused), fewer trees, holdout calibration "
                              "(1.5 min on 2 idle cores, about 4 min on busy ones; LEMUR already fetched)"),
) -> None:
    """Train the predictor from LEMUR plus reported runs and save it (a running server reloads it)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if data != "lemur":
        _fail(f"--data {data!r} is not supported; use 'lemur' (reported runs in the output directory are always included)")
    from predictor.api import ReportStore, reported_training_runs
    from predictor.families import read_split
    from predictor.train import train_predictor

    directory = _predictor_dir(out)
    _refuse_unwritable_dir(directory)  # before training: minutes of work must not end in a failed save
    models = None
    if split_file is not None:
        try:
            models, _ = read_split(split_file)
        except ValueError as exc:
            _fail(str(exc))
        models = _model_names(models, split_file, "train_models")
        if not models:
            _fail(f"split file {split_file}: train_models is empty: there is nothing to train on")
    # Opened only when runs were reported: opening creates the file, and a failed training left an empty one behind.
    reports = directory / "reports.sqlite"
    store = ReportStore(reports) if reports.exists() else None
    try:
        if models is not None:
            _warn_unknown_models(models)
        extra_runs = reported_training_runs(store.all()) if store else []
        meta = train_predictor(directory, extra_runs=extra_runs, models=models, fast=fast, dynamic=store.dynamic() if store else {})
    except (ValueError, FileNotFoundError) as exc:  # no train model with runs to learn from; LEMUR cannot be fetched
        _fail(str(exc))
    typer.echo(f"trained {', '.join(meta['estimators'])} on {meta['n_runs']} LEMUR runs + {meta['n_reported']} reported "
               f"in {meta['seconds']} s -> {directory}")
    _echo_new_datasets(meta["new_datasets"], set(meta["recalibrated_new_datasets"]), store.new_datasets() if store else {})


def _echo_new_datasets(learned: dict[str, int], recalibrated: set[str], reported: dict[str, int]) -> None:
    """Which datasets outside LEMUR got an estimator and which kind (as fitted: ``recalibrated`` names those answered by
    the largest dataset's estimator recalibrated), and which still wait for runs (and how many)."""
    from predictor.datasets import NEW_DATASET_MIN_RUNS

    def kind(ds: str) -> str:
        return "the largest dataset's, recalibrated" if ds in recalibrated else "its own"

    if learned:
        typer.echo("estimators of new datasets: " + ", ".join(f"{ds} ({n} runs: {kind(ds)})" for ds, n in learned.items()))
    waiting = {ds: n for ds, n in reported.items() if ds not in learned}
    if waiting:
        typer.echo(f"new datasets still below {NEW_DATASET_MIN_RUNS} finished runs (not answered yet): "
                   + ", ".join(f"{ds} ({n})" for ds, n in sorted(waiting.items())))


def predict_cmd(
    file: Path = typer.Argument(..., help="model source file (a LEMUR-style Net)"),
    hparams: str = typer.Option("{}", "--hparams", help="JSON object, e.g. '{\"lr\": 0.01, \"batch\": 64, \"momentum\": 0.9}'"),
    dataset: str = typer.Option("cifar-10", "--dataset"),
    curve: Optional[str] = typer.Option(None, "--curve", help="accuracy after each epoch so far, e.g. 0.31,0.42"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="planned epochs (default: hparams epoch(s), else 5; a curve of 5 or more epochs needs them)"),
    model: Optional[str] = typer.Option(None, "--model", help="estimator to ask (default: the trained default)"),
    target: str = typer.Option("final", "--target", help="final (the metric after the last epoch) or best (the best over epochs)"),
    directory: Optional[Path] = typer.Option(None, "--dir", help="predictor directory (default: the predictor_dir setting, $NNRAG_PREDICTOR_DIR, else $NNRAG_HOME/predictor)"),
    as_json: bool = typer.Option(False, "--json"),
    server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: predict there instead of in-process"),
) -> None:
    """Predict the final (or best-over-epochs) accuracy of a model with an 80% interval (and which estimator answered)."""
    from predictor.api import Predictor, hparams_epochs, whole_epochs
    from predictor.train import MismatchedSave

    if not file.is_file():
        _fail(f"{file} is not a file")
    _check_target(target)
    code, hp, values = _model_code(file), _hparams(hparams), _curve(curve)
    if epochs is not None:  # here, not by each path: over the wire 0 means "not given" and became the default 5
        try:
            whole_epochs(epochs)
        except ValueError as exc:
            _fail(str(exc))
    if server:
        answer = _predict_remote(server, code, hp, dataset, values, epochs, model, target)
    else:
        try:
            predictor = Predictor.load(_predictor_dir(directory))
            answer = _predict_local(predictor, code, hp, dataset, values, epochs=epochs, model=model, target=target)
        except (FileNotFoundError, ValueError, MismatchedSave) as exc:  # MismatchedSave: one line, not a traceback
            _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(answer.as_dict()))
    else:
        typer.echo(f"{'final' if target == 'final' else 'best'} {dataset} accuracy over {answer.epochs} epochs: {answer.point:.4f} "
                   f"(80% interval {answer.lo:.4f} - {answer.hi:.4f}; model {answer.model}, seen {answer.k} epochs)")
    if epochs is None and hparams_epochs(hp) is None:
        typer.echo(f"note: no planned epochs given (--epochs, hparams epochs): {answer.epochs} assumed", err=True)
    if answer.model_ran is False:
        typer.echo(f"warning: the model did not run forward in the sandbox (`nnrag check {file}` says why): this estimate rests on "
                   "its static code features and hyperparameters, for a model training cannot run", err=True)
    if answer.ignored_hparams:
        typer.echo(f"note: the predictor does not read {', '.join(answer.ignored_hparams)} (it reads lr, batch, momentum, dropout, "
                   "weight_decay, epochs, transform, ...: LEMUR's names)", err=True)


def _model_code(file: Path) -> str:
    """The model file's code, as Python reads it. Why the NUL check here: Python refuses a NUL byte before it reads
    any line, so the predictor's parse message said "line None"."""
    try:
        code = decode_source(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    if "\0" in code:
        _fail(f"{file} does not parse as Python: source code string cannot contain null bytes")
    try:  # the predictor's readers recurse: 1,000 nested lambdas parsed, then said "does not parse as Python (None)"
        refuse_too_deep_for_ast(code)
    except RecursionError as exc:  # pyparse.TooDeep, with the line and what to do
        _fail(f"{file}: {exc}")
    return code


def _hparams(text: str) -> dict:
    """``--hparams``: a JSON object."""
    try:
        hp = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--hparams is not JSON: {exc}")
    if not isinstance(hp, dict):
        _fail("--hparams must be a JSON object")
    return hp


def _curve(text: Optional[str]) -> list[float]:
    """``--curve``: comma-separated accuracies, one per epoch (none: empty)."""
    if not text:
        return []
    try:  # an empty item ("0.3,,0.4") is an error, not a dropped epoch that would shift the rest of the curve
        return [float(v) for v in text.split(",")]
    except ValueError:
        _fail(f"--curve must be comma-separated numbers, got {text!r}")


class _SandboxOnDemand:
    """A one-worker sandbox started at the first check it is asked for (``Predictor.pool``). Why: the sandbox took
    5-6 s to start before the predictor had checked its inputs, so code that does not parse, an unknown dataset or a
    rejected report waited for it; now only a measurement of new code starts it."""

    def __init__(self) -> None:
        self._pool = None

    def check(self, *args, **kwargs):
        if self._pool is None:
            from sandbox.pool import CheckerPool

            self._pool = CheckerPool(size=1, preload=("torch",))  # the model code never runs in this process
        return self._pool.check(*args, **kwargs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


def _measuring(predictor, call):
    """``call()`` with a sandbox at hand for params/FLOPs of new code, started only when they are measured."""
    sandbox = _SandboxOnDemand()
    predictor.pool = sandbox
    try:
        return call()
    finally:
        predictor.pool = None
        sandbox.close()


def _predict_local(predictor, code: str, hp: dict, dataset: str, curve: list[float], **ask):
    """In-process prediction (``ask``: epochs, model, target)."""
    return _measuring(predictor, lambda: predictor.predict(code, hp, dataset, curve, **ask))


def report_cmd(
    file: Path = typer.Argument(..., help="model source file the run trained"),
    curve: Optional[str] = typer.Option(None, "--curve", help="accuracy after each epoch, e.g. 0.31,0.42,0.47 (the last one is the final)"),
    final: Optional[float] = typer.Option(None, "--final", help="instead of --curve, a finished run's final accuracy alone (a "
                                                                "study that kept no curve): it corrects predictions made before any epoch is seen"),
    hparams: str = typer.Option("{}", "--hparams", help="JSON object of the run's hyperparameters"),
    dataset: str = typer.Option("cifar-10", "--dataset"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="planned epochs (default: hparams epochs, else the curve's length; "
                                                                "a finished run must report all of them; --final needs them here "
                                                                "or in hparams epochs)"),
    stopped: bool = typer.Option(False, "--stopped", help="the run was stopped early: its final is unknown"),
    new_dataset: bool = typer.Option(False, "--new-dataset", help="--dataset may be one the predictor has not seen: train-predictor "
                                                                  "fits it an estimator once 20 finished runs of it are reported"),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="your name for the run: a later report with the same id replaces this one "
                                                    "(e.g. a stopped run reported again when finished)"),
    directory: Optional[Path] = typer.Option(None, "--dir", help="predictor directory (default: the predictor_dir setting, $NNRAG_PREDICTOR_DIR, else $NNRAG_HOME/predictor)"),
    server: Optional[str] = typer.Option(None, "--server", help="host:port of an nnrag server: report there instead"),
    as_json: bool = typer.Option(False, "--json", help="print the stored report as JSON: id, run_id, dataset, finished, epochs_seen, final"),
) -> None:
    """Report a finished (or stopped) training run: it corrects the next predictions for the same code at once, and
    the next train-predictor learns from it."""
    from predictor.api import Predictor, ReportedRun, ReportsUnavailable
    from predictor.report_inputs import CLI_REPORT, InputProblem, check_report
    from predictor.train import MismatchedSave

    if not file.is_file():
        _fail(f"{file} is not a file")
    if run_id is not None and not run_id.strip():  # an empty run_id means "no id" to ReportResult: "" named no run
        _fail(f"--run-id must name the run, not {run_id!r}; leave it out for a run without an id")
    run_id = run_id or ""
    if curve is not None and final is not None:
        _fail("give --curve or --final, not both: they are alternatives. Use --curve (the accuracy after each epoch; its last "
              "value is the final) when the run kept its curve, or --final alone for a finished run known by its final only")
    if curve is None and final is None:
        _fail("give --curve (the accuracy after each epoch) or --final (a finished run's final alone)")
    code, hp, values = _model_code(file), _hparams(hparams), _curve(curve) if curve is not None else [final]
    if not values:
        _fail("--curve needs at least one accuracy")
    try:  # the rules ReportResult follows too, here for both paths: the same report gets the same answer either way
        check_report(values if final is None else [], final, epochs, hp, stopped, CLI_REPORT)
    except InputProblem as exc:
        _fail(f"{exc.field} {exc.problem}")
    except ValueError as exc:  # hparams epochs that are no number of epochs
        _fail(str(exc))
    if server:
        run = {"code": code, "hparams": hp, "dataset": dataset, "curve": values if final is None else [], "max_epochs": epochs or 0,
               "run_id": run_id}
        with remote_client(server) as client:
            stored_id = client.report_result(run, final, stopped_early=stopped, new_dataset=new_dataset)
    else:
        try:
            predictor = Predictor.load(_predictor_dir(directory))
            report = ReportedRun(code=code, hparams=hp, dataset=dataset, accuracy=values, epochs_planned=epochs, finished=not stopped,
                                 run_id=run_id, curve_known=final is None)
            stored_id = _measuring(predictor, lambda: predictor.report(report, new_dataset))
        except (FileNotFoundError, ValueError, MismatchedSave, ReportsUnavailable) as exc:  # one line, not a traceback
            _fail(str(exc))
    if as_json:  # for scripts: the stored id was only in the sentence below
        typer.echo(json.dumps({"id": stored_id, "run_id": run_id, "dataset": dataset, "finished": not stopped,
                               "epochs_seen": len(values) if final is None else 0, "final": None if stopped else values[-1]}))
        return
    state = "stopped early" if stopped else f"finished at {values[-1]:.4f}"
    seen = f"{len(values)} epochs" if final is None else "final only"
    typer.echo(f"reported run {stored_id} ({state}, {seen} on {dataset})")


def _predict_remote(server: str, code: str, hp: dict, dataset: str, curve: list[float], epochs: Optional[int], model: Optional[str],
                    target: str):
    """``--server``: the same Prediction, answered by the server's predictor."""
    from predictor.api import Prediction

    with remote_client(server) as client:
        p = client.predict(code, hp, dataset, curve, epochs=epochs or 0, model=model or "", target=target)
    return Prediction(p.accuracy, p.lower, p.upper, p.method, p.observed_epochs, dataset, p.epochs, p.target, p.reported_runs, p.ignored_hparams,
                      p.model_ran)


def _check_target(target: str) -> None:
    from predictor.evaluate import TARGETS

    if target not in TARGETS:
        _fail(f"--target must be {' or '.join(TARGETS)}, got {target!r}")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _known_datasets(text: str) -> tuple[str, ...]:
    """``--datasets``: each must be one the predictor knows, under its canonical name."""
    from predictor.api import canonical_dataset

    try:
        return tuple(canonical_dataset(name) for name in _names(text))  # CIFAR-10, cifar10: cifar-10
    except ValueError as exc:
        _fail(str(exc))


def _model_names(names: list[str], split_file: Path, key: str) -> list[str]:
    """A split's model names as LEMUR names them: a ``.py`` suffix (a model file's name) is dropped, with a note. Why:
    such names matched no LEMUR model, so every one was skipped as unknown."""
    suffixed = [n for n in names if n.endswith(".py")]
    if suffixed:
        typer.echo(f"note: split file {split_file}: {len(suffixed)} {key} end in '.py' (e.g. {suffixed[0]!r}): read without "
                   "the suffix, as LEMUR names its models", err=True)
    return [n[: -len(".py")] if n.endswith(".py") else n for n in names]


def _warn_unknown_models(names: list[str]) -> None:
    """A split may name models this LEMUR snapshot lacks (another nn-dataset version): they have no runs to use. Said as
    eval-predictor says it (``_skipped_unknown``), with a did-you-mean."""
    from corpus.lemur import LEMUR_REQUIREMENT
    from predictor.families import unknown_model_reasons

    reasons = unknown_model_reasons(names, _lemur_model_names(), LEMUR_REQUIREMENT)
    _say_skipped([{"name": name, "side": "train_models", "reason": why} for name, why in reasons.items()])


def _lemur_model_names() -> set[str]:
    """LEMUR's model names, from the wheel's zip listing: a second, not the ~25 s of loading its runs."""
    from corpus.lemur import lemur_wheel, model_names
    from predictor.data import cache_dir_or_default

    return set(model_names(lemur_wheel(cache_dir_or_default(None))))


def _skipped_unknown(path: Path, train: list[str], test: list[str]) -> list[dict]:
    """The split's names LEMUR lacks, each with its side and why (a did-you-mean where one is near); a split side that
    names no LEMUR model at all fails here, before LEMUR's runs are loaded."""
    from corpus.lemur import LEMUR_REQUIREMENT
    from predictor.families import unknown_model_reasons

    known = _lemur_model_names()
    skipped = []
    for key, names in (("test_models", test), ("train_models", train)):
        reasons = unknown_model_reasons(names, known, LEMUR_REQUIREMENT)
        if names and len(reasons) == len(set(names)):
            listed = "; ".join(f"{name!r}: {why}" for name, why in list(reasons.items())[:10])
            _fail(f"split file {path}: none of the {len(set(names))} {key} is a LEMUR model name in {LEMUR_REQUIREMENT}: {listed}"
                  f"{' ...' if len(reasons) > 10 else ''}")
        skipped += [{"name": name, "side": key, "reason": why} for name, why in reasons.items()]
    return skipped


def _skipped_without_runs(train: list[str], test: list[str], rows: list[dict]) -> list[dict]:
    """The split's LEMUR models that added nothing: train models with no usable run of the evaluated datasets, test
    models with none of >= 3 epochs there (what ``evaluate_split`` reads)."""
    from predictor.train import corpus, runs_of

    datasets = tuple(dict.fromkeys(r["dataset"] for r in rows))
    if not datasets:
        return []
    runs = runs_of(train + test, corpus(), datasets)
    trained, tested = {r.model for r in runs}, {r.model for r in runs if r.epochs >= 3}
    on = ", ".join(datasets)
    return ([{"name": n, "side": "train_models", "reason": f"no usable runs of {on} to train on"} for n in train if n not in trained]
            + [{"name": n, "side": "test_models", "reason": f"no usable runs of >= 3 epochs of {on} to evaluate"} for n in test
               if n not in tested])


def _say_skipped(skipped: list[dict]) -> None:
    """The skipped models on stderr, the first ten with their reasons."""
    if not skipped:
        return
    listed = "; ".join(f"{s['name']!r} ({s['side']}): {s['reason']}" for s in skipped[:10])
    typer.echo(f"warning: {len(skipped)} split models are skipped: {listed}{' ...' if len(skipped) > 10 else ''}", err=True)


def _print_metrics(rows: list[dict], target: str, path: Path) -> None:
    """The metrics as a rich table, whole even when stdout is no terminal (piped, redirected: rich's default is 80
    columns, which cut every number to an ellipsis)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"predictor ({target} metric) on {escape(path.name)}")
    for col in ("subset", "model", "dataset", "k", "n", "rmse", "mae", "pearson", "spearman", "kendall", "coverage80"):
        table.add_column(col)
    for r in rows:
        table.add_row(*map(escape, (r["subset"], r["model"], r["dataset"])), str(r["k"]), str(r["n"]),
                      *(f"{r[c]:.4f}" for c in ("rmse", "mae", "pearson", "spearman", "kendall", "coverage80")))
    print_table(table)


def eval_predictor_cmd(
    split_file: Optional[Path] = typer.Option(None, "--split-file", help="JSON {train_models, test_models}; default the built (seed, grouping) split in predictor/splits/"),
    seed: int = typer.Option(0, "--seed", help="build a family-grouped split with this seed when no split file is given"),
    grouping: str = typer.Option("stem", "--grouping", help="family grouping of the built split: stem (name stems + identical code) or strict (+ constant-blind AST hash)"),
    models: str = typer.Option(DEFAULT_MODELS, "--models"),
    datasets: str = typer.Option("", "--datasets", help="comma-separated; default every dataset with >= 30 held-out runs of >= 3 epochs (LEMUR's seven image-classification datasets: ~10 min cold on 2 cores; cifar-10 alone ~4 min)"),
    target: str = typer.Option("final", "--target", help="what is predicted: final (the metric after the last epoch) or best (the best over epochs)"),
    new_dataset: str = typer.Option("", "--new-dataset", help="instead: cross-validate what train-predictor fits for this dataset "
                                                              "you reported as new, on its reported runs"),
    directory: Optional[Path] = typer.Option(None, "--dir", help="with --new-dataset: predictor directory (default: the predictor_dir setting)"),
    folds: int = typer.Option(5, "--folds", help="with --new-dataset: cross-validation folds (runs of one code stay in one)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Train on the split's train models, evaluate on its test models: every estimator, every dataset, every k."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _check_eval_options(grouping, folds)
    if new_dataset:
        _eval_new_dataset(new_dataset, _predictor_dir(directory), folds, as_json)
        return
    from predictor.models import ESTIMATORS
    from predictor.train import evaluate_split, load_or_build_split

    if split_file is not None and not split_file.is_file():
        _fail(f"split file {split_file} does not exist")
    wanted = _known_datasets(datasets)
    _check_target(target)
    names = _names(models)
    if not names:
        _fail(f"--models {models!r} names no estimator; e.g. {DEFAULT_MODELS}")
    unknown = [name for name in names if name not in ESTIMATORS]
    if unknown:  # here, not when its turn to fit comes (minutes into a cold run)
        _fail(f"--models: unknown estimator {', '.join(map(repr, unknown))}; known: {', '.join(ESTIMATORS)}")
    try:
        path, train, test = load_or_build_split(split_file, seed, grouping)
        train, test = _model_names(train, path, "train_models"), _model_names(test, path, "test_models")
        if not test:
            _fail(f"split file {path}: test_models is empty: there is nothing to evaluate on")
        skipped = _skipped_unknown(path, train, test)  # before LEMUR's runs load: a split of unknown names fails at once
        unknown = {s["name"] for s in skipped}
        train, test = [n for n in train if n not in unknown], [n for n in test if n not in unknown]
        rows, _ = evaluate_split(train, test, names, split_path=path, datasets=wanted, target=target)
        skipped += _skipped_without_runs(train, test, rows)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _say_skipped(skipped)
    if as_json:
        typer.echo(json.dumps(_json_safe({"split": str(path), "target": target, "metrics": rows, "skipped_models": skipped})))
        return
    _print_metrics(rows, target, path)


def _check_eval_options(grouping: str, folds: int) -> None:
    """--grouping and --folds, checked before any data loads: a bad --grouping was refused only after a minute or two of
    loading LEMUR, and --folds 0 only once the predictor had loaded (--folds -1 the same)."""
    from predictor.families import GROUPINGS

    if grouping not in GROUPINGS:
        _fail(f"--grouping must be one of {', '.join(GROUPINGS)}, not {grouping!r}")
    if folds < 2:
        _fail(f"--folds must be at least 2 (cross-validation holds out one fold at a time), not {folds}")


def _eval_new_dataset(dataset: str, directory: Path, folds: int, as_json: bool) -> None:
    """``eval-predictor --new-dataset``: the metric rows of ``predictor.cross_validate`` on the directory's reports."""
    from predictor.api import Predictor, reported_training_runs
    from predictor.cross_validate import cross_validate_new_dataset
    from predictor.train import MismatchedSave

    try:
        p = Predictor.load(directory)
        name = p.dataset_name(dataset)
        rows = [r.as_dict() for r in cross_validate_new_dataset(p.estimators[p.default_model], reported_training_runs(p.reports.all()),
                                                                name, p.reports.dynamic(), folds)]
    except (ValueError, FileNotFoundError, MismatchedSave) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(_json_safe({"new_dataset": name, "folds": folds, "metrics": rows})))
        return
    _print_metrics(rows, "final", directory / "reports.sqlite")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""
    app.command("train-predictor")(train_predictor_cmd)
    app.command("predict")(predict_cmd)
    app.command("report")(report_cmd)
    app.command("eval-predictor")(eval_predictor_cmd)
