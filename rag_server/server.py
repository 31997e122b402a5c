"""The gRPC server: health, reflection, auth, limits, JSON logs, metrics, graceful drain.

``build_server`` wires a Backend into a ``grpc.Server`` (not started) so tests and the
demo can run it on a free loopback port; ``serve`` is what ``nnrag serve`` runs: it
opens the backend from settings, starts, and on SIGTERM/SIGINT marks itself
NOT_SERVING, ends health Watch streams, stops taking new calls, lets in-flight calls
finish (up to ``drain_s``), then exits; a second signal during the drain cancels them
and exits at once.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from nnrag.settings import Settings, get_settings
from nnrag.v1 import blocks_pb2, blocks_pb2_grpc, predictor_pb2, predictor_pb2_grpc
from rag_server.backend import Backend
from rag_server.convert import BadRequest
from rag_server.memory import limit_malloc_arenas
from rag_server.servicer import BlockServicer, PredictorServicer

log = logging.getLogger("nnrag.server")

SERVICE_NAMES = (
    blocks_pb2.DESCRIPTOR.services_by_name["BlockService"].full_name,
    predictor_pb2.DESCRIPTOR.services_by_name["PredictorService"].full_name,
)
# Callable without a token: load balancers and Docker probe health without secrets.
_OPEN_METHODS = ("/grpc.health.v1.Health/",)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("nnrag")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Rejects calls without ``authorization: Bearer <token>`` with UNAUTHENTICATED. The scheme is read
    case-insensitively (``bearer``, RFC 7235); a value with no scheme is called malformed, not a wrong token."""

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or details.method.startswith(_OPEN_METHODS):
            return handler
        given = str(dict(details.invocation_metadata or ()).get("authorization", ""))
        scheme, _, token = given.strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._expected):
            return handler
        if not given:
            problem = "missing bearer token"
        elif scheme.lower() != "bearer" or not token.strip():
            problem = "malformed authorization metadata (not 'Bearer <token>')"
        else:
            problem = "wrong bearer token"
        return _deny(handler, f"{problem}: send metadata 'authorization: Bearer <token>'", details.method)


