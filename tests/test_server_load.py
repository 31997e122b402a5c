"""The server under load and through its lifecycle: the predictor's sandbox measurements of new code within a Check's
limits (the caller's deadline and cancellation, the max_pending_checks places), a store built after the server
started, and Audit stream slots freed as soon as a stream ends.

Real servers on loopback ports with one real sandbox worker, a real (small) predictor saved by ``save_predictor``,
a real store built by ``build_index``; the RPCs go over real channels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest

from nnrag.settings import Settings
from nnrag.v1 import blocks_pb2, blocks_pb2_grpc, predictor_pb2, predictor_pb2_grpc
from rag_server.backend import Backend
from rag_server.client import Client, FailedPrecondition, ResourceExhausted
from rag_server.server import RunningServer, build_server

# A model whose forward never returns: its measurement runs until something stops it.
HANGING = """import torch.nn as nn


class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        while True:
            pass
"""
SMALL = """import torch.nn as nn


class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))
"""
SLEEPER = "import time\ntime.sleep({seconds})\n"
HPARAMS = {"lr": 0.01, "batch": 64, "epochs": 5}


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=1) as p:
        p.check(SMALL.format(name="Warm"))  # the worker is warm before any timing
        yield p


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A real last-value predictor (with conformal intervals) fit on a few synthetic runs."""
    from predictor.features import RunView
    from predictor.models import LastValue
    from predictor.train import save_predictor

    rng = np.random.default_rng(0)
    views, targets, codes = [], [], []
    for i in range(60):
        final = float(rng.uniform(0.3, 0.9))
        views.append(RunView(dataset="cifar-10", hparams={"lr": 0.01}, epochs=5, accuracy=[final * (1 - 0.5 ** (e + 1)) for e in range(i % 5)]))
        targets.append(final)
        codes.append(f"code{i % 6}")
    path = tmp_path_factory.mktemp("trained")
    save_predictor(path, {"last_value": LastValue().fit(views, np.array(targets), codes=codes)},
                   {"trained_at": 1.0, "default": "last_value", "n_reported": 0})
    return path


@contextmanager
def serving(tmp_path: Path, pool, predictor_dir: Path | None = None, **overrides) -> Iterator[RunningServer]:
    settings = Settings(store_dir=tmp_path / "store", address="127.0.0.1:0", workers=1,
                        predictor_dir=predictor_dir or tmp_path / "no-predictor", **overrides)
    running = build_server(settings, Backend.open(settings, pool=pool, with_predictor=predictor_dir is not None))
    try:
        yield running
    finally:
        running.stop(grace=0)


def _copy(trained: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(trained, tmp_path / "predictor"))


def _rpc_log(caplog, method: str) -> list[str]:
    return [r.fields["code"] for r in caplog.records if getattr(r, "fields", {}).get("method") == method]


