"""``ast.parse`` that survives CPython 3.11's threaded AST bug, and the refusal of code nested too deeply to read.

Why: in 3.11 the AST constructor keeps its recursion depth in interpreter-wide state, so two threads parsing at
once (the server's RPC threads: Patch, Suggest, Predict) can make one of them fail with a spurious
``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905). It surfaced as an INTERNAL
error of a Patch in CI. Parsing is pure, so the call is simply repeated.

Nesting: CPython's parser takes code that our readers cannot. libcst's native parser overflows the thread's stack
past CPython's limits (a segfault), and libcst's visitors (scope analysis, codegen, our transformers) recurse in
Python, about 3.6 frames per tree level: with the default recursion limit of 1000, Patch and Suggest raised
RecursionError at libcst depth 278 (``[[...]]`` 137 levels), 289 (``a[a[...]]`` 96 levels) and 324-326 (chains of
320 ``and``, ``+``, ``.b``, ``-``, ``not``, implicit string concatenations, ``elif``). timm's deepest file is 30 deep.
``parse_cst`` and ``refuse_too_deep`` refuse anything past ``MAX_DEPTH``, with room for the frames below the reader
(a server thread, the CLI).
"""

from __future__ import annotations

import ast
import codecs
import io
import tokenize
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import libcst as cst

RETRIES = 5
BOM = "\ufeff"  # U+FEFF as the first character of a text: a UTF-8 byte-order mark decoded as text
MAX_DEPTH = 180  # levels of libcst's tree (or ast's, when libcst does not read the code): about 2/3 of what overflowed
LEVELS_PER_BRACKET = 3  # libcst levels one open bracket costs at most (``a[`` is Subscript, SubscriptElement, Index)
_BRACKETS = {"(": ")", "[": "]", "{": "}"}


class TooDeep(RecursionError, ValueError):
    """Code nested past what our parsers and tree walkers can read. A RecursionError, as CPython's parser raises on
    such code (every caller reads that as "does not parse"), and a ValueError, the bad-input error of the CLI."""


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``; a spurious depth-mismatch SystemError is retried, anything else raised. A
    leading BOM is dropped, as Python drops it from a file. The parser's MemoryError on deeply nested code is a
    RecursionError (``TooDeep``), which every caller already reads as "this code does not parse"."""
    source = source.removeprefix(BOM)
    for attempt in range(RETRIES):
        try:
            return ast.parse(source, filename=filename)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == RETRIES - 1:
                raise
        except MemoryError:  # the parser's own stack ran out ("x = " + "-" * 100_000 + "1"): code, not the machine
            raise TooDeep("the code nests too deeply for Python's parser") from None
    raise AssertionError("unreachable")


def parse_cst(source: str) -> cst.Module:
    """libcst's tree of ``source``, refused with ``TooDeep`` when it nests past ``MAX_DEPTH`` (before libcst's parser
    sees code past CPython's limits, which would overflow the thread's stack). Code libcst cannot read raises its
    ``ParserSyntaxError``, as ``libcst.parse_module`` does."""
    import libcst as cst

    tree = _cpython_tree(source)
    module = cst.parse_module(source)
    depth = _cst_depth(module)
    if depth > MAX_DEPTH:  # the line only for the message: measuring ``ast`` costs a walk more
        _refuse(depth, ast_depth(tree)[1] if tree is not None else 0)
    return module


def refuse_too_deep(source: str) -> None:
    """``TooDeep`` (a RecursionError) when ``source`` nests past what any of our readers takes: CPython's parser,
    libcst's parser and visitors, our own recursive walkers. Code that does not parse (mid-edit, a NUL byte) is
    measured by its brackets; any other problem is left to the caller."""
    import libcst as cst

    try:
        parse_cst(source)
    except cst.ParserSyntaxError:  # CPython reads it, libcst does not: only ``ast`` walkers will see it
        tree = _cpython_tree(source)
        if tree is not None:
            _refuse(*ast_depth(tree))


def _cpython_tree(source: str) -> ast.Module | None:
    """``ast`` tree of ``source``; None when it does not parse, after its brackets were measured; ``TooDeep`` when
    CPython's parser gives up on its nesting."""
    try:
        return parse(source)
    except RecursionError as exc:
        raise TooDeep(str(exc) or "the code nests too deeply for Python's parser") from None
    except (SyntaxError, ValueError):  # mid-edit code (CPython's "too many nested parentheses" is one), a NUL byte
        depth, line = bracket_depth(source)
        _refuse(depth * LEVELS_PER_BRACKET, line, f"{depth} brackets open at once")
        return None


def _refuse(depth: int, line: int, what: str = "") -> None:
    if depth > MAX_DEPTH:
        where = f" (line {line})" if line else ""
        what = what or f"{depth} levels of syntax"
        raise TooDeep(f"the code nests too deeply to read{where}: {what}, at most {MAX_DEPTH // LEVELS_PER_BRACKET} "
                      f"brackets or {MAX_DEPTH} levels of syntax; flatten it (name the inner parts)")


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _cst_depth(module: Any) -> int:
    """Levels of libcst's tree (the module is 1), walked without recursion."""
    import dataclasses

    import libcst as cst

    deepest = 0
    stack = [(module, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        names = _CHILD_FIELDS.get(type(node))
        if names is None:
            names = _CHILD_FIELDS.setdefault(type(node), tuple(f.name for f in dataclasses.fields(node)))
        for name in names:
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                stack.append((value, depth + 1))
            elif isinstance(value, (list, tuple)):
                stack.extend((child, depth + 1) for child in value if isinstance(child, cst.CSTNode))
    return deepest


def ast_depth(tree: ast.Module) -> tuple[int, int]:
    """(levels of ``tree``, the line of its deepest node), walked without recursion."""
    deepest, line = 0, 0
    stack: list[tuple[ast.AST, int, int]] = [(tree, 1, 0)]
    while stack:
        node, depth, at = stack.pop()
        at = getattr(node, "lineno", at)
        if depth > deepest:
            deepest, line = depth, at
        stack.extend((child, depth + 1, at) for child in ast.iter_child_nodes(node))
    return deepest, line


def bracket_depth(source: str) -> tuple[int, int]:
    """(most brackets open at once in ``source``, the line where that is first reached); strings and comments are
    skipped, a one-line string ends with its line. Why: code that does not parse has no tree to measure."""
    open_now = deepest = 0
    line = at = 1
    quote = ""
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\n":
            line += 1
            if len(quote) == 1:
                quote = ""
        elif quote:
            if ch == "\\":
                i += 1
                line += source[i : i + 1] == "\n"
            elif source.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch == "#":
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
            continue
        elif ch in "'\"":
            quote = ch * 3 if source.startswith(ch * 3, i) else ch
            i += len(quote) - 1
        elif ch in _BRACKETS:
            open_now += 1
            if open_now > deepest:
                deepest, at = open_now, line
        elif ch in ")]}" and open_now:
            open_now -= 1
        i += 1
    return deepest, at


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
