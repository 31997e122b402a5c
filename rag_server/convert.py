"""Records <-> nnrag.v1 protobuf messages, plus request validation.

Both sides of the wire use this module: the servicer turns requests into the plain
records the Python functions take (and validates them, naming the bad field), the
SDK turns responses back into the same records, so callers never touch protobufs.
Imports stay light (no torch, no faiss) so the SDK is cheap to import.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from corpus.records import Provenance
from indexer.records import Block
from nnrag.v1 import blocks_pb2
from nnrag.v1 import common_pb2 as pb
from rag_server.block_filter import LICENSE_POLICIES
from sandbox.pool import MIN_TIMEOUT_S
from sandbox.spec import STAGES, CheckResult, CheckSpec, Diagnosis, Example

# Limits on what a request may ask for. Past them the request is refused with
# INVALID_ARGUMENT naming the field, before any work is done.
MAX_INPUTS = 16
INPUT_SPEC_KINDS = frozenset({"tensor", "boxes", "list", "tuple", "dict", "value", "object"})  # sandbox.runner.build_input
MAX_DIMS = 8
MAX_INPUT_ELEMENTS = 1 << 26  # 64M elements (256 MiB of float32) per input tensor
MAX_TIMEOUT_MS = 600_000.0
MIN_MEMORY_MB = 256
MAX_CANDIDATES = 32


class BadRequest(ValueError):
    """A request field is missing or out of range. ``str()`` is "field: problem"."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


# ---------------------------------------------------------------- text on the wire


