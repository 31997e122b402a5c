"""Opening the local block store for a CLI command: the path from ``--store`` or the settings, and a clear error
(exit 2, the problem named) instead of a traceback when it is missing, unreadable or filtered down to nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer


def store_path(store_dir: Optional[Path]) -> Path:
    from nnrag.settings import get_settings

    return Path(store_dir or get_settings().store_path)


def buildable_store_path(store_dir: Optional[Path]) -> Path:
    """The store path ``nnrag index`` builds at; exit 2 when it, or the nearest folder above it that exists, is not
    a directory. Why before the build: the build's lock would fail on it with a FileExistsError traceback, after
    the sources were read."""
    path = store_path(store_dir)
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        named = f"store path {path}" if existing == path else f"{existing}, above store path {path},"
        typer.echo(f"error: {named} is not a directory", err=True)
        raise typer.Exit(2)
    return path


def stored_source_specs(sources: Optional[list[str]]) -> Optional[list[str]]:
    """``--source`` values as the store keeps them: ``dir:`` and ``wheel:`` paths made absolute here, in the user's
    working directory. Why: ``nnrag index -s dir:proj`` stores ``dir:/abs/proj``, and ``--source dir:proj`` (or a
    trailing slash) on search, block and patch was "not in this store"; a server cannot resolve the client's paths."""
    if not sources:
        return sources
    from corpus.sources import canonical_spec

    return [canonical_spec(s) for s in sources]


def open_store(store_dir: Optional[Path]) -> Any:
    """The published version of the store; exit 2 naming the problem (no index there, a broken CURRENT, a schema
    or embedder this code does not read)."""
    from indexer.store import BlockStore, StoreError

    try:
        return BlockStore(store_path(store_dir))
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def open_filtered_store(store_dir: Optional[Path], sources: Optional[list[str]], policy: Optional[str]) -> Any:
    """The local store seen through ``sources`` and ``policy`` (None: the settings' ``license_policy``), as the server
    filters a request; exit 2 naming the problem when a source is unknown or the filter leaves none."""
    from nnrag.settings import get_settings
    from rag_server.block_filter import restrict

    store = open_store(store_dir)
    try:
        return restrict(store, sources, policy or get_settings().license_policy)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
