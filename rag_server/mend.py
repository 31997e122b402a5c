"""Make code being typed parse, line for line, so Suggest can read it as it reads finished code.

Code in an editor rarely parses (a ``)`` not typed yet, ``x = self.`` half written, a string still open, a line at
the wrong indent). ``mended`` repairs the statement Python's parser stops at, one at a time, with the smallest edit
that lets the parser get further: close the brackets and the string the line opened, re-indent it, replace it by
``pass`` or blank it; as a last resort it blanks the whole top-level statement around it. Every edit keeps the number
of lines, so each line number of the mended code still points at the same line of the editor's file.
"""

from __future__ import annotations

import re
import time

from nnrag import pyparse

MAX_EDITS = 60  # broken statements mended per file at most
BUDGET_S = 2.0  # seconds of parsing at most (a 230,000-character file parses in 0.09 s): an editor waits for the answer
_BRACKETS = {"(": ")", "[": "]", "{": "}"}
_HEADER_LINE = re.compile(r"on line (\d+)")
# code ending where a value must follow: an operator, ``=`` of a keyword argument, ``:`` of a dict entry or slice
_OPEN_OPERAND = re.compile(r"([-+*/%&|^<>=@~:]|\b(and|or|not|in|is|if|else|lambda|return|yield|await))$")


def syntax_error(code: str) -> SyntaxError | None:
    """The error Python's parser stops at, or None when ``code`` parses."""
    try:
        pyparse.parse(code)
    except SyntaxError as exc:
        return exc
    return None


