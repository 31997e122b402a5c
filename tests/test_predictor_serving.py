"""The predictor as a running server serves it: trained after the start, retrained or broken while serving, and the
inputs at its edges (huge planned epochs, code too deep to parse, numpy curves, an unknown health service).

Real servers on loopback ports, a real (small) predictor saved by ``save_predictor`` and read back by the server;
no store and no sandbox pool (the predictor answers without them).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from nnrag.settings import Settings
from rag_server.backend import Backend
from rag_server.client import ApiError, Client, FailedPrecondition, InvalidArgument, NotFound
from rag_server.server import RunningServer, build_server

CODE = "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n        return x\n"
RUN = {"code": CODE, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4]}


def _estimators(offset: float = 0.0) -> dict:
    """A real last-value estimator (with conformal intervals), fit on a few synthetic runs; ``offset`` shifts its
    targets, so two saves answer differently."""
    from predictor.features import RunView
    from predictor.models import LastValue

    rng = np.random.default_rng(0)
    views, targets, codes = [], [], []
    for i in range(60):
        final = float(np.clip(rng.uniform(0.3, 0.9) + offset, 0, 1))
        curve = [final * (1 - 0.5 ** (e + 1)) for e in range(i % 5)]
        views.append(RunView(dataset="cifar-10", hparams={"lr": 0.01}, epochs=5, accuracy=curve))
        targets.append(final)
        codes.append(f"code{i % 6}")
    return {"last_value": LastValue().fit(views, np.array(targets), codes=codes)}


def _save(directory: Path, offset: float = 0.0, **meta) -> None:
    from predictor.train import save_predictor

    save_predictor(directory, _estimators(offset), {"trained_at": 1.0, "default": "last_value", "n_reported": 0, **meta})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A saved predictor directory; tests copy it before changing anything."""
    path = tmp_path_factory.mktemp("trained")
    _save(path)
    return path


@pytest.fixture
def predictor_dir(trained, tmp_path) -> Path:
    path = tmp_path / "predictor"
    shutil.copytree(trained, path)
    return path


@contextmanager
def serving(predictor_dir: Path, tmp_path: Path) -> Iterator[tuple[RunningServer, Client]]:
    settings = Settings(store_dir=tmp_path / "no-store", address="127.0.0.1:0", predictor_dir=predictor_dir)
    backend = Backend.open(settings, with_pool=False)
    running = build_server(settings, backend)
    try:
        with Client(running.address) as client:
            yield running, client
    finally:
        running.stop(grace=0)


# ------------------------------------------------------------------ bug 1: trained after the start


def test_predictor_trained_after_start_is_served(tmp_path):
    directory = tmp_path / "later"
    directory.mkdir()
    with serving(directory, tmp_path) as (running, client):
        loaded = []
        running.backend.predictor_listeners.append(lambda: loaded.append(True))
        with pytest.raises(FailedPrecondition, match="train-predictor"):
            client.predict(CODE, {}, "cifar-10", [0.3])
        _save(directory)
        p = client.predict(CODE, {}, "cifar-10", [0.3])
        assert p.method.startswith("last_value") and 0 <= p.lower <= p.accuracy <= p.upper <= 1
        assert p.versions["predictor_version"].startswith("last_value@")
        assert client.should_stop(RUN).predicted_accuracy > 0
        assert loaded == [True]  # the server's health hears of it once


def test_health_turns_serving_once_a_predictor_is_trained(tmp_path):
    directory = tmp_path / "later"
    directory.mkdir()
    with serving(directory, tmp_path) as (_, client):
        assert client.health("nnrag.v1.PredictorService") == "NOT_SERVING"
        _save(directory)
        assert client.health("nnrag.v1.PredictorService") == "SERVING"  # a probe alone finds it, no Predict needed


def test_failed_open_is_retried_only_when_the_files_change(tmp_path):
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "estimators.pkl").write_bytes(b"not a pickle")
    (directory / "meta.json").write_text("{}")
    settings = Settings(store_dir=tmp_path / "no-store", predictor_dir=directory)
    backend = Backend.open(settings, with_pool=False)
    try:
        assert backend.predictor is None and "Unpickling" in backend.predictor_error
        backend.predictor_error = "first try"
        assert not backend.refresh_predictor()
        assert backend.predictor_error == "first try"  # unchanged files: not opened again
        _save(directory)
        assert backend.refresh_predictor() and backend.predictor_error == ""
    finally:
        backend.close()


