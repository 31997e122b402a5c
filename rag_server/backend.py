"""What the server serves: the block store, the sandbox pool and the predictor, opened once.

Why a separate object: the servicer stays a thin adapter over these plain Python
objects, and tests, the demo and the CLI's in-process mode can open the same
backend without any gRPC.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nnrag
from nnrag.settings import Settings

from rag_server.batching import BatchingEmbedder

log = logging.getLogger("nnrag.server")


class Unavailable(RuntimeError):
    """A part the request needs is not loaded (no store built, no predictor trained)."""


# The sandbox view of the RPC running in this thread (``Backend.measuring_for``), which the predictor's measurements of
# new code go through; None outside an RPC.
_CALL_POOL: ContextVar[Any] = ContextVar("nnrag_call_pool", default=None)


class CallScopedPool:
    """The pool the server hands its predictor: each measurement of new code's params/FLOPs goes through the calling
    RPC's own view of the sandbox (set by ``Backend.measuring_for``: the call's deadline and cancellation, and one of
    the ``max_pending_checks`` places), so it ends when its caller goes and counts like a Check.

    Why a context variable: one Predictor serves every call, and it only knows ``pool.check``. A measurement that
    ran on the raw pool kept both workers busy for its whole 15 s budget after the caller's 2 s deadline, and held
    RPC threads beyond any pending-checks limit. Outside an RPC (in-process use of a Backend) it is the pool itself."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def check(self, code: str, spec: Any = None, deadline: float | None = None, cancel: threading.Event | None = None) -> Any:
        call_pool = _CALL_POOL.get()
        if call_pool is None:
            return self.pool.check(code, spec, deadline=deadline, cancel=cancel)
        return call_pool.check(code, spec, deadline=deadline)


def published_stamp(path: Path) -> tuple[int, int] | None:
    """The store's published version pointer (``indexer.store.CURRENT_FILE``) as (mtime, size); None while none is
    published. One stat: cheap enough for every call of a server that has no store yet."""
    from indexer.store import CURRENT_FILE

    try:
        stat = (Path(path) / CURRENT_FILE).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclass
class Backend:
    settings: Settings
    store: Any | None = None  # indexer.store.BlockStore
    pool: Any | None = None  # sandbox.pool.CheckerPool
    predictor: Any | None = None  # predictor.api.Predictor
    store_error: str = ""
    predictor_error: str = ""
    batcher: BatchingEmbedder | None = None
    owns_pool: bool = True  # False when the caller lent its pool: closing is then the caller's job
    opened_at: float = field(default_factory=time.time)
    stopping: threading.Event = field(default_factory=threading.Event)  # set when the server starts draining
    wants_predictor: bool = False  # opened with_predictor: a predictor trained later is opened on a later call
    # Called (no arguments) when a predictor is opened after the backend was: the server marks PredictorService SERVING.
    predictor_listeners: list[Callable[[], None]] = field(default_factory=list)
    _predictor_stamp: Any = None  # the predictor files (predictor.train.saved_stamp) at the last failed open
    _predictor_lock: threading.Lock = field(default_factory=threading.Lock)
    _store_stamp: Any = None  # the store's CURRENT pointer (published_stamp) at the last open
    _store_lock: threading.Lock = field(default_factory=threading.Lock)
    # Places for sandbox work, shared by every servicer (``check_slots``): Check, Patch, Audit items and the
    # predictor's measurements count against one max_pending_checks.
    _check_slots: threading.BoundedSemaphore | None = None
    _check_slots_limit: int = 0
    _waiting_slots: threading.BoundedSemaphore | None = None
    _slots_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings, *, with_pool: bool = True, with_predictor: bool = True, pool: Any = None) -> "Backend":
        """Open what ``settings`` names. ``pool``: use this CheckerPool instead of starting one."""
        backend = cls(settings=settings, pool=pool, owns_pool=pool is None)
        backend._open_store(settings.store_path)
        if with_pool and pool is None:
            from sandbox.pool import CheckerPool

            backend.pool = CheckerPool(size=settings.workers)
        if with_predictor:
            backend.wants_predictor = True
            backend._open_predictor(settings.predictor_path)
        return backend

    def _open_store(self, path: Path) -> None:
        self._store_stamp = published_stamp(path)  # before the open: a build publishing during it is tried next time
        try:
            from indexer.embed import Embedder
            from indexer.store import BlockStore

            if not Path(path).exists():
                raise FileNotFoundError(f"no block store at {path}: build one with `nnrag index` (this server opens it once built)")
            store = BlockStore(Path(path))
            # One shared embedder behind the batcher: concurrent searches share forward passes.
            batcher = BatchingEmbedder(Embedder(threads=max(1, self.settings.embed_threads)))
            if batcher.version != store.embedder_version:
                batcher.close()
                raise RuntimeError(f"store was embedded with {store.embedder_version}, this server embeds with {batcher.version}: re-index")
            store.close()
            self.store, self.batcher = BlockStore(Path(path), embedder=batcher), batcher
        except Exception as exc:  # the server still checks code without a store
            self.store_error = f"{type(exc).__name__}: {exc}"
            log.warning("store not loaded", extra={"fields": {"path": str(path), "error": self.store_error}})

    def _open_predictor(self, path: Path) -> None:
        try:
            from predictor.api import Predictor
            from predictor.train import saved_stamp

            self._predictor_stamp = saved_stamp(Path(path))  # before the load: a save during it is tried next time
            self.predictor = Predictor.load(Path(path))
            # Params/FLOPs of new code are measured in the sandbox, never here, within the calling RPC's limits.
            self.predictor.pool = CallScopedPool(self.pool) if self.pool is not None else None
        except Exception as exc:
            self.predictor_error = f"{type(exc).__name__}: {exc}"
            log.info("predictor not loaded", extra={"fields": {"path": str(path), "error": self.predictor_error}})

    def refresh_predictor(self) -> bool:
        """Open the predictor if none is loaded and its files changed since the last try; True when one is loaded.

        Why: a predictor trained after the server started (``nnrag train-predictor --out DIR``) is served without a
        restart. Why only on a change: two stat calls per request are cheap, a failed unpickling per request is not.
        The listeners hear of a predictor opened here (the server's health turns SERVING)."""
        if self.predictor is not None or not self.wants_predictor:
            return self.predictor is not None
        with self._predictor_lock:
            if self.predictor is None and self._predictor_files_changed():
                self._open_predictor(self.settings.predictor_path)
                if self.predictor is not None:
                    self.predictor_error = ""
                    log.info("predictor loaded", extra={"fields": {"path": str(self.settings.predictor_path)}})
                    for listener in self.predictor_listeners:
                        listener()
        return self.predictor is not None

    def _predictor_files_changed(self) -> bool:
        try:
            from predictor.train import saved_stamp
        except Exception:  # noqa: BLE001 - predictor.api not importable here: nothing to open, ever
            return False
        return saved_stamp(self.settings.predictor_path) != self._predictor_stamp

    def refresh_store(self) -> bool:
        """Open the store if none is loaded and one was published since the last try; True when one is loaded.

        Why: a server started before ``nnrag index`` built its store kept answering "build one with nnrag index"
        after it was built. Why only on a change of the store's CURRENT pointer: one stat per call is cheap, loading
        the embedder per call is not."""
        if self.store is not None:
            return True
        path = self.settings.store_path
        if published_stamp(path) == self._store_stamp:
            return False
        with self._store_lock:
            if self.store is None and published_stamp(path) != self._store_stamp:
                self._open_store(path)
                if self.store is not None:
                    self.store_error = ""
                    log.info("store loaded", extra={"fields": {"path": str(path), "version": str(getattr(self.store, "version", ""))}})
        return self.store is not None

    # ------------------------------------------------------------------ accessors

    def need_store(self) -> Any:
        """The loaded store, opened now if one was built since the last try (``refresh_store``)."""
        if not self.refresh_store():
            raise Unavailable(f"no block store loaded ({self.store_error})")
        return self.store

    def check_slots(self, limit: int) -> tuple[threading.BoundedSemaphore, int]:
        """The server's one semaphore of places for sandbox work and its size, made with ``limit`` places by the first
        caller. Why one: the predictor's measurements of new code held workers and RPC threads beyond the
        ``max_pending_checks`` that bounds Check, Patch and Audit."""
        with self._slots_lock:
            if self._check_slots is None:
                self._check_slots, self._check_slots_limit = threading.BoundedSemaphore(limit), limit
            return self._check_slots, self._check_slots_limit

    def waiting_slots(self, limit: int) -> threading.BoundedSemaphore:
        """The places of ``check_slots`` that callers who wait for one (Audit items) may hold together: all but a
        quarter (at least one kept, unless there is only one). Why: an Audit item that finds no place waits and retakes
        one within 0.2 s of its release, while a unary Check, Patch or Predict measurement tries once and is refused;
        under mixed load 1,385 of 1,410 Checks were RESOURCE_EXHAUSTED while streams' items held every place."""
        with self._slots_lock:
            if self._waiting_slots is None:
                self._waiting_slots = threading.BoundedSemaphore(max(1, limit - max(1, limit // 4)))
            return self._waiting_slots

    @contextmanager
    def measuring_for(self, call_pool: Any) -> Iterator[None]:
        """Within the block, the predictor's measurements of new code in this thread go through ``call_pool`` (an
        object with ``check(code, spec, deadline=)``: the RPC's view of the sandbox; see ``CallScopedPool``)."""
        token = _CALL_POOL.set(call_pool)
        try:
            yield
        finally:
            _CALL_POOL.reset(token)

    def need_pool(self) -> Any:
        if self.pool is None:
            raise Unavailable("no sandbox pool in this server")
        return self.pool

    def need_predictor(self) -> Any:
        """The loaded predictor, opened now if it was trained since the last try (``refresh_predictor``)."""
        if not self.refresh_predictor():
            raise Unavailable(f"no predictor loaded ({self.predictor_error or 'predictor.api not available'})")
        return self.predictor

    def sandbox_info(self) -> dict[str, Any]:
        """Workers and the isolation they measured (None while they are still starting), with
        what that isolation does not contain: ``nnrag doctor --server`` prints it."""
        if self.pool is None:
            return {"workers": 0, "isolation": None, "not_contained": []}
        info = self.pool.isolation_if_ready()
        return {"workers": self.pool.size, "isolation": info.to_dict() if info else None,
                "not_contained": info.not_contained() if info else []}

    def versions(self) -> dict[str, str]:
        store = self.store
        embedder = getattr(store, "embedder", None) if store is not None else None
        return {
            "index_version": str(getattr(store, "version", "") or ""),
            "embedder_version": str(getattr(embedder, "version", "") or ""),
            "predictor_version": self._predictor_version(),
            "server_version": nnrag.__version__,
        }

    def _predictor_version(self) -> str:
        """``<default estimator>@<trained at>+<reports it learned from>reported.r<report store revision>``: the revision
        changes with every report stored since (``ReportStore.revision``), as the answers do at once."""
        if self.predictor is None:
            return ""
        from predictor.api import ReportsUnavailable

        meta = self.predictor.meta
        trained = f"{self.predictor.default_model}@{int(meta.get('trained_at', 0))}+{meta.get('n_reported', 0)}reported"
        try:
            return f"{trained}.r{self.predictor.reports.revision()}"
        except ReportsUnavailable:  # the directory moved away while serving: the answers use no reports either
            return trained

    def close(self) -> None:
        if self.pool is not None and self.owns_pool:
            self.pool.close()
        self.pool = None
        if self.batcher is not None:
            self.batcher.close()
        close_store = getattr(self.store, "close", None)
        if callable(close_store):
            close_store()