def _wait_for(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _run_msg(code: str) -> predictor_pb2.Run:
    return predictor_pb2.Run(code=code, hparams_json='{"lr": 0.01, "batch": 64, "epochs": 5}', dataset="cifar-10",
                             curve=[predictor_pb2.CurvePoint(epoch=1, accuracy=0.3)])


def _start_call(stub: predictor_pb2_grpc.PredictorServiceStub, method: str, code: str, timeout: float) -> grpc.Future:
    """One measuring predictor RPC of ``code``, started (not awaited) on a plain channel."""
    if method == "Predict":
        return stub.Predict.future(predictor_pb2.PredictRequest(code=code, hparams_json='{"lr": 0.01}', dataset="cifar-10"), timeout=timeout)
    if method == "ShouldStop":
        return stub.ShouldStop.future(predictor_pb2.ShouldStopRequest(run=_run_msg(code), incumbent_accuracy=0.5), timeout=timeout)
    return stub.ReportResult.future(predictor_pb2.ReportResultRequest(run=_run_msg(code), stopped_early=True), timeout=timeout)


# ------------------------------------------------------------------ measurements within a Check's limits


@pytest.mark.parametrize("method", ["Predict", "ShouldStop", "ReportResult"])
@pytest.mark.parametrize("ending", ["deadline", "cancel"])
def test_measurement_of_new_code_ends_with_its_caller(pool, trained, tmp_path, caplog, method, ending):
    """A hanging model's measurement held the one worker for its whole 15 s budget after the caller's 2 s deadline (a
    trivial Check waited 14.7 s) and was logged OK. It must stop when the caller goes, and be logged as what the
    caller saw."""
    with serving(tmp_path, pool, _copy(trained, tmp_path)) as running, grpc.insecure_channel(running.address) as channel, \
            caplog.at_level(logging.INFO, logger="nnrag.server"):
        call = _start_call(predictor_pb2_grpc.PredictorServiceStub(channel), method,
                           HANGING.format(name=f"Hang{method}{ending}"), timeout=1.5 if ending == "deadline" else 30)
        if ending == "cancel":
            time.sleep(1.5)
            call.cancel()
        expected = grpc.StatusCode.DEADLINE_EXCEEDED if ending == "deadline" else grpc.StatusCode.CANCELLED
        with pytest.raises(grpc.FutureCancelledError if ending == "cancel" else grpc.RpcError):
            call.result()
        start = time.monotonic()
        with Client(running.address) as client:
            assert client.check(SMALL.format(name="Other"), timeout=20).status == "ok"
        assert time.monotonic() - start < 6.0  # the worker was freed when the caller went, not after the 15 s budget
        assert _wait_for(lambda: _rpc_log(caplog, method)), "the call was never logged"
        assert _rpc_log(caplog, method) == [expected.name]


def test_measurement_without_a_free_sandbox_place_answers_without_it_then_measures_later(pool, trained, tmp_path):
    """The measurement takes one of max_pending_checks places like a Check; with none free the prediction comes at once
    without params/FLOPs (model_ran unset), and the next call with a place free measures the code."""
    with serving(tmp_path, pool, _copy(trained, tmp_path), max_pending_checks=1) as running, Client(running.address) as client:
        holder = threading.Thread(target=client.check, args=(SLEEPER.format(seconds=5),), kwargs={"timeout": 20})
        holder.start()
        time.sleep(0.5)  # the sleeper holds the only place
        code = SMALL.format(name="Fresh")
        start = time.monotonic()
        first = client.predict(code, HPARAMS, timeout=20)
        assert time.monotonic() - start < 3.0  # not queued behind the sleeper (which holds the worker 4.5 s more)
        assert first.model_ran is None and 0 <= first.lower <= first.accuracy <= first.upper <= 1
        holder.join()
        assert client.predict(code, HPARAMS, timeout=20).model_ran is True  # measured now, not 5 minutes later


def test_predict_and_check_share_the_pending_checks_limit(pool, trained, tmp_path):
    """While a Predict's measurement holds the only place, a Check is RESOURCE_EXHAUSTED naming the setting."""

    with serving(tmp_path, pool, _copy(trained, tmp_path), max_pending_checks=1) as running, Client(running.address) as client, \
            grpc.insecure_channel(running.address) as channel:
        call = _start_call(predictor_pb2_grpc.PredictorServiceStub(channel), "Predict", HANGING.format(name="HoldsThePlace"), 2.0)
        time.sleep(0.7)
        with pytest.raises(ResourceExhausted, match="max_pending_checks"):
            client.check(SMALL.format(name="Refused"), timeout=20)
        with pytest.raises(grpc.RpcError):
            call.result()


# ------------------------------------------------------------------ a store built after the start


def test_store_built_after_the_start_is_served(pool, tmp_path):
    from indexer.build import build_index

    source = tmp_path / "mylayers"
    source.mkdir()
    (source / "layers.py").write_text(SMALL.format(name="GatedMixer"))
    with serving(tmp_path, pool) as running, Client(running.address) as client:
        with pytest.raises(FailedPrecondition, match="no block store"):
            client.search("gated mixer", k=1)
        build_index([f"dir:{source}"], tmp_path / "store", validate=False)
        hits = client.search("gated mixer", k=1).hits
        assert [h.block.name for h in hits] == ["GatedMixer"]
        assert "store_error" not in client.stats()


# ------------------------------------------------------------------ Audit stream slots


@pytest.mark.parametrize("ending", ["cancel", "deadline"])
def test_ended_audit_stream_frees_its_slot_at_once(pool, tmp_path, ending):
    """With max_audit_streams = 1, a stream that ended (cancelled, or its deadline passed) during a check, then a new
    stream at once: it is accepted (it was refused for up to 0.2 s, until the next poll)."""
    with serving(tmp_path, pool, max_audit_streams=1) as running, grpc.insecure_channel(running.address) as channel:
        stub = blocks_pb2_grpc.BlockServiceStub(channel)
        slow = blocks_pb2.AuditRequest(id="slow", code=SLEEPER.format(seconds=8))
        call = stub.Audit(iter([slow]), timeout=1.0 if ending == "deadline" else 30)
        if ending == "cancel":
            threading.Timer(1.0, call.cancel).start()
        with pytest.raises(grpc.RpcError) as ended:
            list(call)
        assert ended.value.code() == (grpc.StatusCode.DEADLINE_EXCEEDED if ending == "deadline" else grpc.StatusCode.CANCELLED)
        answers = list(stub.Audit(iter([blocks_pb2.AuditRequest(id="next", code=SMALL.format(name="Next"))]), timeout=30))
        assert [a.id for a in answers] == ["next"] and answers[0].result.status == "ok"


def test_an_audit_stream_that_sends_nothing_is_ended_and_frees_its_place(pool, tmp_path):
    """16 streams that sent one item and never half-closed held every max_audit_streams place for good: every other
    client's Audit was RESOURCE_EXHAUSTED. After ``audit_idle_s`` with nothing sent and every item answered, the stream
    ends with DEADLINE_EXCEEDED naming the setting, and the next stream gets the place."""
    import queue

    with serving(tmp_path, pool, max_audit_streams=1, audit_idle_s=1.5) as running, \
            grpc.insecure_channel(running.address) as channel:
        stub = blocks_pb2_grpc.BlockServiceStub(channel)
        held: queue.Queue = queue.Queue()
        held.put(blocks_pb2.AuditRequest(id="first", code=SMALL.format(name="First")))
        call = stub.Audit(iter(held.get, None), timeout=60)  # never half-closed: the client keeps it open
        started = time.monotonic()
        answers, ended = [], None
        try:
            for answer in call:
                answers.append(answer.id)
        except grpc.RpcError as exc:
            ended = exc
        assert answers == ["first"], answers
        assert ended is not None and ended.code() == grpc.StatusCode.DEADLINE_EXCEEDED, ended
        assert "audit_idle_s" in ended.details() and time.monotonic() - started < 30
        held.put(None)
        answers = list(stub.Audit(iter([blocks_pb2.AuditRequest(id="next", code=SMALL.format(name="Next"))]), timeout=30))
        assert [a.id for a in answers] == ["next"]


def test_the_server_caps_malloc_arenas_and_returns_freed_pages():
    """Each RPC thread that ran a large Patch grew a glibc arena of its own and kept it: three concurrent 240 KB
    Patches left the server at 1.8 GB at rest. glibc accepts the cap (mallopt returns 1) and the trim runs."""
    import platform

    from rag_server.memory import limit_malloc_arenas, release_free_memory

    assert limit_malloc_arenas() == (platform.libc_ver()[0] == "glibc")
    release_free_memory()
