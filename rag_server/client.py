"""Python SDK for the nnrag gRPC API: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both speak records, not protobufs: they take ``CheckSpec``/strings and return
``Block``, ``CheckResult`` and small result dataclasses. Unary calls that fail with
UNAVAILABLE (server restarting, connection refused) are retried with exponential
backoff by gRPC's own retry policy (streams are not: see ``channel_options``); every
call has a deadline (``timeout`` seconds, per call or the client default; ``check_many``
a progress deadline, ``_StallGuard``). Failures raise ``ApiError`` subclasses carrying the
gRPC status code and the server's message.

    with Client("127.0.0.1:50051") as client:
        hits = client.search("squeeze and excitation channel attention", k=5).hits
        result = client.check(code)
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from corpus.records import Provenance
from indexer.records import Block
from nnrag.v1 import blocks_pb2, blocks_pb2_grpc, predictor_pb2, predictor_pb2_grpc
from rag_server import convert
from rag_server.convert import SearchHit
from sandbox.pool import code_problem
from sandbox.spec import CheckResult, CheckSpec, Diagnosis

if TYPE_CHECKING:
    from rag_server.codeops import KeywordEdits

DEFAULT_ADDRESS = "127.0.0.1:50051"
SEARCH_MODES = {  # the SDK's and CLI's mode names -> the proto's SearchMode
    "auto": blocks_pb2.SEARCH_MODE_AUTO, "meaning": blocks_pb2.SEARCH_MODE_MEANING, "hybrid": blocks_pb2.SEARCH_MODE_MEANING,
    "symbol": blocks_pb2.SEARCH_MODE_SYMBOL, "vector": blocks_pb2.SEARCH_MODE_VECTOR, "lexical": blocks_pb2.SEARCH_MODE_LEXICAL,
}
# Extra seconds a Check's deadline gets beyond the spec's own timeout (queueing, start-up).
CHECK_SLACK_S = 30.0


# ------------------------------------------------------------------ errors


class ApiError(Exception):
    """A call failed. ``code`` is the gRPC status, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgument(ApiError): ...
class NotFound(ApiError): ...
class Unauthenticated(ApiError): ...
class ResourceExhausted(ApiError): ...
class DeadlineExceeded(ApiError): ...
class Unavailable(ApiError): ...
class FailedPrecondition(ApiError): ...


class CodeRefused(InvalidArgument, ValueError):
    """Code the SDK refuses before sending it: over the size limit the server and the sandbox share
    (``sandbox.pool.MAX_CODE_BYTES``), or holding a lone surrogate, which UTF-8 cannot carry. The INVALID_ARGUMENT
    "code: problem" the server answers for such code, and a ValueError naming the argument."""


_ERRORS = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
}


def _api_error(exc: grpc.RpcError) -> ApiError:
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    return _ERRORS.get(code, ApiError)(code, details or "")


def _unknown_service(service: str, exc: NotFound) -> NotFound:
    """The health service's NOT_FOUND, which comes with no message, as one that names the service asked about."""
    return NotFound(exc.code, f"the server reports no health for service {service!r} (it knows \"\" for the whole server, "
                              "nnrag.v1.BlockService and nnrag.v1.PredictorService)")


# ------------------------------------------------------------------ results


@dataclass
class SearchResult:
    hits: list[SearchHit]
    versions: dict[str, str]
    took_ms: float  # server-side time


@dataclass
class InsertedBlock:
    name: str  # the free name it resolves
    qualified_name: str  # the block inserted
    content_hash: str
    reason: str
    match: str
    source: str  # provenance source spec of the inserted block
    symbol: str = ""  # the block's own class name
    renamed: dict[str, str] = field(default_factory=dict)
    provenance: Provenance | None = None
    keyword_renames: dict[str, str] = field(default_factory=dict)  # keywords renamed at the model's calls: old -> new
    keyword_inverted: dict[str, str] = field(default_factory=dict)  # keywords whose value v became 1 / v: old -> new
    keyword_dropped: list[str] = field(default_factory=list)  # keywords removed from the model's calls
    defaults_set: dict[str, str] = field(default_factory=dict)  # block parameters given a default (None cannot work; downsample: described)
    keyword_flag_layers: dict[str, str] = field(default_factory=dict)  # boolean activation flags -> the layer parameter (relu=False: nn.Identity)
    doubts: list[str] = field(default_factory=list)  # why it may not do what the name means (found by meaning; a stated layer it lacks)

    @property
    def license(self) -> str:
        """The license its source declares ("" when none): the inserted code is under it."""
        return self.provenance.license if self.provenance is not None else ""

    @property
    def keyword_edits(self) -> "KeywordEdits":
        """The edits made at the model's calls of ``name``, as one record (``.describe()`` says them in words)."""
        from rag_server.codeops import KeywordEdits  # libcst: loaded only by callers that ask

        return KeywordEdits(self.keyword_renames, self.keyword_inverted, tuple(self.keyword_dropped), self.keyword_flag_layers)


@dataclass
class PatchOutcome:
    patched_code: str
    diff: str
    changed: bool
    inserted: list[InsertedBlock]
    fixes: list[str]
    before: CheckResult | None  # the original code's check (check_before=True)
    after: CheckResult | None  # the patched code's check (None with no_check=True)
    unresolved: list[str]
    added_imports: list[str]
    tries: int
    versions: dict[str, str]
    took_ms: float
    stripped_text: bool = False  # prose or markdown fences were removed from the input
    attempts: list[str] = field(default_factory=list)  # one line per sandbox check, in order
    stop_reason: str = ""  # why swapping blocks stopped before max_tries ("" when it did not stop early)
    free_names: list[str] = field(default_factory=list)  # names the code uses but never binds


@dataclass
class AuditItem:
    id: str
    result: CheckResult | None  # None when the item was invalid
    error: str = ""


@dataclass
class Suggestion:
    hit: SearchHit
    insert_line: int  # 1-based: insert hit.block.code before this line
    reason: str


@dataclass
class SuggestResult:
    suggestions: list[Suggestion]
    undefined_names: list[str]
    versions: dict[str, str]
    imports: list[str] = field(default_factory=list)  # import lines for undefined names a standard import binds
    notes: list[str] = field(default_factory=list)  # undefined names that misspell a local, with the name meant


