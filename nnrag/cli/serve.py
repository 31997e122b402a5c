"""``nnrag serve``: run the gRPC server (health, reflection, optional token and metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app."""

    @app.command("serve")
    def serve_command(
        address: Optional[str] = typer.Option(None, "--address", help="host:port to listen on (default from settings: 127.0.0.1:50051)."),
        store: Optional[Path] = typer.Option(None, "--store", help="Block store directory (default from settings)."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, max=256, help="Sandbox worker processes."),
        token: Optional[str] = typer.Option(None, "--token", envvar="NNRAG_TOKEN", help="Require 'authorization: Bearer TOKEN' on every call."),
        metrics_port: Optional[int] = typer.Option(None, "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on this port."),
    ) -> None:
        """Serve search, patch, check, audit, suggest and prediction over gRPC until SIGTERM."""
        from pydantic import ValidationError

        from nnrag.settings import Settings, get_settings, settings_error
        from rag_server.server import serve

        overrides = {"address": address, "store_dir": store, "workers": workers, "token": token, "metrics_port": metrics_port}
        given = {k: v for k, v in overrides.items() if v is not None}
        base = get_settings()
        try:
            settings = Settings(**{**base.model_dump(), **given})
        except ValidationError as exc:
            options = {"address": "--address", "store_dir": "--store", "workers": "--workers", "token": "--token",
                       "metrics_port": "--metrics-port"}
            raise settings_error(exc, {k: options[k] for k in given}) from None
        try:
            serve(settings)
        except OSError as exc:  # the address is taken or not ours to bind
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
