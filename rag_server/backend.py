"""What the server serves: the block store, the sandbox pool and the predictor, opened once.

Why a separate object: the servicer stays a thin adapter over these plain Python
objects, and tests, the demo and the CLI's in-process mode can open the same
backend without any gRPC.
"""

from __future__ import annotations

import logging
import time
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

    @classmethod
    def open(cls, settings: Settings, *, with_pool: bool = True, with_predictor: bool = True, pool: Any = None) -> "Backend":
        """Open what ``settings`` names. ``pool``: use this CheckerPool instead of starting one."""
        backend = cls(settings=settings, pool=pool, owns_pool=pool is None)
        backend._open_store(settings.store_path)
        if with_pool and pool is None:
            from sandbox.pool import CheckerPool

            backend.pool = CheckerPool(size=settings.workers)
        if with_predictor:
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

            self.predictor = Predictor.load(Path(path))
            self.predictor.pool = self.pool  # params/FLOPs of new code are measured in the sandbox, never here
        except Exception as exc:
            self.predictor_error = f"{type(exc).__name__}: {exc}"
            log.info("predictor not loaded", extra={"fields": {"path": str(path), "error": self.predictor_error}})

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
        if self.predictor is None:
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