@dataclass
class Prediction:
    accuracy: float  # predicted final accuracy, [0, 1]
    lower: float  # interval, [0, 1]
    upper: float
    interval_level: float  # coverage the interval aims at (0.8)
    method: str  # estimator that answered
    observed_epochs: int = 0
    epochs: int = 0  # the epoch the prediction is for
    versions: dict[str, str] = field(default_factory=dict)
    target: str = "final"  # what accuracy / lower / upper predict: "final" or "best" (over epochs)
    reported_runs: int = 0  # finished runs of the same code reported on this dataset that corrected the answer
    ignored_hparams: list[str] = field(default_factory=list)  # names in hparams the predictor does not read
    model_ran: bool | None = None  # whether the model ran forward in the server's sandbox (None: not measured)


@dataclass
class StopDecision:
    stop: bool
    reason: str
    predicted_accuracy: float  # [0, 1]
    probability_beats_incumbent: float  # [0, 1]
    saved_ms: float
    lower: float = 0.0
    upper: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------ requests and responses


def _versions(msg: Any) -> dict[str, str]:
    v = msg.versions
    return {"index_version": v.index_version, "embedder_version": v.embedder_version,
            "predictor_version": v.predictor_version, "server_version": v.server_version}


def _hit(msg: blocks_pb2.SearchHit) -> SearchHit:
    return SearchHit(block=convert.block_from_proto(msg.block), score=msg.score, match=msg.match, code_omitted=msg.code_omitted)


def _listed(values: Iterable[Any] | None, name: str = "values") -> list[Any]:
    """A caller's sequence as a list, [] for None; a tensor or array as the list it holds (``_plain``). Why not
    ``values or []``: a numpy array has no truth value ("The truth value of an array is ambiguous"), so a curve passed
    as an array was refused; why ``_plain``: ``list`` of a tensor gives 0-d tensors, which protobuf and json refuse."""
    if values is None:
        return []
    plain = _plain(values)
    if not isinstance(plain, Iterable):
        raise TypeError(f"{name} must be a sequence, got {type(values).__name__} {values!r:.80}")
    return list(plain)


def _plain(value: Any) -> Any:
    """A torch tensor, numpy array or numpy scalar as the Python number or (nested) list it holds, anything else as it
    is. Duck-typed on ``tolist`` (which also reads a tensor that requires grad), so the SDK imports neither library."""
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _one(value: Any, name: str) -> Any:
    """``value`` as one plain value: a tensor or array must hold exactly one element (``.item()``'s rule)."""
    plain = _plain(value)
    if plain is value:
        return value
    while isinstance(plain, list) and len(plain) == 1:
        plain = plain[0]
    if isinstance(plain, list):
        raise ValueError(f"{name} must be one number, got a {type(value).__name__} of {len(plain)} values: {value!r:.80}")
    return plain


def _number(value: Any, name: str) -> float:
    """``value`` (a number, numpy scalar or one-element tensor/array) as a float; NaN and inf pass, for the server to
    refuse naming the field. A bool or a string is no number here."""
    plain = _one(value, name)
    if isinstance(plain, bool) or not isinstance(plain, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r:.80}")
    return float(plain)


def _numbers(values: Iterable[Any] | None, name: str) -> list[float]:
    """A sequence (list, tensor, array) of numbers as floats; ``name[i]`` names a bad one."""
    return [_number(v, f"{name}[{i}]") for i, v in enumerate(_listed(values, name))]


def _whole(value: Any, name: str, bits: int = 32) -> int:
    """A count (epochs, k, ...): an int, or a number, numpy scalar or one-element tensor/array holding a whole value,
    within the wire field's signed ``bits``. Why the range: protobuf refused k=2**40 with "Value out of range", naming
    no argument."""
    plain = _one(value, name)
    if isinstance(plain, numbers.Integral) and not isinstance(plain, bool):
        whole = int(plain)  # exact, where a float would round a huge one
    else:
        number = _number(plain, name)
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"{name} must be a whole number, got {value!r:.80}")
        whole = int(number)
    if not -(1 << (bits - 1)) <= whole < 1 << (bits - 1):
        raise ValueError(f"{name} must be below 2**{bits - 1}, got {whole}")
    return whole


def _text(value: Any, name: str) -> str:
    """A query or block name as the server will take it: a string (TypeError naming ``name`` otherwise) that UTF-8 can
    carry (InvalidArgument otherwise). Why: search(123) failed with protobuf's "bad argument type for built-in
    operation", and a lone surrogate with a raw UnicodeEncodeError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__} {value!r:.80}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: holds a lone surrogate {value[exc.start]!r} at "
                                                                f"character {exc.start}, which UTF-8 cannot encode") from None
    return value


def _sources(sources: Iterable[str] | str | None) -> list[str]:
    """The sources to search: a list of names, or one name as a string. Why: ``sources="timm"`` was read as the
    letters t, i, m, m ("source 't' is not in this store"), where the CLI's ``--source timm`` means the one source."""
    names = [sources] if isinstance(sources, str) else _listed(sources, "sources")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"sources must be source names (strings), got {type(name).__name__} {name!r:.80}")
    return names


def _flag(value: Any, name: str) -> bool:
    """A bool, numpy bool or one-element bool tensor as a bool; 0 and 1 too."""
    plain = _one(value, name)
    if not (isinstance(plain, bool) or (isinstance(plain, numbers.Integral) and plain in (0, 1))):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r:.80}")
    return bool(plain)


def _json(value: Any, name: str) -> str:
    """``value`` (hparams) as JSON, tensors and numpy values inside it as plain numbers and lists."""
    try:
        return json.dumps(value, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} cannot be sent: {exc} (send numbers, strings, lists and dicts with string keys)") from None


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} {value!r:.60} is neither a number, a string, a list nor a dict")
    return plain


def _search_request(query: str, k: int, sources: Iterable[str] | None, min_stage: str | None, mode: str, include_code: bool,
                    license_policy: str | None = None) -> blocks_pb2.SearchRequest:
    if mode not in SEARCH_MODES:
        raise ValueError(f"mode must be one of {sorted(SEARCH_MODES)}, got {mode!r}")
    return blocks_pb2.SearchRequest(query=_text(query, "query"), k=_whole(k, "k"), sources=_sources(sources), min_stage=min_stage or "", mode=SEARCH_MODES[mode],
                                    include_code=include_code, license_policy=convert.license_policy_to_proto(license_policy))


def _search_result(resp: blocks_pb2.SearchResponse) -> SearchResult:
    return SearchResult(hits=[_hit(h) for h in resp.hits], versions=_versions(resp), took_ms=resp.took_ms)


