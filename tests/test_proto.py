"""The committed stubs under nnrag/v1 are exactly what protoc makes from proto/nnrag/v1."""

from __future__ import annotations

from pathlib import Path

from nnrag import protogen


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    written = protogen.generate(out_dir=tmp_path)
    assert {p.name for p in written} >= {"blocks_pb2.py", "blocks_pb2_grpc.py", "predictor_pb2.py", "common_pb2.pyi"}
    committed = protogen.REPO_ROOT / "nnrag" / "v1"
    for path in written:
        mine = committed / path.name
        assert mine.exists(), f"{path.name} is generated but not committed: run `make proto`"
        assert mine.read_bytes() == path.read_bytes(), f"{path.name} is stale: run `make proto`"
    stale = {p.name for p in committed.glob("*_pb2*.py*")} - {p.name for p in written}
    assert not stale, f"stubs without a .proto: {sorted(stale)}"


def test_every_response_carries_versions() -> None:
    from nnrag.v1 import blocks_pb2, predictor_pb2

    for module in (blocks_pb2, predictor_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                fields = method.output_type.fields_by_name
                assert "versions" in fields, f"{service.name}.{method.name} response lacks versions"


def test_a_check_result_crosses_the_wire_whole() -> None:
    """Every CheckResult field survives result_to_proto -> bytes -> result_from_proto; cpu_s (which limit ended a
    check) and output_count were left behind when they were added to the record."""
    import dataclasses

    from nnrag.v1 import common_pb2
    from rag_server.convert import result_from_proto, result_to_proto
    from sandbox.spec import CheckResult, Diagnosis, Example

    sent = CheckResult(status="timeout", stages={"parse": "ok", "compile": "ok", "import": "ok", "instantiate": "ok", "forward": "failed"},
                       failed_stage="forward", error_type="WallTimeout", message="m", traceback="t", params=12, flops=34,
                       output_shapes=[[2, 10]], forward_ms=1.5, peak_rss_mb=100.0, wall_ms=9.0,
                       example=Example(inputs=[[2, 3, 32, 32]]), entry="Net", diagnosis=Diagnosis("p", "h", "timeout"),
                       stdout="out", cpu_s=0.25, output_count=70_000, warnings=["w"])
    wire = common_pb2.CheckResult.FromString(result_to_proto(sent).SerializeToString())
    got = result_from_proto(wire)
    for field in dataclasses.fields(CheckResult):
        assert getattr(got, field.name) == getattr(sent, field.name), field.name


def test_a_patch_result_crosses_the_wire_whole() -> None:
    """Why swapping stopped (``stop_reason``), each check tried (``attempts``) and the free names survive
    patch_result_to_proto -> bytes -> the SDK's PatchOutcome: an IDE on the server saw ``attempts=[]``."""
    from nnrag.v1 import blocks_pb2
    from rag_server.client import _patch_outcome
    from rag_server.patch import PatchResult
    from rag_server.servicer import patch_result_to_proto
    from sandbox.spec import CheckResult

    sent = PatchResult(code="x = Block()\n", diff="d", inserted=[], unresolved=["Other"], added_imports=["import torch"],
                       check=CheckResult(status="failed", failed_stage="forward"), changed=True, stripped_text=True, tries=3,
                       free_names=["Block", "Other"], attempts=["as given: failed", "Block<-a.Block: failed"], fixes=["f"],
                       stop_reason="two different blocks both failed in the model's own code")
    wire = blocks_pb2.PatchResponse.FromString(patch_result_to_proto(sent).SerializeToString())
    got = _patch_outcome(wire)
    assert (got.attempts, got.stop_reason, got.free_names) == (sent.attempts, sent.stop_reason, sent.free_names)
    assert (got.patched_code, got.unresolved, got.added_imports, got.tries, got.fixes, got.stripped_text) == (
        sent.code, sent.unresolved, sent.added_imports, sent.tries, sent.fixes, sent.stripped_text)