def _deny(handler: grpc.RpcMethodHandler, message: str, method: str) -> grpc.RpcMethodHandler:
    def abort(request: Any, context: grpc.ServicerContext) -> Any:
        log.info("rpc", extra={"fields": {"method": method.rsplit("/", 1)[-1], "code": "UNAUTHENTICATED", "ms": 0.0,
                                          "peer": context.peer()}})
        context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    kwargs = {"request_deserializer": handler.request_deserializer, "response_serializer": handler.response_serializer}
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(abort, **kwargs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(abort, **kwargs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(abort, **kwargs)
    return grpc.stream_stream_rpc_method_handler(abort, **kwargs)


@dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request whose bytes did not decode; the wrapped behavior answers INVALID_ARGUMENT with it."""

    problem: str

    @property
    def message(self) -> str:
        return f"request: {self.problem}"


class UndecodableRequestInterceptor(grpc.ServerInterceptor):
    """Answers a request that does not decode as its message type with INVALID_ARGUMENT naming the problem. Why:
    gRPC's own deserializer answers INTERNAL "Exception deserializing request!" and logs a traceback, e.g. for a
    string field holding invalid UTF-8, which a client in another language can send."""

    def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        decode = handler.request_deserializer

        def tolerant_decode(data: bytes) -> Any:
            try:
                return decode(data)
            except Exception as exc:  # noqa: BLE001 - the client's bytes, whatever the parser says about them
                return _Undecodable(_undecodable_message(exc))

        kind = _handler_kind(handler)
        behavior = getattr(handler, kind)
        checked = _checking_stream(behavior) if handler.request_streaming else _checking_request(behavior)
        return handler._replace(request_deserializer=tolerant_decode, **{kind: checked})


def _undecodable_message(exc: Exception) -> str:
    """The parser's words, with what to do: bad UTF-8 in a string field, or bytes that are no such message at all.
    Why: "(string fields must be valid UTF-8)" was said of truncated and garbage bytes too."""
    text = str(exc)
    if "UTF-8" in text:
        return f"{text} (string fields must be valid UTF-8)"
    return f"{text} (the bytes are not a serialized message of this type: truncated, or another message)"


def _handler_kind(handler: grpc.RpcMethodHandler) -> str:
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        if getattr(handler, kind) is not None:
            return kind
    raise ValueError("an RPC method handler without a behavior")


def _abort_undecodable(request: _Undecodable, context: grpc.ServicerContext) -> None:
    log.info("rpc", extra={"fields": {"code": "INVALID_ARGUMENT", "peer": context.peer(), "detail": request.message}})
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)


def _checking_request(behavior: Any) -> Any:
    def checked(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            _abort_undecodable(request, context)
        return behavior(request, context)

    return checked


def _checking_stream(behavior: Any) -> Any:
    """A request stream is often read on another thread than the handler's (Audit's reader), where
    ``context.abort`` is an anonymous exception: the status is set first and a BadRequest raised, which Audit answers as
    INVALID_ARGUMENT and gRPC, for any other servicer, ends the call with the status set."""

    def requests(request_iterator: Any, context: grpc.ServicerContext) -> Any:
        for request in request_iterator:
            if isinstance(request, _Undecodable):
                context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
                context.set_details(request.message)
                raise BadRequest("request", request.problem)
            yield request

    return lambda request_iterator, context: behavior(requests(request_iterator, context), context)


@dataclass
class RunningServer:
    """A started server and what it owns; ``stop`` drains and closes the backend."""

    server: grpc.Server
    port: int
    backend: Backend
    health: "PredictorAwareHealth"
    address: str

    def stop(self, grace: float | None = 5.0) -> None:
        """NOT_SERVING for every service (for good: a predictor trained meanwhile does not turn it back), the health
        Watch streams ended, then up to ``grace`` seconds for the calls in flight. Why end the Watches: a load
        balancer's or probe's open Watch counted as a call in flight and made every shutdown wait the whole grace."""
        self.backend.stopping.set()
        self.health.enter_graceful_shutdown()
        self.health.end_watches()
        self.server.stop(grace).wait()
        self.backend.close()

    def force_stop(self) -> None:
        """Cancel the calls still in flight now (a second SIGTERM/SIGINT during the drain); ``stop`` then returns."""
        self.server.stop(0)


class PredictorAwareHealth(health.HealthServicer):
    """gRPC health that, asked about PredictorService while no predictor is loaded, first looks whether one was
    trained since the server started (``Backend.refresh_predictor``). Why: a probe that only asks health would
    otherwise see NOT_SERVING until some Predict call happened to open it."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(experimental_non_blocking=True)
        self._backend = backend
        self._watch_lock = threading.Lock()
        self._watches: set[queue.SimpleQueue[Any]] = set()
        self._watches_ended = False

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        if request.service == SERVICE_NAMES[1]:
            self._backend.refresh_predictor()
        return super().Check(request, context)

    def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext,
              send_response_callback: Any = None) -> Any:
        """grpc_health's Watch, with a stream that ``end_watches`` can end (its own ends only when the client goes)."""
        if send_response_callback is not None:
            return super().Watch(request, context, send_response_callback)
        answers: queue.SimpleQueue[health_pb2.HealthCheckResponse | None] = queue.SimpleQueue()
        with self._watch_lock:
            ended = self._watches_ended
            if not ended:
                self._watches.add(answers)
                context.add_callback(lambda: self._forget(answers))
        if ended:  # the server is draining: say so and end the stream
            answers.put(health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING))
            answers.put(None)
        else:
            super().Watch(request, context, answers.put)  # sends the status now and on every change; None when the client goes
        return _answers_until_none(answers)

    def _forget(self, answers: "queue.SimpleQueue[Any]") -> None:
        with self._watch_lock:
            self._watches.discard(answers)

    def end_watches(self) -> None:
        """End every open Watch stream (OK, after the statuses already sent) and any opened later."""
        with self._watch_lock:
            self._watches_ended = True
            watches, self._watches = self._watches, set()
        for answers in watches:
            answers.put(None)


def _answers_until_none(answers: "queue.SimpleQueue[Any]") -> Iterator[Any]:
    while (answer := answers.get()) is not None:
        yield answer


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    max_bytes = settings.max_message_mb * 1024 * 1024
    return [
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]


