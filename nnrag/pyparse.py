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
(a server thread, the CLI). Long flat chains (3,000 ``+ x``, ``.clone()`` calls) made the parsers themselves fail or
take seconds before any tree could be measured: ``measure_nesting`` counts them from tokens first (see below).
"""

from __future__ import annotations

import ast
import codecs
import io
import keyword
import threading
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import libcst as cst

RETRIES = 5
_PARSING = threading.Lock()  # CPython 3.11's AST constructor state is interpreter-wide: one parse at a time
BOM = "\ufeff"  # U+FEFF as the first character of a text: a UTF-8 byte-order mark decoded as text
MAX_DEPTH = 180  # levels of libcst's tree (or ast's, when libcst does not read the code): about 2/3 of what overflowed
LEVELS_PER_BRACKET = 3  # libcst levels one open bracket costs at most (``a[`` is Subscript, SubscriptElement, Index)
_BRACKETS = {"(": ")", "[": "]", "{": "}"}


class TooDeep(RecursionError, ValueError):
    """Code nested past what our parsers and tree walkers can read. A RecursionError, as CPython's parser raises on
    such code (every caller reads that as "does not parse"), and a ValueError, the bad-input error of the CLI."""


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> Any:
    """``ast.parse(source, filename, mode)`` (an ``ast.Module``, or an ``ast.Expression`` for mode "eval"), one thread
    at a time (``_PARSING``); a spurious depth-mismatch SystemError (a parse by code that does not come here) is
    retried, anything else raised. A leading BOM is dropped, as Python drops it from a file. The parser's MemoryError and
    RecursionError on deeply nested code are a ``TooDeep`` (a RecursionError, which every caller already reads as "this
    code does not parse") that says where and what nests, and what to do.

    Why the lock: retries alone still lost 114 of 554 Suggests to INTERNAL errors under mixed load (a raw ``ast.parse``
    in the channels-first reader), and every retry can collide again; parses are milliseconds, so serialising them costs
    the server nothing measurable."""
    source = source.removeprefix(BOM)
    for attempt in range(RETRIES):
        try:
            with _PARSING:
                return ast.parse(source, filename=filename, mode=mode)
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == RETRIES - 1:
                raise
        except (MemoryError, RecursionError):  # its stack ran out ("x = " + "-" * 100_000 + "1"), or its AST
            raise TooDeep(too_deep_message(measure_nesting(source))) from None  # constructor's (3,000 "+ a"s)
    raise AssertionError("unreachable")


def parse_cst(source: str) -> cst.Module:
    """libcst's tree of ``source``, refused with ``TooDeep`` when it nests past ``MAX_DEPTH`` (before libcst's parser
    sees code past CPython's limits, which would overflow the thread's stack). Code libcst cannot read raises its
    ``ParserSyntaxError``, as ``libcst.parse_module`` does."""
    import libcst as cst

    nesting = refuse_past(source, MAX_TOKEN_DEPTH)  # before any parser sees a chain it fails on, or is slow on
    tree = _cpython_tree(source)
    module = cst.parse_module(source)
    depth = _cst_depth(module)
    if depth > MAX_DEPTH:  # the line only for the message: measuring ``ast`` costs a walk more
        line = ast_depth(tree)[1] if tree is not None else nesting.line
        _refuse(depth, line, f"{nesting.describe()}, {depth} levels of syntax" if nesting.depth > MAX_DEPTH // 2 else "")
    return module


def refuse_past(source: str, limit: int) -> Nesting:
    """``measure_nesting(source)``, or ``TooDeep`` when its depth is past ``limit``; no parser runs."""
    nesting = measure_nesting(source)
    if nesting.depth > limit:
        raise TooDeep(too_deep_message(nesting, limit))
    return nesting


def too_deep_error(source: str, exc: BaseException | None = None) -> TooDeep:
    """``exc`` when it is a ``TooDeep`` already, else the ``TooDeep`` that says how ``source`` nests. Why: the last
    resort of the CLI and the server for a RecursionError that got past the checks, which said only "maximum
    recursion depth exceeded"."""
    if isinstance(exc, TooDeep):
        return exc
    nesting = measure_nesting(source)
    if nesting.depth > MAX_DEPTH // 2:
        return TooDeep(too_deep_message(nesting))
    where = f" (its deepest statement, line {nesting.line}, has about {nesting.depth} levels)" if nesting.line else ""
    return TooDeep(f"reading the code recursed too deeply: {exc or 'maximum recursion depth exceeded'}{where}")


