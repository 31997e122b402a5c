"""``ast.parse`` that survives CPython 3.11's threaded AST bug.

Why: in 3.11 the AST constructor keeps its recursion depth in interpreter-wide state, so two threads parsing at
once (the server's RPC threads: Patch, Suggest, Predict) can make one of them fail with a spurious
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905). It surfaced as an INTERNAL
error of a Patch in CI. Parsing is pure, so the call is simply repeated.
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize

RETRIES = 5
BOM = "\ufeff"  # U+FEFF as the first character of a text: a UTF-8 byte-order mark decoded as text


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``; a spurious depth-mismatch SystemError is retried, anything else raised. A
    leading BOM is dropped, as Python drops it from a file. The parser's MemoryError on deeply nested code is a
    RecursionError, which every caller already reads as "this code does not parse"."""
    source = source.removeprefix(BOM)
    for attempt in range(RETRIES):
        try:
            return ast.parse(source, filename=filename)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == RETRIES - 1:
                raise
        except MemoryError:  # the parser's own stack ran out ("x = " + "-" * 100_000 + "1"): code, not the machine
            raise RecursionError("the code nests too deeply for Python's parser") from None
    raise AssertionError("unreachable")


def refuse_too_deep(source: str) -> None:
    """RecursionError when ``source`` nests past CPython's parser; any other parse problem (mid-edit code, a NUL byte)
    is left to the caller. Why: libcst's parser has no such limit and overflows the thread's stack on that code, so
    whatever hands text to libcst in the server process asks this first."""
    try:
        parse(source)
    except (SyntaxError, ValueError):
        pass


def decode_source(data: bytes) -> str:
    """The text of a Python file's bytes, decoded as Python decodes it (a UTF-8 BOM or a ``coding`` cookie picks the
    encoding, and the BOM is dropped: editors on Windows write one; left in, ``ast.parse`` fails on U+FEFF), except
    that bytes not valid in that encoding, which Python refuses, fall back to latin-1, so one bad byte never loses a
    file."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return data.removeprefix(codecs.BOM_UTF8).decode("latin-1")
