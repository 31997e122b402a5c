"""Printing rich tables whole.

rich sizes a console that is not a terminal (a pipe, a file, a CI log) to 80 columns and then shortens every cell
that does not fit with an ellipsis, so `nnrag search ... > hits.txt` lost the block names users grep for. A table
printed here is laid out at its natural width when the output is not a terminal; on a terminal it fits the window.
"""

from __future__ import annotations

import unicodedata
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


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def terminal_text(text: str) -> str:
    """``text`` with every control character but newline and tab (escape sequences, bell, carriage return, C1 codes)
    and every bidirectional override written as its Python escape. Why: what a check prints, raises or names comes from
    the checked code, and ``\\x1b[2J``, ``\\x1b]52;...`` or ``\\x1b[8m`` reached the user's terminal: a cleared screen,
    a fake "ok", hidden text, a write to the clipboard. A lone surrogate is escaped too: rich could not encode it and
    ``nnrag check`` ended in a traceback."""
    if text.isprintable():
        return text
    return "".join(c if c in "\n\t" or not (unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS)
                   else repr(c)[1:-1] for c in text)