# ------------------------------------------------------------------ bug 2a: a save broken while serving


@pytest.mark.parametrize("damage", ["truncated", "missing", "directory moved"])
def test_broken_save_keeps_the_loaded_model(predictor_dir, tmp_path, damage, caplog):
    with serving(predictor_dir, tmp_path) as (_, client):
        before = client.predict(CODE, {}, "cifar-10", [0.3])
        if damage == "truncated":
            data = (predictor_dir / "estimators.pkl").read_bytes()
            (predictor_dir / "estimators.pkl").write_bytes(data[: len(data) // 2])
        elif damage == "missing":
            (predictor_dir / "estimators.pkl").unlink()
        else:
            predictor_dir.rename(tmp_path / "moved")
        with caplog.at_level(logging.WARNING, logger="predictor.api"):
            assert client.predict(CODE, {}, "cifar-10", [0.3]).upper == before.upper
            assert client.should_stop(RUN).predicted_accuracy > 0
            assert client.predict(CODE, {}, "cifar-10", [0.3]).upper == before.upper
        warnings = [r for r in caplog.records if "not reloaded" in r.getMessage()]
        assert len(warnings) == 1, warnings  # one try per change of the files, not one per call
        if damage == "directory moved":
            with pytest.raises(ApiError, match="ReportsUnavailable|report store"):  # nowhere to store the run: the error names why
                client.report_result({**RUN, "max_epochs": 2}, 0.4)
            return
        _save(predictor_dir, offset=0.05)  # the next save is read again
        assert client.predict(CODE, {}, "cifar-10", [0.3]).upper != before.upper


@pytest.mark.parametrize("damage", ["default names no estimator", "a pickle of another object", "an entry that is no estimator"])
def test_a_save_that_loads_but_cannot_answer_keeps_the_loaded_model(predictor_dir, tmp_path, damage, caplog):
    """Such a save was swapped in: every Predict then failed INVALID_ARGUMENT blaming a ``model`` field the client never
    sent, ShouldStop failed INTERNAL (KeyError), and health stayed SERVING. Now it is logged and the old one answers."""
    import pickle

    from predictor.train import save_predictor

    with serving(predictor_dir, tmp_path) as (_, client):
        before = client.predict(CODE, {}, "cifar-10", [0.3])
        if damage == "default names no estimator":
            meta = json.loads((predictor_dir / "meta.json").read_text())
            (predictor_dir / "meta.json").write_text(json.dumps({**meta, "default": "gbm_stack_v2"}))
        else:
            wrong = ["last_value"] if damage == "a pickle of another object" else {"last_value": "not an estimator"}
            save_predictor(predictor_dir, wrong, {"trained_at": 2.0, "default": "last_value"})
            assert pickle.loads((predictor_dir / "estimators.pkl").read_bytes()) == wrong
        with caplog.at_level(logging.WARNING, logger="predictor.api"):
            assert client.predict(CODE, {}, "cifar-10", [0.3]).upper == before.upper
            assert client.should_stop(RUN).predicted_accuracy > 0
        warnings = [r.getMessage() for r in caplog.records if "not reloaded" in r.getMessage()]
        assert len(warnings) == 1 and ("gbm_stack_v2" in warnings[0] or "estimator" in warnings[0]), warnings


def test_report_result_survives_a_truncated_save(predictor_dir, tmp_path):
    with serving(predictor_dir, tmp_path) as (_, client):
        (predictor_dir / "estimators.pkl").write_bytes(b"\x80")
        assert client.report_result({**RUN, "max_epochs": 2}, 0.4) >= 1


# ------------------------------------------------------------------ bug 2b: meta.json and estimators.pkl as one pair


def test_save_leaves_meta_and_its_estimators_alone(tmp_path):
    """The estimators are renamed into place last (from the pending file written before meta.json named them)."""
    _save(tmp_path)
    meta = tmp_path / "meta.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estimators.pkl", "meta.json"]  # no temporary or pending file left
    assert json.loads(meta.read_text())["estimators_sha256"]


@pytest.mark.parametrize("first", ["meta.json", "estimators.pkl"])
def test_reload_never_pairs_new_meta_with_old_estimators(predictor_dir, tmp_path, first):
    """A reload landing between a save's two replaces (one file of the new save in place, the other still the old
    one) keeps the loaded pair, and the finished save is then loaded whole, whichever file came first."""
    from predictor.api import Predictor

    p = Predictor.load(predictor_dir)
    new = tmp_path / "new"
    _save(new, offset=0.05, default="last_value", stop_policy={"min_epochs": 3}, trained_at=2.0)
    second = "estimators.pkl" if first == "meta.json" else "meta.json"
    shutil.copy2(new / first, predictor_dir / first)
    assert not p.reload_if_changed()
    assert p.meta["trained_at"] == 1.0 and p.policy.min_epochs == 1
    shutil.copy2(new / second, predictor_dir / second)
    assert p.reload_if_changed()
    assert p.meta["trained_at"] == 2.0 and p.policy.min_epochs == 3


def test_reload_sees_a_change_of_meta_alone(predictor_dir):
    from predictor.api import Predictor
    from predictor.optuna_pruner import predictor_pruner

    p = Predictor.load(predictor_dir)
    meta = json.loads((predictor_dir / "meta.json").read_text())
    (predictor_dir / "meta.json").write_text(json.dumps({**meta, "stop_policy": {"min_epochs": 4}}))
    assert p.reload_if_changed() and p.policy.min_epochs == 4
    # the pruner answers with the directory's policy too, as should_stop does (it always took RECOMMENDED_POLICY)
    assert predictor_pruner(p, CODE, "cifar-10", 6).policy.min_epochs == 4


def test_the_server_says_when_it_reloads_a_retrained_predictor(predictor_dir, tmp_path, caplog):
    """A retrain under a running server was taken up silently: the operator could not tell from the logs."""
    server_log = logging.getLogger("nnrag.server")
    server_log.addHandler(caplog.handler)
    level = server_log.level
    server_log.setLevel(logging.INFO)
    try:
        with serving(predictor_dir, tmp_path) as (_, client):
            client.predict(CODE, {}, "cifar-10", [0.3])
            assert not [r for r in caplog.records if r.getMessage() == "predictor reloaded"]
            _save(predictor_dir, offset=0.05, trained_at=2.0)
            client.predict(CODE, {}, "cifar-10", [0.3])
        # one record (caplog's handler sits on the root too: a record that propagates there is listed twice)
        reloaded = list({id(r): r for r in caplog.records if r.getMessage() == "predictor reloaded"}.values())
        assert len(reloaded) == 1 and reloaded[0].fields["path"] == str(predictor_dir)
    finally:
        server_log.removeHandler(caplog.handler)
        server_log.setLevel(level)


# ------------------------------------------------------------------ bug 3: planned epochs beyond any real run


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory) -> Iterator[Client]:
    with serving(trained, tmp_path_factory.mktemp("served")) as (_, client):
        yield client


