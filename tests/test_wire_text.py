"""Text that crosses the wire: strings a sandbox produced (lone surrogates in an error message, printed output or a
traceback), code the SDK is handed (a surrogate, over the size limit, a spec of the wrong type), and the size limit
both paths share.

Real loopback gRPC server without a store (Check and Audit need none), real sandbox workers; nothing of ours mocked.
"""

from __future__ import annotations

import pytest

from nnrag.settings import Settings
from nnrag.v1 import blocks_pb2
from rag_server import convert
from rag_server.backend import Backend
from rag_server.client import Client, InvalidArgument
from rag_server.patch import PatchResult
from rag_server.server import build_server
from rag_server.servicer import patch_result_to_proto, status_detail
from sandbox.pool import MAX_CODE_BYTES
from sandbox.spec import CheckResult, CheckSpec, Diagnosis

CAFE = b"caf\xe9".decode("utf-8", "surrogateescape")  # how Python decodes a Latin-1 file name or byte string

GOOD = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))
"""

RAISES_SURROGATE = """
import torch
from torch import nn
NAME = b"caf\\xe9".decode("utf-8", "surrogateescape")

class Net(nn.Module):
    def forward(self, x):
        raise ValueError(f"bad {NAME}")
"""

PRINTS_SURROGATE = """
import torch
from torch import nn
print("out \\udcff")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))
"""

SPEC = CheckSpec(stages=("parse", "compile", "import", "instantiate", "forward"), timeout_s=20.0)


def encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ------------------------------------------------------------------ conversion, no server


def surrogate_result() -> CheckResult:
    return CheckResult(
        status="failed", stages={"parse": "ok", "forward": "failed"}, failed_stage="forward", error_type="ValueError",
        message=f"bad {CAFE}", traceback=f"Traceback:\nValueError: bad {CAFE}", stdout=f"printed {CAFE}\n",
        diagnosis=Diagnosis(problem=f"ValueError at forward: bad {CAFE}", hint=f"see {CAFE}", kind="exception", symbol=CAFE, line=4),
    )


def test_a_result_with_lone_surrogates_converts_with_them_escaped():
    msg = convert.result_to_proto(surrogate_result())
    back = convert.result_from_proto(blocks_pb2.CheckResponse.FromString(
        blocks_pb2.CheckResponse(result=msg).SerializeToString()).result)
    assert back.status == "failed" and back.failed_stage == "forward" and back.error_type == "ValueError"
    for text in (back.message, back.traceback, back.stdout, back.diagnosis.problem, back.diagnosis.hint, back.diagnosis.symbol):
        assert encodable(text) and "caf\\udce9" in text, text
    assert back.diagnosis.line == 4


def test_text_that_encodes_is_sent_unchanged():
    result = CheckResult(status="ok", stages={"parse": "ok"}, failed_stage=None, message="naïve ✓ 😀", stdout="ünïcode\n")
    back = convert.result_from_proto(convert.result_to_proto(result))
    assert back.message == "naïve ✓ 😀" and back.stdout == "ünïcode\n"


def test_a_patch_result_and_a_status_detail_with_surrogates_convert():
    result = PatchResult(code=GOOD, diff="", inserted=[], unresolved=[], added_imports=[], check=surrogate_result(), changed=False,
                         attempts=[f"try 1: failed ValueError bad {CAFE}"], stop_reason=f"the model itself fails: {CAFE}")
    response = blocks_pb2.PatchResponse.FromString(patch_result_to_proto(result).SerializeToString())
    assert "caf\\udce9" in response.attempts[0] and "caf\\udce9" in response.stop_reason
    assert "caf\\udce9" in response.after.message
    assert encodable(status_detail(f"run: bad {CAFE}"))


# ------------------------------------------------------------------ a real server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    settings = Settings(store_dir=home / "no_store", predictor_dir=home / "no_predictor", address="127.0.0.1:0", workers=1,
                        max_pending_checks=4, max_message_mb=8, check_timeout_s=20.0)
    backend = Backend.open(settings, with_predictor=False)
    running = build_server(settings, backend)
    yield running
    running.stop(grace=1)
    backend.close()


@pytest.fixture(scope="module")
def client(server):
    with Client(server.address, timeout=60, max_message_mb=16) as c:
        yield c


def test_check_of_a_model_raising_a_surrogate_message_is_its_verdict(client):
    result = client.check(RAISES_SURROGATE, SPEC)
    assert result.status == "failed" and result.failed_stage == "forward" and result.error_type == "ValueError", result
    assert "bad caf\\udce9" in result.message and encodable(result.traceback + result.diagnosis.problem)


def test_check_of_a_model_printing_a_surrogate_keeps_its_output(client):
    result = client.check(PRINTS_SURROGATE, SPEC)
    assert result.status == "ok", result
    assert result.stdout.startswith("out ") and encodable(result.stdout), result.stdout


def test_audit_goes_on_past_a_result_with_surrogates(client):
    items = [("g1", GOOD + "#1\n", SPEC), ("bad", RAISES_SURROGATE, SPEC), ("g2", GOOD + "#2\n", SPEC)]
    got = [(item.id, item.result.status if item.result else item.error) for item in client.audit(items, timeout=120)]
    assert got == [("g1", "ok"), ("bad", "failed"), ("g2", "ok")]


# ------------------------------------------------------------------ the SDK's input handling


@pytest.mark.parametrize("spec", ["2,3,32,32", 5, ["forward"]])
def test_a_spec_of_the_wrong_type_is_a_type_error_naming_it(client, spec):
    with pytest.raises(TypeError, match=r"spec must be a CheckSpec"):
        client.check(GOOD, spec)
    with pytest.raises(TypeError, match=r"spec must be a CheckSpec"):
        list(client.audit([("a", GOOD, spec)]))


def test_a_spec_given_as_a_dict_of_its_fields_is_accepted(client):
    result = client.check(GOOD, {"stages": ["parse", "compile", "import", "instantiate", "forward"], "timeout_s": 20})
    assert result.status == "ok" and "backward" not in result.stages, result
    with pytest.raises(TypeError, match=r"spec.*unknown field.*'tiemout'"):
        client.check(GOOD, {"tiemout": 5})


def test_code_with_a_lone_surrogate_is_a_value_error_naming_code(client):
    with pytest.raises(ValueError, match=r"code: .*surrogate.*line 1") as info:
        client.check("x = '\udcff'\n")
    assert isinstance(info.value, InvalidArgument)  # also caught as the server's refusal would be


def test_code_over_the_limit_is_refused_before_sending_naming_the_limit(server):
    too_big = GOOD + "#" * MAX_CODE_BYTES
    with Client(server.address, max_message_mb=1) as small:  # sent, it would fail as "larger than max"
        with pytest.raises(InvalidArgument, match=f"code: .*bytes.*at most {MAX_CODE_BYTES:,}"):
            small.check(too_big)
        got = [(item.id, item.result.status if item.result else item.error) for item in small.audit([("big", too_big, SPEC), ("g", GOOD, SPEC)])]
    assert got[1] == ("g", "ok") and got[0][0] == "big" and f"at most {MAX_CODE_BYTES:,}" in got[0][1], got


def test_the_server_and_the_sandbox_share_one_size_limit(client):
    just_under = GOOD + "#" * (MAX_CODE_BYTES - len(GOOD) - 10) + "\n"
    assert 2_000_000 < len(just_under.encode()) <= MAX_CODE_BYTES
    assert client.check(just_under, CheckSpec(stages=("parse",))).status == "ok"
    over = GOOD + "#" * MAX_CODE_BYTES  # sent raw, past the SDK's own check: the server says the same
    with pytest.raises(InvalidArgument, match=f"code: .*at most {MAX_CODE_BYTES:,}"):
        client._call(client._blocks.Check, blocks_pb2.CheckRequest(code=over), 60)


def test_audit_yields_earlier_results_before_a_bad_item_raises(client):
    got = []
    with pytest.raises(TypeError, match="audit item 2"):
        for item in client.audit([("g1", GOOD + "#a\n", SPEC), ("g2", GOOD + "#b\n", SPEC), 123], timeout=120):
            got.append((item.id, item.result.status))
    assert got == [("g1", "ok"), ("g2", "ok")]


def test_audit_yields_earlier_results_before_the_callers_generator_raises(client):
    def items():
        yield ("g1", GOOD + "#c\n", SPEC)
        yield ("g2", GOOD + "#d\n", SPEC)
        raise RuntimeError("my generator broke")

    got = []
    with pytest.raises(RuntimeError, match="my generator broke"):
        for item in client.audit(items(), timeout=120):
            got.append(item.id)
    assert got == ["g1", "g2"]


def test_audit_answers_a_surrogate_item_as_its_own_error_and_goes_on(client):
    got = [(item.id, item.result.status if item.result else item.error)
           for item in client.audit([("s", "x = '\udcff'\n", SPEC), ("g", GOOD, SPEC)], timeout=120)]
    assert got[1] == ("g", "ok") and got[0][0] == "s" and got[0][1].startswith("code: ") and "surrogate" in got[0][1], got


def test_check_many_answers_a_refused_item_in_its_place(client):
    results = list(client.check_many([("x = '\udcff'\n", SPEC), (GOOD, SPEC)]))
    assert [r.status for r in results] == ["rejected", "ok"], results


def test_the_async_client_yields_earlier_results_before_a_bad_item_raises(server):
    import asyncio

    from rag_server.client import AsyncClient

    async def run() -> tuple[list[tuple[str, str]], Exception | None]:
        got, error = [], None
        async with AsyncClient(server.address, timeout=60) as async_client:
            try:
                async for item in async_client.audit([("g", GOOD + "#e\n", SPEC), ("s", "x = '\udcff'\n", SPEC), ("a", GOOD, "2,3")]):
                    got.append((item.id, item.result.status if item.result else item.error))
            except TypeError as exc:
                error = exc
        return got, error

    got, error = asyncio.run(run())
    assert [g[0] for g in got] == ["g", "s"] and got[0][1] == "ok" and "surrogate" in got[1][1], got
    assert error is not None and "audit item 2: spec must be a CheckSpec" in str(error)
