"""``ast.parse`` that survives CPython 3.11's threaded AST bug.

Why: in 3.11 the AST constructor keeps its recursion depth in interpreter-wide state, so two threads parsing at
once (the server's RPC threads: Patch, Suggest, Predict) can make one of them fail with a spurious
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905). It surfaced as an INTERNAL
error of a Patch in CI. Parsing is pure, so the call is simply repeated.
"""

from __future__ import annotations

import ast

RETRIES = 5


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``; a spurious depth-mismatch SystemError is retried, anything else raised."""
    for attempt in range(RETRIES):
        try:
            return ast.parse(source, filename=filename)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")
