"""Printing rich tables whole.

rich sizes a console that is not a terminal (a pipe, a file, a CI log) to 80 columns and then shortens every cell
that does not fit with an ellipsis, so `nnrag search ... > hits.txt` lost the block names users grep for. A table
printed here is laid out at its natural width when the output is not a terminal; on a terminal it fits the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich loads when a table is printed: the CLI starts without it
    from rich.console import Console
    from rich.table import Table


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` on ``console`` (stdout by default), at full width unless the output is a terminal."""
    from rich.console import Console

    console = console or Console()
    if not console.is_terminal:
        natural = console.measure(table, options=console.options.update_width(100_000)).maximum
        console = Console(width=max(console.width, natural), stderr=console.stderr)
    console.print(table)
