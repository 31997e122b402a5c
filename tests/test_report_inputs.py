"""What a caller reports about a run, and the plan it sends with a stop request: a final of 0 is a real final, a final
alone says how many epochs the run trained, contradictory inputs are INVALID_ARGUMENT naming the field, and the CLI
answers the same in process and over --server.

A real server on a loopback port with a real (small) predictor saved by ``save_predictor``; no store and no sandbox pool.
"""

from __future__ import annotations

import json

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from typer.testing import CliRunner

from nnrag.cli import app
from nnrag.settings import Settings
from nnrag.v1 import predictor_pb2, predictor_pb2_grpc
from predictor.datasets import NEW_DATASET_MIN_RUNS
from rag_server.backend import Backend
from rag_server.client import Client, InvalidArgument
from rag_server.server import RunningServer, build_server
import test_predictor_serving as serving
from test_predictor_serving import CODE

HPARAMS = {"lr": 0.01}
trained, predictor_dir = serving.trained, serving.predictor_dir  # fixtures: a saved real predictor, copied per test


@pytest.fixture
def server(predictor_dir, tmp_path) -> Iterator[RunningServer]:
    settings = Settings(store_dir=tmp_path / "no-store", address="127.0.0.1:0", predictor_dir=predictor_dir)
    running = build_server(settings, Backend.open(settings, with_pool=False))
    try:
        yield running
    finally:
        running.stop(grace=0)


@pytest.fixture
def client(server) -> Iterator[Client]:
    with Client(server.address) as c:
        yield c


@pytest.fixture
def stub(server) -> Iterator[predictor_pb2_grpc.PredictorServiceStub]:
    """The generated stub, for requests the SDK would not build (an older client's unset final, raw curve points)."""
    with grpc.insecure_channel(server.address) as channel:
        yield predictor_pb2_grpc.PredictorServiceStub(channel)


def _stored(predictor_dir: Path) -> list:
    from predictor.api import ReportStore

    return ReportStore(predictor_dir / "reports.sqlite").all()


