"""What the server serves: the block store, the sandbox pool and the predictor, opened once.

Why a separate object: the servicer stays a thin adapter over these plain Python
objects, and tests, the demo and the CLI's in-process mode can open the same
backend without any gRPC.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nnrag
from nnrag.settings import Settings

from rag_server.batching import BatchingEmbedder

log = logging.getLogger("nnrag.server")


class Unavailable(RuntimeError):
    """A part the request needs is not loaded (no store built, no predictor trained)."""


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
    wants_predictor: bool = False  # opened with_predictor: a predictor trained later is opened on a later call
    # Called (no arguments) when a predictor is opened after the backend was: the server marks PredictorService SERVING.
    predictor_listeners: list[Callable[[], None]] = field(default_factory=list)
    _predictor_stamp: Any = None  # the predictor files (predictor.train.saved_stamp) at the last failed open
    _predictor_lock: threading.Lock = field(default_factory=threading.Lock)

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
        try:
            from indexer.embed import Embedder
            from indexer.store import BlockStore

            if not Path(path).exists():
                raise FileNotFoundError(f"no block store at {path}: build one with `nnrag index`")
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
            self.predictor.pool = self.pool  # params/FLOPs of new code are measured in the sandbox, never here
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

    # ------------------------------------------------------------------ accessors

    def need_store(self) -> Any:
        if self.store is None:
            raise Unavailable(f"no block store loaded ({self.store_error})")
        return self.store

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
        if self.predictor is None:
            return ""
        meta = self.predictor.meta
        return f"{self.predictor.default_model}@{int(meta.get('trained_at', 0))}+{meta.get('n_reported', 0)}reported"

    def close(self) -> None:
        if self.pool is not None and self.owns_pool:
            self.pool.close()
        self.pool = None
        if self.batcher is not None:
            self.batcher.close()
        close_store = getattr(self.store, "close", None)
        if callable(close_store):
            close_store()