def too_deep_message(nesting: Nesting, limit: int | None = None) -> str:
    """The refusal of code nesting as ``nesting`` says (the line, what nests, what to do), past ``limit`` if given."""
    where = f" (line {nesting.line})" if nesting.line else ""
    # the limit is in levels of syntax, not in brackets: "1,000 brackets open at once, at most 360" read as a bracket
    # limit that disagreed with every other message ("at most 60 brackets")
    most = (f", past what is read (about {MAX_DEPTH // LEVELS_PER_BRACKET} brackets or {MAX_DEPTH} levels of syntax)"
            if limit is not None and nesting.depth > limit else "")
    advice = ("split it into shorter statements (name the intermediate results)" if nesting.chain * 2 >= nesting.depth
              else "flatten it (name the inner parts)")
    return f"the code nests too deeply to read{where}: {nesting.describe()}{most}; {advice}"


def refuse_too_deep(source: str) -> None:
    """``TooDeep`` (a RecursionError) when ``source`` nests past what any of our readers takes: CPython's parser,
    libcst's parser and visitors, our own recursive walkers. Long chains are refused from their tokens, before any
    parser runs. Code that does not parse (mid-edit, a NUL byte) is measured by its brackets; any other problem is
    left to the caller. A RecursionError from a reader the measures did not foresee comes out as ``TooDeep`` too
    (``too_deep_error``), so callers need not translate it."""
    import libcst as cst

    try:
        parse_cst(source)
    except cst.ParserSyntaxError:  # CPython reads it, libcst does not: only ``ast`` walkers will see it
        tree = _cpython_tree(source)
        if tree is not None:
            _refuse(*ast_depth(tree))
    except RecursionError as exc:
        raise too_deep_error(source, exc) from None


def refuse_too_deep_for_ast(source: str) -> None:
    """``refuse_too_deep`` for code read with ``ast`` alone (the predictor: its features, content hash and readers are
    ``ast``'s): long chains refused from their tokens, then the ``ast`` tree past ``MAX_DEPTH``; code that does not
    parse is measured by its brackets and otherwise left to the caller. Why not libcst's check: libcst reads 2 MB in
    10 s (``ast``: about 1 s), which had limited the predictor's code to Patch's 250,000 characters."""
    refuse_past(source, MAX_TOKEN_DEPTH)
    tree = _cpython_tree(source)
    if tree is not None:
        _refuse(*ast_depth(tree))


def _cpython_tree(source: str) -> ast.Module | None:
    """``ast`` tree of ``source``; None when it does not parse, after its brackets were measured; ``TooDeep`` when
    CPython's parser gives up on its nesting."""
    try:
        return parse(source)
    except TooDeep:
        raise
    except (SyntaxError, ValueError):  # mid-edit code (CPython's "too many nested parentheses" is one), a NUL byte
        depth, line = bracket_depth(source)
        _refuse(depth * LEVELS_PER_BRACKET, line, f"{depth} brackets open at once")
        return None


def _refuse(depth: int, line: int, what: str = "") -> None:
    if depth > MAX_DEPTH:
        where = f" (line {line})" if line else ""
        what = what or f"{depth} levels of syntax"
        raise TooDeep(f"the code nests too deeply to read{where}: {what}, at most {MAX_DEPTH // LEVELS_PER_BRACKET} "
                      f"brackets or {MAX_DEPTH} levels of syntax; flatten it or split it into shorter statements (name the "
                      "inner parts)")


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


