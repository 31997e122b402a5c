"""Integration tests: the real gRPC server on a free loopback port, driven through the SDK.

One small real store (mined from torchvision's resnet module and validated in the
real sandbox) and one real CheckerPool are shared by the whole module. Nothing of
ours is mocked: searches hit FAISS + SQLite, checks run in sandboxed workers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from nnrag.settings import Settings
from nnrag.v1 import blocks_pb2, blocks_pb2_grpc, common_pb2, predictor_pb2
from rag_server.backend import Backend
from rag_server.client import (
    ApiError,
    AsyncClient,
    Client,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from rag_server.server import build_server
from sandbox.spec import CheckSpec, Example

REPO = Path(__file__).resolve().parent.parent
SOURCE = "pkg:torchvision.models.resnet"
MAX_PENDING = 3

GOOD_MODEL = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))
"""

SHAPE_BUG = GOOD_MODEL.replace("nn.Linear(8, num_classes)", "nn.Linear(16, num_classes)")

# Uses torchvision's BasicBlock without defining or importing it.
MISSING_BLOCK = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.block = BasicBlock(16, 16)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.fc(self.block(self.stem(x)).mean((2, 3)))
"""

SLEEPER = "import time\ntime.sleep({seconds})\n"

# A second, copyleft source (a vendored directory under the AGPL, as ultralytics' YOLO blocks are): Patch inserts its
# block by default and leaves it out under the no-copyleft or permissive license policy.
COPYLEFT_LICENSE = "                    GNU AFFERO GENERAL PUBLIC LICENSE\n                       Version 3, 19 November 2007\n"
COPYLEFT_MODULE = """
import torch
from torch import nn


class ConvBNSiLU(nn.Module):
    \"\"\"Convolution, batch norm and SiLU: the YOLO stem and downsampling unit.\"\"\"

    def __init__(self, c1, c2, k=3, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))
"""
USES_COPYLEFT_BLOCK = MISSING_BLOCK.replace("BasicBlock(16, 16)", "ConvBNSiLU(16, 16)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pool():
    from sandbox.pool import CheckerPool

    with CheckerPool(size=2) as p:
        yield p


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, pool) -> Path:
    from indexer.build import build_index

    path = tmp_path_factory.mktemp("store")
    vendored = tmp_path_factory.mktemp("vendored") / "yolo_layers"
    vendored.mkdir()
    (vendored / "LICENSE").write_text(COPYLEFT_LICENSE)
    (vendored / "layers.py").write_text(COPYLEFT_MODULE)
    report = build_index([SOURCE, f"dir:{vendored}"], path, pool=pool)
    assert report.unique >= 4, report
    return path


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory) -> Path:
    """A real (small) predictor: the last-value estimator with conformal intervals, fit on a few runs, for the final
    metric and for the best over epochs. 20 codes of 10 runs each, the final mostly set by the code: the estimator
    learns that reported runs of a code should correct its answer for that code."""
    import numpy as np

    from predictor.features import RunView
    from predictor.models import LastValue
    from predictor.train import best_target_name, save_predictor

    rng = np.random.default_rng(0)
    level = rng.uniform(0.3, 0.9, 20)
    views, targets, codes = [], [], []
    for i in range(200):
        code = (i // 5) % 20
        final = float(np.clip(level[code] + rng.normal(0, 0.02), 0, 1))
        curve = [final * (1 - 0.5 ** (e + 1)) for e in range(i % 5)]
        views.append(RunView(dataset="cifar-10", hparams={"lr": 0.01}, epochs=5, accuracy=curve))
        targets.append(final)
        codes.append(f"code{code}")
    estimator = LastValue().fit(views, np.array(targets), codes=codes)
    best = LastValue().fit(views, np.array(targets) + 0.02, codes=codes)
    path = tmp_path_factory.mktemp("predictor")
    save_predictor(path, {"last_value": estimator, best_target_name("last_value"): best},
                   {"trained_at": 1.0, "default": "last_value", "n_reported": 0})
    return path


@pytest.fixture(scope="module")
def settings(store_dir, predictor_dir) -> Settings:
    return Settings(
        store_dir=store_dir, address="127.0.0.1:0", workers=2, max_pending_checks=MAX_PENDING,
        max_message_mb=1, check_timeout_s=20.0, predictor_dir=predictor_dir,
    )


@pytest.fixture(scope="module")
def server(settings, pool):
    backend = Backend.open(settings, pool=pool)
    assert backend.store is not None, backend.store_error
    running = build_server(settings, backend)
    yield running
    running.stop(grace=1)


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address, max_message_mb=16) as c:
        yield c


# ------------------------------------------------------------------ discovery


def test_reflection_lists_every_service(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"nnrag.v1.BlockService", "nnrag.v1.PredictorService", "grpc.health.v1.Health"} <= names


def test_health_reports_serving(client):
    assert client.health() == "SERVING"
    assert client.health("nnrag.v1.BlockService") == "SERVING"
    assert client.health("nnrag.v1.PredictorService") == "SERVING"
    with pytest.raises(NotFound):
        client.health("nnrag.v1.NoSuchService")


# ------------------------------------------------------------------ search and blocks


def test_symbol_lookup_finds_the_named_block(client):
    result = client.search("Bottleneck", k=3)
    assert result.hits, "no hit for a class that is in the source"
    top = result.hits[0]
    assert top.block.name == "Bottleneck" and top.match == "exact"
    assert top.block.provenance.source == SOURCE
    assert "class Bottleneck" in top.block.code
    assert result.versions["index_version"] and result.versions["embedder_version"] and result.versions["server_version"]


def test_the_sdk_takes_one_source_as_a_string_and_names_arguments_it_refuses(client):
    """sources="timm" was read as the sources 't', 'i', 'm', 'm'; patch() with a dict spec (as check() takes) failed with
    an AttributeError; a query, name or code holding a lone surrogate with a raw UnicodeEncodeError; search(123) with
    protobuf's "bad argument type"; k=2**40 with "Value out of range"."""
    from rag_server.client import CodeRefused

    bare = SOURCE.split(":", 1)[-1]
    assert {h.block.provenance.source for h in client.search("residual block", k=4, sources=bare).hits} == {SOURCE}
    assert client.get_block("Bottleneck", sources=bare).name == "Bottleneck"
    with pytest.raises(InvalidArgument, match="source 'pkg:timmm' is not in this store"):
        client.search("residual block", sources="pkg:timmm")
    patched = client.patch(GOOD_MODEL, {"timeout_s": 20.0}, sources=bare)
    assert patched.after is not None and patched.after.ok, patched
    with pytest.raises(TypeError, match="spec: unknown field"):
        client.patch(GOOD_MODEL, {"timeout": 20.0})
    surrogate = "# \udcff\n"
    for call, field in ((lambda: client.search("conv" + surrogate), "query"), (lambda: client.get_block("Conv" + surrogate), "name_or_hash"),
                        (lambda: client.patch(GOOD_MODEL + surrogate), "code"), (lambda: client.suggest(GOOD_MODEL + surrogate), "code")):
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.details.startswith(f"{field}:") and "surrogate" in info.value.details, info.value.details
    with pytest.raises(CodeRefused):
        client.patch(GOOD_MODEL + surrogate)
    for call, message in ((lambda: client.search(123), "query must be a string"), (lambda: client.get_block(None), "name_or_hash must be a string"),
                          (lambda: client.search("conv", sources=[1]), "sources must be source names"),
                          (lambda: client.search("conv", k=2 ** 40), r"k must be below 2\*\*31")):
        with pytest.raises((TypeError, ValueError), match=message):
            call()


def test_meaning_search_ranks_and_filters(client):
    result = client.search("residual block with two 3x3 convolutions and batch norm", k=4, mode="meaning", include_code=False)
    assert 1 <= len(result.hits) <= 4
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h.block.code == "" for h in result.hits)
    assert {h.block.name for h in result.hits} & {"BasicBlock", "Bottleneck"}
    bare = SOURCE.split(":", 1)[-1]  # a bare package name resolves to the store's one spec for it
    assert {h.block.provenance.source for h in client.search("residual block", k=4, sources=[bare]).hits} == {SOURCE}
    with pytest.raises(InvalidArgument, match="source 'pkg:timmm' is not in this store") as info:
        client.search("residual block", k=4, sources=["pkg:timmm"])
    assert info.value.details.startswith("sources:") and SOURCE in info.value.details  # names what the store holds
    validated = client.search("residual block", k=10, min_stage="forward").hits
    assert validated and all(h.block.passed("forward") for h in validated)  # every stage but parse used to match nothing
    assert client.search("residual block", k=3, min_stage="compile").hits  # compiling is part of the parse stage
    assert [h.block.name for h in client.search("BasicBlock", k=3, min_stage="backward").hits][:1] == ["BasicBlock"]


def test_get_block_by_name_and_hash(client):
    block = client.get_block("BasicBlock")
    assert block.name == "BasicBlock" and block.content_hash and "class BasicBlock" in block.code
    assert block.validation.get("parse", {}).get("ok") is True
    same = client.get_block(block.content_hash)
    assert same.qualified_name == block.qualified_name
    with pytest.raises(NotFound, match="NoSuchBlockAnywhere"):
        client.get_block("NoSuchBlockAnywhere")
    with pytest.raises(NotFound, match="did you mean BasicBlock"):  # a typo, not a prefix: the closest names
        client.get_block("BasicBlok")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.search("   ", k=3), "query"),
        (lambda c: c.search("\x00", k=3), "query"),
        (lambda c: c.search("conv", k=101), "k"),
        (lambda c: c.search("conv", k=-2), "k"),
        (lambda c: c.search("conv", min_stage="fly"), "min_stage"),
        (lambda c: c.search("conv", min_stage="train_step"), "min_stage"),  # a sandbox stage no block validation holds
        (lambda c: c.get_block(""), "name_or_hash"),
        (lambda c: c.check(""), "code"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(example=Example(inputs=[[2, -3, 32, 32]]))), "spec.example.inputs[0]"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(example=Example(inputs=[[100000, 3, 1024, 1024]]))), "spec.example.inputs[0]"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(stages=("parse", "dance"))), "spec.stages"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(timeout_s=-1)), "spec.timeout_ms"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(timeout_s=0.001)), "spec.timeout_ms"),  # timed out correct code in parse
        (lambda c: c.suggest(GOOD_MODEL + "\x00\n"), "code"),  # answered with blocks for nothing it could read
        (lambda c: c.suggest(GOOD_MODEL, cursor_line=500), "cursor_line"),
        (lambda c: c.suggest(GOOD_MODEL, k=51), "k"),
        (lambda c: c.patch("  \n"), "code"),
        # a value no LicensePolicy has, as a client built from another version of the .proto could send
        (lambda c: c._call(c._blocks.Patch, blocks_pb2.PatchRequest(code=GOOD_MODEL, license_policy=99), None), "license_policy"),
        (lambda c: c.check(GOOD_MODEL, CheckSpec(example=Example(inputs=[], input_specs=[{"kind": "fly"}]))), "spec.example.input_specs_json[0]"),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(client, call, field):
    with pytest.raises(InvalidArgument) as info:
        call(client)
    assert info.value.details.startswith(f"{field}:"), info.value.details