def wire_text(text: str) -> str:
    """``text`` as a protobuf string field can hold it: a lone surrogate (what Python makes of undecodable bytes:
    ``b"caf\\xe9".decode("utf-8", "surrogateescape")``, ``os.fsdecode``) becomes its escape ``\\udce9``; any other text
    is returned as it is. Why: protobuf refuses such a string (UnicodeEncodeError), so a model whose error message,
    printed output or traceback held one made Check answer INTERNAL and ended an Audit stream."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def wire_safe(value: Any) -> Any:
    """``value`` with every string inside it ``wire_text`` (``strings_mapped``). Every record produced by untrusted
    code (a CheckResult, a PatchResult) goes through this once before it becomes a message, so no field can be
    forgotten."""
    return strings_mapped(value, wire_text)


def strings_mapped(value: Any, fn: Callable[[str], str]) -> Any:
    """``value`` with ``fn`` applied to every string inside it: strings, lists, tuples, dict keys and values, and the
    fields of dataclasses (a copy; ``value`` is not changed)."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(strings_mapped(v, fn) for v in value)
    if isinstance(value, dict):
        return {strings_mapped(k, fn): strings_mapped(v, fn) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        safe = copy.copy(value)  # not ``dataclasses.replace``: no __init__ / __post_init__ runs again
        for f in dataclasses.fields(value):
            object.__setattr__(safe, f.name, strings_mapped(getattr(value, f.name), fn))
        return safe
    return value


@dataclass
class SearchHit:
    """One ranked block, as the SDK returns it (mirrors ``indexer.store.SearchHit``)."""

    block: Block
    score: float
    match: str
    code_omitted: bool = False  # the server left the code out to stay under its message limit: get_block has it


# ---------------------------------------------------------------- Example


def _policy_enum(policy: str) -> int:
    return blocks_pb2.LicensePolicy.Value("LICENSE_POLICY_" + policy.upper().replace("-", "_"))


def license_policy_to_proto(policy: str | None) -> int:
    """A ``block_filter`` policy name as the wire enum; None: unspecified (the server's default). ValueError naming the
    choices for any other name."""
    if policy is None:
        return blocks_pb2.LICENSE_POLICY_UNSPECIFIED
    if policy not in LICENSE_POLICIES:
        raise ValueError(f"license_policy must be one of {', '.join(LICENSE_POLICIES)} or None, got {policy!r}")
    return _policy_enum(policy)


def license_policy_from_proto(value: int, default: str) -> str:
    """The policy name a request asks for (``default`` when unspecified); BadRequest for a value no policy has."""
    if value == blocks_pb2.LICENSE_POLICY_UNSPECIFIED:
        return default
    for policy in LICENSE_POLICIES:
        if _policy_enum(policy) == value:
            return policy
    raise BadRequest("license_policy", f"unknown license policy {value}")


def example_to_proto(example: Example | None) -> pb.Example | None:
    if example is None:
        return None
    msg = pb.Example(
        init_args_json=json.dumps(example.init_args),
        init_kwargs_json=json.dumps(example.init_kwargs),
        input_dtypes=list(example.input_dtypes or []),
        infer_inputs=example.inputs is None,
        input_specs_json=json.dumps(example.input_specs) if example.input_specs is not None else "",
    )
    for shape in example.inputs or []:
        msg.inputs.add(dims=[int(d) for d in shape])
    return msg


JSON_KINDS = {dict: "object", list: "array"}


def json_field(text: str, field: str, kind: type, empty: Any) -> Any:
    """A request's JSON text field as a ``kind`` (dict or list); ``empty`` when blank. Every way JSON can fail is a
    BadRequest: a syntax error, and also nesting past the recursion limit or an integer of over 4,300 digits, which
    ``json.loads`` raises as RecursionError / ValueError (they were INTERNAL, and ended an Audit stream)."""
    if not text:
        return empty
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(field, f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    except RecursionError:
        raise BadRequest(field, "not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise BadRequest(field, f"not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        raise BadRequest(field, f"must be a JSON {JSON_KINDS[kind]}, got {type(value).__name__}")
    return value


def example_from_proto(msg: pb.Example, field: str = "example") -> Example:
    """Validated: shapes must be positive and of sane size, dtypes known."""
    init_args = json_field(msg.init_args_json, f"{field}.init_args_json", list, [])
    init_kwargs = json_field(msg.init_kwargs_json, f"{field}.init_kwargs_json", dict, {})
    inputs: list[list[int]] | None = None
    if not msg.infer_inputs:
        if len(msg.inputs) > MAX_INPUTS:
            raise BadRequest(f"{field}.inputs", f"{len(msg.inputs)} inputs, at most {MAX_INPUTS}")
        inputs = []
        for i, shape in enumerate(msg.inputs):
            dims = list(shape.dims)
            where = f"{field}.inputs[{i}]"
            if not dims or len(dims) > MAX_DIMS:
                raise BadRequest(where, f"shape {dims} must have 1..{MAX_DIMS} dimensions")
            if any(d <= 0 for d in dims):
                raise BadRequest(where, f"shape {dims} has a dimension <= 0")
            if math.prod(dims) > MAX_INPUT_ELEMENTS:
                raise BadRequest(where, f"shape {dims} has {math.prod(dims):,} elements, at most {MAX_INPUT_ELEMENTS:,}")
            inputs.append(dims)
    dtypes = list(msg.input_dtypes) or None
    if dtypes is not None:
        if inputs is not None and len(dtypes) != len(inputs):
            raise BadRequest(f"{field}.input_dtypes", f"{len(dtypes)} dtypes for {len(inputs)} inputs")
        bad = [d for d in dtypes if d not in ("float32", "float16", "bfloat16", "float64", "int64", "int32", "bool")]
        if bad:
            raise BadRequest(f"{field}.input_dtypes", f"unknown dtype {bad[0]!r}")
    specs = _input_specs(msg.input_specs_json, f"{field}.input_specs_json")
    return Example(init_args=init_args, init_kwargs=init_kwargs, inputs=inputs, input_dtypes=dtypes, input_specs=specs)


def _input_specs(text: str, field: str) -> list[dict[str, Any]] | None:
    """Structure only (a list of at most MAX_INPUTS objects with a known kind); sizes are the sandbox's to bound."""
    if not text:
        return None
    specs = json_field(text, field, list, None)
    if len(specs) > MAX_INPUTS:
        raise BadRequest(field, f"{len(specs)} input specs, at most {MAX_INPUTS}")
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or spec.get("kind") not in INPUT_SPEC_KINDS:
            raise BadRequest(f"{field}[{i}]", f"must be an object with kind in {sorted(INPUT_SPEC_KINDS)}")
    return specs


# ---------------------------------------------------------------- CheckSpec


def spec_to_proto(spec: CheckSpec | None) -> pb.CheckSpec | None:
    if spec is None:
        return None
    msg = pb.CheckSpec(
        expected_output_shape=list(spec.expected_output_shape or []),
        stages=list(spec.stages),
        max_params=spec.max_params,
        timeout_ms=spec.timeout_s * 1000.0,
        memory_mb=spec.memory_mb,
        count_flops=spec.count_flops,
        train_lemur=spec.train_lemur,
    )
    if spec.entry is not None:
        msg.entry = spec.entry
    if spec.lemur is not None:
        msg.lemur = spec.lemur
    if spec.example is not None:
        msg.example.CopyFrom(example_to_proto(spec.example))
    for cand in spec.candidates:
        msg.candidates.append(example_to_proto(cand))
    return msg


def spec_from_proto(
    msg: pb.CheckSpec | None,
    *,
    field: str = "spec",
    default_timeout_s: float = 30.0,
    max_memory_mb: int = 4096,
) -> CheckSpec:
    """A validated CheckSpec; unset fields take server defaults. ``max_memory_mb`` caps memory."""
    if msg is None:
        return CheckSpec(timeout_s=default_timeout_s, memory_mb=max_memory_mb)
    spec = CheckSpec(timeout_s=default_timeout_s, memory_mb=max_memory_mb)
    if msg.HasField("entry"):
        if not msg.entry.isidentifier():
            raise BadRequest(f"{field}.entry", f"{msg.entry!r} is not a Python identifier")
        spec.entry = msg.entry
    if msg.HasField("lemur"):
        spec.lemur = msg.lemur
    if msg.HasField("example"):
        spec.example = example_from_proto(msg.example, f"{field}.example")
    if len(msg.candidates) > MAX_CANDIDATES:
        raise BadRequest(f"{field}.candidates", f"{len(msg.candidates)} candidates, at most {MAX_CANDIDATES}")
    spec.candidates = [example_from_proto(c, f"{field}.candidates[{i}]") for i, c in enumerate(msg.candidates)]
    if msg.expected_output_shape:
        dims = list(msg.expected_output_shape)
        if any(d <= 0 for d in dims) or len(dims) > MAX_DIMS:
            raise BadRequest(f"{field}.expected_output_shape", f"shape {dims} is not a valid shape")
        spec.expected_output_shape = dims
    if msg.stages:
        unknown = [s for s in msg.stages if s not in STAGES]
        if unknown:
            raise BadRequest(f"{field}.stages", f"unknown stage {unknown[0]!r}; known: {', '.join(STAGES)}")
        spec.stages = tuple(msg.stages)
    if msg.max_params < 0:
        raise BadRequest(f"{field}.max_params", "must be >= 0 (0 = default)")
    if msg.max_params:
        spec.max_params = int(msg.max_params)
    least_ms = MIN_TIMEOUT_S * 1000.0
    if not math.isfinite(msg.timeout_ms) or msg.timeout_ms < 0 or msg.timeout_ms > MAX_TIMEOUT_MS or 0 < msg.timeout_ms < least_ms:
        raise BadRequest(f"{field}.timeout_ms", f"{msg.timeout_ms} is outside [{least_ms:.0f}, {MAX_TIMEOUT_MS:.0f}] ms (0: the "
                                                "server's default); below it a check times out whatever the code")
    if msg.timeout_ms:
        spec.timeout_s = msg.timeout_ms / 1000.0
    if msg.memory_mb:
        if not MIN_MEMORY_MB <= msg.memory_mb <= max_memory_mb:
            raise BadRequest(f"{field}.memory_mb", f"{msg.memory_mb} is outside [{MIN_MEMORY_MB}, {max_memory_mb}] MiB")
        spec.memory_mb = int(msg.memory_mb)
    if msg.HasField("count_flops"):
        spec.count_flops = msg.count_flops
    if msg.HasField("train_lemur"):
        spec.train_lemur = msg.train_lemur
    return spec


# ---------------------------------------------------------------- CheckResult


def result_to_proto(result: CheckResult) -> pb.CheckResult:
    """Every string of the result (written by untrusted code: message, traceback, stdout, diagnosis...) ``wire_safe``."""
    result = wire_safe(result)
    msg = pb.CheckResult(
        status=result.status,
        stages=dict(result.stages),
        failed_stage=result.failed_stage or "",
        error_type=result.error_type,
        message=result.message,
        traceback=result.traceback,
        entry=result.entry or "",
        diagnosis=pb.Diagnosis(problem=result.diagnosis.problem, hint=result.diagnosis.hint, kind=result.diagnosis.kind,
                               symbol=result.diagnosis.symbol, line=result.diagnosis.line),
        stdout=result.stdout,
        warnings=list(result.warnings),
    )
    for name in ("params", "flops", "output_count"):
        if getattr(result, name) is not None:
            setattr(msg, name, int(getattr(result, name)))
    for name in ("forward_ms", "peak_rss_mb", "wall_ms", "cpu_s"):
        if getattr(result, name) is not None:
            setattr(msg, name, float(getattr(result, name)))
    for shape in result.output_shapes:
        msg.output_shapes.add(dims=[int(d) for d in shape])
    if result.example is not None:
        msg.example.CopyFrom(example_to_proto(result.example))
    return msg


def _optional(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def stages_in_order(stages: Any) -> dict[str, str]:
    """A result's stage -> status map in the order the sandbox runs the stages (``STAGES``), any stage this side does
    not know after them by name. Why: a protobuf map has no order, so ``nnrag check --server`` printed the stages
    shuffled, unlike the same check run in-process."""
    rank = {name: i for i, name in enumerate(STAGES)}
    return {name: stages[name] for name in sorted(stages, key=lambda name: (rank.get(name, len(rank)), name))}


def result_from_proto(msg: pb.CheckResult) -> CheckResult:
    return CheckResult(
        status=msg.status,
        stages=stages_in_order(msg.stages),
        failed_stage=msg.failed_stage or None,
        error_type=msg.error_type,
        message=msg.message,
        traceback=msg.traceback,
        params=_optional(msg, "params"),
        flops=_optional(msg, "flops"),
        output_shapes=[list(s.dims) for s in msg.output_shapes],
        forward_ms=_optional(msg, "forward_ms"),
        peak_rss_mb=_optional(msg, "peak_rss_mb"),
        wall_ms=_optional(msg, "wall_ms"),
        example=example_from_proto(msg.example, "result.example") if msg.HasField("example") else None,
        entry=msg.entry or None,
        diagnosis=Diagnosis(problem=msg.diagnosis.problem, hint=msg.diagnosis.hint, kind=msg.diagnosis.kind,
                            symbol=msg.diagnosis.symbol, line=_optional(msg.diagnosis, "line")),
        stdout=msg.stdout,
        cpu_s=_optional(msg, "cpu_s"),
        output_count=_optional(msg, "output_count"),
        warnings=list(msg.warnings),
    )


# ---------------------------------------------------------------- Block


def provenance_to_proto(p: Provenance) -> pb.Provenance:
    return pb.Provenance(
        source=p.source, package=p.package, version=p.version, path=p.path, module=p.module,
        line_start=p.line_start, line_end=p.line_end, qualified_name=p.qualified_name, license=p.license,
    )


def provenance_from_proto(msg: pb.Provenance) -> Provenance:
    return Provenance(
        source=msg.source, package=msg.package, version=msg.version, path=msg.path, module=msg.module,
        line_start=msg.line_start, line_end=msg.line_end, qualified_name=msg.qualified_name, license=msg.license,
    )


def block_to_proto(block: Block, include_code: bool = True) -> pb.Block:
    msg = pb.Block(
        name=block.name,
        qualified_name=block.qualified_name,
        code=block.code if include_code else "",
        provenances=[provenance_to_proto(p) for p in block.provenances],
        content_hash=block.content_hash,
        struct_hash=block.struct_hash,
        signature=block.signature,
        docstring=block.docstring,
        external_imports=list(block.external_imports),
        missing_deps=list(block.missing_deps),
        unresolved=list(block.unresolved),
        near_dup_group=block.near_dup_group,
    )
    for stage, value in block.validation.items():
        msg.validation[stage].CopyFrom(pb.StageValidation(ok=bool(value.get("ok")), error=str(value.get("error") or "")))
    if block.example is not None:
        msg.example.CopyFrom(example_to_proto(block.example))
    if block.params is not None:
        msg.params = int(block.params)
    if block.flops is not None:
        msg.flops = int(block.flops)
    return msg


def block_from_proto(msg: pb.Block) -> Block:
    return Block(
        name=msg.name,
        qualified_name=msg.qualified_name,
        code=msg.code,
        provenances=[provenance_from_proto(p) for p in msg.provenances],
        content_hash=msg.content_hash,
        struct_hash=msg.struct_hash,
        signature=msg.signature,
        docstring=msg.docstring,
        external_imports=list(msg.external_imports),
        missing_deps=list(msg.missing_deps),
        unresolved=list(msg.unresolved),
        validation={stage: {"ok": v.ok, "error": v.error} for stage, v in msg.validation.items()},
        example=example_from_proto(msg.example, "block.example") if msg.HasField("example") else None,
        near_dup_group=msg.near_dup_group,
        params=_optional(msg, "params"),
        flops=_optional(msg, "flops"),
    )


# ---------------------------------------------------------------- Patch: inserted blocks

# The string -> string maps of an inserted block, as rag_server.patch names them and InsertedBlock carries them
INSERTED_MAPS = ("renamed", "keyword_renames", "keyword_inverted", "keyword_flag_layers", "defaults_set")


def inserted_to_proto(item: dict[str, Any]) -> blocks_pb2.InsertedBlock:
    """One ``PatchResult.inserted`` entry (rag_server.patch) -> InsertedBlock. Why one function with its inverse next
    to it: a field added to the patch's entry and not to both directions (``keyword_flag_layers``) vanished over the
    wire, and ``nnrag patch --json --server`` differed from the in-process answer."""
    prov = item.get("provenance") or None  # a Provenance, or its dict
    if prov is not None and not isinstance(prov, Provenance):
        prov = Provenance(**(prov if isinstance(prov, dict) else prov.to_dict()))
    msg = blocks_pb2.InsertedBlock(
        name=str(item.get("name", "")), content_hash=str(item.get("content_hash", "")), reason=str(item.get("reason", "")),
        qualified_name=str(item.get("qualified_name", "")), match=str(item.get("match", "")), symbol=str(item.get("symbol", "")),
        keyword_dropped=[str(k) for k in item.get("keyword_dropped") or ()],
        doubts=[str(d) for d in item.get("doubts") or ()],
        provenance=provenance_to_proto(prov) if prov is not None else None,
    )
    for name in INSERTED_MAPS:
        getattr(msg, name).update({str(k): str(v) for k, v in (item.get(name) or {}).items()})
    return msg


def inserted_from_proto(msg: blocks_pb2.InsertedBlock) -> dict[str, Any]:
    """InsertedBlock -> the keyword arguments of the SDK's ``rag_server.client.InsertedBlock`` (the fields of the
    patch's entry, plus ``source``: the provenance's source spec)."""
    return {
        "name": msg.name, "qualified_name": msg.qualified_name, "content_hash": msg.content_hash, "reason": msg.reason,
        "match": msg.match, "source": msg.provenance.source, "symbol": msg.symbol,
        "provenance": provenance_from_proto(msg.provenance) if msg.HasField("provenance") else None,
        "keyword_dropped": list(msg.keyword_dropped), "doubts": list(msg.doubts),
        **{name: dict(getattr(msg, name)) for name in INSERTED_MAPS},
    }