def _code_arg(code: Any, name: str = "code") -> str:
    """``code`` as the server will take it, checked before sending: a string (TypeError otherwise) within the size limit
    and free of lone surrogates (``CodeRefused`` naming ``name``, ``code_problem``). Why: code over the gRPC
    message limit failed with "Sent message larger than max", and a surrogate with a raw UnicodeEncodeError."""
    if not isinstance(code, str):
        raise TypeError(f"{name} must be a string of Python source, got {type(code).__name__}")
    problem = code_problem(code)
    if problem:
        raise CodeRefused(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: {problem}")
    return code


def _spec_arg(spec: Any, name: str = "spec") -> CheckSpec | None:
    """``spec`` as a CheckSpec: a CheckSpec, None, or a dict of CheckSpec's fields (``CheckSpec.to_dict``'s form);
    anything else a TypeError naming ``name``. Why: a string or dict failed deep inside with
    "AttributeError: ... 'expected_output_shape'"."""
    if spec is None or isinstance(spec, CheckSpec):
        return spec
    if isinstance(spec, dict):
        known = CheckSpec.__dataclass_fields__
        unknown = sorted(str(k) for k in spec if k not in known)
        if unknown:
            raise TypeError(f"{name}: unknown field(s) {', '.join(map(repr, unknown))}; a CheckSpec has {', '.join(known)}")
        try:
            return CheckSpec.from_dict(spec)
        except (TypeError, ValueError, AttributeError) as exc:
            raise TypeError(f"{name}: not a valid CheckSpec ({exc})") from None
    raise TypeError(f"{name} must be a CheckSpec, a dict of its fields or None, got {type(spec).__name__} {spec!r:.80}")


def _check_request(code: str, spec: CheckSpec | None) -> blocks_pb2.CheckRequest:
    req = blocks_pb2.CheckRequest(code=_code_arg(code))
    if spec is not None:
        req.spec.CopyFrom(convert.spec_to_proto(spec))
    return req


def _get_block_request(name_or_hash: str, sources: Iterable[str] | None, license_policy: str | None) -> blocks_pb2.GetBlockRequest:
    return blocks_pb2.GetBlockRequest(name_or_hash=_text(name_or_hash, "name_or_hash"), sources=_sources(sources),
                                      license_policy=convert.license_policy_to_proto(license_policy))


def _patch_request(code: str, spec: CheckSpec | None, check_before: bool, no_check: bool, max_tries: int,
                   sources: Iterable[str] | None = None, license_policy: str | None = None) -> blocks_pb2.PatchRequest:
    req = blocks_pb2.PatchRequest(code=_code_arg(code), check_before=check_before, no_check=no_check, max_tries=_whole(max_tries, "max_tries"),
                                  sources=_sources(sources), license_policy=convert.license_policy_to_proto(license_policy))
    spec = _spec_arg(spec)  # a dict of CheckSpec's fields, as check() takes (it failed with an AttributeError)
    if spec is not None:
        req.spec.CopyFrom(convert.spec_to_proto(spec))
    return req


def _patch_outcome(resp: blocks_pb2.PatchResponse) -> PatchOutcome:
    return PatchOutcome(
        patched_code=resp.patched_code, diff=resp.diff, changed=resp.changed,
        inserted=[
            InsertedBlock(**convert.inserted_from_proto(i)) for i in resp.inserted
        ],
        fixes=list(resp.fixes),
        before=convert.result_from_proto(resp.before) if resp.HasField("before") else None,
        after=convert.result_from_proto(resp.after) if resp.HasField("after") else None,
        unresolved=list(resp.unresolved), added_imports=list(resp.added_imports), tries=resp.tries,
        stripped_text=resp.stripped_text, attempts=list(resp.attempts), stop_reason=resp.stop_reason,
        free_names=list(resp.free_names), versions=_versions(resp), took_ms=resp.took_ms,
    )


def _audit_parts(index: int, item: Any) -> tuple[str, str, CheckSpec | None]:
    """An item is code, (code, spec) or (id, code, spec); TypeError naming the item otherwise."""
    if isinstance(item, str):
        item_id, code, spec = str(index), item, None
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        item_id, code, spec = (str(index), *item) if len(item) == 2 else item
    else:
        raise TypeError(f"audit item {index}: expected code, (code, spec) or (id, code, spec), got {type(item).__name__}")
    if not isinstance(code, str):
        raise TypeError(f"audit item {index}: code must be a string, got {type(code).__name__}")
    return str(item_id), code, _spec_arg(spec, f"audit item {index}: spec")


class _AuditFeed:
    """One Audit stream's requests, read lazily from the caller's items, and the answers the SDK gives itself.

    An item whose code the server would refuse anyway (``code_problem``: over the size limit, a lone
    surrogate) is not sent: it is answered here, in its place, with the server's "code: problem" error. Why: sent, it
    ended the whole stream (a message over the gRPC limit; a UnicodeEncodeError in gRPC's thread).

    A bad item (TypeError naming it) or the caller's iterator raising ends the requests there, but not the stream:
    the items sent before it are still answered, and ``error`` is raised after their answers (``answered``). Why: the
    exception raised in gRPC's request thread cancelled the stream, and results of earlier good items were lost.
    """

    def __init__(self, items: Iterable[Any], to_item: Any = None, on_send: Any = None) -> None:
        self._items, self._to_item, self._on_send = items, to_item, on_send
        self._order: deque[AuditItem | None] = deque()  # per item read, in order: None (sent) or its answer given here
        self._lock = threading.Lock()
        self.error: Exception | None = None

    def requests(self) -> Iterator[blocks_pb2.AuditRequest]:
        try:  # the caller's iterator itself may raise (a generator's bug): that is the error to report too
            for i, item in enumerate(self._items):
                item_id, code, spec = _audit_parts(i, self._to_item(i, item) if self._to_item else item)
                problem = code_problem(code)
                if problem:
                    with self._lock:
                        self._order.append(AuditItem(id=item_id, result=None, error=f"code: {problem}"))
                    continue
                request = blocks_pb2.AuditRequest(id=item_id, code=code)
                if spec is not None:
                    request.spec.CopyFrom(convert.spec_to_proto(spec))
                with self._lock:
                    self._order.append(None)
                if self._on_send is not None:
                    self._on_send(spec)
                yield request
        except Exception as exc:  # closing the stream raises GeneratorExit at the yield, which is no Exception
            self.error = exc

    def answered_here(self) -> list[AuditItem]:
        """The answers given here that come next in order (before the next item sent)."""
        out = []
        with self._lock:
            while self._order and self._order[0] is not None:
                out.append(self._order.popleft())
        return out

    def answered(self, resp: blocks_pb2.AuditResponse) -> list[AuditItem]:
        """The server's answer ``resp``, after the answers given here for the items before it."""
        out = self.answered_here()
        with self._lock:
            if self._order:
                self._order.popleft()
        return [*out, _audit_item(resp)]

    def rest(self) -> Iterator[AuditItem]:
        """After the stream's last answer: the answers given here for the items after it, then ``error`` raised, if an
        item or the caller's iterator ended the requests."""
        yield from self.answered_here()
        if self.error is not None:
            raise self.error


def _check_many_pair(index: int, item: Any) -> tuple[str, Any]:
    """A ``check_many`` item: a (code, spec) pair, else a TypeError naming it."""
    if not (isinstance(item, (tuple, list)) and len(item) == 2):
        raise TypeError(f"check_many item {index}: expected (code, spec), got {type(item).__name__}")
    return item[0], item[1]


def _audit_item(resp: blocks_pb2.AuditResponse) -> AuditItem:
    result = convert.result_from_proto(resp.result) if resp.HasField("result") else None
    return AuditItem(id=resp.id, result=result, error=resp.error)


def _refused(error: str) -> CheckResult:
    """The CheckResult of an audit item the server refused (``AuditResponse.error``, "field: problem")."""
    return CheckResult(status="rejected", failed_stage=None, error_type="InvalidArgument", message=error,
                       diagnosis=Diagnosis(error, "fix the request", "rejected"))


def _suggest_request(code: str, cursor_line: int, k: int, context_lines: int | None, sources: Iterable[str] | None,
                     license_policy: str | None) -> blocks_pb2.SuggestRequest:
    context_lines = None if context_lines is None else _whole(context_lines, "context_lines")
    return blocks_pb2.SuggestRequest(code=_code_arg(code), cursor_line=_whole(cursor_line, "cursor_line"), k=_whole(k, "k"),
                                     context_lines=context_lines, sources=_sources(sources), license_policy=convert.license_policy_to_proto(license_policy))


def _suggest_result(resp: blocks_pb2.SuggestResponse) -> SuggestResult:
    return SuggestResult(
        suggestions=[Suggestion(_hit(s.hit), s.insert_line, s.reason) for s in resp.suggestions],
        undefined_names=list(resp.undefined_names), versions=_versions(resp), imports=list(resp.imports), notes=list(resp.notes),
    )


def _curve(curve: Iterable[Any] | None, name: str = "curve") -> list[predictor_pb2.CurvePoint]:
    """Curve points as accuracies per epoch (numbers, epoch 1, 2, ...), (epoch, accuracy[, elapsed_ms]) tuples, or
    dicts with those keys; a tensor or array of either shape too."""
    return [_point(i, _plain(p), f"{name}[{i}]") for i, p in enumerate(_listed(curve, name))]


def _point(i: int, p: Any, name: str) -> predictor_pb2.CurvePoint:
    if isinstance(p, dict):
        if "epoch" not in p or "accuracy" not in p:
            raise ValueError(f"{name} must have the keys epoch and accuracy, got {sorted(map(str, p))}")
        p = (p["epoch"], p["accuracy"], p.get("elapsed_ms", 0.0))
    if isinstance(p, (list, tuple)):
        if len(p) not in (2, 3):
            raise ValueError(f"{name} must be an accuracy or (epoch, accuracy[, elapsed_ms]), got {len(p)} values")
        elapsed = _number(p[2], f"{name} elapsed_ms") if len(p) == 3 else 0.0
        return predictor_pb2.CurvePoint(epoch=_whole(p[0], f"{name} epoch"), accuracy=_number(p[1], f"{name} accuracy"), elapsed_ms=elapsed)
    return predictor_pb2.CurvePoint(epoch=i + 1, accuracy=_number(p, name))


def _with_durations(points: list[predictor_pb2.CurvePoint], durations: Iterable[Any] | None, name: str = "run durations") -> list[predictor_pb2.CurvePoint]:
    """``points`` with ``durations`` (cumulative seconds, one per point) as their elapsed_ms. Why: the SDK dropped a run
    dict's ``durations``, so the same dict got saved_ms 0 (and another prediction) over the wire than in process."""
    if durations is None:
        return points
    if isinstance(durations, (str, bytes)):
        raise ValueError(f"{name} must be one cumulative time in seconds per curve point ({len(points)}), got {durations!r:.80}")
    seconds = _numbers(durations, name)
    if seconds and len(seconds) != len(points):
        raise ValueError(f"{name} must be one cumulative time in seconds per curve point ({len(points)}), got {durations!r:.80}")
    if any(p.elapsed_ms for p in points):
        raise ValueError("run gives both durations and elapsed_ms in its curve points: give one")
    for p, d in zip(points, seconds):
        p.elapsed_ms = d * 1000.0
    return points


RUN_KEYS = ("code", "hparams", "dataset", "curve", "max_epochs", "epochs", "durations", "transform", "task", "run_id")


def _run(run: dict[str, Any], name: str = "run") -> predictor_pb2.Run:
    if not isinstance(run, dict):
        raise TypeError(f"{name} must be a dict (code, hparams, dataset, curve, ...), got {type(run).__name__}")
    unknown = [str(key) for key in run if key not in RUN_KEYS]
    if unknown:  # a misspelt "max_epoch" was dropped, and the run answered as planned for 5 epochs
        near = [m for key in unknown for m in difflib.get_close_matches(key, RUN_KEYS, n=1)]
        hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        raise ValueError(f"{name} has unknown key(s) {', '.join(map(repr, unknown))}{hint}; a run has {', '.join(RUN_KEYS)}")
    return predictor_pb2.Run(
        run_id=str(run.get("run_id", "")), code=_code_arg(run.get("code", ""), f"{name} code"), hparams_json=_json(_wire_hparams(run), f"{name} hparams"),
        dataset=run.get("dataset", ""), task=run.get("task", ""),
        curve=_with_durations(_curve(run.get("curve"), f"{name} curve"), run.get("durations"), f"{name} durations"),
        max_epochs=run_planned_epochs(run, name),
    )


def _report_request(run: dict[str, Any], final_accuracy: float | None, stopped_early: bool,
                    new_dataset: bool = False) -> predictor_pb2.ReportResultRequest:
    """ReportResult's request; a final given is set explicitly (presence), so a final of 0.0 reaches the server as 0."""
    req = predictor_pb2.ReportResultRequest(run=_run(run), stopped_early=_flag(stopped_early, "stopped_early"),
                                            new_dataset=_flag(new_dataset, "new_dataset"))
    if final_accuracy is not None:
        req.final_accuracy = _number(final_accuracy, "final_accuracy")
    return req


def _wire_hparams(run: dict[str, Any]) -> dict[str, Any]:
    """The run's hyperparameters with its top-level ``transform`` among them, where the predictor reads it when no
    transform is given apart (the wire's Run has no transform field). Why: the SDK dropped it, so the same run dict
    was predicted without its transform over the wire and with it in process."""
    hparams = dict(run.get("hparams") or {})
    transform = run.get("transform")
    if transform in (None, ""):
        return hparams
    if not isinstance(transform, str):
        raise ValueError(f"run transform must be a string, got {transform!r:.80}")
    if hparams.get("transform", transform) != transform:
        raise ValueError(f"run gives transform={transform!r} and hparams transform={hparams['transform']!r}: give one")
    return {**hparams, "transform": transform}


def run_planned_epochs(run: dict[str, Any], name: str = "run") -> int:
    """A run dict's planned epochs, 0 when not given: ``max_epochs`` (the wire's name) or ``epochs`` (the in-process
    predictor's, ``Predictor.should_stop``). Why: each side read only its own key and silently dropped the other's, so
    the same dict planned 50 epochs in process and "unknown" over the wire."""
    given = {key: _whole(run[key], f"{name} planned epochs ({key})") for key in ("max_epochs", "epochs") if run.get(key) is not None}
    if len(set(given.values())) > 1:
        raise ValueError(f"{name} gives max_epochs={given['max_epochs']!r} and epochs={given['epochs']!r}: give one")
    return next(iter(given.values()), 0)


def _prediction(resp: predictor_pb2.PredictResponse) -> Prediction:
    return Prediction(resp.accuracy, resp.lower, resp.upper, resp.interval_level, resp.method, resp.observed_epochs, resp.epochs, _versions(resp),
                      resp.target or "final", resp.reported_runs, list(resp.ignored_hparams),
                      resp.model_ran if resp.HasField("model_ran") else None)


def _stop_decision(resp: predictor_pb2.ShouldStopResponse) -> StopDecision:
    return StopDecision(resp.stop, resp.reason, resp.predicted_accuracy, resp.probability_beats_incumbent, resp.saved_ms,
                        resp.lower, resp.upper, _versions(resp))


def _predict_request(code: str, hparams: dict[str, Any] | None, dataset: str, curve: Iterable[Any] | None, epochs: int,
                     model: str, target: str = "") -> predictor_pb2.PredictRequest:
    return predictor_pb2.PredictRequest(code=_code_arg(code), hparams_json=_json({} if hparams is None else hparams, "hparams"), dataset=dataset,
                                        curve=_curve(curve), target_epoch=_whole(epochs, "epochs"), model=model, target=target)


def _should_stop_request(run: dict[str, Any], incumbent_accuracy: float, finished_accuracies: Iterable[float] | None,
                         max_epochs: int, earlier_runs: Iterable[dict[str, Any]] | None = None,
                         study_runs: int = 0) -> predictor_pb2.ShouldStopRequest:
    return predictor_pb2.ShouldStopRequest(
        run=_run(run), incumbent_accuracy=_number(incumbent_accuracy, "incumbent_accuracy"),
        finished_accuracies=_numbers(finished_accuracies, "finished_accuracies"), budget=predictor_pb2.Budget(max_epochs=_whole(max_epochs, "max_epochs")),
        earlier_runs=[_run(r, f"earlier_runs[{i}]") for i, r in enumerate(_listed(earlier_runs, "earlier_runs"))],
        study_runs=_whole(study_runs, "study_runs", bits=64))


def _check_timeout(spec: CheckSpec | None, timeout: float | None) -> float:
    return timeout if timeout is not None else (spec.timeout_s if spec else 30.0) + CHECK_SLACK_S


class _StallGuard:
    """``Client.check_many``'s default deadline for a stream of unknown length: cancels the stream when no answer came
    for longer than the checks sent and not yet answered could take one after another (each its spec's timeout plus
    ``slack_s``). Why: without any deadline a server that stopped answering, but kept its connection, held the caller
    forever; a fixed deadline cannot fit a stream whose length is unknown when it starts. The time the caller spends
    on a result (between ``answered`` and ``resumed``) does not count."""

    def __init__(self, slack_s: float) -> None:
        self._slack_s = slack_s
        self._budgets: deque[float] = deque()
        self._total = 0.0
        self._paused = False
        self._last_answer = time.monotonic()
        self._cond = threading.Condition()
        self._stopped = False
        self.fired = False
        self.message = ""

    def sent(self, spec: CheckSpec | None) -> None:
        with self._cond:
            if not self._budgets:  # nothing was pending: the time the caller's items took to come does not count
                self._last_answer = time.monotonic()
            self._budgets.append((spec.timeout_s if spec is not None else 30.0) + self._slack_s)
            self._total += self._budgets[-1]
            self._cond.notify()

    def answered(self) -> None:
        """A result came and goes to the caller: the clock stops until ``resumed``."""
        with self._cond:
            if self._budgets:
                self._total -= self._budgets.popleft()
            self._paused = True

    def resumed(self) -> None:
        with self._cond:
            self._paused = False
            self._last_answer = time.monotonic()
            self._cond.notify()

    def start(self, cancel: Any) -> None:
        threading.Thread(target=self._watch, args=(cancel,), name="check-many-guard", daemon=True).start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _watch(self, cancel: Any) -> None:
        with self._cond:
            while not self._stopped:
                budget = self._total
                waited = time.monotonic() - self._last_answer
                if self._paused or not self._budgets:
                    self._cond.wait()
                    continue
                if waited >= budget:
                    self.fired = True
                    self.message = (f"check_many: no result for {waited:.0f} s, longer than the {len(self._budgets)} checks "
                                    f"in flight could take ({budget:.0f} s); the stream was cancelled")
                    break
                self._cond.wait(budget - waited)
        if self.fired:
            cancel()


# ------------------------------------------------------------------ channel set-up


_SERVICES = (
    blocks_pb2.DESCRIPTOR.services_by_name["BlockService"],
    predictor_pb2.DESCRIPTOR.services_by_name["PredictorService"],
    health_pb2.DESCRIPTOR.services_by_name["Health"],
)


def _streaming_methods() -> list[dict[str, str]]:
    """Service-config names of every streaming method (Audit, Health/Watch), read from the protos so a new one is
    covered too."""
    return [{"service": service.full_name, "method": method.name}
            for service in _SERVICES for method in service.methods if method.client_streaming or method.server_streaming]


def channel_options(max_message_mb: int, retries: int) -> list[tuple[str, Any]]:
    """Channel options: message limits and gRPC's retry of UNAVAILABLE for the unary methods only.

    Why not the streams: a stream whose server went away before its first answer was retried by gRPC's retry
    machinery and never ended (past its own deadline: ``Client.audit`` and ``nnrag audit --server`` hung for good when
    the server was stopped mid-stream). A streaming method's more specific methodConfig has no retryPolicy, so such a
    stream ends at once with UNAVAILABLE."""
    service_config = {
        "methodConfig": [
            {
                "name": [{"service": service.full_name} for service in _SERVICES],
                "retryPolicy": {
                    "maxAttempts": max(2, retries + 1),
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            },
            {"name": _streaming_methods(), "waitForReady": False},
        ]
    }
    max_bytes = max_message_mb * 1024 * 1024
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
    ]


def _seconds(value: Any) -> bool:
    """Whether ``value`` is a finite number of seconds > 0 (not a bool, not a string)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0 and math.isfinite(value)


class _Base:
    def __init__(self, address: str, token: str | None, timeout: float, retries: int, max_message_mb: int) -> None:
        if not _seconds(timeout):  # Client(addr, timeout="30") failed later with "'<=' not supported ..."
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.address = address
        self.timeout = timeout
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._options = channel_options(max_message_mb, retries)

    def _t(self, timeout: float | None) -> float:
        """A call's deadline in seconds: ``timeout``, else the client's. Why checked: ``timeout=-1`` was sent as a
        deadline already past, and came back as DEADLINE_EXCEEDED from the server instead of naming the argument."""
        if timeout is None:
            return self.timeout
        if not _seconds(timeout):
            raise ValueError(f"timeout must be a number of seconds > 0 (None: the client's {self.timeout:g} s), got {timeout!r}")
        return float(timeout)


class Client(_Base):
    """Blocking client. Thread-safe: share one per process."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, token: str | None = None, timeout: float = 30.0, retries: int = 4, max_message_mb: int = 8) -> None:
        super().__init__(address, token, timeout, retries, max_message_mb)
        self._channel = grpc.insecure_channel(address, options=self._options)
        self._blocks = blocks_pb2_grpc.BlockServiceStub(self._channel)
        self._predictor = predictor_pb2_grpc.PredictorServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self._t(timeout), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _api_error(exc) from None

    def search(self, query: str, k: int = 10, *, sources: Iterable[str] | None = None, min_stage: str | None = None,
               mode: str = "auto", include_code: bool = True, license_policy: str | None = None,
               timeout: float | None = None) -> SearchResult:
        """Ranked blocks. ``mode``: auto (symbol lookup for one identifier, else hybrid),
        meaning (= hybrid), symbol, vector or lexical. ``license_policy``: any, no-copyleft or permissive
        (``rag_server.block_filter``); None: the server's default."""
        req = _search_request(query, k, sources, min_stage, mode, include_code, license_policy)
        return _search_result(self._call(self._blocks.Search, req, timeout))

    def get_block(self, name_or_hash: str, *, sources: Iterable[str] | None = None, license_policy: str | None = None,
                  timeout: float | None = None) -> Block:
        """By qualified name, class name (the best validated block) or content hash, among the blocks ``sources`` and
        ``license_policy`` allow (None: the server's default policy)."""
        return self.get_block_with_alternatives(name_or_hash, sources=sources, license_policy=license_policy, timeout=timeout)[0]

    def get_block_with_alternatives(self, name_or_hash: str, *, sources: Iterable[str] | None = None,
                                    license_policy: str | None = None, timeout: float | None = None) -> tuple[Block, list[str]]:
        """The block and the qualified names of the other allowed blocks sharing its class name."""
        resp = self._call(self._blocks.GetBlock, _get_block_request(name_or_hash, sources, license_policy), timeout)
        return convert.block_from_proto(resp.block), list(resp.alternatives)

    def stats(self, *, timeout: float | None = None) -> dict[str, Any]:
        """The loaded store's counts (``BlockStore.stats()``) and ``sandbox``: the server's workers, the
        isolation they measured (None while starting) and what it does not contain."""
        return json.loads(self._call(self._blocks.Stats, blocks_pb2.StatsRequest(), timeout).stats_json)

    def check(self, code: str, spec: CheckSpec | dict[str, Any] | None = None, *, timeout: float | None = None) -> CheckResult:
        """Sandboxed staged check. Default deadline: the spec's timeout plus slack. ``spec``: a CheckSpec or a dict of
        its fields (TypeError otherwise). Code over ``sandbox.pool.MAX_CODE_BYTES`` or holding a lone surrogate is
        refused before sending: ``CodeRefused`` (an InvalidArgument and a ValueError) naming ``code``."""
        spec = _spec_arg(spec)
        resp = self._call(self._blocks.Check, _check_request(code, spec), _check_timeout(spec, timeout))
        return convert.result_from_proto(resp.result)

    def patch(self, code: str, spec: CheckSpec | None = None, *, check_before: bool = False, no_check: bool = False,
              max_tries: int = 0, sources: Iterable[str] | None = None, license_policy: str | None = None,
              timeout: float | None = 300.0) -> PatchOutcome:
        """Insert the blocks and imports ``code`` forgot; check the result unless ``no_check``. ``sources`` and
        ``license_policy`` (any, no-copyleft, permissive; None: the server's default) limit which blocks it may insert."""
        req = _patch_request(code, spec, check_before, no_check, max_tries, sources, license_policy)
        return _patch_outcome(self._call(self._blocks.Patch, req, timeout))

    def audit(self, items: Iterable[Any], *, timeout: float | None = 3600.0) -> Iterator[AuditItem]:
        """Stream checks; items are code, (code, spec) or (id, code, spec), a spec a CheckSpec or a dict of its fields.
        Results keep input order, one per item, each yielded as soon as it and every earlier one are done.

        An item the server refuses (bad spec values, empty code, code over ``sandbox.pool.MAX_CODE_BYTES`` or holding
        a lone surrogate: the last two answered by the SDK without sending them) is an ``AuditItem`` with ``error``
        set, and the stream goes on. An item that is not an item at all (TypeError naming it), or ``items`` raising,
        stops reading items there: the results of every item before it are still yielded, then that exception is
        raised. A failure of the stream itself raises an ``ApiError`` after the results already received."""
        feed = _AuditFeed(items)
        try:
            for resp in self._blocks.Audit(feed.requests(), timeout=self._t(timeout), metadata=self._metadata):
                yield from feed.answered(resp)
        except grpc.RpcError as exc:
            raise (feed.error or _api_error(exc)) from None
        yield from feed.rest()

    def check_many(self, items: Iterable[tuple[str, CheckSpec | None]], *, timeout: float | None = None) -> Iterator[CheckResult]:
        """``CheckerPool.check_many`` on the server's pool: one Audit stream, results in input order.

        Items are sent as they are consumed (the server reads a few ahead of its workers), so a stream of unknown
        length has no fixed overall deadline by default; instead the stream ends with ``DeadlineExceeded`` when no
        result comes for longer than the checks sent and not yet answered could take one after another: per check its
        spec's ``timeout_s`` (30 s without a spec) plus the client's ``timeout`` for queueing and start-up
        (``_StallGuard``). ``timeout`` given: one deadline for the whole stream instead. A server that stops or dies
        ends the stream with ``Unavailable``; closing the iterator (or interrupting it) cancels the stream, which
        stops the server's checks. An item the server refuses (e.g. code over its size limit, or holding a lone
        surrogate: those two are answered without sending them) comes back as a "rejected" result in its place. An
        item that is no (code, spec) pair, or ``items`` raising, stops reading there: the results before it are
        yielded, then that exception is raised.
        """
        guard = _StallGuard(slack_s=self.timeout) if timeout is None else None

        def to_item(i: int, item: tuple[str, CheckSpec | None]) -> tuple[str, str, CheckSpec | None]:
            return (str(i), *_check_many_pair(i, item))

        feed = _AuditFeed(items, to_item, guard.sent if guard is not None else None)
        call = self._blocks.Audit(feed.requests(), timeout=timeout, metadata=self._metadata)
        if guard is not None:
            guard.start(call.cancel)
        try:
            for resp in call:
                if guard is not None:
                    guard.answered()
                for item in feed.answered(resp):
                    yield item.result if item.result is not None else _refused(item.error)
                if guard is not None:
                    guard.resumed()
            for item in feed.rest():
                yield _refused(item.error)
        except grpc.RpcError as exc:
            if feed.error is not None:
                raise feed.error from None
            if guard is not None and guard.fired:
                raise DeadlineExceeded(grpc.StatusCode.DEADLINE_EXCEEDED, guard.message) from None
            raise _api_error(exc) from None
        finally:
            call.cancel()  # no-op once the stream has ended
            if guard is not None:
                guard.stop()

    def suggest(self, code: str, cursor_line: int = 0, k: int = 5, *, context_lines: int | None = None, sources: Iterable[str] | None = None,
                license_policy: str | None = None, timeout: float | None = None) -> SuggestResult:
        req = _suggest_request(code, cursor_line, k, context_lines, sources, license_policy)
        return _suggest_result(self._call(self._blocks.Suggest, req, timeout))

    def predict(self, code: str, hparams: dict[str, Any] | None = None, dataset: str = "cifar-10", curve: Iterable[Any] | None = None,
                *, epochs: int = 0, model: str = "", target: str = "", timeout: float | None = None) -> Prediction:
        """Final accuracy of ``code`` trained with ``hparams`` on ``dataset``, optionally given the curve so far;
        ``target="best"``: the best accuracy over epochs instead."""
        return _prediction(self._call(self._predictor.Predict, _predict_request(code, hparams, dataset, curve, epochs, model, target), timeout))

    def should_stop(self, run: dict[str, Any], incumbent_accuracy: float = 0.0, *, finished_accuracies: Iterable[float] | None = None,
                    max_epochs: int = 0, earlier_runs: Iterable[dict[str, Any]] | None = None, study_runs: int = 0,
                    timeout: float | None = None) -> StopDecision:
        """``run``: {code, hparams, dataset, curve, max_epochs (or hparams epochs), durations, transform}; stop it now?
        ``earlier_runs``: the study's earlier runs, finished or stopped, as run dicts: those with code correct the
        prediction for the same code (the recommended policy's correction); a run that trained its planned epochs
        (max_epochs, else hparams epochs) on the run's dataset is a finished run when no incumbent is given. The recommended policy has no
        rungs: curves without code only feed a server whose policy has them. ``study_runs``: how many runs the study
        will train in all (0: not known); with it ``earlier_runs`` must hold every earlier run of the study, and a server
        policy with ``bar_risk`` raises the bar while the study is young (``predictor.early_stop.bar_rank``)."""
        req = _should_stop_request(run, incumbent_accuracy, finished_accuracies, max_epochs, earlier_runs, study_runs)
        return _stop_decision(self._call(self._predictor.ShouldStop, req, timeout))

    def report_result(self, run: dict[str, Any], final_accuracy: float | None = None, stopped_early: bool = False, *,
                      new_dataset: bool = False, timeout: float | None = None) -> int:
        """Report how ``run`` ended: its curve (``run["curve"]``), or ``final_accuracy`` alone for a finished run known by
        its final only (with its planned epochs: ``max_epochs`` or hparams epochs). A final given is sent as set, 0.0
        too (a run that diverged); None sends none. ``new_dataset``: ``run["dataset"]`` may be one the predictor has not
        seen (train-predictor fits it an estimator once 20 finished runs of it are reported)."""
        req = _report_request(run, final_accuracy, stopped_early, new_dataset)
        return self._call(self._predictor.ReportResult, req, timeout).runs_recorded

    def health(self, service: str = "", *, timeout: float | None = 5.0) -> str:
        """SERVING or NOT_SERVING for ``service`` ("" = the whole server, else e.g. "nnrag.v1.PredictorService");
        ``NotFound`` naming it for a service the server does not know."""
        try:
            resp = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        except NotFound as exc:
            raise _unknown_service(service, exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the channel connects (server up), or raise Unavailable."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise Unavailable(grpc.StatusCode.UNAVAILABLE, f"no server at {self.address} after {timeout:.0f} s") from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncClient(_Base):
    """asyncio client; one per event loop. Same methods as ``Client``, awaitable."""

    def __init__(self, address: str = DEFAULT_ADDRESS, *, token: str | None = None, timeout: float = 30.0, retries: int = 4, max_message_mb: int = 8) -> None:
        super().__init__(address, token, timeout, retries, max_message_mb)
        self._channel = grpc.aio.insecure_channel(address, options=self._options)
        self._blocks = blocks_pb2_grpc.BlockServiceStub(self._channel)
        self._predictor = predictor_pb2_grpc.PredictorServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=self._t(timeout), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _api_error(exc) from None

    async def search(self, query: str, k: int = 10, *, sources: Iterable[str] | None = None, min_stage: str | None = None,
                     mode: str = "auto", include_code: bool = True, license_policy: str | None = None,
                     timeout: float | None = None) -> SearchResult:
        req = _search_request(query, k, sources, min_stage, mode, include_code, license_policy)
        return _search_result(await self._call(self._blocks.Search, req, timeout))

    async def get_block(self, name_or_hash: str, *, sources: Iterable[str] | None = None, license_policy: str | None = None,
                        timeout: float | None = None) -> Block:
        resp = await self._call(self._blocks.GetBlock, _get_block_request(name_or_hash, sources, license_policy), timeout)
        return convert.block_from_proto(resp.block)

    async def stats(self, *, timeout: float | None = None) -> dict[str, Any]:
        return json.loads((await self._call(self._blocks.Stats, blocks_pb2.StatsRequest(), timeout)).stats_json)

    async def check(self, code: str, spec: CheckSpec | dict[str, Any] | None = None, *, timeout: float | None = None) -> CheckResult:
        """``Client.check``: ``spec`` a CheckSpec or a dict of its fields; bad code ``CodeRefused`` before sending."""
        spec = _spec_arg(spec)
        resp = await self._call(self._blocks.Check, _check_request(code, spec), _check_timeout(spec, timeout))
        return convert.result_from_proto(resp.result)

    async def patch(self, code: str, spec: CheckSpec | None = None, *, check_before: bool = False, no_check: bool = False,
                    max_tries: int = 0, sources: Iterable[str] | None = None, license_policy: str | None = None,
                    timeout: float | None = 300.0) -> PatchOutcome:
        req = _patch_request(code, spec, check_before, no_check, max_tries, sources, license_policy)
        return _patch_outcome(await self._call(self._blocks.Patch, req, timeout))

    async def audit(self, items: Iterable[Any], *, timeout: float | None = 3600.0) -> AsyncIterator[AuditItem]:
        """``Client.audit`` for asyncio: the same items, answers and errors (results before a bad item, then its error)."""
        feed = _AuditFeed(items)
        try:
            async for resp in self._blocks.Audit(feed.requests(), timeout=self._t(timeout), metadata=self._metadata):
                for item in feed.answered(resp):
                    yield item
        except grpc.RpcError as exc:
            raise (feed.error or _api_error(exc)) from None
        for item in feed.rest():
            yield item

    async def check_many(self, items: Iterable[tuple[str, CheckSpec | None]], *, timeout: float | None = None) -> AsyncIterator[CheckResult]:
        """``Client.check_many`` for asyncio: one Audit stream, results in input order. The items are read at once, so
        the default deadline is what they could take one after another: per item its spec's ``timeout_s`` (30 s
        without a spec) plus the client's ``timeout``."""
        pairs = [_check_many_pair(i, item) for i, item in enumerate(items)]
        pairs = [(code, _spec_arg(spec, f"check_many item {i}: spec")) for i, (code, spec) in enumerate(pairs)]
        if timeout is None:
            timeout = sum((spec.timeout_s if spec is not None else 30.0) + self.timeout for _, spec in pairs) or self.timeout
        feed = _AuditFeed([(str(i), code, spec) for i, (code, spec) in enumerate(pairs)])
        call = self._blocks.Audit(feed.requests(), timeout=timeout, metadata=self._metadata)
        try:
            async for resp in call:
                for item in feed.answered(resp):
                    yield item.result if item.result is not None else _refused(item.error)
            for item in feed.rest():
                yield _refused(item.error)
        except grpc.RpcError as exc:
            raise (feed.error or _api_error(exc)) from None
        finally:
            call.cancel()

    async def suggest(self, code: str, cursor_line: int = 0, k: int = 5, *, context_lines: int | None = None, sources: Iterable[str] | None = None,
                      license_policy: str | None = None, timeout: float | None = None) -> SuggestResult:
        req = _suggest_request(code, cursor_line, k, context_lines, sources, license_policy)
        return _suggest_result(await self._call(self._blocks.Suggest, req, timeout))

    async def predict(self, code: str, hparams: dict[str, Any] | None = None, dataset: str = "cifar-10", curve: Iterable[Any] | None = None,
                      *, epochs: int = 0, model: str = "", target: str = "", timeout: float | None = None) -> Prediction:
        return _prediction(await self._call(self._predictor.Predict, _predict_request(code, hparams, dataset, curve, epochs, model, target), timeout))

    async def should_stop(self, run: dict[str, Any], incumbent_accuracy: float = 0.0, *, finished_accuracies: Iterable[float] | None = None,
                          max_epochs: int = 0, earlier_runs: Iterable[dict[str, Any]] | None = None, study_runs: int = 0,
                          timeout: float | None = None) -> StopDecision:
        req = _should_stop_request(run, incumbent_accuracy, finished_accuracies, max_epochs, earlier_runs, study_runs)
        return _stop_decision(await self._call(self._predictor.ShouldStop, req, timeout))

    async def report_result(self, run: dict[str, Any], final_accuracy: float | None = None, stopped_early: bool = False, *,
                            new_dataset: bool = False, timeout: float | None = None) -> int:
        req = _report_request(run, final_accuracy, stopped_early, new_dataset)
        return (await self._call(self._predictor.ReportResult, req, timeout)).runs_recorded

    async def health(self, service: str = "", *, timeout: float | None = 5.0) -> str:
        """``Client.health``: SERVING or NOT_SERVING; ``NotFound`` naming the service for one the server does not know."""
        try:
            resp = await self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        except NotFound as exc:
            raise _unknown_service(service, exc) from None
        return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
