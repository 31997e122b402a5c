"""Dynamic batching of concurrent query embeddings.

Why: one MiniLM forward for 32 queries costs far less than 32 forwards of one
query (fixed per-call overhead, better use of the matrix kernels). Server threads
each call ``encode([query])``; this wrapper queues them, and one background thread
runs whatever has accumulated as a single batch. Nothing waits on a timer: while a
batch runs, the next one fills up, so a lone client pays only a thread hand-off
(~0.1 ms) and a loaded server gets large batches on its own.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from typing import Any, Protocol

import numpy as np


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class BatchingEmbedder:
    """Thread-safe ``encode`` that merges concurrent calls into batches of up to ``max_batch`` texts.

    Every other attribute (``version``, ``dim``, ...) is the wrapped embedder's, so the
    wrapper can replace the embedder inside a store without the store noticing.
    """

    def __init__(self, embedder: TextEncoder, max_batch: int = 64) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.inner = embedder
        self.max_batch = max_batch
        self.batches = 0  # batches run, for metrics and tests
        self.texts = 0  # texts encoded
        self._queue: queue.SimpleQueue[tuple[list[str], Future] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="embed-batcher", daemon=True)
        self._closed = False
        self._thread.start()

    def __getattr__(self, name: str) -> Any:  # only called for attributes not found here
        return getattr(self.inner, name)

    def encode(self, texts: list[str], *args: Any, **kwargs: Any) -> np.ndarray:
        """Same contract as the wrapped ``encode``; blocks until this call's rows are ready."""
        if isinstance(texts, str):
            raise TypeError("encode takes a list of texts, not a single string")
        texts = list(texts)
        if self._closed:
            raise RuntimeError("BatchingEmbedder is closed")
        if not texts or len(texts) > self.max_batch:  # big jobs (indexing) go straight through
            return self.inner.encode(texts, *args, **kwargs)
        future: Future = Future()
        self._queue.put((texts, future))
        return future.result()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=5)

    def _take_batch(self) -> list[tuple[list[str], Future]] | None:
        first = self._queue.get()
        if first is None:
            return None
        batch, size = [first], len(first[0])
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:  # close() while requests are queued: finish them, then stop
                self._queue.put(None)
                break
            batch.append(item)
            size += len(item[0])
        return batch

    def _run(self) -> None:
        while (batch := self._take_batch()) is not None:
            texts = [t for item_texts, _ in batch for t in item_texts]
            try:
                vectors = self.inner.encode(texts)
            except BaseException as exc:  # hand the error to every waiting caller
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            start = 0
            for item_texts, future in batch:
                future.set_result(vectors[start : start + len(item_texts)])
                start += len(item_texts)
