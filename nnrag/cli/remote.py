"""``--server ADDR``: the one way CLI commands talk to an nnrag server.

Every command with an RPC goes through ``remote_client``, so an API error (bad request,
server unreachable, auth) ends each of them the same way: the server's message on stderr
and exit code 2, never a traceback.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import typer

if TYPE_CHECKING:
    from rag_server.client import Client


@contextmanager
def remote_client(server: str, hint: str = "") -> Iterator["Client"]:
    """A ``Client`` for ``server`` with the configured token; ``hint`` is printed under an error."""
    from nnrag.settings import get_settings
    from rag_server.client import ApiError, Client

    with Client(server, token=get_settings().token) as client:
        try:
            yield client
        except ApiError as exc:
            typer.echo(f"error: {exc}" + (f"\n{hint}" if hint else ""), err=True)
            raise typer.Exit(2) from None