def test_huge_planned_epochs_are_invalid_argument(served):
    hparams = {"epochs": 1e12}
    with pytest.raises(InvalidArgument, match=r"hparams_json: epochs must be <= 100000, got 1000000000000"):
        served.predict(CODE, hparams, "cifar-10", [0.3])
    with pytest.raises(InvalidArgument, match="must be <= 100000"):
        served.should_stop({**RUN, "hparams": hparams})
    with pytest.raises(InvalidArgument, match="must be <= 100000"):
        served.report_result({**RUN, "hparams": hparams}, 0.4)
    with pytest.raises(InvalidArgument, match="must be <= 100000"):
        served.predict(CODE, {}, "cifar-10", [0.3], epochs=2_000_000_000)
    assert served.predict(CODE, {"epochs": 100_000}, "cifar-10", [0.3]).epochs == 100_000


def test_model_code_takes_a_patched_model_file(served):
    """Predict refused code over 250,000 characters (Patch's input limit) though Patch's own output, which passes
    Check, can be longer (a 154 KB patched file of 40 lines of model). Predict, ShouldStop and ReportResult take up to
    500,000 characters; not the sandbox's 2 MiB, whose first reads held the server (four parallel 2 MB calls ran past
    the default 30 s deadline): more is refused at once naming the limit."""
    big = CODE + "".join(f"\nclass Pad{i}(nn.Module):\n    def forward(self, x):\n        return x + {i}\n" for i in range(4_000))
    assert 250_000 < len(big) < 500_000
    assert served.predict(big, {}, "cifar-10", [0.3], epochs=5).observed_epochs == 1
    assert served.should_stop({**RUN, "code": big, "hparams": {"epochs": 5}}).predicted_accuracy >= 0
    assert served.report_result({**RUN, "code": big, "hparams": {"epochs": 2}}, 0.4) > 0
    with pytest.raises(InvalidArgument, match=r"characters; a model file for the predictor has at most 500,000"):
        served.predict(big + "#" * 300_000, {}, "cifar-10", [0.3])
    with pytest.raises(InvalidArgument, match=r"at most 2,097,152"):  # the sandbox's own limit, checked first
        served.predict(big + "#" * (2 * 1024 * 1024), {}, "cifar-10", [0.3])


