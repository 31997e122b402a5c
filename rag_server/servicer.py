"""gRPC servicers: a thin adapter between nnrag.v1 messages and the backend's Python objects.

Each method validates its request (INVALID_ARGUMENT names the field), calls one
plain function (store search, sandbox check, patch, predictor), converts the
answer, and stamps the versions. Errors map to status codes in one place
(``_status_for``); every call is logged as one JSON line and counted in the
Prometheus metrics. Untrusted code only ever reaches ``pool.check`` or ``patch``,
which run it in sandboxed worker processes.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import queue
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram

from indexer.store import stage_index
from nnrag import pyparse
from nnrag.v1 import blocks_pb2, blocks_pb2_grpc, common_pb2, predictor_pb2, predictor_pb2_grpc
from predictor.api import NotTrainedFor, ReportsUnavailable
from predictor.dynamic import MeasurementSkipped
from predictor.early_stop import diverged_hint
from sandbox.pool import PoolClosed, code_problem
from predictor.code_features import parse_problem, per_text_cached
from rag_server import block_filter, convert, query, suggest
from rag_server.backend import Backend, Unavailable
from rag_server.convert import BadRequest
from rag_server.memory import release_free_memory
from rag_server.patch import MAX_EDITABLE_CHARS
from sandbox.spec import CheckResult, CheckSpec

log = logging.getLogger("nnrag.server")

RPC_TOTAL = Counter("nnrag_rpc_total", "RPCs answered", ["method", "code"])
RPC_SECONDS = Histogram(
    "nnrag_rpc_seconds", "RPC latency", ["method"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60),
)
CHECKS_IN_FLIGHT = Gauge("nnrag_checks_in_flight", "Sandbox checks running or queued for a worker")

MAX_NAME_CHARS = 1_000  # the longest qualified name in the default store has 90
SEARCH_MODES = {
    blocks_pb2.SEARCH_MODE_AUTO: "auto", blocks_pb2.SEARCH_MODE_MEANING: "meaning", blocks_pb2.SEARCH_MODE_SYMBOL: "symbol",
    blocks_pb2.SEARCH_MODE_VECTOR: "vector", blocks_pb2.SEARCH_MODE_LEXICAL: "lexical",
}
MAX_SEARCH_K = query.MAX_K
AUDIT_SLOT_WAIT_S = 0.5  # how long a new Audit stream waits for a max_audit_streams slot that is being freed
MAX_SUGGEST_K = 50
ANSWER_MARGIN_BYTES = 64 * 1024  # what a Search or Suggest answer holds besides its blocks' code, with room to spare


class NotFound(LookupError):
    pass


class Busy(RuntimeError):
    """Too much work queued: answer RESOURCE_EXHAUSTED rather than queue forever."""


class DeadlinePassed(TimeoutError):
    pass


class ClientGone(RuntimeError):
    """The client cancelled or disconnected: its sandbox work was stopped; the answer goes nowhere."""


def _status_for(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, BadRequest):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, NotFound):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(exc, Busy):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, DeadlinePassed):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, ClientGone):
        return grpc.StatusCode.CANCELLED
    if isinstance(exc, (Unavailable, ReportsUnavailable)):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(exc, PoolClosed):  # the server is shutting down: try another one, or again later
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


def _finish(method: str, context: grpc.ServicerContext, start: float, code: grpc.StatusCode, detail: str = "") -> None:
    ms = (time.perf_counter() - start) * 1000.0
    RPC_TOTAL.labels(method, code.name).inc()
    RPC_SECONDS.labels(method).observe(ms / 1000.0)
    fields = {"method": method, "code": code.name, "ms": round(ms, 2), "peer": context.peer()}
    if detail:
        fields["detail"] = detail[:300]
    log.info("rpc", extra={"fields": fields})


MAX_DETAIL_CHARS = 2_000  # gRPC drops a status message over its 16 KB metadata limit and says RESOURCE_EXHAUSTED


def status_detail(message: str) -> str:
    """``message`` cut to ``MAX_DETAIL_CHARS``, lone surrogates escaped (``convert.wire_text``). Why: messages echo what
    the client sent (a 20,000-character name or source), and one that long never arrived: the client saw
    RESOURCE_EXHAUSTED instead of the real error; a message quoting a sandbox's output can hold a surrogate."""
    message = convert.wire_text(message)
    if len(message) <= MAX_DETAIL_CHARS:
        return message
    return f"{message[:MAX_DETAIL_CHARS]}... ({len(message) - MAX_DETAIL_CHARS:,} more characters)"


def _abort(context: grpc.ServicerContext, exc: BaseException) -> grpc.StatusCode:
    code = _status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.exception("internal error", extra={"fields": {"error": repr(exc)}})
        context.abort(code, f"internal error: {type(exc).__name__}")
    context.abort(code, status_detail(str(exc)))
    return code  # not reached: abort raises


def unary(method: Callable) -> Callable:
    """Error mapping, logging and metrics around one unary RPC."""
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        start = time.perf_counter()
        try:
            response = method(self, request, context)
        except Exception as exc:
            code = _status_for(exc)
            _finish(name, context, start, code, str(exc))
            _abort(context, exc)
        ended = _ended_status(context)
        if ended is not None:  # the answer goes nowhere: log and count what the client saw, not OK
            _finish(name, context, start, ended, "the call ended before the answer was ready; the answer was dropped")
            return response
        _finish(name, context, start, grpc.StatusCode.OK)
        return response

    return wrapper