def _listen_addresses(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """(family, sockaddr) of every address gRPC may bind for ``host``: what the system resolves, and for ``localhost``
    both loopbacks (gRPC's resolver gives [::1] and 127.0.0.1 even where the system gives one). Raises the resolver's
    error when nothing resolves."""
    found: list[tuple[int, tuple[Any, ...]]] = []
    names = [host or None] + (["127.0.0.1", "::1"] if host.lower() == "localhost" else [])
    errors: list[OSError] = []
    for name in names:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except (OSError, UnicodeError) as exc:
            errors.append(exc if isinstance(exc, OSError) else OSError(str(exc)))
            continue
        for family, _, _, _, sockaddr in infos:
            if (family, sockaddr[:2]) not in [(f, a[:2]) for f, a in found]:
                found.append((family, sockaddr))
    if not found and errors:
        raise errors[0]
    return found


def _bind_error(family: int, sockaddr: tuple[Any, ...]) -> OSError | None:
    """The error binding a plain socket to ``sockaddr`` gives, or None. SO_REUSEADDR as gRPC sets it: a port whose
    last server's connections linger in TIME_WAIT is free, one a listening socket holds is not."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except OSError as exc:
        return exc
    return None


def _reason(exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    return f"{reason} (another server on this port?)" if exc.errno == errno.EADDRINUSE else reason


def _format_address(family: int, sockaddr: tuple[Any, ...]) -> str:
    return f"[{sockaddr[0]}]:{sockaddr[1]}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{sockaddr[1]}"


def _bind_failures(address: str) -> list[tuple[str, OSError]]:
    """(address, error) for each address ``host:port`` resolves to that a plain socket cannot bind; a host that does
    not resolve is one failure, with the resolver's error."""
    host, _, port_text = address.rpartition(":")
    try:
        addresses = _listen_addresses(host.strip("[]"), int(port_text))
    except ValueError:
        return []
    except OSError as exc:
        return [(address, exc)]
    return [(_format_address(f, a), exc) for f, a in addresses if (exc := _bind_error(f, a)) is not None]


def _in_use(failures: list[tuple[str, OSError]], address: str) -> str | None:
    for where, exc in failures:
        if exc.errno == errno.EADDRINUSE:
            return _reason(exc) if where == address else f"{where} is in use: {_reason(exc)}"
    return None


def address_in_use(address: str) -> str | None:
    """Why ``address`` cannot be served when one of the addresses it resolves to is held by another socket, else None.

    Why before gRPC binds: gRPC binds what it can and only warns ("Only 1 addresses added out of total 2 resolved"),
    so ``localhost:P`` with 127.0.0.1:P taken served on [::1] alone, and clients of ``localhost:P`` and
    ``127.0.0.1:P`` reached different servers. Port 0 is never in use."""
    return _in_use(_bind_failures(address), address)


def why_bind_fails(address: str) -> str | None:
    """The operating system's reason a plain socket cannot bind ``address`` (in use first, then not a local address,
    a host that does not resolve, ...), or None.

    Why: grpc's bind error names no cause ("Failed to bind ...; set GRPC_VERBOSITY=debug"); the usual one, a port
    another server holds, deserves to be said."""
    failures = _bind_failures(address)
    return _in_use(failures, address) or (_reason(failures[0][1]) if failures else None)


def build_server(settings: Settings, backend: Backend) -> RunningServer:
    """Start a server for ``backend`` on ``settings.address`` (port 0 picks a free one)."""
    limit_malloc_arenas()
    # The token check comes first: a caller without the token learns nothing, not even that its bytes were malformed.
    interceptors = [BearerTokenInterceptor(settings.token)] if settings.token else []
    interceptors.append(UndecodableRequestInterceptor())
    # Threads beyond max_concurrent_rpcs would never be used: gRPC refuses the extra
    # calls with RESOURCE_EXHAUSTED before they reach a thread.
    executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_rpcs, thread_name_prefix="rpc")
    server = grpc.server(
        executor,
        interceptors=interceptors,
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    blocks_pb2_grpc.add_BlockServiceServicer_to_server(BlockServicer(backend, max_pending_checks=settings.pending_check_limit), server)
    predictor_pb2_grpc.add_PredictorServiceServicer_to_server(PredictorServicer(backend), server)
    health_servicer = PredictorAwareHealth(backend)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    in_use = address_in_use(settings.address)
    if in_use:
        raise OSError(f"cannot listen on {settings.address}: {in_use}")
    try:
        port = server.add_insecure_port(settings.address)
    except RuntimeError as exc:  # grpc's "Failed to bind to address ...; set GRPC_VERBOSITY=debug ..."
        raise OSError(f"cannot listen on {settings.address}: {why_bind_fails(settings.address) or exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {settings.address}: {why_bind_fails(settings.address) or 'grpc bound no port'}")
    server.start()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set(SERVICE_NAMES[0], health_pb2.HealthCheckResponse.SERVING)
    predictor_state = health_pb2.HealthCheckResponse.SERVING if backend.predictor is not None else health_pb2.HealthCheckResponse.NOT_SERVING
    health_servicer.set(SERVICE_NAMES[1], predictor_state)
    backend.predictor_listeners.append(lambda: health_servicer.set(SERVICE_NAMES[1], health_pb2.HealthCheckResponse.SERVING))
    host = settings.address.rsplit(":", 1)[0]
    return RunningServer(server=server, port=port, backend=backend, health=health_servicer, address=f"{host}:{port}")


def _log_sandbox_when_ready(backend: Backend) -> None:
    """Say once, when the workers are up, which isolation the checks run under and what it does not contain."""
    if backend.pool is None:
        return
    try:
        backend.pool.wait_ready()
    except Exception as exc:  # noqa: BLE001 - a worker that fails to start is replaced at its first check
        log.warning("sandbox workers failed to start", extra={"fields": {"error": repr(exc)}})
        return
    info = backend.sandbox_info()
    level = logging.WARNING if info["not_contained"] else logging.INFO
    log.log(level, "sandbox ready", extra={"fields": info})


def _serve_metrics(settings: Settings) -> None:
    """Prometheus metrics on ``metrics_port``, on the gRPC address's host. Why the OSError names the port: a taken
    metrics port ended ``nnrag serve`` with a bare "[Errno 98] Address already in use", read as the gRPC port."""
    from prometheus_client import start_http_server

    host = settings.address.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"
    try:
        start_http_server(settings.metrics_port, addr=host)
    except OSError as exc:
        raise OSError(f"cannot listen on the metrics port {host}:{settings.metrics_port} (--metrics-port, "
                      f"NNRAG_METRICS_PORT): {exc.strerror or exc}") from None


def serve(settings: Settings | None = None) -> None:
    """Open the backend, serve until SIGTERM/SIGINT, drain, exit."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if settings.metrics_port:
        _serve_metrics(settings)
    started = time.perf_counter()
    backend = Backend.open(settings)
    try:
        running = build_server(settings, backend)
    except OSError:
        backend.close()  # the sandbox workers were started: do not leave them behind
        raise
    log.info("serving", extra={"fields": {
        "address": running.address, "workers": settings.workers, "store": str(settings.store_path),
        "store_loaded": backend.store is not None, "predictor_loaded": backend.predictor is not None,
        "auth": bool(settings.token), "metrics_port": settings.metrics_port,
        "startup_ms": round((time.perf_counter() - started) * 1000), **backend.versions(),
    }})
    threading.Thread(target=_log_sandbox_when_ready, args=(backend,), name="sandbox-ready", daemon=True).start()
    stop = threading.Event()
    forced_by = 0  # the signal that forced the stop (a second one during the drain); its number sets the exit status

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal forced_by
        if stop.is_set():  # a second Ctrl-C or SIGTERM during the drain: do not wait for the calls still in flight
            log.warning("forced stop", extra={"fields": {"signal": signal.Signals(signum).name,
                                                         "detail": "second signal during the drain: calls in flight cancelled"}})
            forced_by = signum
            running.force_stop()
            return
        log.info("draining", extra={"fields": {"signal": signal.Signals(signum).name, "grace_s": settings.drain_s}})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    running.stop(grace=settings.drain_s)
    log.info("stopped", extra={"fields": {}})
    if forced_by:
        # A cancelled call's thread may still sit in a check (one waiting for a worker that was starting): the
        # interpreter would wait for it at exit, and a forced stop is not to wait for anything.
        logging.shutdown()
        os._exit(128 + forced_by)  # as a process ended by that signal: a supervisor sees it was no clean drain


if __name__ == "__main__":
    serve()
