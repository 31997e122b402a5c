"""The ``nnrag`` command line: one typer app; each area registers its own commands.

Commands that have an RPC accept ``--server ADDR`` to go over the wire; without it
they run in-process.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

import click
import typer
from typer.core import TyperGroup

from nnrag.cli import check, index, patch, predict, serve

PIPE_CLOSED_EXIT = 128 + signal.SIGPIPE  # 141: what a shell reports for a tool killed by SIGPIPE (`yes | head -1`)


class OutputClosed(BaseException):
    """stdout or stderr's reader went away (``nnrag stats | head -1``). A BaseException, so that neither typer (which
    makes an EPIPE exit 1) nor rich (``SystemExit(1)``) turns it into exit 1, which for ``check`` means "the model
    failed its check": a passing model in ``nnrag check m.py --json | true`` failed a ``set -o pipefail`` pipeline."""


class _Commands(TyperGroup):
    """The app's command group: a broken pipe inside any command becomes ``OutputClosed`` before typer sees it."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise OutputClosed from None


def _raise_output_closed(console) -> NoReturn:
    """rich's ``Console.on_broken_pipe`` (meant to be overridden), which otherwise raises SystemExit(1)."""
    raise OutputClosed


app = typer.Typer(cls=_Commands, help="nnrag: scope-closed PyTorch blocks, sandboxed checks, patching, prediction.", no_args_is_help=True)

def _print_version(value: bool) -> None:
    if value:
        import nnrag

        typer.echo(f"nnrag {nnrag.__version__} (API nnrag.v1)")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print nnrag's version (the server_version the server reports) and exit.")) -> None:
    """Options before the command. Why --version: a script pinning the tool had only pip to ask."""


for area in (index, check, patch, predict, serve):
    area.register(app)


def _exit_pipe_closed() -> NoReturn:
    """Exit 141, silently, as a Unix tool on a closed pipe does. stdout and stderr are pointed at /dev/null first, so
    that flushing what is still buffered at exit raises nothing more (https://docs.python.org/3/library/signal.html,
    "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # a stream with no descriptor of its own
            pass
    raise SystemExit(PIPE_CLOSED_EXIT)


def _flush_output() -> None:
    """Write out what is still buffered, so that a closed pipe is seen here and not at interpreter exit (exit 120)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            raise OutputClosed from None
        except (OSError, ValueError):  # closed by the command: nothing left to write
            pass


def main() -> None:
    from rich.console import Console

    from nnrag.settings import SettingsError, get_settings

    Console.on_broken_pipe = _raise_output_closed
    try:
        try:
            get_settings()  # for every command: one given --store read no settings, so a refused value passed unnoticed
            app()
        except SettingsError as exc:  # a bad NNRAG_* variable or nnrag.toml value: name it, no traceback
            typer.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from None
        finally:
            _flush_output()
    except (OutputClosed, BrokenPipeError):
        _exit_pipe_closed()


if __name__ == "__main__":
    main()