def test_a_repeated_call_on_the_same_code_parses_it_no_more(served, monkeypatch):
    """A warm Predict, ShouldStop or ReportResult on one unchanged 154 KB file took 0.6-2.4 s a call: the server checked its depth
    with libcst, parsed it four times and hashed its AST on every call. A training loop sends the same file every
    epoch: once read, a text is not parsed again (the checks and features are cached per text)."""
    import libcst

    from nnrag import pyparse

    code = CODE + "".join(f"\nclass Block{i}(nn.Module):\n    def forward(self, x):\n        return x * {i}\n" for i in range(50))
    run = {**RUN, "code": code, "hparams": {"lr": 0.01, "epochs": 6}}
    first = served.predict(code, {"lr": 0.01}, "cifar-10", [0.3], epochs=6)
    served.should_stop(run)
    served.report_result({**run, "run_id": "parsed-once"}, stopped_early=True)
    calls: list[str] = []
    real_parse, real_cst = pyparse.parse, libcst.parse_module
    monkeypatch.setattr(pyparse, "parse", lambda *a, **k: calls.append("ast") or real_parse(*a, **k))
    monkeypatch.setattr(libcst, "parse_module", lambda *a, **k: calls.append("libcst") or real_cst(*a, **k))
    assert served.predict(code, {"lr": 0.01}, "cifar-10", [0.3], epochs=6).accuracy == first.accuracy
    served.should_stop(run)
    served.report_result({**run, "run_id": "parsed-once", "curve": [0.3, 0.4]}, stopped_early=True)  # ReportResult: 0.5-1.2 s on 1-2 MB
    assert calls == []


def test_a_dataset_the_predictor_was_not_trained_for_is_failed_precondition(tmp_path):
    """After `train-predictor --fast` (CIFAR-10 alone) MNIST and CIFAR-100 got CIFAR-10's estimator's answer, identical
    numbers, only the method saying so. Predict and ShouldStop refuse them with FAILED_PRECONDITION naming the fix;
    CIFAR-10 is answered, and ReportResult still stores an MNIST run (the full predictor learns from it)."""
    directory = tmp_path / "fast"
    _save(directory, datasets=["cifar-10"], fast=True)
    with serving(directory, tmp_path) as (_, client):
        assert client.predict(CODE, {}, "cifar-10", [0.3], epochs=5).accuracy > 0
        for dataset in ("mnist", "cifar-100"):
            with pytest.raises(FailedPrecondition, match=f"no estimator of {dataset}.*nnrag train-predictor` without --fast"):
                client.predict(CODE, {}, dataset, [0.3], epochs=5)
            with pytest.raises(FailedPrecondition, match=f"no estimator of {dataset}"):
                client.should_stop({**RUN, "dataset": dataset, "hparams": {"epochs": 5}}, 0.9)
        assert client.report_result({**RUN, "dataset": "mnist", "hparams": {"epochs": 2}}, 0.4) > 0