# ------------------------------------------------------------------ nesting measured from tokens, before any parse
# A flat chain is a deep tree: ``a + b + c`` is BinOp(BinOp(a, b), c), ``x.clone().clone()`` Call(Attribute(Call(...))),
# and so are unary ``-``/``not`` chains, ``a[0][0]``, ``lambda: lambda:``, ``a if b else c if ...``, ``and``/``or`` and
# implicit string concatenations (libcst nests those two). Measured on Python 3.11: ``ast.parse`` raised RecursionError
# ("during ast construction") at 3,000 chained ``+``, ``-``, ``not``, ``.b`` or ``[0]`` and 1,500 ``.clone()`` calls,
# MemoryError at 3,000 ``lambda:`` or ``**``; the compiler in the sandbox at 2,900 ``+``; libcst's parser took
# 4 s for 3,000 ``+``, 3 s for 1,000 ``.clone()``, 72 s for 3,000 (it is quadratic). So the chains are counted from
# tokens first, which takes what ``ast.parse`` takes, and anything past ``MAX_TOKEN_DEPTH`` is refused unparsed.
MAX_TOKEN_DEPTH = 2 * MAX_DEPTH  # the count bounds the tree's depth from above (about 2x for mixed precedence)
MAX_COMPILE_DEPTH = 1000  # for code only compiled and run (``nnrag check``): well below CPython's ~2,900
_CHAIN_OPS = frozenset("+ - * / // % @ ** << >> & | ^ ~ . :=".split())  # comparisons are one flat node: not counted
_CHAIN_WORDS = frozenset(("and", "or", "not", "lambda", "await", "if"))  # ``if`` within an expression: a conditional
_VALUE_ENDS = frozenset((")", "]", "}"))


@dataclass
class Nesting:
    """How deep ``source`` nests, counted from its tokens: ``depth`` bounds the levels of its syntax tree from above;
    ``line`` is where the deepest statement starts, ``chain`` the most operators, calls, attributes and subscripts
    chained in one expression there, ``brackets`` the most open at once, ``elifs`` its longest ``elif`` chain."""

    depth: int = 0
    line: int = 0
    chain: int = 0
    brackets: int = 0
    elifs: int = 0

    def describe(self) -> str:
        """What makes it deep, in words."""
        if self.chain * 2 >= self.depth:
            return f"an expression of {self.chain:,} chained operations (operators, calls, attributes, subscripts, lambdas)"
        if self.elifs * 2 >= self.depth:
            return f"a chain of {self.elifs:,} elif branches"
        if self.brackets * 2 >= self.depth:
            return f"{self.brackets:,} brackets open at once"
        return f"about {self.depth:,} levels of syntax"


@dataclass
class _Frame:
    """One open bracket (or a statement's top level): ``count`` operations in its current element (items are split by
    commas), ``inner`` the deepest bracket closed in that element, relative to this one."""

    count: int = 0
    inner: int = 0
    deepest: int = 0
    chain: int = 0

    def end_element(self) -> None:
        self.deepest = max(self.deepest, self.count + self.inner)
        self.chain = max(self.chain, self.count)
        self.count = self.inner = 0


class _Statement:
    """The frames of the logical line being read."""

    def __init__(self, base: int, line: int, elifs: int) -> None:
        self.frames = [_Frame()]
        self.base, self.line, self.elifs = base, line, elifs
        self.chain = self.brackets = 0

    def open(self) -> None:
        self.frames.append(_Frame())
        self.brackets = max(self.brackets, len(self.frames) - 1)

    def close(self) -> None:
        if len(self.frames) > 1:
            inner = self.frames.pop()
            inner.end_element()
            self.chain = max(self.chain, inner.chain)
            self.frames[-1].inner = max(self.frames[-1].inner, 1 + inner.deepest)

    def finish(self) -> Nesting:
        while len(self.frames) > 1:
            self.close()
        top = self.frames[0]
        top.end_element()
        self.chain = max(self.chain, top.chain)
        return Nesting(self.base + top.deepest, self.line, self.chain, self.brackets, self.elifs)