def _refused(call, field: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        call()
    assert info.value.details.startswith(f"{field}:"), info.value.details
    return info.value.details


def _raw_refused(call, field: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    assert info.value.details().startswith(f"{field}:"), info.value.details()
    return info.value.details()


# ------------------------------------------------------------------ 1. a final of 0 is a real final


def test_sdk_reports_a_final_of_zero_as_a_diverged_run(client, predictor_dir):
    run_id = client.report_result({"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "max_epochs": 20}, 0.0)
    stored = _stored(predictor_dir)
    assert [(r.accuracy, r.curve_known, r.epochs_planned, r.finished) for r in stored] == [([0.0], False, 20, True)]
    assert run_id >= 1


def test_an_older_clients_unset_final_still_reads_as_no_result(stub, predictor_dir):
    run = predictor_pb2.Run(code=CODE, hparams_json='{"lr": 0.01}', dataset="cifar-10", max_epochs=20)
    details = _raw_refused(lambda: stub.ReportResult(predictor_pb2.ReportResultRequest(run=run)), "run.curve")
    assert "final_accuracy is not set" in details
    assert _stored(predictor_dir) == []


def test_a_zero_final_beside_a_curve_still_means_the_curve_alone(client, predictor_dir):
    client.report_result({"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.5], "max_epochs": 2}, 0.0)
    assert [r.accuracy for r in _stored(predictor_dir)] == [[0.3, 0.5]]


def test_cli_reports_a_final_of_zero_in_process_and_over_the_server(server, predictor_dir, tmp_path):
    model = tmp_path / "net.py"
    model.write_text(CODE)
    runner = CliRunner()
    remote = runner.invoke(app, ["report", str(model), "--final", "0", "--epochs", "20", "--server", server.address])
    assert remote.exit_code == 0 and "finished at 0.0000" in remote.output and "final only" in remote.output, remote.output
    local = runner.invoke(app, ["report", str(model), "--final", "0", "--epochs", "20", "--hparams", '{"lr": 0.02}',
                                "--dir", str(predictor_dir)])
    assert local.exit_code == 0 and "finished at 0.0000" in local.output, local.output
    assert [(r.accuracy, r.curve_known, r.epochs_planned) for r in _stored(predictor_dir)] == [([0.0], False, 20)] * 2
    # --json, for scripts (the stored id was only in the sentence), the same over the server
    for where in (["--server", server.address], ["--dir", str(predictor_dir)]):
        out = runner.invoke(app, ["report", str(model), "--curve", "0.2,0.3", "--epochs", "20", "--stopped", "--run-id", f"r-{where[0]}", "--json", *where])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout) == {"id": json.loads(out.stdout)["id"], "run_id": f"r-{where[0]}", "dataset": "cifar-10",
                                          "finished": False, "epochs_seen": 2, "final": None}
        assert isinstance(json.loads(out.stdout)["id"], int)


# ------------------------------------------------------------------ 2. a final alone says how many epochs


def test_a_final_alone_without_planned_epochs_is_refused(client, predictor_dir):
    details = _refused(lambda: client.report_result({"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10"}, 0.6), "run.max_epochs")
    assert "a final alone must say how many epochs the run trained" in details and "epochs" in details
    assert _stored(predictor_dir) == []
    client.report_result({"code": CODE, "hparams": {**HPARAMS, "epochs": 30}, "dataset": "cifar-10"}, 0.6)  # hparams epochs say it
    assert [(r.accuracy, r.epochs_planned) for r in _stored(predictor_dir)] == [([0.6], 30)]


def test_cli_refuses_a_final_alone_without_epochs_the_same_way_on_both_paths(server, predictor_dir, tmp_path):
    model = tmp_path / "net.py"
    model.write_text(CODE)
    runner = CliRunner()
    remote = runner.invoke(app, ["report", str(model), "--final", "0.6", "--server", server.address])
    local = runner.invoke(app, ["report", str(model), "--final", "0.6", "--dir", str(predictor_dir)])
    assert remote.exit_code == local.exit_code == 2
    assert remote.output == local.output and "--epochs" in local.output and "how many epochs" in local.output, (remote.output, local.output)
    assert _stored(predictor_dir) == []


# ------------------------------------------------------------------ 3. ShouldStop says why there is no bar yet


def test_should_stop_says_how_many_finished_runs_the_rule_needs(client, predictor_dir):
    from predictor.api import Predictor

    needed = Predictor.load(predictor_dir).policy.min_finished
    assert needed == 3
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 10}
    d = client.should_stop(run, finished_accuracies=[0.8, 0.82])
    assert not d.stop and d.probability_beats_incumbent == 1.0  # the decision is unchanged: nothing to beat yet
    assert d.reason.startswith(f"2 finished runs, the rule needs {needed}"), d.reason
    one = client.should_stop(run, finished_accuracies=[0.8])
    assert one.reason.startswith(f"1 finished run, the rule needs {needed}"), one.reason
    assert client.should_stop(run).reason.startswith("no incumbent yet")
    enough = client.should_stop(run, finished_accuracies=[0.8, 0.82, 0.85])
    assert "finished run" not in enough.reason and enough.reason.startswith("P(final >"), enough.reason


# ------------------------------------------------------------------ 4. contradictions name the field


def test_a_stopped_run_whose_curve_covers_every_planned_epoch_is_refused(client, predictor_dir):
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4, 0.5]}
    details = _refused(lambda: client.report_result({**run, "max_epochs": 3}, 0.5, stopped_early=True), "stopped_early")
    assert "all 3 planned epochs" in details
    _refused(lambda: client.report_result({**run, "hparams": {**HPARAMS, "epochs": 3}}, 0.5, stopped_early=True), "stopped_early")
    assert _stored(predictor_dir) == []
    client.report_result({**run, "max_epochs": 4}, 0.5, stopped_early=True)  # stopped before its planned 4 epochs: fine
    assert [r.finished for r in _stored(predictor_dir)] == [False]


def test_budget_and_run_max_epochs_must_agree_and_cover_the_curve(client):
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4, 0.5, 0.55, 0.6], "max_epochs": 8}
    details = _refused(lambda: client.should_stop(run, 0.9, max_epochs=10), "budget.max_epochs")
    assert "run.max_epochs" in details
    assert client.should_stop(run, 0.9, max_epochs=8).predicted_accuracy > 0  # the same value twice is no contradiction
    below = _refused(lambda: client.should_stop({**run, "max_epochs": 0}, 0.9, max_epochs=3), "budget.max_epochs")
    assert "below the 5 epochs" in below
    _refused(lambda: client.should_stop({**run, "max_epochs": 3}, 0.9), "run.max_epochs")
    _refused(lambda: client.should_stop({**run, "max_epochs": 0, "hparams": {**HPARAMS, "epochs": 3}}, 0.9), "run.hparams_json")
    _refused(lambda: client.predict(CODE, {**HPARAMS, "epochs": 2}, "cifar-10", [0.3, 0.4, 0.5]), "hparams_json")