def test_a_dataset_without_an_estimator_is_refused_before_the_code_is_measured(tmp_path, monkeypatch):
    """A refused MNIST Predict of new 2 MB code read it and ran its sandbox measurement (9.5 s) before saying no."""
    from predictor.api import NotTrainedFor, Predictor

    _save(tmp_path / "fast", datasets=["cifar-10"], fast=True)
    predictor = Predictor.load(tmp_path / "fast")

    def measured(code: str) -> dict:
        raise AssertionError("measured before refusing")

    monkeypatch.setattr(predictor, "code_features", measured)
    with pytest.raises(NotTrainedFor):
        predictor.predict(CODE, {}, "mnist", [0.3], epochs=5)
    with pytest.raises(NotTrainedFor):
        predictor.should_stop({**RUN, "dataset": "mnist", "hparams": {"epochs": 5}}, 0.9)


def test_the_predictor_version_changes_with_every_report(predictor_dir, tmp_path):
    """versions.predictor_version read `last_value@1+0reported` while reports were changing the answers at once: it
    counted the reports of the last training only. It now carries the report store's revision: a stored or replaced
    report (from this server or `nnrag report` in another process) changes it, a retry stored once does not."""
    from predictor.api import ReportedRun, ReportStore

    with serving(predictor_dir, tmp_path) as (_, client):
        def revision() -> int:
            version = client.predict(CODE, {}, "cifar-10", [0.3], epochs=5).versions["predictor_version"]
            trained, _, changes = version.partition(".r")
            assert trained == "last_value@1+0reported", version
            return int(changes)

        before = revision()  # the saved directory may hold other tests' reports
        client.report_result(RUN)
        client.report_result(RUN)  # a retry after a deadline: the same run, stored once, nothing changed
        assert revision() == before + 1
        stopped = {**RUN, "run_id": "a", "hparams": {"epochs": 5}}
        client.report_result(stopped, stopped_early=True)
        client.report_result({**stopped, "curve": [0.3, 0.4, 0.5, 0.5, 0.6]})  # the same run finished: replaced
        assert revision() == before + 3
        client.report_result({**stopped, "curve": [0.3, 0.4, 0.5, 0.5, 0.6]})  # its retry: the row holds it already
        assert revision() == before + 3
        ReportStore(predictor_dir / "reports.sqlite").add(ReportedRun(CODE, {}, "cifar-10", [0.5, 0.6, 0.7]))  # another process
        assert revision() == before + 4


def test_a_nan_accuracy_is_refused_saying_what_a_diverged_run_sends(served, tmp_path):
    """A NaN accuracy got "run.curve[1].accuracy: nan is not in [0, 1]" mid-training, with no word of what a diverged run
    should send, while predictor_pruner reads a NaN as divergence. Still refused (a NaN is as often a metric bug), and
    every refusal of one, over the wire and in process, says to send 0.0."""
    from predictor.api import Predictor, ReportedRun

    nan = float("nan")
    with pytest.raises(InvalidArgument, match=r"curve\[1\]\.accuracy: nan is not in \[0, 1\] \(a run that diverged .* sends 0\.0"):
        served.predict(CODE, {}, "cifar-10", [0.3, nan], epochs=5)
    with pytest.raises(InvalidArgument, match=r"run\.curve\[1\]\.accuracy: nan .*sends 0\.0"):
        served.should_stop({**RUN, "curve": [0.3, nan], "hparams": {"epochs": 5}})
    with pytest.raises(InvalidArgument, match=r"incumbent_accuracy: inf .*sends 0\.0"):
        served.should_stop({**RUN, "hparams": {"epochs": 5}}, float("inf"))
    with pytest.raises(InvalidArgument, match=r"sends 0\.0"):
        served.report_result({**RUN, "curve": [0.3, nan]})
    _save(tmp_path / "p")
    predictor = Predictor.load(tmp_path / "p")
    with pytest.raises(ValueError, match=r"got nan \(a run that diverged .* sends 0\.0"):
        predictor.should_stop({**RUN, "curve": [0.3, nan]}, [0.5], budget=5)
    with pytest.raises(ValueError, match=r"sends 0\.0"):
        ReportedRun(CODE, {}, "cifar-10", [0.3, nan]).check_result()


# ------------------------------------------------------------------ bug 4: code too deep for Python's parser


def test_code_too_deep_to_parse_is_invalid_argument(served):
    with pytest.raises(InvalidArgument, match="nests too deeply"):
        served.predict("x = " + "-" * 100_000 + "1\n", {}, "cifar-10")


