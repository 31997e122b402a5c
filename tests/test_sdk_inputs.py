"""The SDK takes the numbers a training loop has at hand: torch tensors (0-d, 1-d, a list of 0-d ones, one that
requires grad) and numpy scalars and arrays, as curves, durations, accuracies, epochs and hparams values, and
answers as for the same plain Python numbers. What cannot be one number or cannot be converted is refused with an
error that names the argument, never a raw ``json`` or protobuf TypeError.

A real server on a loopback port with a real (small) saved predictor (``test_predictor_serving``'s helpers).
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from test_predictor_serving import CODE, _save, serving

from rag_server.client import AsyncClient, Client, InvalidArgument

HPARAMS = {"lr": 0.01, "batch": 64, "epochs": 5}
CURVE = [0.3, 0.4]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trained")
    _save(path)
    return path


@pytest.fixture(scope="module")
def served(trained, tmp_path_factory) -> Iterator[Client]:
    with serving(trained, tmp_path_factory.mktemp("served")) as (_, client):
        yield client


def _curves() -> list:
    """CURVE as a training loop may hold it."""
    grad = torch.tensor([0.3, 0.4], requires_grad=True) * 1.0  # a result of autograd, requires grad
    return [torch.tensor(CURVE), [torch.tensor(0.3), torch.tensor(0.4)], grad, list(grad), torch.tensor(CURVE, dtype=torch.float64),
            np.array(CURVE, dtype=np.float32), [np.float32(0.3), np.float64(0.4)], torch.tensor([[1, 0.3], [2, 0.4]]),
            [(torch.tensor(1), torch.tensor(0.3)), (np.int64(2), np.float32(0.4))],
            [{"epoch": np.int64(1), "accuracy": torch.tensor(0.3)}, {"epoch": torch.tensor(2), "accuracy": np.float32(0.4)}]]


def _hparams() -> list[dict]:
    return [{"lr": np.float32(0.01), "batch": np.int64(64), "epochs": torch.tensor(5)},
            {"lr": torch.tensor(0.01, requires_grad=True), "batch": torch.tensor(64), "epochs": np.array(5)},
            {"lr": 0.01, "batch": 64, "epochs": 5, "widths": np.array([16, 32]), "drop": [torch.tensor(0.1)]}]


def test_predict_takes_tensors_and_numpy_values(served):
    plain = served.predict(CODE, HPARAMS, "cifar-10", CURVE, epochs=5)
    for curve in _curves():
        got = served.predict(CODE, HPARAMS, "cifar-10", curve, epochs=5)
        assert got.accuracy == pytest.approx(plain.accuracy, abs=1e-6) and got.observed_epochs == 2, curve
    for hparams in _hparams():
        assert served.predict(CODE, hparams, "cifar-10", CURVE).accuracy == pytest.approx(plain.accuracy, abs=1e-6), hparams
    for epochs in (np.int64(5), torch.tensor(5), torch.tensor([5]), np.array(5.0)):
        assert served.predict(CODE, HPARAMS, "cifar-10", CURVE, epochs=epochs).epochs == 5, epochs


def _same_decision(a, b) -> None:
    assert (a.stop, a.reason) == (b.stop, b.reason)
    assert (a.predicted_accuracy, a.probability_beats_incumbent, a.saved_ms) == pytest.approx(
        (b.predicted_accuracy, b.probability_beats_incumbent, b.saved_ms), abs=1e-4)


def test_should_stop_takes_tensors_and_numpy_values(served):
    run = {"code": CODE, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": CURVE, "durations": [1.0, 2.0], "max_epochs": 5}
    earlier = [{"curve": [0.5, 0.6], "max_epochs": 2}]
    plain = served.should_stop(run, 0.5, finished_accuracies=[0.9, 0.8], max_epochs=5, earlier_runs=earlier)
    tensors = {**run, "hparams": {"lr": torch.tensor(0.01)}, "curve": torch.tensor(CURVE, requires_grad=True),
               "durations": torch.tensor([1.0, 2.0]), "max_epochs": torch.tensor(5)}
    arrays = {**run, "hparams": {"lr": np.float64(0.01)}, "curve": np.array(CURVE, dtype=np.float32),
              "durations": [np.float32(1.0), np.float64(2.0)], "max_epochs": np.int64(5)}
    for given, incumbent, finished, max_epochs, earlier_runs in (
        (tensors, torch.tensor(0.5), torch.tensor([0.9, 0.8]), torch.tensor(5), [{"curve": torch.tensor([0.5, 0.6]), "max_epochs": torch.tensor(2)}]),
        (arrays, np.float32(0.5), np.array([0.9, 0.8]), np.int64(5), [{"curve": np.array([0.5, 0.6]), "max_epochs": np.int64(2)}]),
        (run, np.array(0.5), [torch.tensor(0.9), np.float32(0.8)], 5, [{"curve": [torch.tensor(0.5), torch.tensor(0.6)], "epochs": np.int32(2)}]),
    ):
        got = served.should_stop(given, incumbent, finished_accuracies=finished, max_epochs=max_epochs, earlier_runs=earlier_runs)
        _same_decision(got, plain)


def test_report_result_takes_a_tensor_accuracy(trained, tmp_path):
    run = {"code": CODE, "hparams": {"lr": np.float32(0.01), "epochs": np.int64(5)}, "dataset": "cifar-10",
           "curve": torch.tensor([0.3, 0.4, 0.5, 0.55, 0.6]), "durations": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}
    with serving(trained, tmp_path) as (_, client):
        first = client.report_result(run, torch.tensor(0.6, requires_grad=True), np.bool_(False))
        other = {**run, "curve": np.array([0.3, 0.4, 0.5, 0.55, 0.65], dtype=np.float32)}
        assert first >= 1 and client.report_result(other, np.float32(0.65), torch.tensor(False)) == first + 1


def test_async_client_takes_tensors(served):
    plain = served.predict(CODE, HPARAMS, "cifar-10", CURVE)

    async def ask() -> tuple:
        async with AsyncClient(served.address) as client:
            prediction = await client.predict(CODE, {"lr": torch.tensor(0.01), "batch": np.int64(64), "epochs": 5}, "cifar-10", torch.tensor(CURVE))
            decision = await client.should_stop({"code": CODE, "dataset": "cifar-10", "curve": torch.tensor(CURVE), "max_epochs": np.int64(5)}, torch.tensor(0.9))
            return prediction, decision

    prediction, decision = asyncio.run(ask())
    assert prediction.accuracy == pytest.approx(plain.accuracy, abs=1e-6)
    assert 0 <= decision.probability_beats_incumbent <= 1


@pytest.mark.parametrize("call, name", [
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "max_epochs": 5}, torch.tensor([0.9, 0.8])), "incumbent_accuracy"),
    (lambda c: c.report_result({"code": CODE, "curve": CURVE, "max_epochs": 5}, np.array([0.5, 0.6])), "final_accuracy"),
    (lambda c: c.predict(CODE, {}, "cifar-10", CURVE, epochs=np.array([5, 6])), "epochs"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE}, max_epochs=torch.tensor([5, 6])), "max_epochs"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "max_epochs": torch.tensor([5, 6])}), "max_epochs"),
    (lambda c: c.predict(CODE, {}, "cifar-10", torch.tensor([[0.3, 0.4], [0.5, 0.6]]).unsqueeze(0)), "curve"),
    (lambda c: c.predict(CODE, {}, "cifar-10", torch.tensor(0.3)), "curve"),
    (lambda c: c.predict(CODE, {}, "cifar-10", CURVE, epochs=np.float64(5.5)), "epochs"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "durations": torch.ones(2, 2), "max_epochs": 5}), "durations"),
])
def test_many_values_where_one_number_is_expected_name_the_argument(served, call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call(served)


@pytest.mark.parametrize("call, name", [
    (lambda c: c.predict(CODE, {"lr": object()}, "cifar-10", CURVE), "hparams"),
    (lambda c: c.predict(CODE, {"lr": {1, 2}}, "cifar-10", CURVE), "hparams"),
    (lambda c: c.should_stop({"code": CODE, "hparams": {"opt": object()}, "curve": CURVE, "max_epochs": 5}), "hparams"),
    (lambda c: c.report_result({"code": CODE, "hparams": {"lr": object()}, "curve": CURVE, "max_epochs": 5}, 0.5), "hparams"),
    (lambda c: c.predict(CODE, {}, "cifar-10", ["high", "low"]), "curve"),
    (lambda c: c.predict(CODE, {}, "cifar-10", [object()]), "curve"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "max_epochs": 5}, "0.9"), "incumbent_accuracy"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "max_epochs": 5}, finished_accuracies=["x"]), "finished_accuracies"),
    (lambda c: c.should_stop({"code": CODE, "curve": CURVE, "max_epochs": 5}, earlier_runs=[{"curve": [object()], "max_epochs": 2}]),
     "earlier_runs"),
    (lambda c: c.report_result({"code": CODE, "curve": CURVE, "max_epochs": 5}, "0.4"), "final_accuracy"),
])
def test_values_that_cannot_be_converted_name_the_argument(served, call, name):
    with pytest.raises((ValueError, TypeError), match=name) as caught:
        call(served)
    assert "is not JSON serializable" not in str(caught.value) and "bad argument type" not in str(caught.value)


def test_non_finite_values_are_refused_naming_the_field(served):
    nan = torch.tensor(math.nan)
    with pytest.raises(InvalidArgument, match=r"curve\[1\]\.accuracy"):
        served.predict(CODE, {}, "cifar-10", torch.tensor([0.3, math.nan]))
    with pytest.raises(InvalidArgument, match="incumbent_accuracy"):
        served.should_stop({"code": CODE, "dataset": "cifar-10", "curve": CURVE, "max_epochs": 5}, nan)
    with pytest.raises(InvalidArgument, match="lr"):
        served.predict(CODE, {"lr": np.float32(math.inf)}, "cifar-10", CURVE)
    with pytest.raises((ValueError, InvalidArgument), match="epochs"):
        served.predict(CODE, {}, "cifar-10", CURVE, epochs=torch.tensor(math.inf))


def test_a_misspelt_run_key_and_a_bad_timeout_are_refused_before_sending(served):
    """{"max_epoch": 10} was dropped, and the run answered as planned for 5 epochs ("planned epochs not given");
    timeout=-1 was sent as a deadline already past and came back DEADLINE_EXCEEDED."""
    run = {"code": CODE, "dataset": "cifar-10", "curve": CURVE}
    with pytest.raises(ValueError, match=r"run has unknown key\(s\) 'max_epoch' \(did you mean 'max_epochs'\?\)"):
        served.should_stop({**run, "max_epoch": 10}, 0.9)
    with pytest.raises(ValueError, match=r"earlier_runs\[0\] has unknown key\(s\) 'bogus'"):
        served.should_stop({**run, "max_epochs": 10}, 0.9, earlier_runs=[{**run, "bogus": 1}])
    for bad in (-1, 0, math.nan, "5"):
        with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
            served.predict(CODE, {}, "cifar-10", CURVE, timeout=bad)
    assert served.should_stop({**run, "max_epochs": 10}, 0.9, timeout=30).predicted_accuracy > 0


@pytest.mark.parametrize("bad", [-1, 0, math.nan, math.inf, "30", True])
def test_a_client_built_with_a_bad_timeout_names_it(bad):
    """``Client(addr, timeout="30")`` raised "'<=' not supported between instances of 'str' and 'int'"."""
    from rag_server.client import AsyncClient, Client

    for cls in (Client, AsyncClient):
        with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
            cls("127.0.0.1:1", timeout=bad)


def test_importing_the_sdk_imports_neither_torch_nor_numpy_for_it():
    probe = "import sys, rag_server.client; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    before = "import sys, corpus.records, indexer.records, sandbox.spec, rag_server.convert, grpc; " + probe.split("; ", 1)[1]
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    deps = subprocess.run([sys.executable, "-c", before], capture_output=True, text=True, check=True).stdout
    assert out == deps, f"the SDK imported {out.strip()} where its dependencies import {deps.strip()}"