def test_elapsed_ms_going_down_names_the_point(stub):
    points = [predictor_pb2.CurvePoint(epoch=1, accuracy=0.3, elapsed_ms=1000.0),
              predictor_pb2.CurvePoint(epoch=3, accuracy=0.5, elapsed_ms=2500.0),
              predictor_pb2.CurvePoint(epoch=2, accuracy=0.4, elapsed_ms=3000.0)]  # any order: epoch 3 is below epoch 2
    details = _raw_refused(lambda: stub.Predict(predictor_pb2.PredictRequest(code=CODE, dataset="cifar-10", curve=points, target_epoch=10)),
                           "curve[1].elapsed_ms")
    assert "epoch 3" in details and "epoch 2" in details and "curve[2]" in details
    run = predictor_pb2.Run(code=CODE, hparams_json='{"lr": 0.01}', dataset="cifar-10", curve=points, max_epochs=10)
    _raw_refused(lambda: stub.ShouldStop(predictor_pb2.ShouldStopRequest(run=run, incumbent_accuracy=0.9)), "run.curve[1].elapsed_ms")
    _raw_refused(lambda: stub.ReportResult(predictor_pb2.ReportResultRequest(run=run, stopped_early=True)), "run.curve[1].elapsed_ms")
    unknown = [predictor_pb2.CurvePoint(epoch=1, accuracy=0.3, elapsed_ms=1000.0), predictor_pb2.CurvePoint(epoch=2, accuracy=0.4)]
    assert stub.Predict(predictor_pb2.PredictRequest(code=CODE, dataset="cifar-10", curve=unknown, target_epoch=10)).observed_epochs == 2


def test_an_earlier_runs_bad_max_epochs_is_named_as_itself(client):
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 10}
    earlier = {**run, "curve": [0.2, 0.3], "max_epochs": 10 ** 6}
    details = _refused(lambda: client.should_stop(run, earlier_runs=[earlier]), "earlier_runs[0].max_epochs")
    assert "100000" in details


def test_a_finished_run_shorter_than_its_plan_is_refused_naming_the_wire_fields(client, predictor_dir, server, tmp_path):
    """The refusal came from the predictor's own record ("run: reported run: ... epochs_planned plans 10 ...
    (finished=False; ...)"): fields no caller sends. Each interface now names its own."""
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 10}
    details = _refused(lambda: client.report_result(run), "run.curve")
    assert "has 2 epochs, but run.max_epochs plans 10" in details and "stopped_early" in details, details
    assert "epochs_planned" not in details and "reported run" not in details, details
    assert _stored(predictor_dir) == []
    model = tmp_path / "net.py"
    model.write_text(CODE)
    for where in (["--server", server.address], ["--dir", str(predictor_dir)]):
        cli = CliRunner().invoke(app, ["report", str(model), "--curve", "0.3,0.4", "--epochs", "10", *where])
        assert cli.exit_code == 2 and "--curve has 2 epochs, but --epochs plans 10" in cli.output and "--stopped" in cli.output, cli.output
    assert _stored(predictor_dir) == []


def test_finished_earlier_runs_of_another_dataset_set_no_bar(client):
    """Three MNIST runs at 0.99, sent as the study's earlier runs, were the bar of a CIFAR-10 run: P = 0, stopped."""
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.4, 0.5], "max_epochs": 10}
    mnist = [{"code": CODE, "hparams": HPARAMS, "dataset": "mnist", "curve": [0.97] * 9 + [0.99], "max_epochs": 10}] * 3
    d = client.should_stop(run, earlier_runs=mnist)
    assert not d.stop and "no incumbent" in d.reason, d.reason
    cifar = [{**r, "dataset": "cifar-10"} for r in mnist]
    d = client.should_stop(run, earlier_runs=cifar)
    assert "P(final > 0.9900)" in d.reason and d.probability_beats_incumbent < 0.05, "the same runs on the run's dataset are its bar"


def test_the_first_epoch_is_answered_with_earlier_runs_as_the_bar(client):
    """ShouldStop at epoch 1 with the bar from finished earlier runs failed: "run: max() arg is an empty sequence"."""
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.01], "max_epochs": 10}
    earlier = [{**run, "curve": [0.9] * 9 + [f], "max_epochs": 10} for f in (0.97, 0.98, 0.99)]
    d = client.should_stop(run, earlier_runs=earlier)
    assert not d.stop and "but not at epoch 0 (before training): kept" in d.reason, d
    assert client.should_stop({**run, "curve": [0.2, 0.2]}, earlier_runs=earlier, study_runs=50).predicted_accuracy > 0