def _unclosed(line: str) -> str:
    """The closing brackets ``line`` (one line or several) still owes, innermost first (strings and comments
    skipped)."""
    stack: list[str] = []
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif line.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
            elif ch == "\n" and len(quote) == 1:  # a one-line string ends with its line, closed or not
                quote = ""
        elif ch == "#":
            i = line.find("\n", i)
            if i < 0:
                break
        elif ch in "'\"":
            quote = ch * 3 if line.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        elif ch in _BRACKETS:
            stack.append(_BRACKETS[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
        i += 1
    return "".join(reversed(stack))


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _previous_code_line(lines: list[str], at: int) -> str:
    return next((lines[i] for i in range(at - 1, -1, -1) if lines[i].strip()), "")


def _continuation_end(lines: list[str], at: int) -> int:
    """Index of the last line after ``at`` indented deeper than it with only such lines (or blanks) between: where
    the arguments of a call opened at ``at`` end; ``at`` when none is."""
    depth = len(_indent(lines[at]))
    last = at
    for i in range(at + 1, len(lines)):
        if not lines[i].strip():
            continue
        if len(_indent(lines[i])) <= depth:
            break
        last = i
    return last


def _comment_start(line: str) -> int:
    """Index of the ``#`` that starts ``line``'s comment (strings skipped), or its length when it has none."""
    quote = ""
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif line.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch == "#":
            return i
        elif ch in "'\"":
            quote = ch * 3 if line.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        i += 1
    return len(line)


def _statement_start(lines: list[str], at: int) -> int:
    """Index of the first line of the top-level statement around index ``at``."""
    return next((i for i in range(at, -1, -1) if lines[i].strip() and not lines[i][0].isspace()), 0)


def _closed(lines: list[str], first: int, index: int, tail: str = "") -> str:
    """Line ``index`` ended with ``tail`` and every bracket still open in lines ``first`` to ``index`` closed, innermost
    first, before the line's comment (closing after it would close nothing)."""
    line = lines[index]
    cut = _comment_start(line)
    code, comment = line[:cut].rstrip(), line[cut:]
    if tail == ".":  # ``x = self.`` half typed: read without the dot
        code, tail = code.removesuffix("."), ""
    code += tail
    closing = code + _unclosed("\n".join(lines[first:index] + [code]))
    return closing + ("  " + comment if comment else "")


def _tails(line: str) -> list[str]:
    """What to end the code of ``line`` with before closing its brackets: nothing, a value after an operator or a
    keyword argument not typed yet (``foo(x=``, ``a +``), no dot after ``self.``, or the quote of a string left open."""
    code = line[: _comment_start(line)].rstrip()
    tails = [""]
    if _OPEN_OPERAND.search(code):
        tails.append(" None")
    if code.endswith(".") and not code.endswith(".."):
        tails.append(".")
    return tails + ['"', "'", '"""', "'''"]


def _line_fixes(lines: list[str], at: int, error: SyntaxError) -> list[tuple[int, str]]:
    """(line index, new text) edits to try for the error at line index ``at``, the ones that keep most first. Brackets
    are closed at the end of the line, then after the more-indented lines that follow it (the arguments of a call
    opened there), and for each also every bracket still open since its statement began (the line is the last
    argument of ``nn.Sequential(``, itself not closed yet)."""
    line = lines[at]
    fixes: list[tuple[int, str]] = []
    header = _HEADER_LINE.search(error.msg or "")
    if "expected an indented block" in (error.msg or "") and header:  # a body not typed yet: ``def f(self):``
        index = int(header.group(1)) - 1
        if 0 <= index < len(lines):
            fixes.append((index, lines[index].rstrip() + " pass"))
    last = _continuation_end(lines, at)
    start = _statement_start(lines, at)
    for tail in _tails(lines[last]) if last > at else []:  # ``foo(a,`` then more-indented argument lines: close after them
        fixes += [(last, _closed(lines, at, last, tail)), (last, _closed(lines, start, last, tail))]
    for tail in _tails(line):
        fixes += [(at, _closed(lines, at, at, tail)), (at, _closed(lines, start, at, tail))]
    previous = _previous_code_line(lines, at)
    deeper = _indent(previous) + ("    " if previous.rstrip().endswith(":") else "")
    fixes += [(at, deeper + line.strip()), (at, _indent(previous) + line.strip())]
    fixes += [(at, _indent(line) + "pass"), (at, deeper + "pass"), (at, "")]
    return list(dict.fromkeys((i, text) for i, text in fixes if text != lines[i]))  # each edit once, in order


def _error_line(error: SyntaxError, n_lines: int) -> int:
    """0-based index of the line the error names, within the file."""
    return min(max((error.lineno or n_lines) - 1, 0), max(n_lines - 1, 0))


def _blank_top_level(lines: list[str], at: int) -> list[str]:
    """``lines`` with the top-level statement around index ``at`` blanked: the last resort, keeping the rest."""
    start = next((i for i in range(at, -1, -1) if lines[i].strip() and not lines[i][0].isspace()), 0)
    end = next((i for i in range(at + 1, len(lines)) if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    return lines[:start] + [""] * (end - start) + lines[end:]


def _mend_once(lines: list[str], error: SyntaxError, deadline: float) -> list[str] | None:
    """``lines`` with the first edit that moves the parser past the error's line (or lets it finish); None once the
    deadline has passed."""
    at = _error_line(error, len(lines))
    for index, text in _line_fixes(lines, at, error):
        if time.monotonic() > deadline:
            return None
        trial = lines[:index] + [text] + lines[index + 1 :]
        after = syntax_error("\n".join(trial))
        if after is None or _error_line(after, len(trial)) > at:
            return trial
    return _blank_top_level(lines, at)


def mended(code: str) -> str | None:
    """``code`` edited line for line until it parses (same number of lines), or None when ``MAX_EDITS`` edits do not
    get there within ``BUDGET_S``. ``code`` itself when it parses already."""
    lines = code.split("\n")
    deadline = time.monotonic() + BUDGET_S
    for _ in range(MAX_EDITS):
        error = syntax_error("\n".join(lines))
        if error is None:
            return "\n".join(lines)
        edited = _mend_once(lines, error, deadline)
        if edited is None:
            return None
        lines = edited
    return None