def _ended_status(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """DEADLINE_EXCEEDED or CANCELLED when the call ended before its handler returned (the client's deadline passed,
    it cancelled or disconnected); None while the call is live. Why: such calls were logged and counted as OK at their
    full running time, though their clients had long seen an error."""
    if context.is_active():
        return None
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _require_code(code: str, field: str = "code") -> str:
    """Non-empty and within the sandbox's own size limit (``code_problem``: the limit a check in process has)."""
    if not code.strip():
        raise BadRequest(field, "is empty")
    problem = code_problem(code)
    if problem:
        raise BadRequest(field, problem)
    return code


def _require_readable_code(code: str, field: str, too_long: str) -> str:
    """Code this process reads with libcst: ``_require_code``, at most MAX_EDITABLE_CHARS (``too_long`` says why, to
    whom), and not nested past what our readers take (``pyparse.refuse_too_deep``)."""
    _require_code(code, field)
    if len(code) > MAX_EDITABLE_CHARS:
        raise BadRequest(field, f"{len(code):,} characters; {too_long}")
    try:
        pyparse.refuse_too_deep(code)
    except RecursionError as exc:  # pyparse.TooDeep, with the line and what to do
        raise BadRequest(field, str(exc)) from None
    return code


@contextmanager
def _too_deep_is_bad_request(code: str) -> Iterator[None]:
    """The last resort for Patch and Suggest: a reader that recursed past what ``pyparse.refuse_too_deep`` measured
    is an INVALID_ARGUMENT naming ``code`` with the line and what to do, not an INTERNAL error."""
    try:
        yield
    except RecursionError as exc:
        raise BadRequest("code", str(pyparse.too_deep_error(code, exc))) from None


def _require_editable_code(code: str, field: str = "code") -> str:
    """Code for Patch and Suggest, which read it with libcst in this process: any text (mid-edit code that does not
    parse is fine) but not code nested past CPython's parser, on which libcst's own parser overflows the stack."""
    return _require_readable_code(code, field, f"Patch and Suggest take at most {MAX_EDITABLE_CHARS:,} (they read the code in "
                                               "the server, about 20 s per 100,000 characters): send the model's own file")


# The longest model file the predictor reads: twice Patch's input limit, so a patched model file (Patch adds blocks of
# up to ~170 KB to at most 250,000 characters) is taken; LEMUR's longest model file has 178,375 characters. Why not
# the sandbox's 2 MiB: a first read holds this process's CPU (2 MB: 8-16 s), and four parallel first calls on 2 MB
# files ran past the default 30 s deadline while other clients' calls waited up to 7 s.
MAX_MODEL_CODE_CHARS = 500_000


def _require_model_code(code: str, field: str = "code") -> str:
    """A model file for the predictor: non-empty, at most MAX_MODEL_CODE_CHARS, and Python that parses (Check and
    Patch take any text; a prediction for code that does not parse would rest on nothing the predictor learned from),
    not nested past what its readers take (1,000 nested lambdas parsed, then said "does not parse as Python (None)").
    Read with ``ast`` alone, cached per text."""
    _require_code(code, field)
    if len(code) > MAX_MODEL_CODE_CHARS:
        raise BadRequest(field, f"{len(code):,} characters; a model file for the predictor has at most {MAX_MODEL_CODE_CHARS:,} "
                                "(LEMUR's longest has 178,375; a patched model file fits)")
    problem = _model_code_problem(code)
    if problem:
        raise BadRequest(field, problem)
    return code


@per_text_cached
def _model_code_problem(code: str) -> str | None:
    """Why a model file of the right size cannot be read (nested too deeply, does not parse), or None; cached per text.
    Why cached: the checks parse the code twice, and a training loop sends the same file every epoch (a 154 KB file:
    0.9 s a call)."""
    try:
        pyparse.refuse_too_deep_for_ast(code)
    except RecursionError as exc:  # pyparse.TooDeep, with the line and what to do
        return str(exc)
    problem = parse_problem(code)
    return f"does not parse as Python ({problem}); send the model file's source" if problem else None


def _check_k(k: int, default: int, upper: int, field: str = "k") -> int:
    if k == 0:
        return default
    if not 1 <= k <= upper:
        raise BadRequest(field, f"{k} is out of range [1, {upper}]")
    return k


def _hparams(text: str, field: str) -> dict[str, Any]:
    """A run's hyperparameters: a JSON object whose values the predictor reads as numbers are numbers
    (``predictor.api.check_hparams``)."""
    from predictor.api import MAX_HPARAMS_JSON_CHARS, check_hparams

    if len(text) > MAX_HPARAMS_JSON_CHARS:  # parsed on every call, and a report stores it: a 7 MB object was taken whole
        raise BadRequest(field, f"{len(text):,} characters, at most {MAX_HPARAMS_JSON_CHARS:,}")
    hparams = convert.json_field(text, field, dict, {})
    try:
        check_hparams(hparams, prefix="")
    except ValueError as exc:
        raise BadRequest(field, str(exc)) from None
    return hparams


def _epoch_problem(epoch: int, expected: int) -> str:
    """Why a curve point's epoch is not ``expected``, the epoch its place in the sorted curve needs (1..n, once each)."""
    if epoch < 1:
        return f"{epoch} is not an epoch: epochs are 1-based (1 = after the first epoch), one point per epoch"
    if epoch < expected:
        return f"epoch {epoch} appears twice: send one point per epoch, epochs 1 to n"
    return f"epoch {epoch}, but no point for epoch {expected}: send one point per epoch, epochs 1 to n"


def _check_elapsed(ordered: list[tuple[int, Any]], field: str) -> None:
    """Cumulative training time never goes down from one epoch to the next (0 = unknown, skipped): INVALID_ARGUMENT
    naming the point. Why: a decreasing elapsed_ms gave a negative time per epoch, and ShouldStop's saved_ms from it."""
    last: tuple[int, Any] | None = None
    for i, p in ordered:
        if p.elapsed_ms <= 0:
            continue
        if last is not None and p.elapsed_ms < last[1].elapsed_ms:
            raise BadRequest(f"{field}[{i}].elapsed_ms", f"{p.elapsed_ms:g} ms at epoch {p.epoch} is below the {last[1].elapsed_ms:g} ms "
                                                         f"of epoch {last[1].epoch} ({field}[{last[0]}]): elapsed_ms is the cumulative "
                                                         "training time, which never goes down")
        last = (i, p)


def _fraction(value: float, field: str) -> float:
    """An accuracy in [0, 1], else INVALID_ARGUMENT naming ``field``; a NaN or infinite one says what a diverged run sends."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise BadRequest(field, f"{value} is not in [0, 1]{diverged_hint([value])}")
    return value


def cancel_event(context: grpc.ServicerContext) -> threading.Event:
    """An event set when the RPC terminates: the client cancelled, disconnected, or hit its deadline
    (or the call finished, when nothing waits on it any more). Checks given it stop at once."""
    event = threading.Event()
    if not context.add_callback(event.set):  # already terminated
        event.set()
    return event


def _call_deadline(context: grpc.ServicerContext | None) -> float | None:
    """The call's deadline as an absolute ``time.monotonic()``; None without one."""
    remaining = context.time_remaining() if context is not None else None
    if remaining is None:
        return None
    if remaining <= 0:
        raise DeadlinePassed("the call's deadline passed before the check started")
    return time.monotonic() + remaining


class _CallPool:
    """The sandbox pool as one RPC sees it: every check carries that call's deadline and cancel
    event, so ``patch`` (which only knows ``pool.check``) stops with its caller."""

    def __init__(self, pool: Any, context: grpc.ServicerContext, cancel: threading.Event) -> None:
        self.pool, self.context, self.cancel = pool, context, cancel

    def check(self, code: str, spec: CheckSpec | None = None, deadline: float | None = None, hint_provider: Any = None) -> CheckResult:
        call_deadline = _call_deadline(self.context)  # first: a passed deadline also sets the cancel event
        if self.cancel.is_set():
            raise ClientGone("the client went away; remaining checks skipped")
        if call_deadline is not None:
            deadline = call_deadline if deadline is None else min(deadline, call_deadline)
        return self.pool.check(code, spec, deadline, hint_provider, cancel=self.cancel)


def _wait_for(places: threading.BoundedSemaphore, deadline: float | None, cancel: threading.Event | None) -> None:
    """Take one of ``places``, waiting until the call's deadline or the client going away."""
    while not places.acquire(timeout=0.2):
        if cancel is not None and cancel.is_set():
            raise ClientGone("the client went away while the check waited for a sandbox")
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlinePassed("deadline passed while the check waited for a sandbox")


class _Checker:
    """Runs sandbox checks with a bounded queue and the caller's deadline. The queue's places are the backend's
    (``Backend.check_slots``), shared by every servicer: a measurement behind Predict counts like a Check."""

    def __init__(self, backend: Backend, max_pending: int) -> None:
        self.backend = backend
        self._slots, self.max_pending = backend.check_slots(max_pending)
        self._waiting = backend.waiting_slots(self.max_pending)

    def spec(self, msg: common_pb2.CheckSpec | None, field: str = "spec") -> CheckSpec:
        s = self.backend.settings
        return convert.spec_from_proto(msg, field=field, default_timeout_s=s.check_timeout_s, max_memory_mb=s.check_memory_mb)

    @contextmanager
    def slot(self, wait: bool = False, deadline: float | None = None, cancel: threading.Event | None = None) -> Iterator[None]:
        """One of ``max_pending`` places for sandbox work; none free -> Busy (RESOURCE_EXHAUSTED).

        ``wait`` (Audit items): wait for a place until the call's deadline or the client goes away. Why: a
        streamed batch already bounds its own concurrency, and one item refused because other callers hold
        every place would end the whole stream and lose the items after it. Waiting callers together hold at most
        the backend's ``waiting_slots``, so a quarter of the places stays for the calls that do not wait.
        """
        if not wait:
            if not self._slots.acquire(blocking=False):
                raise Busy(f"{self.max_pending} sandbox checks already running or queued (the max_pending_checks setting); retry later")
            held = [self._slots]
        else:
            _wait_for(self._waiting, deadline, cancel)
            try:
                _wait_for(self._slots, deadline, cancel)
            except BaseException:
                self._waiting.release()
                raise
            held = [self._slots, self._waiting]
        CHECKS_IN_FLIGHT.inc()
        try:
            yield
        finally:
            CHECKS_IN_FLIGHT.dec()
            for semaphore in held:
                semaphore.release()

    def check(self, code: str, spec: CheckSpec, context: grpc.ServicerContext | None, cancel: threading.Event | None = None,
              wait_for_slot: bool = False, budget_deadline: float | None = None) -> CheckResult:
        """One sandbox check within the call's deadline; ``cancel`` (see ``cancel_event``) kills it early.
        ``budget_deadline``: an earlier end of the check's own (a measurement's wall-clock budget), which answers
        with the check's result (status timeout), not DEADLINE_EXCEEDED."""
        pool = self.backend.need_pool()
        deadline = _call_deadline(context)
        if cancel is not None and cancel.is_set():
            raise ClientGone("the client went away before the check started")
        check_deadline = deadline if budget_deadline is None else min(budget_deadline, deadline or math.inf)
        with self.slot(wait_for_slot, deadline, cancel):
            result = pool.check(code, spec, deadline=check_deadline, cancel=cancel)
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlinePassed(f"deadline passed during the check; sandbox stopped (status {result.status})")
        if cancel is not None and cancel.is_set():
            raise ClientGone(f"the client went away during the check; sandbox stopped (status {result.status})")
        return result


class _MeasurePool:
    """The sandbox as the predictor's measurement of new code's params/FLOPs sees it during one Predict, ShouldStop
    or ReportResult (``Backend.measuring_for``): a Check's limits. The call's deadline and cancellation stop it
    (DEADLINE_EXCEEDED / CANCELLED, as Check), and it takes one of the ``max_pending_checks`` places without waiting:
    with none free it is skipped (``MeasurementSkipped``), so the answer comes at once without params/FLOPs (its
    ``model_ran`` unset) and a later call measures the code. Why skipped rather than RESOURCE_EXHAUSTED: a prediction
    without them is still a prediction (the estimators read them as missing), and a NAS loop asking for many at once
    should not fail because the sandbox is busy."""

    def __init__(self, checker: _Checker, context: grpc.ServicerContext, cancel: threading.Event) -> None:
        self.checker, self.context, self.cancel = checker, context, cancel

    def check(self, code: str, spec: CheckSpec | None = None, deadline: float | None = None) -> CheckResult:
        try:
            return self.checker.check(code, spec, self.context, self.cancel, budget_deadline=deadline)
        except Busy as exc:
            raise MeasurementSkipped(str(exc)) from None


class BlockServicer(blocks_pb2_grpc.BlockServiceServicer):
    def __init__(self, backend: Backend, max_pending_checks: int = 16) -> None:
        self.backend = backend
        self.checker = _Checker(backend, max_pending_checks)
        self.audit_window = max(1, backend.settings.workers)
        self.audit_streams = backend.settings.audit_stream_limit
        self.audit_idle_s = backend.settings.audit_idle_s
        self._audit_slots = threading.BoundedSemaphore(self.audit_streams)

    def _versions(self) -> common_pb2.Versions:
        return common_pb2.Versions(**self.backend.versions())

    def _filtered_store(self, request: Any) -> Any:
        """The store as the request may see it: its ``sources`` and ``license_policy`` (unset: the server's default)."""
        store = self.backend.need_store()
        policy = convert.license_policy_from_proto(request.license_policy, self.backend.settings.license_policy)
        try:
            sources = store.resolve_sources(request.sources)
        except ValueError as exc:
            raise BadRequest("sources", str(exc)) from None
        try:
            return block_filter.restrict(store, sources, policy)
        except ValueError as exc:
            raise BadRequest("license_policy", str(exc)) from None

    @unary
    def Search(self, request: blocks_pb2.SearchRequest, context: grpc.ServicerContext) -> blocks_pb2.SearchResponse:
        start = time.perf_counter()
        text = request.query.strip()
        problem = query.query_problem(text)
        if problem:
            raise BadRequest("query", problem)
        k = _check_k(request.k, 10, MAX_SEARCH_K)
        if request.min_stage:
            try:
                stage_index(request.min_stage)  # the stages a block's validation holds; train_step is not one
            except ValueError as exc:
                raise BadRequest("min_stage", str(exc)) from None
        mode = SEARCH_MODES.get(request.mode)
        if mode is None:
            raise BadRequest("mode", f"unknown search mode {request.mode}")
        store = self._filtered_store(request)
        hits = query.search_blocks(store, text, k=k, min_stage=request.min_stage, mode=mode)
        response = blocks_pb2.SearchResponse(versions=self._versions())
        for hit in hits:
            response.hits.add(block=convert.block_to_proto(hit.block, include_code=request.include_code),
                              score=float(hit.score), match=hit.match)
        self._fit_in_a_message(response.hits)
        response.took_ms = (time.perf_counter() - start) * 1000.0
        return response

    def _fit_in_a_message(self, hits: Iterable[blocks_pb2.SearchHit]) -> None:
        """The code of each hit that would take the answer past the message limit (``max_message_mb``, less room for
        the rest of the answer) left out, ``code_omitted`` set; the hit stays, GetBlock has its code. Why: ultralytics'
        YOLO alone is 2.4 MB of code, and ``search("YOLO")`` with the SDK's default include_code failed
        RESOURCE_EXHAUSTED."""
        room, used = self.backend.settings.max_message_mb * 1024 * 1024 - ANSWER_MARGIN_BYTES, 0
        for hit in hits:
            size = hit.ByteSize()
            if used + size > room and hit.block.code:
                hit.block.code, hit.code_omitted = "", True
                size = hit.ByteSize()
            used += size

    @unary
    def GetBlock(self, request: blocks_pb2.GetBlockRequest, context: grpc.ServicerContext) -> blocks_pb2.GetBlockResponse:
        key = request.name_or_hash.strip()
        if not key:
            raise BadRequest("name_or_hash", "is empty")
        if len(key) > MAX_NAME_CHARS:
            raise BadRequest("name_or_hash", f"{len(key):,} characters, at most {MAX_NAME_CHARS:,} (a qualified name or a hash)")
        store = self._filtered_store(request)
        block = store.get(key)
        if block is None:
            raise NotFound(f"name_or_hash: {query.missing_block_message(store, key)}")
        others = [b for b in store.blocks_named(block.name) if b.content_hash != block.content_hash]
        return blocks_pb2.GetBlockResponse(
            block=convert.block_to_proto(block), other_hashes=[b.content_hash for b in others],
            alternatives=[b.qualified_name for b in others], versions=self._versions(),
        )

    @unary
    def Stats(self, request: blocks_pb2.StatsRequest, context: grpc.ServicerContext) -> blocks_pb2.StatsResponse:
        try:
            stats = self.backend.need_store().stats()
        except Unavailable as exc:  # a server with no store still checks code: `nnrag doctor --server` reads this
            stats = {"store_error": str(exc)}
        stats["sandbox"] = self.backend.sandbox_info()
        return blocks_pb2.StatsResponse(stats_json=json.dumps(stats, default=str), versions=self._versions())

    @unary
    def Check(self, request: blocks_pb2.CheckRequest, context: grpc.ServicerContext) -> blocks_pb2.CheckResponse:
        code = _require_code(request.code)
        spec = self.checker.spec(request.spec if request.HasField("spec") else None)
        result = self.checker.check(code, spec, context, cancel_event(context))
        return blocks_pb2.CheckResponse(result=convert.result_to_proto(result), versions=self._versions())

    @unary
    def Patch(self, request: blocks_pb2.PatchRequest, context: grpc.ServicerContext) -> blocks_pb2.PatchResponse:
        from rag_server.patch import PatchInputError, patch

        start = time.perf_counter()
        code = _require_editable_code(request.code)
        spec = self.checker.spec(request.spec if request.HasField("spec") else None)
        max_tries = _check_k(request.max_tries, 5, 50, "max_tries")
        store = self._filtered_store(request)
        cancel = cancel_event(context)
        pool = None if request.no_check else _CallPool(self.backend.need_pool(), context, cancel)
        before = self.checker.check(code, spec, context, cancel) if request.check_before and pool is not None else None
        with self.checker.slot():
            try:
                with _too_deep_is_bad_request(code):
                    result = patch(code, spec, store, pool, max_tries=max_tries)
            except PatchInputError as exc:
                raise BadRequest("code", str(exc)) from None
            finally:
                release_free_memory()  # its parse trees of a large file are freed now: give the pages back
        if cancel.is_set():
            _call_deadline(context)  # DEADLINE_EXCEEDED when that is why the call ended
            raise ClientGone("the client went away during the patch; its checks were stopped")
        response = patch_result_to_proto(result)
        if before is not None:
            response.before.CopyFrom(convert.result_to_proto(before))
        response.took_ms = (time.perf_counter() - start) * 1000.0
        response.versions.CopyFrom(self._versions())
        return response

    @unary
    def Suggest(self, request: blocks_pb2.SuggestRequest, context: grpc.ServicerContext) -> blocks_pb2.SuggestResponse:
        code = _require_editable_code(request.code)
        if "\x00" in code:  # Patch refuses it (the code cannot parse); Suggest answered blocks for nothing it could read
            line = code.count("\n", 0, code.index("\x00")) + 1
            raise BadRequest("code", f"holds a NUL byte (line {line}), which Python source cannot: send the file's text")
        k = _check_k(request.k, 5, MAX_SUGGEST_K)
        n_lines = len(code.splitlines())
        if not 0 <= request.cursor_line <= n_lines + 1:
            raise BadRequest("cursor_line", f"{request.cursor_line} is outside 1 to {n_lines + 1} (the line after the code's last; 0: its end)")
        if not 0 <= request.context_lines <= 10_000:
            raise BadRequest("context_lines", f"{request.context_lines} is out of range [0, 10000]")
        context_lines = request.context_lines if request.HasField("context_lines") else 20  # ``optional``: 0 means 0
        with _too_deep_is_bad_request(code):
            found = suggest.suggest(self._filtered_store(request), code, request.cursor_line, k, context_lines)
        response = blocks_pb2.SuggestResponse(undefined_names=found.undefined_names, imports=found.imports, notes=found.notes,
                                              versions=self._versions())
        for s in found.suggestions:
            hit = blocks_pb2.SearchHit(block=convert.block_to_proto(s.hit.block), score=float(s.hit.score), match=s.hit.match)
            response.suggestions.add(hit=hit, insert_line=s.insert_line, reason=s.reason)
        self._fit_in_a_message(s.hit for s in response.suggestions)
        return response

    def Audit(self, request_iterator: Iterator[blocks_pb2.AuditRequest], context: grpc.ServicerContext) -> Iterator[blocks_pb2.AuditResponse]:
        """Checks stream through a window of ``workers`` concurrent checks; answers keep request order and each is sent
        as soon as it and every earlier one are done, whether or not the client has sent more (a thread reads the
        requests, so a client that sends one item and waits for its answer gets it). An item waits for a free sandbox
        place when other calls hold them all (see ``_Checker.slot``)."""
        start = time.perf_counter()
        # Each open stream holds a server thread, idle or not. The short wait: a client whose stream just hit its
        # deadline may open the next one a moment before the server has seen that deadline and freed the slot.
        if not self._audit_slots.acquire(timeout=AUDIT_SLOT_WAIT_S):
            message = f"{self.audit_streams} Audit streams already open (the max_audit_streams setting); retry when one ends"
            _finish("Audit", context, start, grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
        try:
            yield from self._audit_stream(request_iterator, context, start)
        finally:
            self._audit_slots.release()

    def _audit_stream(self, request_iterator: Iterator[blocks_pb2.AuditRequest], context: grpc.ServicerContext,
                      start: float) -> Iterator[blocks_pb2.AuditResponse]:
        code_name = grpc.StatusCode.OK
        versions = self._versions()
        cancel = cancel_event(context)  # a client that goes away stops every check of its stream
        answers: queue.Queue = queue.Queue()  # (id, Future | error text) in request order; then None, or the reader's exception
        if not context.add_callback(lambda: answers.put(_STREAM_ENDED)):  # wakes the stream at once when the call ends
            answers.put(_STREAM_ENDED)
        window = threading.Semaphore(self.audit_window)  # items read but not yet answered
        executor = ThreadPoolExecutor(max_workers=self.audit_window, thread_name_prefix="audit")
        try:
            reader = threading.Thread(target=self._read_audit, args=(request_iterator, executor, answers, window, context, cancel),
                                      name="audit-reader", daemon=True)
            reader.start()
            while (entry := _next_answer(answers, self.audit_idle_s)) is not None:
                if isinstance(entry, BaseException):
                    raise entry
                yield _audit_answer(*entry, versions)
                window.release()
        except Exception as exc:
            code_name = _status_for(exc)
            if isinstance(exc, ClientGone) and self.backend.stopping.is_set():  # gRPC cancelled it, not the client
                exc = ClientGone("the server stopped and its drain time (drain_s) ran out before the stream ended; the rest "
                                 "of the stream was not checked")
            _finish("Audit", context, start, code_name, str(exc))
            _abort(context, exc)
        finally:
            cancel.set()  # the reader stops with the stream, whatever ended it, and its running checks are killed
            # Not waiting for those checks: they end on their own within moments, and a stream that waited for its
            # killed sandboxes kept its max_audit_streams slot (0.3-0.5 s on a busy machine) after the client had gone.
            executor.shutdown(wait=False, cancel_futures=True)
        _finish("Audit", context, start, code_name)

    def _read_audit(self, request_iterator: Iterator[blocks_pb2.AuditRequest], executor: ThreadPoolExecutor, answers: queue.Queue,
                    window: threading.Semaphore, context: grpc.ServicerContext, cancel: threading.Event) -> None:
        """Audit's reader: submits each item's check (or queues its error) once the window has room; then None."""
        try:
            for index, item in enumerate(_requests_until_gone(request_iterator)):
                while not window.acquire(timeout=0.2):
                    if cancel.is_set():
                        return
                if cancel.is_set() or not context.is_active():
                    raise ClientGone("the client went away; the rest of the stream was not checked")
                item_id = item.id or str(index)
                try:
                    code = _require_code(item.code)
                    spec = self.checker.spec(item.spec if item.HasField("spec") else None)
                    answers.put((item_id, executor.submit(self.checker.check, code, spec, context, cancel, True)))
                except BadRequest as exc:
                    answers.put((item_id, str(exc)))
            answers.put(None)
        except Exception as exc:  # handed to the stream, which ends with its status
            answers.put(exc)


_STREAM_ENDED = object()  # put in Audit's answer queue when the call ends (cancelled, deadline, disconnected)


def _next_answer(answers: queue.Queue, idle_s: float) -> Any:
    """The next entry of Audit's answer queue; a ClientGone once the call has ended (nothing will come). Why the
    ``_STREAM_ENDED`` entry rather than polling ``cancel``: an ended stream kept its max_audit_streams slot until the
    next poll, and a client opening its next stream at once was refused. A DeadlinePassed when nothing comes for
    ``idle_s`` (the ``audit_idle_s`` setting): an item is queued as soon as it is read, so that is a client that sent
    nothing for that long with every earlier item answered. Why: 16 streams that never half-closed held every
    max_audit_streams place for good, and every other client's Audit was refused."""
    try:
        entry = answers.get(timeout=idle_s)
    except queue.Empty:
        raise DeadlinePassed(f"the stream sent no item for {idle_s:g} s (the audit_idle_s setting), every earlier one "
                             "answered; it was ended to free its place for other streams") from None
    if entry is _STREAM_ENDED:
        raise ClientGone("the client went away; the rest of the stream was not checked")
    return entry


def _requests_until_gone(request_iterator: Iterator[blocks_pb2.AuditRequest]) -> Iterator[blocks_pb2.AuditRequest]:
    """A stream's requests. gRPC raises RpcError from the iterator when the client cancels the stream: that is the
    client going away (logged as such), not an internal error."""
    try:
        yield from request_iterator
    except grpc.RpcError:
        raise ClientGone("the client cancelled the stream; the rest of it was not checked") from None


def _audit_answer(item_id: str, item: Future | str, versions: common_pb2.Versions) -> blocks_pb2.AuditResponse:
    if isinstance(item, str):
        return blocks_pb2.AuditResponse(id=item_id, error=convert.wire_text(item), versions=versions)
    result = item.result()  # a DeadlinePassed / ClientGone here ends the stream, as it should
    try:
        return blocks_pb2.AuditResponse(id=item_id, result=convert.result_to_proto(result), versions=versions)
    except Exception as exc:  # one result that cannot be sent is that item's error, not the end of every later item
        log.exception("audit result not convertible", extra={"fields": {"id": item_id, "error": repr(exc)}})
        return blocks_pb2.AuditResponse(id=item_id, error=f"result: could not be sent ({type(exc).__name__}: {exc})"[:MAX_DETAIL_CHARS],
                                        versions=versions)


def patch_result_to_proto(result: Any) -> blocks_pb2.PatchResponse:
    """rag_server.patch.PatchResult -> PatchResponse (``before`` is filled by the caller). Its strings quote the sandbox
    (attempts, stop_reason, the check): ``convert.wire_safe`` first."""
    result = convert.wire_safe(result)
    response = blocks_pb2.PatchResponse(
        patched_code=result.code, diff=result.diff, changed=result.changed,
        unresolved=list(result.unresolved), added_imports=list(result.added_imports),
        tries=int(result.tries), stripped_text=bool(result.stripped_text), fixes=list(result.fixes),
        attempts=list(result.attempts), stop_reason=result.stop_reason, free_names=list(result.free_names),
    )
    response.inserted.extend(convert.inserted_to_proto(item) for item in result.inserted)
    if result.check is not None:
        response.after.CopyFrom(convert.result_to_proto(result.check))
    return response


class PredictorServicer(predictor_pb2_grpc.PredictorServiceServicer):
    """Adapter over ``predictor.api.Predictor``: curves in, predictions and stop decisions out."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.checker = _Checker(backend, backend.settings.pending_check_limit)  # the same places as BlockService's

    def _versions(self) -> common_pb2.Versions:
        return common_pb2.Versions(**self.backend.versions())

    @contextmanager
    def _measuring(self, context: grpc.ServicerContext) -> Iterator[None]:
        """Within the block, the predictor measures new code's params/FLOPs under this call's limits (``_MeasurePool``)."""
        with self.backend.measuring_for(_MeasurePool(self.checker, context, cancel_event(context))):
            yield

    def _predictor(self) -> Any:
        predictor = self.backend.need_predictor()
        if predictor.reload_if_changed():  # a retrained model in the same directory is picked up live, and said so
            log.info("predictor reloaded", extra={"fields": {"path": str(predictor.directory), "version": self._versions().predictor_version}})
        return predictor

    @staticmethod
    def _curve(points: Any, field: str) -> tuple[list[float], list[float] | None]:
        """(accuracies by epoch, cumulative seconds or None when any is unknown). The points, in any order, must be
        epochs 1..n once each. Why: the epochs were only a sort key, so points at epochs 1 and 10 were read as epochs
        1 and 2, a duplicate counted twice, and a lone point at epoch 10 read as one epoch seen."""
        ordered = sorted(enumerate(points), key=lambda ip: (ip[1].epoch, ip[0]))
        for i, p in ordered:
            _fraction(p.accuracy, f"{field}[{i}].accuracy")
            if not math.isfinite(p.elapsed_ms) or p.elapsed_ms < 0:
                raise BadRequest(f"{field}[{i}].elapsed_ms", f"{p.elapsed_ms} is not >= 0")
        for expected, (i, p) in enumerate(ordered, start=1):
            if p.epoch != expected:
                raise BadRequest(f"{field}[{i}].epoch", _epoch_problem(p.epoch, expected))
        _check_elapsed(ordered, field)
        accuracies = [p.accuracy for _, p in ordered]
        durations = [p.elapsed_ms / 1000.0 for _, p in ordered]
        return accuracies, (durations if durations and all(d > 0 for d in durations) else None)

    def _dataset(self, dataset: str, field: str, new_dataset: bool = False) -> str:
        """The predictor's name for ``dataset`` ("CIFAR-10" is "cifar-10", as the CLI and the Python API read it). LEMUR's
        names need no predictor; others are those reported to it, or (``new_dataset``: ReportResult) a new one."""
        from predictor.api import canonical_dataset

        try:
            return canonical_dataset(dataset)
        except ValueError:
            predictor = self._predictor()
        return self._call(lambda: predictor.reported_dataset(dataset, new_dataset, "dataset"), field)

    @staticmethod
    def _call(fn: Callable[[], Any], field: str) -> Any:
        try:
            return fn()
        except NotTrainedFor as exc:  # a valid request the loaded predictor was not trained for: FAILED_PRECONDITION
            raise Unavailable(str(exc)) from None
        except ValueError as exc:  # the predictor's own input checks
            raise BadRequest(field, str(exc)) from None

    def _check_epochs(self, epochs: int, field: str) -> None:
        """A planned-epochs field as the predictor reads epochs (``whole_epochs``: 1 to MAX_EPOCHS), INVALID_ARGUMENT
        naming ``field``."""
        from predictor.api import whole_epochs

        self._call(lambda: whole_epochs(epochs, "value"), field)

    def _run(self, run: predictor_pb2.Run, epochs: int, field: str = "run", epochs_field: str = "",
             new_dataset: bool = False) -> dict[str, Any]:
        """``run`` as the predictor's run dict; ``epochs`` its planned epochs, from ``epochs_field`` (default
        ``<field>.max_epochs``; ShouldStop's ``budget.max_epochs`` when that was given)."""
        _require_model_code(run.code, f"{field}.code")
        curve, durations = self._curve(run.curve, f"{field}.curve")
        if epochs:
            self._check_epochs(epochs, epochs_field or f"{field}.max_epochs")
        return {
            "code": run.code,
            "hparams": _hparams(run.hparams_json, f"{field}.hparams_json"),
            "dataset": self._dataset(run.dataset, f"{field}.dataset", new_dataset),
            "curve": curve,
            "durations": durations,
            "epochs": epochs or None,
        }

    @unary
    def Predict(self, request: predictor_pb2.PredictRequest, context: grpc.ServicerContext) -> predictor_pb2.PredictResponse:
        code = _require_model_code(request.code)
        hparams = _hparams(request.hparams_json, "hparams_json")
        dataset = self._dataset(request.dataset, "dataset")
        curve, durations = self._curve(request.curve, "curve")
        if request.target_epoch:
            self._check_epochs(request.target_epoch, "target_epoch")
        if 0 < request.target_epoch < len(curve):
            raise BadRequest("target_epoch", f"{request.target_epoch} is below the {len(curve)} epochs already in curve")
        if not request.target_epoch:
            self._plan_covers_curve(hparams, len(curve), "hparams_json", "curve")
        from predictor.evaluate import TARGETS

        target = request.target or "final"
        if target not in TARGETS:
            raise BadRequest("target", f"must be one of {', '.join(TARGETS)}, got {request.target!r}")
        predictor = self._predictor()
        self._call(lambda: predictor.check_model(request.model or None, target), "model")
        with self._measuring(context):
            p = self._call(lambda: predictor.predict(code, hparams, dataset, curve, durations, request.target_epoch or None,
                                                     model=request.model or None, target=target), "request")
        return predictor_pb2.PredictResponse(
            accuracy=p.point, lower=p.lo, upper=p.hi, interval_level=0.8, method=convert.wire_text(p.model),
            observed_epochs=p.k, epochs=p.epochs, target=p.target, reported_runs=p.reported_runs,
            ignored_hparams=convert.wire_safe(list(p.ignored_hparams)),
            model_ran=p.model_ran, versions=self._versions(),
        )

    def _earlier_runs(self, runs, dataset: str) -> list[dict[str, Any]]:
        """The study's earlier runs as run dicts; those with code also correct the prediction for the same code."""
        out = []
        for i, r in enumerate(runs):
            field = f"earlier_runs[{i}]"
            if r.max_epochs < 0:
                raise BadRequest(f"{field}.max_epochs", "must be >= 0")
            curve, durations = self._curve(r.curve, f"{field}.curve")
            if not curve:
                raise BadRequest(f"{field}.curve", "is empty: an earlier run needs at least one finished epoch")
            hparams = _hparams(r.hparams_json, f"{field}.hparams_json")
            if r.max_epochs:  # here, not in _plan, whose errors are the hyperparameters'
                self._check_epochs(r.max_epochs, f"{field}.max_epochs")
            run: dict[str, Any] = {"curve": curve, "epochs": self._plan(r.max_epochs, hparams, field)}
            if r.code:
                _require_model_code(r.code, f"{field}.code")
                run.update(code=r.code, hparams=hparams, durations=durations,
                           dataset=self._dataset(r.dataset, f"{field}.dataset") if r.dataset else dataset)
            out.append(run)
        return out

    @staticmethod
    def _plan_covers_curve(hparams: dict[str, Any], seen: int, hparams_field: str, curve_field: str) -> None:
        """A plan read from the hyperparameters (no planned-epochs field given) below the curve's ``seen`` epochs:
        INVALID_ARGUMENT naming ``hparams_field``. Why: the predictor's message reached the caller as "request" / "run"."""
        from predictor.api import hparams_epochs

        given = hparams_epochs(hparams)
        if given is not None and float(given) < seen:
            raise BadRequest(hparams_field, f"epochs {given} is below the {seen} epochs in {curve_field}")

    def _plan(self, max_epochs: int, hparams: dict[str, Any], field: str) -> int | None:
        """A run's planned epochs as the proto defines them: ``max_epochs``, 0 meaning its hparams epochs (None when
        neither says). Why: an earlier run planned in its hparams was never read as finished, and saved_ms was 0."""
        from predictor.api import stated_plan

        return self._call(lambda: stated_plan(max_epochs or None, hparams, "max_epochs"), f"{field}.hparams_json")

    @staticmethod
    def _study_runs(request: predictor_pb2.ShouldStopRequest, earlier: list[dict[str, Any]]) -> int | None:
        """The study's planned runs (None: 0, not known). Why refused with finished runs but no earlier ones: the earlier
        runs count how far the study is, and a client that sends none would have its study read as just begun (the
        highest bar)."""
        from predictor.early_stop import checked_study_runs, study_size_problem

        if not request.study_runs:
            return None
        try:
            checked_study_runs(request.study_runs)
        except ValueError as exc:
            raise BadRequest("study_runs", f"{exc} (0: not known)") from None
        if problem := study_size_problem(request.study_runs, len(earlier)):
            raise BadRequest("study_runs", problem)
        if not earlier and (request.finished_accuracies or request.incumbent_accuracy):
            raise BadRequest("earlier_runs", "is empty, but study_runs is given and runs have finished: list every earlier run of "
                                             "the study (finished or stopped, curves may be partial); they count how far it is")
        return request.study_runs

    @unary
    def ShouldStop(self, request: predictor_pb2.ShouldStopRequest, context: grpc.ServicerContext) -> predictor_pb2.ShouldStopResponse:
        budget, planned = request.budget.max_epochs, request.run.max_epochs
        if budget and planned:  # each valid on its own first, so that a bad one is named as itself
            self._check_epochs(planned, "run.max_epochs")
        run = self._run(request.run, budget or planned, epochs_field="budget.max_epochs" if budget else "")
        if not run["curve"]:
            raise BadRequest("run.curve", "is empty: a stop decision needs at least one finished epoch")
        seen = len(run["curve"])
        if budget and planned and budget != planned:
            raise BadRequest("budget.max_epochs", f"{budget} differs from run.max_epochs {planned}: give the planned epochs in one "
                                                  "of them (0 in the other), or the same value in both")
        if budget and budget < seen:
            raise BadRequest("budget.max_epochs", f"budget {budget} is below the {seen} epochs in run.curve")
        if planned and planned < seen:
            raise BadRequest("run.max_epochs", f"{planned} is below the {seen} epochs in run.curve")
        if not (budget or planned):
            self._plan_covers_curve(run["hparams"], seen, "run.hparams_json", "run.curve")
        finished = [_fraction(a, f"finished_accuracies[{i}]") for i, a in enumerate(request.finished_accuracies)]
        incumbent: float | list[float] | list[list[float]] | None = finished or (_fraction(request.incumbent_accuracy, "incumbent_accuracy") or None)
        earlier = self._earlier_runs(request.earlier_runs, run["dataset"])
        study_runs = self._study_runs(request, earlier)
        if incumbent is None:  # the study's finished runs on this dataset: MNIST's 0.99 is no bar for a CIFAR-10 run
            done = [r["curve"] for r in earlier if r["epochs"] and len(r["curve"]) >= r["epochs"]
                    and r.get("dataset", run["dataset"]) == run["dataset"]]
            incumbent = done or None
        predictor = self._predictor()
        with self._measuring(context):
            d = self._call(lambda: predictor.should_stop(run, incumbent, run["epochs"], earlier=earlier or ([] if study_runs else None),
                                                         study_runs=study_runs), "run")
        saved_ms, plan = 0.0, run["epochs"] or self._plan(0, run["hparams"], "run")
        if d.stop and run["durations"] and plan:
            per_epoch_s = run["durations"][-1] / len(run["durations"])
            saved_ms = max(0, plan - len(run["curve"])) * per_epoch_s * 1000.0
        return predictor_pb2.ShouldStopResponse(
            stop=bool(d.stop), reason=convert.wire_text(d.reason), predicted_accuracy=float(d.predicted_final),
            probability_beats_incumbent=float(d.p_beat_incumbent), saved_ms=saved_ms,
            lower=float(d.lo), upper=float(d.hi), versions=self._versions(),
        )

    @staticmethod
    def _final(request: predictor_pb2.ReportResultRequest, curve: list[float]) -> float | None:
        """The report's final accuracy, None when not given. A client built from the current predictor.proto sets the field
        (presence): its 0 is a real final (a run that diverged). An older client cannot say "set", so its 0 is "not set";
        so is a 0 sent beside a curve (the curve's last point is the final)."""
        if not request.HasField("final_accuracy"):
            return None
        final = _fraction(request.final_accuracy, "final_accuracy")
        return None if (final == 0.0 and curve) else final

    @unary
    def ReportResult(self, request: predictor_pb2.ReportResultRequest, context: grpc.ServicerContext) -> predictor_pb2.ReportResultResponse:
        from predictor.report_inputs import GRPC_REPORT, InputProblem, check_report

        run = self._run(request.run, request.run.max_epochs, new_dataset=request.new_dataset)
        final = self._final(request, run["curve"])
        if not run["curve"] and final is None:
            raise BadRequest("run.curve", "is empty and final_accuracy is not set (0): no result given; send the accuracy per "
                                          "epoch in run.curve, or final_accuracy (a client built from the current "
                                          "predictor.proto sends a final of 0 too)")
        if run["curve"] and final is not None and abs(final - run["curve"][-1]) > 1e-6:
            raise BadRequest("final_accuracy", f"{final} differs from the curve's last epoch ({run['curve'][-1]}): "
                                               "send the curve alone, or a final equal to its last point")
        try:  # the rules `nnrag report` follows in process too
            check_report(run["curve"], final, run["epochs"], run["hparams"], request.stopped_early, GRPC_REPORT)
        except InputProblem as exc:
            raise BadRequest(exc.field, exc.problem) from None
        accuracy = run["curve"] or [final]
        report = {
            "code": run["code"], "hparams": run["hparams"], "dataset": run["dataset"], "accuracy": accuracy,
            "duration_s": run["durations"] or [], "epochs_planned": run["epochs"], "finished": not request.stopped_early,
            "task": request.run.task or "img-classification", "run_id": request.run.run_id,
            "curve_known": bool(run["curve"]),  # a final alone: it corrects predictions made before any epoch is seen
        }
        predictor = self._predictor()
        with self._measuring(context):
            row = self._call(lambda: predictor.report(report, request.new_dataset), "run")
        return predictor_pb2.ReportResultResponse(accepted=True, runs_recorded=int(row), versions=self._versions())