def test_the_sdk_refuses_code_the_server_would_before_sending_it(client):
    """predict, should_stop and report_result raised a raw UnicodeEncodeError for a lone surrogate, and "Sent message
    larger than max" for code over the limit, where check() said CodeRefused."""
    from rag_server.client import CodeRefused

    surrogate, huge = CODE + "# \udcff\n", CODE + "#" * (3 << 20) + "\n"
    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.2], "max_epochs": 10}
    for code in (surrogate, huge):
        for call, field in ((lambda: client.predict(code, HPARAMS, "cifar-10"), "code"),
                            (lambda: client.should_stop({**run, "code": code}, 0.9), "run code"),
                            (lambda: client.should_stop(run, 0.9, earlier_runs=[{**run, "code": code}]), "earlier_runs[0] code"),
                            (lambda: client.report_result({**run, "code": code}, stopped_early=True), "run code")):
            with pytest.raises(CodeRefused) as info:
                call()
            assert info.value.details.startswith(f"{field}:"), info.value.details


# ------------------------------------------------------------------ 5. CLI: --curve and --final are alternatives


def test_cli_says_curve_and_final_are_alternatives(server, predictor_dir, tmp_path):
    model = tmp_path / "net.py"
    model.write_text(CODE)
    runner = CliRunner()
    outputs = []
    for where in (["--server", server.address], ["--dir", str(predictor_dir)]):
        both = runner.invoke(app, ["report", str(model), "--curve", "0.3,0.4", "--final", "0.4", *where])
        assert both.exit_code == 2 and "not both" in both.output and "alternatives" in both.output, both.output
        stopped = runner.invoke(app, ["report", str(model), "--curve", "0.3,0.4", "--epochs", "2", "--stopped", *where])
        assert stopped.exit_code == 2 and stopped.output.startswith("error: --stopped "), stopped.output
        outputs.append((both.output, stopped.output))
    assert outputs[0] == outputs[1]
    assert _stored(predictor_dir) == []


# ------------------------------------------------------------------ 6. a dataset with no runs


def test_a_dataset_the_predictor_has_no_runs_of_is_refused_everywhere(stub, predictor_dir):
    """Predict, ShouldStop and ReportResult refuse a dataset the predictor has no runs of, naming it and the known ones,
    and store nothing. Why refused: no estimator answers it honestly (``bench/bench_unseen_dataset.py``: CIFAR-10's
    estimator on a hidden dataset is 0.35-0.48 RMSE at k = 0 where the dataset's own gives 0.055-0.104)."""
    curve = [predictor_pb2.CurvePoint(epoch=1, accuracy=0.7), predictor_pb2.CurvePoint(epoch=2, accuracy=0.8)]
    run = predictor_pb2.Run(code=CODE, hparams_json='{"lr": 0.01}', dataset="fashion-mnist", curve=curve, max_epochs=10)
    calls = {
        "Predict": lambda: stub.Predict(predictor_pb2.PredictRequest(code=CODE, dataset="fashion-mnist", curve=curve, target_epoch=10)),
        "ShouldStop": lambda: stub.ShouldStop(predictor_pb2.ShouldStopRequest(run=run, incumbent_accuracy=0.9)),
        "ReportResult": lambda: stub.ReportResult(predictor_pb2.ReportResultRequest(run=run, stopped_early=True)),
    }
    for name, call in calls.items():
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, info.value)
        assert "unknown dataset 'fashion-mnist'" in info.value.details() and "cifar-10" in info.value.details(), (name, info.value.details())
    assert _stored(predictor_dir) == []
    assert stub.Predict(predictor_pb2.PredictRequest(code=CODE, dataset="CIFAR-10", curve=curve, target_epoch=10)).observed_epochs == 2