def test_a_request_that_is_not_valid_protobuf_is_invalid_argument(server):
    """Raw bytes a client in another language could send: a string field holding invalid UTF-8 (field 1, query /
    code / file name). gRPC's own deserializer answered INTERNAL "Exception deserializing request!"."""
    bad_utf8 = b"\x0a\x02\xff\xfe"
    with grpc.insecure_channel(server.address) as channel:
        search = channel.unary_unary("/nnrag.v1.BlockService/Search")
        with pytest.raises(grpc.RpcError) as info:
            search(bad_utf8, timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
        assert "SearchRequest" in info.value.details() and "UTF-8" in info.value.details(), info.value.details()
        audit = channel.stream_stream("/nnrag.v1.BlockService/Audit")
        with pytest.raises(grpc.RpcError) as info:
            list(audit(iter([bad_utf8]), timeout=10))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value
        assert "AuditRequest" in info.value.details(), info.value.details()
        with pytest.raises(grpc.RpcError) as info:  # garbage bytes: no UTF-8 advice, which was given for them too
            search(b"\x0a\x50abc", timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "UTF-8" not in info.value.details(), info.value.details()
        assert "not a serialized message of this type" in info.value.details()
        # the server still answers well-formed calls
        reply = search(blocks_pb2.SearchRequest(query="conv", k=1).SerializeToString(), timeout=10)
        assert blocks_pb2.SearchResponse.FromString(reply).hits


def test_message_past_the_size_limit_gets_a_clear_error(client):
    huge = "x = 1\n" * 200_000  # 1.2 MB, the test server accepts 1 MiB
    with pytest.raises(ResourceExhausted, match="larger than max"):
        client.check(huge)


# ------------------------------------------------------------------ checks


def test_check_ok_and_shape_bug(client):
    ok = client.check(GOOD_MODEL)
    assert ok.status == "ok", ok.message
    assert ok.params == 3 * 8 * 9 + 8 + 8 * 10 + 10
    assert ok.flops and ok.flops > 0
    assert ok.output_shapes == [[2, 10]]
    bad = client.check(SHAPE_BUG)
    assert bad.status == "failed" and bad.failed_stage == "forward"
    assert "16" in bad.message or "shape" in bad.message.lower()


LIST_INPUT_MODEL = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 4, 1)

    def forward(self, feats: list[torch.Tensor], scale: int):
        return torch.stack([self.proj(f).mean() * scale for f in feats]).sum()
'''


def test_structured_inputs_cross_the_wire(client):
    pyramid = {"kind": "list", "items": [{"kind": "tensor", "shape": [2, 3, 8, 8]}, {"kind": "tensor", "shape": [2, 3, 4, 4]}]}
    example = Example(inputs=[], input_specs=[pyramid, {"kind": "value", "value": 3}])
    result = client.check(LIST_INPUT_MODEL, CheckSpec(example=example, stages=("parse", "compile", "import", "instantiate", "forward", "backward")))
    assert result.status == "ok", result.message
    assert result.example is not None and result.example.input_specs == [pyramid, {"kind": "value", "value": 3}]


def test_deadline_cancels_the_check_and_frees_the_worker(client, server):
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.check(SLEEPER.format(seconds=60), CheckSpec(timeout_s=60), timeout=2.0)
    assert time.monotonic() - started < 5
    # Both workers must be free again soon: a hung sandbox would hold one for a minute.
    time.sleep(1.0)
    results = [None, None]

    def run(i: int) -> None:
        results[i] = client.check(GOOD_MODEL, timeout=30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == ["ok", "ok"]
    assert time.monotonic() - t0 < 20


def _processes_named(name: str) -> list[int]:
    """Live (non-zombie) processes whose comm is ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/comm").read_text().strip() == name:
                if "State:\tZ" not in Path(f"/proc/{entry}/status").read_text():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("rpc", ["Check", "Audit", "Patch"])
def test_a_client_that_cancels_without_a_deadline_stops_its_sandbox(server, client, pool, rpc):
    """No deadline, a 60 s budget, an endless loop: cancelling the call must kill the check's process at once."""
    from rag_server.convert import spec_to_proto

    marker = f"cx{os.getpid() % 10000}{rpc[:2]}"
    code = f"import ctypes\nctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\nwhile True:\n    pass\n"
    spec = spec_to_proto(CheckSpec(timeout_s=60))
    restarts = pool.restarts
    with grpc.insecure_channel(server.address) as channel:
        stub = blocks_pb2_grpc.BlockServiceStub(channel)
        if rpc == "Check":
            call = stub.Check.future(blocks_pb2.CheckRequest(code=code, spec=spec))
        elif rpc == "Patch":
            call = stub.Patch.future(blocks_pb2.PatchRequest(code=code, spec=spec, check_before=True))
        else:
            call = stub.Audit(iter([blocks_pb2.AuditRequest(id="loop", code=code, spec=spec)]))
        assert _wait_for(lambda: _processes_named(marker), 30), "the check never started"
        started = time.monotonic()
        call.cancel()
        assert _wait_for(lambda: not _processes_named(marker), 3), f"{rpc}: the sandbox outlived its cancelled call"
        assert time.monotonic() - started < 3
    assert pool.restarts == restarts  # the check was killed, the warm worker kept
    assert client.health() == "SERVING"
    assert client.check(GOOD_MODEL, timeout=30).status == "ok"


def test_a_killed_client_process_stops_its_sandbox(server, client, pool):
    """The client process dies mid-call (no cancel sent, only the connection drops)."""
    marker = f"kx{os.getpid() % 10000}"
    code = f"import ctypes\nctypes.CDLL(None).prctl(15, b'{marker}', 0, 0, 0)\nwhile True:\n    pass\n"
    script = (
        "import sys\nimport grpc\nfrom nnrag.v1 import blocks_pb2, blocks_pb2_grpc\nfrom rag_server.convert import spec_to_proto\n"
        "from sandbox.spec import CheckSpec\n"
        "stub = blocks_pb2_grpc.BlockServiceStub(grpc.insecure_channel(sys.argv[1]))\n"
        "stub.Check(blocks_pb2.CheckRequest(code=sys.stdin.read(), spec=spec_to_proto(CheckSpec(timeout_s=60))))\n"
    )
    restarts = pool.restarts
    proc = subprocess.Popen([sys.executable, "-c", script, server.address], stdin=subprocess.PIPE, cwd=REPO, text=True)
    try:
        proc.stdin.write(code)
        proc.stdin.close()
        assert _wait_for(lambda: _processes_named(marker), 60), "the check never started"
        proc.kill()
        proc.wait(10)
        assert _wait_for(lambda: not _processes_named(marker), 3), "the sandbox outlived its client"
    finally:
        proc.kill()
    assert pool.restarts == restarts
    assert client.check(GOOD_MODEL, timeout=30).status == "ok"


def test_concurrency_limit_answers_resource_exhausted(client):
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            client.check(SLEEPER.format(seconds=2), CheckSpec(timeout_s=10, stages=("parse", "compile", "import")))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=slow) for _ in range(MAX_PENDING)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    started = time.monotonic()
    with pytest.raises(ResourceExhausted, match="retry later"):
        client.check(GOOD_MODEL)
    assert time.monotonic() - started < 1.0, "the refusal must be immediate, not queued"
    for t in threads:
        t.join()
    assert errors == []


def test_idle_audit_streams_are_capped_and_leave_threads_for_health_and_search(settings, pool):
    """Each open Audit stream holds a server thread, idle or not: with as many idle streams as threads, health
    checks and searches got RESOURCE_EXHAUSTED. Streams beyond ``max_audit_streams`` are refused instead, at once."""
    import queue

    capped = settings.model_copy(update={"max_concurrent_rpcs": 4, "max_audit_streams": 2})
    running = build_server(capped, Backend.open(capped, pool=pool))
    feeds: list[queue.Queue] = []
    try:
        with Client(running.address) as c:
            idle = []
            for _ in range(2):
                feeds.append(queue.Queue())
                call = c._blocks.Audit(iter(feeds[-1].get, None), timeout=60)
                idle.append((call, threading.Thread(target=list, args=(call,), daemon=True)))
                idle[-1][1].start()
            assert _wait_for(lambda: c.health() == "SERVING", 5)
            started = time.monotonic()
            with pytest.raises(ResourceExhausted, match="2 Audit streams already open"):
                list(c.audit([("a", GOOD_MODEL, None)], timeout=30))
            assert time.monotonic() - started < 5.0, "the refusal must be immediate"
            for _ in range(3):  # with the cap at 2 of 4 threads, unary calls still get through
                assert c.health() == "SERVING"
                assert c.search("residual block", k=1)
            feeds[0].put(None)  # one stream ends: its place is free again
            idle[0][1].join(10)
            answers = list(c.audit([("a", GOOD_MODEL, None)], timeout=60))
            assert [a.result.status for a in answers] == ["ok"]
            feeds[1].put(None)
            idle[1][1].join(10)
    finally:
        for feed in feeds:
            feed.put(None)
        running.stop(grace=1)


def test_max_audit_streams_must_leave_a_thread_for_other_calls():
    with pytest.raises(ValueError, match="must be below max_concurrent_rpcs"):
        Settings(max_concurrent_rpcs=8, max_audit_streams=8)
    assert Settings(max_concurrent_rpcs=64).audit_stream_limit == 16
    assert Settings(max_concurrent_rpcs=2).audit_stream_limit == 1
    assert Settings().pending_check_limit == 16 and Settings(max_concurrent_rpcs=6).pending_check_limit == 4
    assert Settings(max_concurrent_rpcs=1).pending_check_limit == 1


LEMUR_BROKEN_LEARN = (Path(__file__).parent / "fixtures" / "lemur_broken_learn.py").read_text()


def test_check_over_the_wire_runs_a_lemur_learn_by_default_and_not_when_told(client):
    """``CheckSpec.train_lemur`` crosses the wire (field 11): ``nnrag check --server --stage backward`` ran the LEMUR
    train step on the server anyway."""
    default = client.check(LEMUR_BROKEN_LEARN)
    assert default.failed_stage == "train_step" and "criterion" in default.message
    told = client.check(LEMUR_BROKEN_LEARN, CheckSpec(train_lemur=False))
    assert told.status == "ok" and "train_step" not in told.stages


def test_audit_waits_for_a_sandbox_place_instead_of_ending_the_stream(client):
    """Other calls hold every place: the audit's items wait for one and all come back checked."""
    hold = CheckSpec(timeout_s=10, stages=("parse", "compile", "import"))
    threads = [threading.Thread(target=client.check, args=(SLEEPER.format(seconds=2), hold)) for _ in range(MAX_PENDING)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    with pytest.raises(ResourceExhausted):  # the places are really taken
        client.check(GOOD_MODEL)
    answers = list(client.audit([("a", GOOD_MODEL, None), ("b", SHAPE_BUG, None), ("c", GOOD_MODEL, None)], timeout=60))
    for t in threads:
        t.join()
    assert [a.id for a in answers] == ["a", "b", "c"]
    assert [a.result.status for a in answers] == ["ok", "failed", "ok"]


def test_audit_items_leave_a_place_for_calls_that_do_not_wait(client):
    """Audit items wait for a place and retake it within 0.2 s; a unary Check tries once. Under mixed load 1,385 of
    1,410 Checks were RESOURCE_EXHAUSTED while streams' items held every place. Waiting items now hold at most all but
    a quarter of them (here 2 of 3), so a Check arriving while three streams wait is taken, not refused."""
    hold = CheckSpec(timeout_s=10, stages=("parse", "compile", "import"))
    streams = [threading.Thread(target=lambda i=i: list(client.audit([(f"s{i}", SLEEPER.format(seconds=2), hold)], timeout=60)))
               for i in range(MAX_PENDING)]
    for stream in streams:
        stream.start()
    time.sleep(0.8)  # every stream's item holds or waits for a place
    result = client.check(GOOD_MODEL, CheckSpec(timeout_s=20, stages=("parse", "compile", "import")))
    for stream in streams:
        stream.join()
    assert result.status == "ok", result.message


def test_audit_streams_results_in_order(client):
    items = [("a", GOOD_MODEL, None), ("b", SHAPE_BUG, None), ("c", "", None), ("d", "def broken(:\n", None)]
    answers = list(client.audit(items))
    assert [a.id for a in answers] == ["a", "b", "c", "d"]
    assert answers[0].result.status == "ok"
    assert answers[1].result.failed_stage == "forward"
    assert answers[2].result is None and answers[2].error.startswith("code:")
    assert answers[3].result.failed_stage == "parse"
    # an item the client cannot send: its own error, not gRPC's "Exception iterating requests!"
    with pytest.raises(TypeError, match="audit item 1: expected code"):
        list(client.audit([GOOD_MODEL, 123]))
    with pytest.raises(TypeError, match="audit item 0: code must be a string"):
        list(client.check_many([(b"bytes", None)]))


def test_audit_answers_an_item_before_the_client_sends_the_next(client):
    """A client that sends one item and waits for its answer gets it (the answer used to wait for the next request)."""
    import queue

    requests: queue.Queue = queue.Queue()
    call = client._blocks.Audit(iter(requests.get, None), timeout=60)
    answers = iter(call)
    started = time.monotonic()
    requests.put(blocks_pb2.AuditRequest(id="a", code=GOOD_MODEL))
    assert next(answers).id == "a"
    requests.put(blocks_pb2.AuditRequest(id="b", code=SHAPE_BUG))
    assert next(answers).result.failed_stage == "forward"
    assert time.monotonic() - started < 30
    requests.put(None)
    assert list(answers) == []


def test_audit_answers_bad_json_per_item_and_goes_on(client):
    deep = "[" * 3000 + "]" * 3000  # json.loads raises RecursionError, a long integer ValueError: both were INTERNAL
    items = [blocks_pb2.AuditRequest(id="a", code=GOOD_MODEL),
             blocks_pb2.AuditRequest(id="deep", code=GOOD_MODEL, spec=common_pb2.CheckSpec(example=common_pb2.Example(init_args_json=deep))),
             blocks_pb2.AuditRequest(id="long", code=GOOD_MODEL, spec=common_pb2.CheckSpec(example=common_pb2.Example(init_args_json="[" + "9" * 5000 + "]"))),
             blocks_pb2.AuditRequest(id="c", code=GOOD_MODEL)]
    answers = list(client._blocks.Audit(iter(items), timeout=60))
    assert [a.id for a in answers] == ["a", "deep", "long", "c"]
    assert answers[0].result.status == answers[3].result.status == "ok"
    assert answers[1].error == "spec.example.init_args_json: not valid JSON (nested too deeply)"
    assert answers[2].error.startswith("spec.example.init_args_json: not valid JSON (Exceeds the limit")
    request = predictor_pb2.PredictRequest(code=GOOD_MODEL, dataset="cifar-10", hparams_json='{"lr": ' + "9" * 5000 + "}")
    with pytest.raises(InvalidArgument, match="hparams_json: not valid JSON"):
        client._call(client._predictor.Predict, request, 60)


def test_long_echoed_input_comes_back_as_its_own_error_cut_short(client):
    with pytest.raises(InvalidArgument, match="at most 1,000") as info:
        client.get_block("A" * 20_000)
    with pytest.raises(InvalidArgument, match="sources: source 'AAAA") as info:
        client.search("conv", sources=["A" * 20_000])
    assert len(info.value.details) < 2_100 and "more characters)" in info.value.details


def test_a_stream_cut_when_the_drain_runs_out_is_logged_as_the_servers_doing(settings, pool, caplog):
    """An Audit stream whose client keeps sending past the drain: the log said "the client went away", though the
    server had cancelled it."""
    running = build_server(settings, Backend.open(settings, pool=pool))
    feed_open = threading.Event()

    def items():
        yield GOOD_MODEL
        yield SLEEPER.format(seconds=20), CheckSpec(timeout_s=30, stages=("parse", "compile", "import"))  # in flight at the stop
        feed_open.wait(30)  # the send side stays open: the stream never ends by itself

    with caplog.at_level(logging.INFO, logger="nnrag.server"), Client(running.address) as c:
        stream = iter(c.audit(items(), timeout=60))
        assert next(stream).result.status == "ok"
        running.stop(grace=0.5)
        feed_open.set()
        with pytest.raises(ApiError):
            list(stream)
        deadline = time.monotonic() + 20  # the handler logs once its killed check has come back
        while not (audits := [r.fields for r in caplog.records if getattr(r, "fields", {}).get("method") == "Audit"]) and time.monotonic() < deadline:
            time.sleep(0.1)
    assert audits and "the server stopped and its drain time" in audits[-1].get("detail", ""), audits
    assert "client went away" not in audits[-1]["detail"]


def test_a_stream_the_client_cancels_is_not_an_internal_error(client, caplog):
    with caplog.at_level(logging.INFO, logger="nnrag.server"):
        with pytest.raises(TypeError):
            list(client.audit([GOOD_MODEL, GOOD_MODEL, 123]))
        time.sleep(2.0)  # the server notices the cancelled stream on its next read
    errors = [r for r in caplog.records if r.name == "nnrag.server" and r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# ------------------------------------------------------------------ patch and suggest


def test_patch_inserts_the_missing_block_and_checks(client):
    outcome = client.patch(MISSING_BLOCK, check_before=True)
    assert outcome.before is not None and outcome.before.status == "failed"
    assert outcome.changed and "class BasicBlock" in outcome.patched_code
    assert any(i.name == "BasicBlock" and i.source == SOURCE for i in outcome.inserted)
    assert outcome.after is not None and outcome.after.status == "ok", outcome.after.message
    assert outcome.diff.startswith("---") and "+class BasicBlock" in outcome.diff
    assert outcome.versions["index_version"]


def test_patch_over_the_wire_says_what_it_tried_and_why_it_stopped_as_in_process(client, server, store_dir, pool, tmp_path):
    """The model class is defined only under ``if __name__ == "__main__":``, so Patch stops after one check: the SDK
    and ``nnrag patch --server --json`` give the attempts, the stop reason and the free names that the in-process
    patch gives (the server's answer had none of them)."""
    from typer.testing import CliRunner

    from indexer.store import BlockStore
    from nnrag.cli import app
    from rag_server.patch import patch

    code = "import torch\nfrom torch import nn\n\nif __name__ == '__main__':\n" + "".join(
        f"    {line}\n" for line in MISSING_BLOCK.strip().splitlines()[3:])
    local = patch(code, CheckSpec(timeout_s=20.0), BlockStore(store_dir), pool)
    assert len(local.attempts) == 1 and local.free_names == ["BasicBlock"] and local.stop_reason, local.attempts
    remote = client.patch(code, CheckSpec(timeout_s=20.0))
    assert (remote.attempts, remote.stop_reason, remote.free_names) == (local.attempts, local.stop_reason, local.free_names)
    source = tmp_path / "model.py"
    source.write_text(code)
    out = CliRunner().invoke(app, ["patch", str(source), "--server", server.address, "--check", "--json"])
    assert out.exit_code == 1, out.output  # the patched model still fails its check
    data = json.loads(out.stdout)
    assert (data["attempts"], data["stop_reason"], data["free_names"]) == (local.attempts, local.stop_reason, local.free_names)


def test_patch_reports_an_import_of_a_missing_module_it_removed(client):
    code = MISSING_BLOCK.replace("from torch import nn\n", "from torch import nn\nfrom models.resnet import BasicBlock\n")
    outcome = client.patch(code)
    assert outcome.fixes == ["removed the import of BasicBlock from 'models.resnet', a module that does not exist here"]
    assert any(i.name == "BasicBlock" for i in outcome.inserted) and "from models.resnet" not in outcome.patched_code
    assert outcome.after is not None and outcome.after.status == "ok", outcome.after.message


def test_patch_reports_keywords_it_renamed_at_the_call(client):
    code = MISSING_BLOCK.replace("BasicBlock(16, 16)", "BasicBlock(in_planes=16, planes=16)")
    outcome = client.patch(code)
    [block] = [i for i in outcome.inserted if i.name == "BasicBlock"]
    assert block.keyword_renames == {"in_planes": "inplanes"}, block
    assert "BasicBlock(inplanes=16, planes=16)" in outcome.patched_code
    assert outcome.after is not None and outcome.after.status == "ok", outcome.after.message


def test_patch_reports_keywords_it_dropped_at_the_call(client):
    code = MISSING_BLOCK.replace("BasicBlock(16, 16)", "BasicBlock(16, 16, padding=1)")
    outcome = client.patch(code)
    [block] = [i for i in outcome.inserted if i.name == "BasicBlock"]
    assert block.keyword_dropped == ["padding"] and block.keyword_edits.describe() == "padding= dropped", block
    assert "BasicBlock(16, 16)" in outcome.patched_code
    assert outcome.after is not None and outcome.after.status == "ok", outcome.after.message


def test_patch_and_search_honour_the_license_policy(client):
    default = client.patch(USES_COPYLEFT_BLOCK, no_check=True)  # the server's default policy: any license
    [block] = [i for i in default.inserted if i.name == "ConvBNSiLU"]
    assert block.license == "AGPL-3.0" and block.source.startswith("dir:")
    for policy in ("no-copyleft", "permissive"):
        outcome = client.patch(USES_COPYLEFT_BLOCK, no_check=True, license_policy=policy)
        assert "class ConvBNSiLU" not in outcome.patched_code, policy
        assert all(i.source == SOURCE and i.license == "BSD" for i in outcome.inserted), outcome.inserted
    kept = client.patch(MISSING_BLOCK, license_policy="permissive")  # a BSD block passes every policy
    assert [i.license for i in kept.inserted if i.name == "BasicBlock"] == ["BSD"] and kept.after.status == "ok"
    assert {h.block.name for h in client.search("convolution batch norm silu", k=10).hits} >= {"ConvBNSiLU"}
    hits = client.search("convolution batch norm silu", k=10, license_policy="no-copyleft").hits
    assert hits and all(h.block.provenance.source == SOURCE for h in hits)
    assert client.get_block("ConvBNSiLU").provenance.source.startswith("dir:")  # fetched by name as Search named it
    with pytest.raises(NotFound, match=r"no block named or hashed 'ConvBNSiLU' in the index \(version .+\) in the allowed sources \(pkg:"
                       r".*; the index holds it from dir:.*yolo_layers \(AGPL-3.0\), which the request's sources or license policy leave out"):
        client.get_block("ConvBNSiLU", license_policy="no-copyleft")
    assert client.get_block("BasicBlock", license_policy="permissive").provenance.source == SOURCE
    with pytest.raises(InvalidArgument) as info:  # a filter that leaves nothing is an error, not an empty answer
        client.patch(USES_COPYLEFT_BLOCK, sources=["yolo_layers"], license_policy="no-copyleft")
    assert info.value.details.startswith("license_policy:") and "AGPL-3.0" in info.value.details
    with pytest.raises(InvalidArgument, match="sources: source 'nosuch' is not in this store"):
        client.suggest(USES_COPYLEFT_BLOCK, sources=["nosuch"])
    with pytest.raises(ValueError, match="license_policy must be one of"):
        client.search("conv", license_policy="gpl-ok")


def test_suggest_offers_the_undefined_block_before_its_user(client):
    cursor = MISSING_BLOCK.splitlines().index("        self.block = BasicBlock(16, 16)") + 1
    result = client.suggest(MISSING_BLOCK, cursor_line=cursor, k=3)
    assert "BasicBlock" in result.undefined_names
    first = result.suggestions[0]
    assert first.hit.block.name == "BasicBlock" and "undefined name" in first.reason
    class_line = MISSING_BLOCK.splitlines().index("class Net(nn.Module):") + 1
    assert first.insert_line == class_line
    assert len(result.suggestions) <= 3
    for ending in ("\r", "\r\n"):  # an old Mac file: the cursor's names were missed and blocks placed at line 1
        other = client.suggest(MISSING_BLOCK.replace("\n", ending), cursor_line=cursor, k=3, context_lines=0)
        assert "BasicBlock" in other.undefined_names and other.suggestions[0].insert_line == class_line, (ending, other)


def test_suggest_on_code_that_does_not_parse_inserts_above_the_decorators(client):
    code = "import torch.nn as nn\n\n@some_decorator\n@another(1)\nclass Net(nn.Module):\n    def __init__(self):\n        self.se = BasicBlock(16\n"
    result = client.suggest(code, cursor_line=7, k=2)
    assert result.suggestions and {s.insert_line for s in result.suggestions} == {3}  # not between a decorator and its class


def test_code_nested_past_pythons_parser_is_invalid_argument_and_the_server_lives(client):
    deep = "x = " + "-" * 20_000 + "1\n"  # CPython's parser runs out of stack (MemoryError); libcst's would segfault
    for call in (lambda: client.patch(deep, no_check=True), lambda: client.suggest(deep),
                 lambda: client.predict(deep, {}, "cifar-10", [0.3])):
        with pytest.raises(InvalidArgument, match="nests too deeply"):
            call()
    with pytest.raises(InvalidArgument, match="null bytes") as info:
        client.predict("x = 1\0\n", {}, "cifar-10", [0.3])
    assert "line None" not in str(info.value)
    assert client.search("BasicBlock", k=1).hits  # still serving


def test_code_too_long_to_edit_in_the_server_is_refused_at_once(client):
    """Patch and Suggest read code with libcst in the server process (a 400,000-character file took 86 s, past any
    deadline, and the thread cannot be stopped): over 250,000 characters they refuse at once; Check takes it."""
    big = MISSING_BLOCK + "".join(f"\nclass Pad{i}(nn.Module):\n    def forward(self, x):\n        return x + {i}\n" for i in range(4_000))
    assert len(big) > 250_000
    for call in (lambda: client.patch(big, no_check=True), lambda: client.suggest(big)):
        started = time.monotonic()
        with pytest.raises(InvalidArgument, match="at most 250,000"):
            call()
        assert time.monotonic() - started < 5
    assert client.check(big, CheckSpec(stages=("parse", "compile"))).status == "ok"


def test_suggest_on_code_being_typed_reads_its_imports_and_attribute_calls(client):
    """Mid-edit code (an empty ``forward`` body does not parse): ``nn.Conv2d(`` is an attribute call and ``from m import
    A, B`` binds both names. Both were 'undefined', and the editor was told to insert torch's Conv2d and a store copy
    of the Mlp it imports; a block already imported is not offered as 'similar' either."""
    typing = ("import torch.nn as nn\nfrom torchvision.ops.misc import SqueezeExcitation, Conv2dNormActivation\n\n\n"
              "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 16, 3)\n"
              "        self.se = SqueezeExcitation(16, 4)\n        self.block = BasicBlock(16, 16)\n\n    def forward(self, x):\n        \n")
    result = client.suggest(typing, cursor_line=13, k=5)
    assert result.undefined_names == ["BasicBlock"], result.undefined_names
    names = [s.hit.block.name for s in result.suggestions]
    assert names[0] == "BasicBlock" and "SqueezeExcitation" not in names and "Conv2d" not in names, names
    star = "from torch.nn import *\n\n\nclass Net(Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = Linear(4, 4)\n"
    for code in (star, star + "    def forward(self, x):\n"):  # parsed, and mid-edit
        assert client.suggest(code, k=1).undefined_names == [], code


def test_suggest_gives_the_imports_patch_would_add_instead_of_blocks(client):
    code = MISSING_BLOCK.replace("return self.fc(self.block(self.stem(x)).mean((2, 3)))",
                                 "x = F.relu(self.block(self.stem(x))) * math.sqrt(2.0)\n        return self.fc(x.mean((2, 3)))")
    result = client.suggest(code, k=1)  # the imports are complete however few blocks are wanted
    assert set(result.undefined_names) == {"BasicBlock", "F", "math"}
    assert result.imports == ["import torch.nn.functional as F", "import math"]
    assert [s.hit.block.name for s in result.suggestions][:1] == ["BasicBlock"]  # blocks only for what no import binds
    assert not any("undefined name F" in s.reason or "undefined name math" in s.reason for s in result.suggestions)


def test_suggest_finds_a_block_under_another_spelling_as_patch_does(client):
    code = MISSING_BLOCK.replace("BasicBlock(16, 16)", "ResNetBasicBlock(16, 16)")
    result = client.suggest(code, k=1)
    assert result.undefined_names == ["ResNetBasicBlock"]
    assert result.suggestions[0].hit.block.name == "BasicBlock", result.suggestions
    assert "alias match" in result.suggestions[0].reason


def test_predict_with_a_curve_and_from_a_finished_curve(client):
    p = client.predict(GOOD_MODEL, {"lr": 0.01, "batch": 64}, "cifar-10", [0.3, 0.4, 0.5], epochs=5)
    assert p.method == "last_value" and p.observed_epochs == 3 and p.epochs == 5
    assert 0.0 <= p.lower <= p.accuracy <= p.upper <= 1.0 and p.lower < p.upper
    assert abs(p.accuracy - 0.5) < 1e-9  # last value of the curve
    assert p.versions["predictor_version"].startswith("last_value@")
    assert p.ignored_hparams == []
    spelt = client.predict(GOOD_MODEL, {"learning_rate": 0.01, "optimiser": "adam"}, "cifar-10", [0.3, 0.4, 0.5], epochs=5)
    assert spelt.ignored_hparams == ["optimiser"]  # learning_rate is read as lr; a name nothing reads is named
    done = client.predict(GOOD_MODEL, {}, "cifar-10", [(1, 0.5), (3, 0.7), (2, 0.6)], epochs=3)  # sorted by epoch
    assert done.method == "observed" and done.accuracy == pytest.approx(0.7) and done.target == "final"


def test_predict_says_whether_the_model_ran_in_the_sandbox(client):
    """A model that cannot be built still gets an estimate (static features, hyperparameters), but the answer says the
    sandbox could not run it: it was as confident as any other."""
    ran = client.predict(GOOD_MODEL, {"lr": 0.01}, "cifar-10", [0.3], epochs=5)
    broken = GOOD_MODEL.replace("super().__init__()", "super().__init__()\n        raise RuntimeError('no')")
    failed = client.predict(broken, {"lr": 0.01}, "cifar-10", [0.3], epochs=5)
    assert ran.model_ran is True and failed.model_ran is False
    assert client.predict(GOOD_MODEL, {}, "cifar-10", [0.5], epochs=1).model_ran is None  # finished: nothing measured


def test_predict_the_best_over_epochs(client):
    p = client.predict(GOOD_MODEL, {"lr": 0.01}, "cifar-10", [0.3, 0.6, 0.5], epochs=5, target="best")
    assert p.target == "best" and p.method == "last_value"
    assert p.lower >= 0.6 - 1e-9 and p.accuracy >= 0.6 - 1e-9, "never below the best epoch already seen"
    done = client.predict(GOOD_MODEL, {}, "cifar-10", [0.5, 0.7, 0.6], epochs=3, target="best")
    assert done.method == "observed" and done.accuracy == pytest.approx(0.7) and done.target == "best"
    with pytest.raises(InvalidArgument) as info:
        client.predict(GOOD_MODEL, {}, "cifar-10", target="mean")
    assert info.value.details.startswith("target:"), info.value.details
    for target in ("final", "best"):  # the directory's name of the best-over-epochs estimator is no model to ask for
        with pytest.raises(InvalidArgument) as info:
            client.predict(GOOD_MODEL, {}, "cifar-10", [0.3], epochs=5, model="last_value@best", target=target)
        assert "ask for model 'last_value' with target 'best'" in info.value.details, info.value.details


def test_predict_on_code_that_hangs_answers_inside_the_default_deadline(client, predictor_dir):
    """Params/FLOPs of new code are measured in the sandbox under a budget shorter than the clients' 30 s default
    deadline: a model that hangs at import gets an answer, without its dynamic features, not DEADLINE_EXCEEDED. The
    timeout is no verdict on the model (a busy sandbox times out too): it is not kept as "failed to build"."""
    sleeps = "import time\nimport torch.nn as nn\ntime.sleep(1000)\n"  # no CPU used: the wall clock must end it
    start = time.monotonic()
    p = client.predict(sleeps, {"lr": 0.01, "batch": 64}, "cifar-10", [0.3], epochs=5)
    assert time.monotonic() - start < 25 and 0.0 <= p.lower <= p.accuracy <= p.upper <= 1.0
    start = time.monotonic()
    client.predict(sleeps, {"lr": 0.02}, "cifar-10", [0.3], epochs=5)
    assert time.monotonic() - start < 5, "the timed-out measurement is not repeated at once"
    from predictor.api import ReportStore
    from predictor.families import content_hash

    assert ReportStore(predictor_dir / "reports.sqlite").load_dynamic(content_hash(sleeps)) is None, "nor kept for good"


def test_should_stop_measures_only_the_code_it_predicts(client):
    """A study's earlier runs of other code are curves to the rule: their code is not measured (each new one could
    take the sandbox's whole budget), so a call with many earlier runs of new, even hanging, code answers at once."""
    earlier = [{"code": f"import time\nimport torch.nn as nn\ntime.sleep(1000)  # trial {i}\n", "dataset": "cifar-10",
                "curve": [0.3, 0.5, 0.6], "max_epochs": 3} for i in range(4)]
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.1, 0.11], "max_epochs": 50}
    start = time.monotonic()
    d = client.should_stop(run, finished_accuracies=[0.9] * 10, earlier_runs=earlier)
    assert time.monotonic() - start < 5 and d.stop


def test_should_stop_a_hopeless_run_and_keep_a_promising_one(client):
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.10, 0.11], "max_epochs": 50}
    finished = [0.85 + 0.005 * i for i in range(12)]
    hopeless = client.should_stop(run, finished_accuracies=finished)
    assert hopeless.stop and hopeless.probability_beats_incumbent < 0.05 and hopeless.reason
    promising = client.should_stop({**run, "curve": [0.80, 0.91]}, finished_accuracies=finished)
    assert not promising.stop and promising.predicted_accuracy == pytest.approx(0.91)
    # the in-process predictor's key for the planned epochs, "epochs", was dropped by the SDK ("5 assumed", or refused
    # as unknown once the curve was longer)
    in_process = {k: v for k, v in run.items() if k != "max_epochs"} | {"epochs": 50, "curve": [0.1 + 0.005 * i for i in range(10)]}
    assert "assumed" not in client.should_stop(in_process, finished_accuracies=finished).reason
    with pytest.raises(ValueError, match="give one"):
        client.should_stop({**in_process, "max_epochs": 40}, finished_accuracies=finished)


def test_should_stop_learns_from_the_studys_earlier_runs_of_the_same_code(client):
    """earlier_runs of the same code that ended far above what the predictor said of them at this epoch lift its
    forecast for this run: the recommended policy keeps a run it stops without them, or with runs of other code."""
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.10, 0.11, 0.11, 0.12], "max_epochs": 6}
    finished = [0.5] * 10
    assert client.should_stop(run, finished_accuracies=finished).stop
    jumped = [{**run, "curve": [0.10, 0.11, 0.11, 0.12, 0.9, 0.95]} for _ in range(3)]
    kept = client.should_stop(run, finished_accuracies=finished, earlier_runs=jumped)
    assert not kept.stop and kept.predicted_accuracy > 0.5, kept
    anonymous = [{**r, "code": ""} for r in jumped]  # curves alone: no code to learn about
    assert client.should_stop(run, finished_accuracies=finished, earlier_runs=anonymous).stop
    with pytest.raises(InvalidArgument) as info:
        client.should_stop(run, earlier_runs=[{**jumped[0], "curve": []}])
    assert info.value.details.startswith("earlier_runs[0].curve:"), info.value.details
    with pytest.raises(InvalidArgument) as info:
        client.should_stop(run, earlier_runs=[{**jumped[0], "dataset": "imagenet-42"}])
    assert info.value.details.startswith("earlier_runs[0].dataset:"), info.value.details


def test_should_stop_checks_the_studys_size(client):
    """study_runs: negative, or with finished runs but no earlier ones (which count how far the study is), is refused;
    the recommended policy reads no size, so a valid one leaves its decision as it is."""
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 6}
    finals = [0.5 + 0.04 * i for i in range(10)]
    earlier = [{**run, "curve": [0.3, 0.4, 0.45, 0.5, 0.55, f]} for f in finals]
    plain = client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier)
    assert client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier, study_runs=1000).reason == plain.reason
    for bad in (-1, 10**9):
        with pytest.raises(InvalidArgument) as info:
            client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier, study_runs=bad)
        assert info.value.details.startswith("study_runs:") and "planned number of runs" in info.value.details, info.value.details
    with pytest.raises(InvalidArgument) as info:
        client.should_stop(run, finished_accuracies=finals, study_runs=1000)
    assert info.value.details.startswith("earlier_runs:") and "study_runs" in info.value.details, info.value.details
    assert not client.should_stop(run, study_runs=1000).stop, "the study's first run: nothing earlier, nothing to clear"
    with pytest.raises(InvalidArgument) as info:  # fewer than the runs it has had: 2 with 5 earlier was taken
        client.should_stop(run, finished_accuracies=finals, earlier_runs=earlier, study_runs=5)
    assert info.value.details.startswith("study_runs") and "at least 11" in info.value.details, info.value.details


def test_should_stop_reads_a_plan_given_as_hparams_epochs(client):
    """Run.max_epochs = 0 means the hparams' epochs (the proto): earlier runs planned there that trained every epoch
    are the finished runs when no incumbent is given, and saved_ms counts the epochs the run's hparams plan. Both read
    max_epochs alone: no incumbent (nothing stopped) and saved_ms 0."""
    hp = {"lr": 0.01, "epochs": 6}
    curve = [(i + 1, v, 1000.0 * (i + 1)) for i, v in enumerate([0.10, 0.11, 0.11, 0.12])]
    run = {"code": GOOD_MODEL, "hparams": hp, "dataset": "cifar-10", "curve": curve}
    stopped = client.should_stop(run, finished_accuracies=[0.9] * 10)
    assert stopped.stop and stopped.saved_ms == pytest.approx(2 * 1000.0), stopped
    done = [{"code": "", "hparams": hp, "dataset": "cifar-10", "curve": [0.5] * 5 + [0.9]} for _ in range(10)]
    by_hparams = client.should_stop(run, earlier_runs=done)
    by_max_epochs = client.should_stop(run, earlier_runs=[{**r, "hparams": {}, "max_epochs": 6} for r in done])
    assert by_hparams.stop and by_max_epochs.stop and by_hparams.reason == by_max_epochs.reason, by_hparams


def test_the_sdk_sends_a_run_dicts_durations_and_transform(client):
    """The keys the in-process predictor reads were dropped by the SDK: durations (saved_ms was 0) and a top-level
    transform (predicted without it). Durations travel as the points' elapsed_ms, the transform among the hparams,
    where the predictor reads it when none is given apart; two values for one of them are refused, not merged."""
    import json

    from rag_server.client import _should_stop_request

    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.10, 0.11, 0.11, 0.12],
           "durations": [1.0, 2.0, 3.0, 4.0], "epochs": 6, "transform": "norm_299_flip"}
    d = client.should_stop(run, finished_accuracies=[0.9] * 10)
    assert d.stop and d.saved_ms == pytest.approx(2 * 1000.0), d
    wire = _should_stop_request(run, 0.0, None, 0).run
    assert json.loads(wire.hparams_json)["transform"] == "norm_299_flip" and [p.elapsed_ms for p in wire.curve] == [1000.0, 2000.0, 3000.0, 4000.0]
    for bad, message in (({"durations": [1.0]}, "one cumulative time in seconds per curve point"),
                         ({"curve": [(1, 0.1, 5.0)], "durations": [1.0]}, "both durations and elapsed_ms"),
                         ({"hparams": {"transform": "other"}}, "give one")):
        with pytest.raises(ValueError, match=message):
            client.should_stop({**run, **bad}, finished_accuracies=[0.9] * 10)


def test_predictor_rpcs_refuse_code_that_does_not_parse(client):
    """Every LEMUR model the predictor learned from parses: an answer for prose or a truncated file would rest on
    nothing it knows, and a report of one would poison the next training."""
    prose = "Here is the model:\nclass Net(nn.Module):\n    def forward(self, x)\n        return x\n"
    run = {"code": prose, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4], "max_epochs": 5}
    calls = [
        (lambda: client.predict(prose, {"lr": 0.01}, "cifar-10", [0.3], epochs=5), "code"),
        (lambda: client.should_stop(run, finished_accuracies=[0.9] * 10), "run.code"),
        (lambda: client.should_stop({**run, "code": GOOD_MODEL}, earlier_runs=[run]), "earlier_runs[0].code"),
        (lambda: client.report_result(run, 0.4), "run.code"),
    ]
    for call, field in calls:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.details.startswith(f"{field}: does not parse as Python (line 1:"), info.value.details


def test_predict_learns_at_once_from_reported_runs_of_the_same_code(client):
    """ReportResult's finished runs of a code correct the next Predict for that code (and only that code and
    dataset), before any retraining; the answer says by how many runs."""
    code, other = GOOD_MODEL + "\nVARIANT = 7\n", GOOD_MODEL + "\nVARIANT = 8\n"
    before = client.predict(code, {"lr": 0.01}, "cifar-10")
    assert before.reported_runs == 0 and before.method == "last_value"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.9, 0.95, 0.97], "max_epochs": 3}
    client.report_result(run, 0.97)
    client.report_result({**run, "curve": [0.91, 0.95, 0.97]}, 0.97)  # another run (the same report again would be a retry)
    client.report_result({**run, "curve": [0.1]}, 0.1, stopped_early=True)  # stopped: its final is unknown
    client.report_result({**run, "dataset": "cifar-100"}, 0.97)
    after = client.predict(code, {"lr": 0.01}, "cifar-10")
    assert after.reported_runs == 2 and after.method == "last_value, corrected by 2 reported runs of this code"
    assert after.accuracy > before.accuracy + 0.1 and after.lower <= after.accuracy <= after.upper
    assert client.predict(other, {"lr": 0.01}, "cifar-10").reported_runs == 0


def test_should_stop_learns_from_reported_runs_of_the_same_code(client):
    """Without earlier_runs in the request, the finished runs of the code reported through ReportResult correct the
    forecast as a study's earlier runs would: a run stopped before is kept once three runs of its code jumped late."""
    code = GOOD_MODEL + "\nVARIANT = 9\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.10, 0.11, 0.11, 0.12], "max_epochs": 6}
    finished = [0.5] * 10
    assert client.should_stop(run, finished_accuracies=finished).stop
    for i in range(3):  # three runs (an identical report would be a retry of one, stored once)
        client.report_result({**run, "curve": [0.10, 0.11, 0.11, 0.12, 0.9 + 0.01 * i, 0.95]}, 0.95)
    kept = client.should_stop(run, finished_accuracies=finished)
    assert not kept.stop and kept.predicted_accuracy > 0.5, kept
    other = {**run, "code": GOOD_MODEL + "\nVARIANT = 10\n"}
    assert client.should_stop(other, finished_accuracies=finished).stop, "reports of another code say nothing about it"


def test_report_result_is_stored(client):
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.4, 0.5], "max_epochs": 5}
    first = client.report_result(run, 0.5, stopped_early=True)
    second = client.report_result({**run, "curve": [], "max_epochs": 5}, 0.61)  # a final alone states its planned epochs
    assert second == first + 1


def test_a_final_alone_reports_a_run_known_by_its_final(client):
    """A study that keeps only finals reports a 50-epoch run with final_accuracy alone: it corrects Predict for that
    code before any epoch is seen, and nothing that needs a curve."""
    code = GOOD_MODEL + "\nVARIANT = 31\n"
    client.report_result({"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "max_epochs": 50}, 0.9)
    assert client.predict(code, {"lr": 0.01}, "cifar-10", epochs=50).reported_runs == 1
    assert client.predict(code, {"lr": 0.01}, "cifar-10", [0.3, 0.4], epochs=50).reported_runs == 0


def test_curve_points_must_be_epochs_1_to_n(client):
    """CurvePoint.epoch was only a sort key: points at epochs 1 and 10 were read as epochs 1 and 2, a repeated epoch
    counted twice, and one point at epoch 10 was read as one epoch seen."""
    for curve, message in (([(1, 0.3), (10, 0.4)], "curve[1].epoch: epoch 10, but no point for epoch 2"),
                           ([(1, 0.3), (1, 0.4)], "curve[1].epoch: epoch 1 appears twice"),
                           ([(10, 0.7)], "curve[0].epoch: epoch 10, but no point for epoch 1"),
                           ([(0, 0.3), (1, 0.4)], "curve[0].epoch: 0 is not an epoch: epochs are 1-based")):
        with pytest.raises(InvalidArgument) as info:
            client.predict(GOOD_MODEL, {}, "cifar-10", curve, epochs=20)
        assert info.value.details.startswith(message), info.value.details
    run = {"code": GOOD_MODEL, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [(2, 0.5), (3, 0.6)], "max_epochs": 10}
    calls = ((lambda: client.should_stop(run, finished_accuracies=[0.9] * 10), "run.curve[0].epoch"),
             (lambda: client.report_result(run, 0.6, stopped_early=True), "run.curve[0].epoch"),
             (lambda: client.should_stop({**run, "curve": [0.5]}, earlier_runs=[run]), "earlier_runs[0].curve[0].epoch"))
    for call, field in calls:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert info.value.details.startswith(f"{field}: epoch 2, but no point for epoch 1"), info.value.details
    assert client.predict(GOOD_MODEL, {}, "cifar-10", [(2, 0.6), (1, 0.5)], epochs=5).observed_epochs == 2, "any order"


def test_report_result_without_a_curve_or_a_final_is_refused(client):
    """With neither a curve nor a final (none given; an older client's 0), a finished run with accuracy [0.0] was stored, and three
    such reports dragged the next Predict of the code towards 0."""
    code = GOOD_MODEL + "\nVARIANT = 20\n"
    before = client.predict(code, {"lr": 0.01}, "cifar-10", [0.5], epochs=5)
    for _ in range(3):
        with pytest.raises(InvalidArgument) as info:
            client.report_result({"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10"})  # no final given
        assert info.value.details.startswith("run.curve: is empty and final_accuracy is not set (0): no result given"), info.value.details
    after = client.predict(code, {"lr": 0.01}, "cifar-10", [0.5], epochs=5)
    assert after.reported_runs == 0 and after.accuracy == pytest.approx(before.accuracy)


def test_a_bad_report_never_breaks_the_predictions_of_its_code(client, predictor_dir):
    """A report with "epochs": 0 was stored, and then every Predict / ShouldStop of its code on that dataset failed
    (INVALID_ARGUMENT "epochs must be >= 1") for every client, as did train-predictor."""
    import sqlite3

    from predictor.families import content_hash

    code = GOOD_MODEL + "\nVARIANT = 21\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4, 0.5]}
    for hparams, message in (({"lr": 0.01, "epochs": 0}, "run.hparams_json: epochs must be >= 1, got 0"),
                             ({"lr": 0.01, "epochs": 2.7}, "run.hparams_json: epochs must be a whole number of epochs, got 2.7")):
        with pytest.raises(InvalidArgument) as info:
            client.report_result({**run, "hparams": hparams}, 0.5)
        assert info.value.details == message
    with sqlite3.connect(predictor_dir / "reports.sqlite") as db:  # a row an older server stored without the check
        db.execute("INSERT INTO reports (received_at, code_hash, code, hparams, dataset, transform, task, metric, accuracy, duration_s, "
                   "epochs_planned, finished) VALUES (0, ?, ?, ?, 'cifar-10', '', 'img-classification', 'acc', '[0.3, 0.4, 0.5]', '[]', "
                   "NULL, 1)", (content_hash(code), code, json.dumps({"lr": 0.01, "epochs": 0})))
    assert client.predict(code, {"lr": 0.01}, "cifar-10", epochs=3).reported_runs == 0, "the bad row is skipped"
    assert client.should_stop({**run, "curve": [0.3], "max_epochs": 3}, finished_accuracies=[0.5] * 10).predicted_accuracy > 0


def test_report_result_stores_the_planned_epochs_by_one_rule(client, predictor_dir):
    """max_epochs 0 stored None, read back as hparams epochs or else 5: a finished 3-epoch run became an unfinished
    5-epoch one, and a 10-epoch curve with hparams epochs 50 a 50-epoch final."""
    from predictor.api import ReportStore
    from predictor.families import content_hash

    code = GOOD_MODEL + "\nVARIANT = 22\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4, 0.5]}
    client.report_result(run, 0.5)  # max_epochs 0: the curve's length
    for bad, message in (({"hparams": {"lr": 0.01, "epochs": 50}, "curve": [0.5] * 10},
                          "run.curve: has 10 epochs, but run.hparams_json epochs plans 50: send all 50, or report it as stopped early "
                          "(stopped_early)"),
                         ({"max_epochs": 5}, "run.curve: has 3 epochs, but run.max_epochs plans 5")):
        with pytest.raises(InvalidArgument) as info:
            client.report_result({**run, **bad}, 0.5)
        assert info.value.details.startswith(message), info.value.details
    client.report_result({**run, "hparams": {"lr": 0.01, "epochs": 50}, "curve": [0.5] * 10}, 0.5, stopped_early=True)
    stored = ReportStore(predictor_dir / "reports.sqlite")._select("WHERE code_hash = ?", (content_hash(code),))
    assert [(len(r.accuracy), r.epochs_planned, r.finished) for r in stored] == [(3, 3, True), (10, 50, False)]


def test_a_retried_or_updated_report_is_stored_once(client):
    """Reports had no key: a retry after a deadline counted the run twice. Now the same report is stored once, and a
    report with the run_id of an earlier one replaces it."""
    code = GOOD_MODEL + "\nVARIANT = 23\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.9, 0.95, 0.97], "max_epochs": 3}
    first = client.report_result(run, 0.97)
    assert client.report_result(run, 0.97) == first, "the same report again: the stored one's id"
    assert client.predict(code, {"lr": 0.01}, "cifar-10").reported_runs == 1
    mine = {**run, "run_id": "study-1/trial-4", "curve": [0.2, 0.3]}
    stopped = client.report_result(mine, 0.3, stopped_early=True)
    finished = client.report_result({**mine, "curve": [0.2, 0.3, 0.5]}, 0.5)
    assert finished == stopped and client.predict(code, {"lr": 0.01}, "cifar-10").reported_runs == 2, "updated, counted once"
    with pytest.raises(InvalidArgument) as info:
        client.report_result({**mine, "code": GOOD_MODEL + "\nVARIANT = 24\n"}, 0.3, stopped_early=True)
    assert info.value.details.startswith("run: reported run: run_id 'study-1/trial-4' was reported before for other code"), info.value.details


def test_a_partial_report_over_the_wire_does_not_replace_a_finished_run(client):
    """A late partial report with a finished run's run_id replaced it silently; now INVALID_ARGUMENT, as a run_id
    reused for other code is, and the finished run stays."""
    code = GOOD_MODEL + "\nVARIANT = 25\n"
    run = {"code": code, "hparams": {"lr": 0.01}, "dataset": "cifar-10", "curve": [0.3, 0.4, 0.5, 0.6], "max_epochs": 4,
           "run_id": "stale-partial/RX"}
    finished = client.report_result(run, 0.6)
    with pytest.raises(InvalidArgument) as info:
        client.report_result({**run, "curve": [0.3, 0.4]}, 0.4, stopped_early=True)
    assert "run_id 'stale-partial/RX' is stored as a finished run of 4 epochs" in info.value.details, info.value.details
    assert client.report_result(run, 0.6) == finished, "the finished run is still stored under its id"
    assert client.predict(code, {"lr": 0.01}, "cifar-10", epochs=4).reported_runs == 1


def test_cli_predict_refuses_zero_epochs_the_same_way_over_the_wire(server, predictor_dir, tmp_path):
    """--epochs 0 over the wire became "not given" and the default 5 epochs, while the local path refused it."""
    from typer.testing import CliRunner

    from nnrag.cli import app

    good = tmp_path / "good.py"
    good.write_text(GOOD_MODEL)
    runner = CliRunner()
    remote = runner.invoke(app, ["predict", str(good), "--curve", "0.3", "--epochs", "0", "--server", server.address])
    local = runner.invoke(app, ["predict", str(good), "--curve", "0.3", "--epochs", "0", "--dir", str(predictor_dir)])
    assert remote.exit_code == local.exit_code == 2
    assert remote.output == local.output == "error: epochs must be >= 1, got 0\n", (remote.output, local.output)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.predict(GOOD_MODEL, {}, "cifar-10", [(1, 1.7)]), "curve[0].accuracy"),
        (lambda c: c.predict(GOOD_MODEL, {}, "imagenet-22k"), "dataset"),
        (lambda c: c.predict(GOOD_MODEL, {"lr": "fast"}, "cifar-10"), "hparams_json"),
        (lambda c: c.should_stop({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.5], "hparams": {"batch": 0}}), "run.hparams_json"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.3], "hparams": {"lr": None}}, 0.3),
         "run.hparams_json"),
        (lambda c: c.predict("", {}, "cifar-10"), "code"),
        (lambda c: c.predict(GOOD_MODEL, {}, "cifar-10", [0.3, 0.4, 0.5], epochs=2), "target_epoch"),
        (lambda c: c.should_stop({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": []}), "run.curve"),
        (lambda c: c.should_stop({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.5]}, 1.5), "incumbent_accuracy"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10"}, -0.1), "final_accuracy"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.3]}, float("nan")), "final_accuracy"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.3, 0.5]}, 0.7), "final_accuracy"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.3, 0.5, 0.6], "max_epochs": 2}, 0.6),
         "run.max_epochs"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10"}), "run.curve"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "max_epochs": 50}, 0.9, stopped_early=True), "final_accuracy"),
        (lambda c: c.report_result({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.3], "hparams": {"epochs": 0}}, 0.3),
         "run.hparams_json"),
        (lambda c: c.predict(GOOD_MODEL, {}, "cifar-10", [(1, 0.3), (3, 0.4)]), "curve[1].epoch"),
        # the field that holds the bad value, not "request" or the run's when the budget's was bad
        (lambda c: c.predict(GOOD_MODEL, {}, "cifar-10", [0.3], epochs=1_000_000), "target_epoch"),
        (lambda c: c.predict(GOOD_MODEL, {}, "cifar-10", [0.3], model="bogus"), "model"),
        (lambda c: c.should_stop({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.5]}, 0.9, max_epochs=-4), "budget.max_epochs"),
        (lambda c: c.should_stop({"code": GOOD_MODEL, "dataset": "cifar-10", "curve": [0.5], "max_epochs": 10**6}, 0.9), "run.max_epochs"),
    ],
)
def test_predictor_bad_input_names_the_field(client, call, field):
    with pytest.raises(InvalidArgument) as info:
        call(client)
    assert info.value.details.startswith(f"{field}:"), info.value.details


# ------------------------------------------------------------------ asyncio, auth, retries


def test_async_clients_share_batched_embeddings(server):
    batcher = server.backend.batcher
    batches, texts = batcher.batches, batcher.texts

    async def main() -> list[int]:
        async with AsyncClient(server.address) as c:
            queries = [f"convolution block number {i} with downsampling" for i in range(24)]
            results = await asyncio.gather(*(c.search(q, k=2, mode="meaning") for q in queries))
            return [len(r.hits) for r in results]

    counts = asyncio.run(main())
    assert all(n >= 1 for n in counts)
    assert batcher.texts - texts == 24
    assert batcher.batches - batches < 24, "concurrent queries were never batched"


def test_batched_vectors_equal_unbatched_ones(server):
    """Padding inside a batch must not change a query's vector (attention mask)."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    batcher = server.backend.batcher
    texts = [f"{'very ' * (i % 7)}deep residual bottleneck {i}" for i in range(16)]
    with ThreadPoolExecutor(8) as ex:
        batched = list(ex.map(lambda t: batcher.encode([t])[0], texts))
    alone = [batcher.inner.encode([t])[0] for t in texts]
    assert np.allclose(np.stack(batched), np.stack(alone), atol=1e-4)
    with pytest.raises(TypeError):
        batcher.encode("not a list")


def test_bearer_token_and_open_health(settings, server):
    secured = settings.model_copy(update={"token": "s3cret", "address": "127.0.0.1:0"})
    running = build_server(secured, server.backend)
    try:
        with Client(running.address) as anonymous:
            with pytest.raises(Unauthenticated, match="missing bearer token"):
                anonymous.search("Bottleneck")
            assert anonymous.health() == "SERVING"
        with Client(running.address, token="wrong") as wrong:
            with pytest.raises(Unauthenticated, match="wrong bearer token"):
                list(wrong.audit([GOOD_MODEL]))
        with Client(running.address, token="s3cret") as good:
            assert good.search("Bottleneck").hits[0].block.name == "Bottleneck"
        # the scheme is case-insensitive (RFC 7235); a value with no scheme is malformed, not a wrong token
        channel = grpc.insecure_channel(running.address)
        try:
            stub = blocks_pb2_grpc.BlockServiceStub(channel)
            request = blocks_pb2.GetBlockRequest(name_or_hash="Bottleneck")
            assert stub.GetBlock(request, metadata=(("authorization", "bearer s3cret"),), timeout=30).block.name == "Bottleneck"
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetBlock(request, metadata=(("authorization", "s3cret"),), timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED and "malformed" in refused.value.details()
        finally:
            channel.close()
    finally:
        running.server.stop(0).wait()


def test_client_retries_until_the_server_comes_up(settings, server):
    port = free_port()
    holder: dict = {}

    def start_later() -> None:
        time.sleep(0.7)
        holder["server"] = build_server(settings.model_copy(update={"address": f"127.0.0.1:{port}"}), server.backend)

    thread = threading.Thread(target=start_later)
    thread.start()
    try:
        with Client(f"127.0.0.1:{port}", retries=6) as c:
            assert c.search("BasicBlock", timeout=10).hits[0].block.name == "BasicBlock"
    finally:
        thread.join()
        holder["server"].server.stop(0).wait()


# ------------------------------------------------------------------ process: SIGTERM drains


def test_sigterm_drains_in_flight_calls_then_exits(tmp_path):
    """The real ``nnrag serve`` process: JSON logs, Prometheus metrics, drain on SIGTERM, exit 0."""
    import urllib.request

    port, metrics_port = free_port(), free_port()
    env = {**os.environ, "NNRAG_HOME": str(tmp_path), "NNRAG_WORKERS": "1", "NNRAG_DRAIN_S": "20"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", f"127.0.0.1:{port}",
         "--metrics-port", str(metrics_port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with Client(f"127.0.0.1:{port}") as c:
            c.wait_ready(timeout=60)
            assert c.check(GOOD_MODEL, timeout=90).status == "ok"  # worker warm
            with pytest.raises(FailedPrecondition, match="no block store"):
                c.search("conv")
            stats = c.stats()  # the sandbox part still answers (`nnrag doctor --server` reads it)
            assert "no block store" in stats["store_error"] and stats["sandbox"]
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
            assert 'nnrag_rpc_total{code="OK",method="Check"} 1.0' in metrics
            assert 'nnrag_rpc_total{code="FAILED_PRECONDITION",method="Search"} 1.0' in metrics
            result: dict = {}
            spec = CheckSpec(timeout_s=20, stages=("parse", "compile", "import"))
            worker = threading.Thread(target=lambda: result.update(r=c.check(SLEEPER.format(seconds=2), spec)))
            worker.start()
            time.sleep(0.7)
            proc.send_signal(signal.SIGTERM)
            worker.join()
            assert result["r"].status == "ok", "the in-flight call was not drained"
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr[-2000:]
        assert '"msg": "draining"' in stderr and '"msg": "stopped"' in stderr
        logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        calls = [e for e in logged if e.get("msg") == "rpc"]
        assert {"method", "code", "ms", "peer"} <= set(calls[0]) and any(e["code"] == "FAILED_PRECONDITION" for e in calls)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_names_a_bad_setting_or_a_taken_port_without_a_traceback(tmp_path):
    """A malformed address, a bad NNRAG_* value or a port another process holds: exit 2 and one line naming it
    (gRPC itself reports a malformed address only at bind time, as a RuntimeError)."""
    import socket

    def serve(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", "from nnrag.cli import main; main()", "serve", *args], cwd=REPO,
                              env={**os.environ, "NNRAG_HOME": str(tmp_path), "NNRAG_WORKERS": "1", **env},
                              capture_output=True, text=True, timeout=120)

    for args, env, message in ((["--address", "localhost"], {}, "--address: expected host:port"),
                               (["--address", "127.0.0.1:70000"], {}, "--address: expected host:port with a port in 0..65535"),
                               ([], {"NNRAG_ADDRESS": "127.0.0.1:x"}, "invalid settings: NNRAG_ADDRESS: "),
                               ([], {"NNRAG_MAX_MESSAGE_MB": "0"}, "invalid settings: NNRAG_MAX_MESSAGE_MB: "),
                               ([], {"NNRAG_LOG_LEVEL": "loud"}, "invalid settings: NNRAG_LOG_LEVEL: ")):
        out = serve(*args, **env)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr[-1500:]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = serve("--address", f"127.0.0.1:{taken.getsockname()[1]}")
    assert out.returncode == 2 and "cannot listen on 127.0.0.1:" in out.stderr and "Traceback" not in out.stderr, out.stderr[-1500:]
    assert "address already in use (another server on this port?)" in out.stderr, out.stderr[-1500:]
    assert Settings(address="[::1]:0").address == "[::1]:0" and Settings(log_level="debug").log_level == "DEBUG"
    from sandbox.pool import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB

    # the check defaults stop where the sandbox stops: beyond, every check of the server would be a ValueError
    assert Settings(check_timeout_s=MAX_TIMEOUT_S, check_memory_mb=MAX_MEMORY_MB).check_memory_mb == MAX_MEMORY_MB
    for bad in ({"check_timeout_s": MAX_TIMEOUT_S * 2}, {"check_memory_mb": MIN_MEMORY_MB - 1}, {"check_memory_mb": MAX_MEMORY_MB + 1}):
        with pytest.raises(ValueError):
            Settings(**bad)


# ------------------------------------------------------------------ CLI over the wire


def test_stats_over_the_wire(client, pool):
    pool.wait_ready()
    stats = client.stats()
    assert stats["blocks"] >= 3 and SOURCE in stats["by_source"]
    sandbox = stats["sandbox"]  # the server says which isolation its checks run under
    assert sandbox["workers"] == 2 and sandbox["isolation"] == pool.isolation.to_dict()
    assert sandbox["not_contained"] == pool.isolation.not_contained()


def test_doctor_over_the_wire_reports_the_servers_sandbox(server, pool):
    from typer.testing import CliRunner

    from nnrag.cli import app

    pool.wait_ready()
    out = CliRunner().invoke(app, ["doctor", "--server", server.address, "--json"])
    assert out.exit_code == 0, out.output
    findings = json.loads(out.stdout)
    assert findings["server"] == server.address and findings["workers"] == 2
    assert findings["isolation"]["network"] == pool.isolation.network
    assert findings["not_contained"] == pool.isolation.not_contained()
    text = CliRunner().invoke(app, ["doctor", "--server", server.address]).output
    assert pool.isolation.filesystem in text and ("NOT contained" in text) == bool(pool.isolation.not_contained())


def test_cli_commands_with_server_go_over_the_wire(server, store_dir, tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app

    runner = CliRunner()
    env = {"NNRAG_STORE_DIR": str(tmp_path / "no-store-here")}
    out = runner.invoke(app, ["search", "residual block with batch norm", "--server", server.address, "--json", "-k", "3"], env=env)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert 1 <= len(rows) <= 3 and rows[0]["rank"] == 1

    out = runner.invoke(app, ["block", "Bottleneck", "NoSuchBlock", "--server", server.address, "--json"], env=env)
    items = json.loads(out.stdout)
    assert out.exit_code == 1  # one name was unknown
    assert items[0]["qualified_name"].endswith("resnet.Bottleneck") and "class Bottleneck" in items[0]["source"]
    assert "NoSuchBlock" in items[1]["error"]
    local = runner.invoke(app, ["block", "NoSuchBlock", "Botleneck", "--store", str(store_dir), "--json"])  # the same words as over gRPC (a misspelling: "bottleneck" now resolves, up to case)
    remote = runner.invoke(app, ["block", "NoSuchBlock", "Botleneck", "--server", server.address, "--json"], env=env)
    assert [i["error"] for i in json.loads(local.stdout)] == [i["error"] for i in json.loads(remote.stdout)]
    assert "did you mean" in json.loads(remote.stdout)[1]["error"] and "Bottleneck" in json.loads(remote.stdout)[1]["error"]

    out = runner.invoke(app, ["stats", "--server", server.address, "--json"], env=env)
    assert out.exit_code == 0 and json.loads(out.stdout)["blocks"] >= 3

    model = tmp_path / "model.py"
    model.write_text(MISSING_BLOCK)
    out = runner.invoke(app, ["patch", str(model), "--server", server.address, "--json"], env=env)
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert "class BasicBlock" in data["code"] and data["inserted"][0]["name"] == "BasicBlock"

    good = tmp_path / "good.py"
    good.write_text(GOOD_MODEL)
    out = runner.invoke(app, ["check", str(good), "--server", server.address, "--json"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["params"] == 3 * 8 * 9 + 8 + 8 * 10 + 10

    out = runner.invoke(app, ["predict", str(good), "--curve", "0.3,0.45", "--epochs", "5", "--server", server.address, "--json"], env=env)
    assert out.exit_code == 0, out.output
    answer = json.loads(out.stdout)
    assert answer["point"] == pytest.approx(0.45) and answer["model"] == "last_value" and answer["k"] == 2


def test_cli_audit_over_the_wire_matches_in_process(server, pool, tmp_path):
    """``nnrag audit SOURCE --server``: same dedup, same resumable JSONL keyed by code hash, same report."""
    from typer.testing import CliRunner

    from nnrag.cli import app
    from sandbox.audit import NAMES_FILE, RESULTS_FILE, load_done, run_audit
    from sandbox.report import write_report

    items = [("good", GOOD_MODEL), ("same", GOOD_MODEL), ("shape", SHAPE_BUG), ("syntax", "def broken(:\n"), ("empty", ""),
             ("wide", GOOD_MODEL.replace("num_classes=10", "num_classes=7")), ("huge", "x = 1\n" * 400_000)]
    source = tmp_path / "models.jsonl"
    source.write_text("".join(json.dumps({"name": n, "code": c}) + "\n" for n, c in items))
    remote, local = tmp_path / "remote", tmp_path / "local"
    args = ["audit", str(source), "--out", str(remote), "--server", server.address, "--stage", "forward", "--timeout", "20"]
    runner = CliRunner()
    first = runner.invoke(app, args + ["--limit", "2"])  # an "interrupted" first run
    assert first.exit_code == 0, first.output
    assert len(load_done(remote)) == 2
    second = runner.invoke(app, args)  # resumes: only the 3 codes not yet done are checked (the empty one is no model: skipped)
    assert second.exit_code == 0, second.output
    assert "checked 3 new unique codes (2 already done, 5 unique of 7 names); 1 skipped (no model class)" in second.output.replace("\n", " ")
    lines = (remote / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 5  # identical code checked once, nothing checked twice
    run_audit(items, local, pool, CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward"), timeout_s=20))
    remote_done, local_done = load_done(remote), load_done(local)
    assert remote_done.keys() == local_done.keys()
    for digest, record in local_done.items():
        theirs, ours = remote_done[digest]["result"], record["result"]
        assert (theirs["status"], theirs["failed_stage"], theirs["error_type"], theirs["params"]) == \
               (ours["status"], ours["failed_stage"], ours["error_type"], ours["params"]), record["name"]
    assert (remote / NAMES_FILE).read_text() == (local / NAMES_FILE).read_text()
    remote_summary = json.loads((remote / "summary.json").read_text())
    local_summary = write_report(local, title="local")
    for key in ("names", "unique_codes", "checked", "statuses", "stage_rates", "failed_stage", "error_types", "diagnosis_kinds"):
        assert remote_summary[key] == local_summary[key], key
    assert remote_summary["statuses"] == {"ok": 2, "failed": 2, "rejected": 1}  # over the size limit
    assert remote_summary["skipped"] == {"no model class": ["empty"]}
    assert (remote / "report.md").exists() and (remote / "report.html").exists()
    runs = [json.loads(line) for line in (remote / "runs.jsonl").read_text().splitlines()]
    assert [r["server"] for r in runs] == [server.address] * 2


def test_check_many_sync_and_async_keep_order_and_refuse_clearly(server, client):
    items = [(GOOD_MODEL, None), ("  \n", None), (SHAPE_BUG, CheckSpec(timeout_s=20))]
    results = list(client.check_many(items))
    assert [r.status for r in results] == ["ok", "rejected", "failed"]
    assert results[1].message.startswith("code:") and results[2].diagnosis.kind == "shape_mismatch"

    async def run() -> list[str]:
        async with AsyncClient(server.address, max_message_mb=16) as async_client:
            return [r.status async for r in async_client.check_many([items[2], items[0]])]

    assert asyncio.run(run()) == ["failed", "ok"]


def test_cli_audit_with_an_unreachable_server_fails_clearly(tmp_path):
    from typer.testing import CliRunner

    from nnrag.cli import app

    source = tmp_path / "models.jsonl"
    source.write_text(json.dumps({"name": "good", "code": GOOD_MODEL}) + "\n")
    out = CliRunner().invoke(app, ["audit", str(source), "--out", str(tmp_path / "o"), "--server", f"127.0.0.1:{free_port()}"])
    assert out.exit_code == 2
    assert "UNAVAILABLE" in out.output and "resume" in out.output


def test_healthcheck_entry_point_exit_codes(server):
    ok = subprocess.run([sys.executable, "-m", "rag_server.healthcheck", server.address], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip() == "SERVING"
    dead = subprocess.run([sys.executable, "-m", "rag_server.healthcheck", f"127.0.0.1:{free_port()}", "--timeout", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert dead.returncode == 1 and "UNAVAILABLE" in dead.stderr


# ------------------------------------------------------------------ lifecycle: streams and shutdown


def test_an_audit_stream_whose_server_stops_ends_at_once_with_unavailable(settings, pool):
    """The server stops (drain over) before the stream's first answer: the SDK's retry policy for UNAVAILABLE covered
    the Audit stream too, and the stream then never ended, past its own deadline."""
    from rag_server.client import Unavailable

    running = build_server(settings, Backend.open(settings, pool=pool))
    outcome: dict = {}
    hold = CheckSpec(timeout_s=20, stages=("parse", "compile", "import"))
    items = [(f"s{i}", SLEEPER.format(seconds=3), hold) for i in range(3)]
    with Client(running.address, timeout=30) as c:

        def audit() -> None:
            try:
                outcome["items"] = list(c.audit(items, timeout=30))
            except Exception as exc:  # noqa: BLE001 - asserted below
                outcome["error"] = exc
            outcome["at"] = time.monotonic()

        reader = threading.Thread(target=audit, daemon=True)
        reader.start()
        time.sleep(1.0)
        stopped = time.monotonic()
        running.stop(grace=0.3)
        reader.join(timeout=15)
        assert not reader.is_alive(), "the audit stream did not end after its server stopped"
    assert isinstance(outcome.get("error"), Unavailable), outcome
    assert outcome["at"] - stopped < 8


def test_check_many_without_a_timeout_ends_when_no_result_comes_for_longer_than_its_checks_take(server, pool):
    """check_many had no deadline at all by default: a stream nobody answered held its caller forever. Here every
    sandbox worker is held by 4 s calls; the 1 s check plus the client's 1 s slack cannot wait that long."""
    from rag_server.client import DeadlineExceeded as StreamDeadline

    hold = CheckSpec(timeout_s=10, stages=("parse", "compile", "import"))
    with Client(server.address, timeout=1) as quick, Client(server.address, timeout=30) as holder:
        threads = [threading.Thread(target=holder.check, args=(SLEEPER.format(seconds=4), hold)) for _ in range(pool.size)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(StreamDeadline, match="no result for 2 s"):
            list(quick.check_many([(GOOD_MODEL, CheckSpec(timeout_s=1))]))
        assert time.monotonic() - started < 3.5
        for t in threads:
            t.join()


def test_an_item_generator_that_raises_gives_its_own_error(client):
    """The generator's own exception, not gRPC's ApiError UNKNOWN "Exception iterating requests!"."""

    class Broken(Exception):
        pass

    def items():
        yield GOOD_MODEL
        raise Broken("the caller's generator failed")

    with pytest.raises(Broken, match="generator failed"):
        list(client.audit(items(), timeout=60))
    with pytest.raises(Broken, match="generator failed"):
        list(client.check_many((code, None) for code in items()))


def test_an_open_health_watch_does_not_hold_up_the_shutdown(settings, pool):
    """A probe's or load balancer's open Watch counted as a call in flight: every shutdown waited the whole grace."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    running = build_server(settings, Backend.open(settings, pool=pool))
    seen: list[str] = []
    with grpc.insecure_channel(running.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)

        def read() -> None:
            for answer in watch:
                seen.append(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert _wait_for(lambda: seen == ["SERVING"], 10)
        started = time.monotonic()
        running.stop(grace=10)
        assert time.monotonic() - started < 3, "shutdown waited for the Watch stream"
        reader.join(timeout=5)
        assert not reader.is_alive() and seen == ["SERVING", "NOT_SERVING"]


def test_a_second_signal_during_the_drain_forces_the_exit(tmp_path):
    """Ctrl-C twice: the second one cancels the calls still in flight instead of waiting the whole drain."""
    port = free_port()
    env = {**os.environ, "NNRAG_HOME": str(tmp_path), "NNRAG_WORKERS": "1", "NNRAG_DRAIN_S": "30"}
    proc = subprocess.Popen([sys.executable, "-c", "from nnrag.cli import main; main()", "serve", "--address", f"127.0.0.1:{port}"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(f"127.0.0.1:{port}", retries=1) as c:
            c.wait_ready(timeout=60)
            spec = CheckSpec(timeout_s=25, stages=("parse", "compile", "import"))
            errors: list[Exception] = []

            def check() -> None:
                try:
                    c.check(SLEEPER.format(seconds=20), spec)
                except Exception as exc:  # noqa: BLE001 - the forced stop cancels it
                    errors.append(exc)

            call = threading.Thread(target=check, daemon=True)
            call.start()
            time.sleep(1.5)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=15)
            assert time.monotonic() - started < 8, "the second signal did not end the drain"
            call.join(timeout=10)
            assert errors, "the call in flight was not cancelled"
        assert '"msg": "forced stop"' in stderr and '"msg": "stopped"' in stderr, stderr[-2000:]
        assert proc.returncode == 128 + signal.SIGINT, "a forced stop exited 0, as a clean drain does"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_port_taken_on_one_of_the_hosts_addresses_is_refused(settings, pool):
    """``localhost:P`` with 127.0.0.1:P taken: gRPC bound [::1] alone and served, so clients of ``localhost:P`` and of
    ``127.0.0.1:P`` reached different servers. Refused like a taken port, naming the address in use."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        local = settings.model_copy(update={"address": f"localhost:{port}"})
        backend = Backend.open(local, pool=pool, with_predictor=False)
        try:
            with pytest.raises(OSError, match=rf"cannot listen on localhost:{port}: 127.0.0.1:{port} is in use: address already in use"):
                build_server(local, backend)
        finally:
            backend.close()


def test_an_answer_past_the_message_limit_leaves_code_out_instead_of_failing(tmp_path, pool, predictor_dir):
    """ultralytics' YOLO is 2.4 MB of code: ``search("YOLO")`` with the SDK's default ``include_code`` failed
    RESOURCE_EXHAUSTED ("Sent message larger than max"). The hits past the limit come without their code, marked."""
    from indexer.build import build_index

    source = tmp_path / "huge"
    source.mkdir()
    for i in range(3):  # ~390 KB of code each, 1 MiB allowed
        (source / f"huge{i}.py").write_text(f"import torch.nn as nn\n\nTABLE_{i} = {list(range(i, 60_000 + i))!r}\n\n\n"
                                            f"class HugeTable{i}(nn.Module):\n    def forward(self, x):\n        return x * len(TABLE_{i})\n")
    build_index([f"dir:{source}"], tmp_path / "store", validate=False, cache_dir=tmp_path / "cache")
    settings = Settings(store_dir=tmp_path / "store", address="127.0.0.1:0", workers=1, max_message_mb=1, predictor_dir=predictor_dir)
    running = build_server(settings, Backend.open(settings, pool=pool))
    try:
        with Client(running.address, max_message_mb=16) as c:
            hits = c.search("HugeTable0", k=3).hits
            suggested = c.suggest("x = HugeTable0()\ny = HugeTable1()\nz = HugeTable2()\n", k=3).suggestions
            full = c.get_block(hits[-1].block.content_hash)
    finally:
        running.stop(grace=1)
    assert len(hits) == 3 and hits[0].block.name == "HugeTable0" and not hits[0].code_omitted and "TABLE_0" in hits[0].block.code
    assert hits[-1].code_omitted and hits[-1].block.code == "" and "class HugeTable" in full.code
    assert len(suggested) == 3 and suggested[-1].hit.code_omitted and not suggested[0].hit.code_omitted