def measure_nesting(source: str) -> Nesting:
    """How deeply ``source`` nests (``Nesting``), from its tokens, without parsing it; about as fast as ``ast.parse``.
    Text that is not Python (prose around code) is measured on from the line after the one tokenize stopped at. Text
    left inside an open bracket at its end has no statements to measure: it is measured line by line instead."""
    lines = source.removeprefix(BOM).splitlines(keepends=True)
    for by_line in (False, True):
        deepest, start, unclosed = Nesting(), 0, False
        while start < len(lines):
            stopped_at, unclosed = _measure_from(lines, start, by_line, deepest)
            if stopped_at is None:
                break
            start = max(stopped_at, start + 1)
        if not unclosed:
            break
    return deepest


def _measure_from(lines: list[str], start: int, by_line: bool, deepest: Nesting) -> tuple[int | None, bool]:
    """Measure ``lines[start:]`` into ``deepest`` (kept when deeper); (the index of the line to go on from after a
    tokenize error, else None; whether the text ended inside a bracket or a string)."""
    feed = iter(lines[start:])
    elifs: list[int] = [0]  # the elif chain going on at each indentation level
    statement: _Statement | None = None
    previous = ""  # the last significant token: "value" (a name, number, closing bracket), "string", or ""

    def finish() -> None:
        found = statement.finish()
        if found.depth > deepest.depth:
            deepest.__dict__.update(found.__dict__)

    try:
        for tok in tokenize.generate_tokens(lambda: next(feed, "")):
            kind, text = tok.type, tok.string
            if kind == tokenize.INDENT:
                elifs.append(0)
            elif kind == tokenize.DEDENT:
                if len(elifs) > 1:
                    elifs.pop()
            elif kind in (tokenize.NEWLINE, tokenize.ENDMARKER) or (kind == tokenize.OP and text == ";") or (
                    by_line and kind == tokenize.NL):
                if statement is not None:
                    finish()
                statement, previous = None, ""
            elif kind in (tokenize.NL, tokenize.COMMENT):
                continue
            elif statement is None:  # the first token of a statement
                if kind == tokenize.NAME and text in ("elif", "else"):
                    elifs[-1] += text == "elif"
                else:
                    elifs[-1] = 0
                statement = _Statement(2 * (len(elifs) - 1) + sum(elifs), tok.start[0] + start, sum(elifs))
                previous = _count(statement, kind, text, "") if text not in ("if", "elif", "while") else ""
            else:
                previous = _count(statement, kind, text, previous)
    except (tokenize.TokenError, SyntaxError) as exc:  # IndentationError is a SyntaxError
        if statement is not None:
            finish()
        if isinstance(exc, tokenize.TokenError):  # the text ended inside a bracket or a string
            return None, True
        return start + (exc.lineno or 1), False
    return None, False


def _count(statement: _Statement, kind: int, text: str, previous: str) -> str:
    """Count one token of ``statement``; what it leaves as the previous token."""
    frame = statement.frames[-1]
    if kind == tokenize.OP:
        if text in "([{":
            frame.count += text != "{" and previous in ("value", "string")  # a call or a subscript
            statement.open()
            return ""
        if text in ")]}":
            statement.close()
            return "value"
        if text == ",":
            frame.end_element()
        frame.count += text in _CHAIN_OPS
        return ""
    if kind == tokenize.NAME and keyword.iskeyword(text):
        frame.count += text in _CHAIN_WORDS
        return "value" if text in ("None", "True", "False") else ""
    if kind == tokenize.STRING:
        frame.count += previous == "string"  # an implicit concatenation
        return "string"
    return "value"

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