def test_a_new_dataset_is_reported_as_new_then_known_but_not_answered_before_it_has_an_estimator(stub, predictor_dir):
    """ReportResult with new_dataset stores a run of a dataset the predictor has not seen, under its lowercased name.
    From then on the name is known: a later report needs no flag, and Predict / ShouldStop refuse it with how many runs
    are in and how many its estimator needs, where an unknown name is refused as unknown. A name that is no name is
    refused with the flag too, naming run.dataset."""
    curve = [predictor_pb2.CurvePoint(epoch=e, accuracy=a) for e, a in ((1, 0.6), (2, 0.7), (3, 0.75))]
    run = predictor_pb2.Run(code=CODE, hparams_json='{"lr": 0.01}', dataset="Fashion-MNIST", curve=curve, max_epochs=3)
    refused = _details_of(lambda: stub.ReportResult(predictor_pb2.ReportResultRequest(run=run)))
    assert refused.startswith("run.dataset: unknown dataset 'Fashion-MNIST'") and "reported as new (new_dataset" in refused, refused
    assert _stored(predictor_dir) == []
    first = stub.ReportResult(predictor_pb2.ReportResultRequest(run=run, new_dataset=True))
    assert first.accepted and [r.dataset for r in _stored(predictor_dir)] == ["fashion-mnist"]
    run.dataset, run.hparams_json = "fashion_mnist", '{"lr": 0.02}'  # another spelling of the same name, no flag needed now
    stub.ReportResult(predictor_pb2.ReportResultRequest(run=run))
    assert [r.dataset for r in _stored(predictor_dir)] == ["fashion-mnist"] * 2
    not_yet = _details_of(lambda: stub.Predict(predictor_pb2.PredictRequest(code=CODE, dataset="fashion-mnist", curve=curve[:2],
                                                                            target_epoch=10)))
    assert "no estimator of fashion-mnist yet: 2 finished image-classification runs" in not_yet and f"once {NEW_DATASET_MIN_RUNS} are reported" in not_yet, not_yet
    run.curve.pop()
    run.max_epochs = 10
    stop = _details_of(lambda: stub.ShouldStop(predictor_pb2.ShouldStopRequest(run=run, incumbent_accuracy=0.9)))
    assert "no estimator of fashion-mnist yet" in stop, stop
    run.dataset = "my dataset!"
    bad = _details_of(lambda: stub.ReportResult(predictor_pb2.ReportResultRequest(run=run, stopped_early=True, new_dataset=True)))
    assert bad.startswith("run.dataset: 'my dataset!' is not a dataset name"), bad
    assert len(_stored(predictor_dir)) == 2


def _details_of(call) -> str:
    """The details of the INVALID_ARGUMENT ``call`` must raise."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
    return info.value.details()


def test_cli_reports_a_new_dataset_with_new_dataset_in_process_and_over_the_server(server, predictor_dir, tmp_path):
    model = tmp_path / "model.py"
    model.write_text(CODE)
    runner = CliRunner()
    for where, dataset in ((["--server", server.address], "derm-a"), (["--dir", str(predictor_dir)], "derm-b")):
        args = ["report", str(model), "--curve", "0.5,0.6", "--dataset", dataset, *where]
        unknown = runner.invoke(app, args)
        assert unknown.exit_code == 2 and f"unknown dataset '{dataset}'" in unknown.output and "--new-dataset" in unknown.output, unknown.output
        new = runner.invoke(app, [*args, "--new-dataset"])
        assert new.exit_code == 0 and f"on {dataset}" in new.output, new.output
    assert sorted(r.dataset for r in _stored(predictor_dir)) == ["derm-a", "derm-b"]


def test_a_report_stores_no_text_past_its_limit(client, stub, predictor_dir):
    """Only the code had a limit: five reports with 7 MB hyperparameters (or a 1 MB run_id) were stored whole, 35 MB of
    reports.sqlite from five calls. Over the wire and in process they are refused naming the field; nothing is stored."""
    from predictor.api import MAX_HPARAMS_JSON_CHARS, Predictor

    run = {"code": CODE, "hparams": HPARAMS, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 2}
    details = _refused(lambda: client.report_result({**run, "hparams": {**HPARAMS, "note": "a" * MAX_HPARAMS_JSON_CHARS}}), "run.hparams_json")
    assert f"at most {MAX_HPARAMS_JSON_CHARS:,}" in details
    assert "run_id has 1,001 characters, at most 1,000" in _refused(lambda: client.report_result({**run, "run_id": "r" * 1001}), "run")
    assert "task has 201 characters" in _refused(lambda: client.report_result({**run, "task": "t" * 201}), "run")
    big = predictor_pb2.PredictRequest(code=CODE, hparams_json='{"lr": 0.1, "x": "' + "a" * MAX_HPARAMS_JSON_CHARS + '"}', dataset="cifar-10")
    _raw_refused(lambda: stub.Predict(big), "hparams_json")
    with pytest.raises(ValueError, match="reported run: hparams take .* characters as JSON"):
        Predictor.load(predictor_dir).report({"code": CODE, "hparams": {**HPARAMS, "x": "a" * 70_000}, "dataset": "cifar-10",
                                              "accuracy": [0.3, 0.4], "epochs_planned": 2})
    assert _stored(predictor_dir) == []
    client.report_result(run)
    assert len(_stored(predictor_dir)) == 1
