"""The ``nnrag`` command line: one typer app; each area registers its own commands.

Commands that have an RPC accept ``--server ADDR`` to go over the wire; without it
they run in-process.
"""

from __future__ import annotations

import typer

from nnrag.cli import check, index, patch, predict, serve

app = typer.Typer(help="nnrag: scope-closed PyTorch blocks, sandboxed checks, patching, prediction.", no_args_is_help=True)

for area in (index, check, patch, predict, serve):
    area.register(app)


def main() -> None:
    from nnrag.settings import SettingsError, get_settings

    try:
        get_settings()  # for every command: one given --store read no settings, so a refused value passed unnoticed
        app()
    except SettingsError as exc:  # a bad NNRAG_* variable or nnrag.toml value: name it, no traceback
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