# ------------------------------------------------------------------ bug 5: numpy sequences in the SDK


def test_sdk_takes_numpy_curves(served):
    as_list = served.predict(CODE, {}, "cifar-10", [0.3, 0.4])
    for curve in (np.array([0.3, 0.4]), np.array([0.3, 0.4], dtype=np.float32), (0.3, 0.4)):
        assert served.predict(CODE, {}, "cifar-10", curve).accuracy == pytest.approx(as_list.accuracy, abs=1e-6)
    assert served.predict(CODE, {}, "cifar-10", np.array([[1, 0.3], [2, 0.4]])).observed_epochs == 2
    decision = served.should_stop({**RUN, "curve": np.array([0.3, 0.4])}, finished_accuracies=np.array([0.9, 0.8]),
                                  earlier_runs=[{"curve": np.array([0.5, 0.6]), "max_epochs": 2}])
    assert 0 <= decision.probability_beats_incumbent <= 1


# ------------------------------------------------------------------ bug 6: health of an unknown service


def test_health_of_unknown_service_names_it(served):
    assert served.health("nnrag.v1.PredictorService") == "SERVING"
    with pytest.raises(NotFound, match="nnrag.v1.NoSuchService"):
        served.health("nnrag.v1.NoSuchService")


# ------------------------------------------------------------------ planned epochs unknown, dataset spellings


def test_grpc_refuses_a_long_curve_without_planned_epochs_as_the_api_does(served):
    """No planned epochs (max_epochs, target_epoch, hparams epochs) and a curve of DEFAULT_EPOCHS or more: the run
    was read as finished ("observed", never stopped); now INVALID_ARGUMENT, as ``Predictor`` and the CLI answer."""
    long = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    with pytest.raises(InvalidArgument, match="planned epochs are unknown"):
        served.should_stop({**RUN, "curve": long}, finished_accuracies=[0.9])
    with pytest.raises(InvalidArgument, match="planned epochs are unknown"):
        served.predict(CODE, {}, "cifar-10", long)
    with pytest.raises(InvalidArgument, match="budget 5 is below the 6 epochs"):
        served.should_stop({**RUN, "curve": long}, finished_accuracies=[0.9], max_epochs=5)
    assert served.predict(CODE, {}, "cifar-10", long, epochs=10).method != "observed"
    assert "5 assumed" in served.should_stop(RUN, finished_accuracies=[0.9]).reason


def test_grpc_reads_dataset_spellings(served):
    assert served.predict(CODE, {}, "CIFAR-10", [0.3]).accuracy == served.predict(CODE, {}, "cifar-10", [0.3]).accuracy
    with pytest.raises(InvalidArgument, match="unknown dataset 'cifar 10'"):
        served.predict(CODE, {}, "cifar 10", [0.3])


def test_a_server_policy_with_bar_risk_raises_the_bar_of_a_young_study(predictor_dir, tmp_path):
    """ShouldStopRequest.study_runs reaches the rule: with the option STUDY_SIZE_POLICY as the directory's stop policy,
    ten runs into a study of 1,000 the bar is a better finished final than the worst of ten, and the reason says how
    far the study is; with study_runs = 11 (the study's end) the bar is the recommended rule's."""
    from predictor.early_stop import STUDY_SIZE_POLICY

    _save(predictor_dir, stop_policy={k: STUDY_SIZE_POLICY[k] for k in ("bar_risk", "p_min_sized")}, trained_at=2.0)
    run = {**RUN, "max_epochs": 6}
    finals = [0.5 + 0.04 * i for i in range(10)]  # 0.50 .. 0.86
    earlier = [{**run, "curve": [0.3, 0.4, 0.45, 0.5, 0.55, f]} for f in finals]
    with serving(predictor_dir, tmp_path) as (_, client):
        plain = client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier)
        young = client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier, study_runs=1000)
        late = client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier, study_runs=11)
    assert "P(final > 0.5000)" in plain.reason and "run 11" not in plain.reason, plain.reason
    assert "P(final > 0.5000)" not in young.reason and "run 11 of 1000" in young.reason, young.reason
    assert young.probability_beats_incumbent < plain.probability_beats_incumbent
    assert "P(final > 0.5000)" in late.reason and "run 11 of 11" in late.reason, late.reason
